-- Holdout lift per track: 14-day activation of treated vs holdout accounts, with 95% intervals.
-- Only accounts whose 14-day window has closed at as_of count (intent to treat: suppressed and
-- unsubscribed accounts stay in their group). Each rate gets a Wilson score interval; the
-- difference gets Newcombe's hybrid score interval (method 10), which behaves where the normal
-- approximation does not (small holdouts, rates near 0 or 1). 'all' pools the tracks.

{% set z = 1.959963984540054 %}

with states as (
    select
        track,
        holdout,
        activated_at is not null
        and activated_at <= signup_at + {{ interval_days(var('checkpoint_day')) }} as is_activated_14d,
        as_of
    from {{ ref('customer_onboarding_state') }}
    where signup_at + {{ interval_days(var('checkpoint_day')) }} <= as_of
),

by_group as (
    select
        coalesce(track, 'all') as track,
        count(*) filter (where not holdout) as treated_accounts,
        count(*) filter (where not holdout and is_activated_14d) as treated_activated,
        count(*) filter (where holdout) as holdout_accounts,
        count(*) filter (where holdout and is_activated_14d) as holdout_activated,
        max(as_of) as as_of
    from states
    group by rollup(track)
),

rates as (
    select
        *,
        treated_activated / nullif(treated_accounts, 0) as treated_rate,
        holdout_activated / nullif(holdout_accounts, 0) as holdout_rate
    from by_group
),

wilson as (
    select
        *,
        -- Wilson score interval: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
        (
            treated_rate + power({{ z }}, 2) / (2 * treated_accounts)
            - {{ z }} * sqrt(
                treated_rate * (1 - treated_rate) / treated_accounts
                + power({{ z }}, 2) / (4 * power(treated_accounts, 2))
            )
        )
        / (1 + power({{ z }}, 2) / treated_accounts) as treated_ci_low,
        (
            treated_rate + power({{ z }}, 2) / (2 * treated_accounts)
            + {{ z }} * sqrt(
                treated_rate * (1 - treated_rate) / treated_accounts
                + power({{ z }}, 2) / (4 * power(treated_accounts, 2))
            )
        )
        / (1 + power({{ z }}, 2) / treated_accounts) as treated_ci_high,
        (
            holdout_rate + power({{ z }}, 2) / (2 * holdout_accounts)
            - {{ z }} * sqrt(
                holdout_rate * (1 - holdout_rate) / holdout_accounts
                + power({{ z }}, 2) / (4 * power(holdout_accounts, 2))
            )
        )
        / (1 + power({{ z }}, 2) / holdout_accounts) as holdout_ci_low,
        (
            holdout_rate + power({{ z }}, 2) / (2 * holdout_accounts)
            + {{ z }} * sqrt(
                holdout_rate * (1 - holdout_rate) / holdout_accounts
                + power({{ z }}, 2) / (4 * power(holdout_accounts, 2))
            )
        )
        / (1 + power({{ z }}, 2) / holdout_accounts) as holdout_ci_high
    from rates
),

final as (
    select
        track,
        treated_accounts,
        treated_activated,
        treated_rate,
        treated_ci_low,
        treated_ci_high,
        holdout_accounts,
        holdout_activated,
        holdout_rate,
        holdout_ci_low,
        holdout_ci_high,
        treated_rate - holdout_rate as lift,
        treated_rate - holdout_rate
        - sqrt(
            power((treated_rate - treated_ci_low), 2) + power((holdout_ci_high - holdout_rate), 2)
        ) as lift_ci_low,
        treated_rate - holdout_rate
        + sqrt(
            power((treated_ci_high - treated_rate), 2) + power((holdout_rate - holdout_ci_low), 2)
        ) as lift_ci_high,
        -- Two-proportion z statistic (pooled), for readers who want a p-value.
        (treated_rate - holdout_rate) / nullif(sqrt(
            ((treated_activated + holdout_activated) / (treated_accounts + holdout_accounts))
            * (1 - (treated_activated + holdout_activated) / (treated_accounts + holdout_accounts))
            * (1 / treated_accounts + 1 / holdout_accounts)
        ), 0) as z_score,
        treated_rate - holdout_rate
        - sqrt(power((treated_rate - treated_ci_low), 2) + power((holdout_ci_high - holdout_rate), 2))
        > 0 as is_significant,
        {{ var('holdout_share') }} as holdout_share,
        as_of
    from wilson
)

select
    cast(track as string) as track,
    cast(treated_accounts as bigint) as treated_accounts,
    cast(treated_activated as bigint) as treated_activated,
    cast(treated_rate as double) as treated_rate,
    cast(treated_ci_low as double) as treated_ci_low,
    cast(treated_ci_high as double) as treated_ci_high,
    cast(holdout_accounts as bigint) as holdout_accounts,
    cast(holdout_activated as bigint) as holdout_activated,
    cast(holdout_rate as double) as holdout_rate,
    cast(holdout_ci_low as double) as holdout_ci_low,
    cast(holdout_ci_high as double) as holdout_ci_high,
    cast(lift as double) as lift,
    cast(lift_ci_low as double) as lift_ci_low,
    cast(lift_ci_high as double) as lift_ci_high,
    cast(z_score as double) as z_score,
    coalesce(is_significant, false) as is_significant,
    cast(holdout_share as double) as holdout_share,
    as_of
from final
