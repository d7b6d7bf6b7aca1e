-- Recovery success per attempt, treated vs holdout. The day-14 checkpoint opens attempt 1 at
-- signup + checkpoint_day, attempt n at + (n - 1) x recovery_window_days, for an account not
-- activated and not suppressed by then. An attempt succeeds when the account activates within
-- its window. The holdout gets no recovery e-mail: its rows are the counterfactual of the same
-- calendar, so treated minus holdout is what the recovery loop adds. Windows still open at as_of
-- count as reached but not as decided (nor as recovered, so the rate compares like with like).

with states as (
    select
        account_id,
        track,
        holdout,
        signup_at,
        activated_at,
        suppressed_at,
        recovery_attempts,
        as_of
    from {{ ref('customer_onboarding_state') }}
),

attempts as (
    select {{ integer_range_rows(1, var('max_recovery_attempts') ~ ' + 1') }} as attempt
),

opened as (
    select
        states.*,
        attempts.attempt,
        states.signup_at + {{ interval_days(var('checkpoint_day')) }}
        + {{ interval_days('(attempts.attempt - 1) * ' ~ var('recovery_window_days')) }} as opened_at
    from states
    cross join attempts
),

reached as (
    select
        *,
        opened_at + {{ interval_days(var('recovery_window_days')) }} as closes_at
    from opened
    where
        opened_at <= as_of
        and (activated_at is null or activated_at > opened_at)
        and (suppressed_at is null or suppressed_at > opened_at)
),

final as (
    select
        track,
        attempt,
        case when holdout then 'holdout' else 'treated' end as arm,
        count(*) as reached,
        count(*) filter (where closes_at <= as_of) as decided,
        count(*) filter (where activated_at <= closes_at and closes_at <= as_of) as recovered,
        count(*) filter (where not holdout and recovery_attempts >= attempt) as sent,
        max(as_of) as as_of
    from reached
    group by track, attempt, holdout
)

select
    cast(track as string) as track,
    cast(attempt as integer) as attempt,
    cast(arm as string) as arm,
    cast(reached as bigint) as reached,
    cast(decided as bigint) as decided,
    cast(recovered as bigint) as recovered,
    cast(recovered / nullif(decided, 0) as double) as recovery_rate,
    cast(sent as bigint) as sent,
    as_of
from final
