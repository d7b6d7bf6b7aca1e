-- Time to first value per track (and 'all'): hours from signup to activation (the activation event of
-- the dbt project, var activation_events). Population of a row: the track's accounts; the percentiles
-- describe the part of it activated by as_of (activated); each within-N rate is over the accounts whose
-- N-hour window has closed at as_of, so a young account never counts as "not activated within 7 days".
-- The 14-day rate carries its counts (eligible_14d_accounts, activated_within_14d): the same figures
-- as activation_by_path summed over weeks.

with states as (
    select
        track,
        signup_at,
        activated_at,
        as_of,
        {{ seconds_between('signup_at', 'activated_at') }} / 3600.0 as hours_to_activation
    from {{ ref('customer_onboarding_state') }}
),

final as (
    select
        coalesce(track, 'all') as track,
        count(*) as accounts,
        count(activated_at) as activated,
        count(*) filter (where signup_at + {{ interval_days(var('checkpoint_day')) }} <= as_of)
            as eligible_14d_accounts,
        count(
            *) filter (
            where signup_at + {{ interval_days(var('checkpoint_day')) }} <= as_of
            and hours_to_activation <= 24 * {{ var('checkpoint_day') }}
        ) as activated_within_14d,
        {{ quantile_continuous('hours_to_activation', 0.25) }} as p25_hours_to_activation,
        median(hours_to_activation) as median_hours_to_activation,
        {{ quantile_continuous('hours_to_activation', 0.75) }} as p75_hours_to_activation,
        {{ quantile_continuous('hours_to_activation', 0.90) }} as p90_hours_to_activation,
        {% for label, hours in [('1h', 1), ('24h', 24), ('7d', 168), ('14d', 336)] %}
        count(*) filter (
            where hours_to_activation <= {{ hours }} and signup_at + {{ interval_hours(hours) }} <= as_of
        )
        / nullif(count(*) filter (where signup_at + {{ interval_hours(hours) }} <= as_of), 0)
            as activated_within_{{ label }}_rate,
        {% endfor %}
        max(as_of) as as_of
    from states
    group by rollup(track)
)

select
    cast(track as string) as track,
    cast(accounts as bigint) as accounts,
    cast(activated as bigint) as activated,
    cast(eligible_14d_accounts as bigint) as eligible_14d_accounts,
    cast(activated_within_14d as bigint) as activated_within_14d,
    cast(p25_hours_to_activation as double) as p25_hours_to_activation,
    cast(median_hours_to_activation as double) as median_hours_to_activation,
    cast(p75_hours_to_activation as double) as p75_hours_to_activation,
    cast(p90_hours_to_activation as double) as p90_hours_to_activation,
    cast(activated_within_1h_rate as double) as activated_within_1h_rate,
    cast(activated_within_24h_rate as double) as activated_within_24h_rate,
    cast(activated_within_7d_rate as double) as activated_within_7d_rate,
    cast(activated_within_14d_rate as double) as activated_within_14d_rate,
    as_of
from final
order by case track when 'high_touch' then 1 when 'standard' then 2 when 'self_serve' then 3 else 4 end
