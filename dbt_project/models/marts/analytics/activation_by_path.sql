-- Activation by onboarding path: one row per track and signup week.
-- Only accounts whose 14-day window has closed count in the activation rate denominator
-- ("eligible"); the raw counts cover every account of the week.

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
        signup_at + to_days({{ var('checkpoint_day') }}) <= as_of as is_window_closed,
        activated_at is not null
            and activated_at <= signup_at + to_days({{ var('checkpoint_day') }}) as is_activated_14d,
        epoch(activated_at - signup_at) / 3600.0 as hours_to_activation
    from states
),

final as (
    select
        track,
        signup_week,
        count(*) as accounts,
        count(*) filter (where is_window_closed) as eligible_accounts,
        count(*) filter (where is_activated_14d) as activated_within_14d,
        round(
            count(*) filter (where is_activated_14d and is_window_closed)
            / nullif(count(*) filter (where is_window_closed), 0), 4
        ) as activation_rate,
        median(hours_to_activation) as median_hours_to_activation,
        count(*) filter (where first_stalled_at is not null) as stalled,
        round(count(*) filter (where first_stalled_at is not null) / count(*), 4) as stall_rate,
        count(*) filter (where first_stalled_at is not null and activated_at is not null) as recovered,
        count(*) filter (where recovery_attempts > 0 and activated_at is not null) as recovered_after_checkpoint,
        max(as_of) as as_of
    from accounts
    group by track, signup_week
)

select * from final
