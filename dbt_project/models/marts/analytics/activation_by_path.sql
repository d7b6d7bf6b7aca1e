-- Activation by onboarding path: one row per track and signup week.
-- Population of a row: the accounts of that track that signed up that week (`accounts`). The 14-day
-- figures (activated_within_14d, activation_rate, median_hours_to_activation) count only the part of
-- it whose 14-day window has closed at as_of (`eligible_accounts`), so the count and the rate share one
-- denominator and activated_within_14d <= eligible_accounts <= accounts. Stalls and recoveries count the
-- whole cohort, up to as_of. window_status says whether a week's 14-day figures are final ('closed'),
-- still moving ('partial') or not measurable yet ('open'); is_partial_week marks a week the warehouse
-- did not observe in full (its first signup week, or the week of as_of).

with states as (
    select * from {{ ref('customer_onboarding_state') }}
),

accounts as (
    select
        track,
        cast(date_trunc('week', signup_at) as date) as signup_week,
        account_id,
        signup_at,
        activated_at,
        first_stalled_at,
        recovery_attempts,
        as_of,
        signup_at + {{ interval_days(var('checkpoint_day')) }} <= as_of as is_window_closed,
        activated_at is not null
        and activated_at <= signup_at + {{ interval_days(var('checkpoint_day')) }} as is_activated_14d,
        {{ seconds_between('signup_at', 'activated_at') }} / 3600.0 as hours_to_activation
    from states
),

observed as (
    select
        cast(min(signup_at) as date) as first_signup_day,
        max(as_of) as as_of
    from states
),

weekly as (
    select
        track,
        signup_week,
        count(*) as accounts,
        count(*) filter (where is_window_closed) as eligible_accounts,
        count(*) filter (where is_window_closed and is_activated_14d) as activated_within_14d,
        median(hours_to_activation) filter (where is_window_closed and is_activated_14d)
            as median_hours_to_activation,
        count(*) filter (where first_stalled_at is not null) as stalled,
        count(*) filter (where first_stalled_at is not null and activated_at is not null) as recovered,
        count(*) filter (where recovery_attempts > 0 and activated_at is not null)
            as recovered_after_checkpoint
    from accounts
    group by track, signup_week
)

select
    cast(weekly.track as string) as track,
    weekly.signup_week,
    {{ is_partial_week('weekly.signup_week', 'observed.first_signup_day', 'observed.as_of') }}
        as is_partial_week,
    cast(case
        when weekly.eligible_accounts = weekly.accounts then 'closed'
        when weekly.eligible_accounts > 0 then 'partial'
        else 'open'
    end as string) as window_status,
    cast(weekly.accounts as bigint) as accounts,
    cast(weekly.eligible_accounts as bigint) as eligible_accounts,
    cast(weekly.activated_within_14d as bigint) as activated_within_14d,
    cast(round(weekly.activated_within_14d / nullif(weekly.eligible_accounts, 0), 4) as double)
        as activation_rate,
    cast(weekly.median_hours_to_activation as double) as median_hours_to_activation,
    cast(weekly.stalled as bigint) as stalled,
    cast(round(weekly.stalled / weekly.accounts, 4) as double) as stall_rate,
    cast(weekly.recovered as bigint) as recovered,
    cast(weekly.recovered_after_checkpoint as bigint) as recovered_after_checkpoint,
    observed.as_of
from weekly
cross join observed
order by weekly.signup_week, weekly.track
