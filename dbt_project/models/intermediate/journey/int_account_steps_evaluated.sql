-- One row per account and step of its track: when the step was reached, whether its goal is done,
-- and whether the account stalled on it. A step is reached when every earlier step's goal is done
-- (at the latest of those goals, or at signup); a step whose goal was done before it was reached
-- is skipped, never sent. A step without a goal (a resource) never blocks the next one.
-- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose events changed, whose
-- track changed, and those on which the clock reached a stall (the one rule here that reads the clock).
{%- set scope = account_scoped_model(also=[
    "select segmented.account_id from " ~ ref('int_accounts_segmented') ~ " as segmented left join"
    ~ " (select account_id, any_value(track) as track from " ~ this ~ " group by account_id) as built"
    ~ " on segmented.account_id = built.account_id where built.track is distinct from segmented.track",
    "select account_id from " ~ this ~ " where stalled_at is null and reached_at is not null"
    ~ " and goal_event is not null and reached_at + " ~ interval_hours('wait_hours')
    ~ " <= least(coalesce(goal_at, " ~ as_of() ~ "), " ~ as_of() ~ ")",
]) %}

with accounts as (
    select
        account_id,
        signup_at
    from {{ ref('int_accounts_profiled') }}
    where {{ in_account_scope(scope) }}
),

segmented as (
    select
        account_id,
        track
    from {{ ref('int_accounts_segmented') }}
    where {{ in_account_scope(scope) }}
),

events as (
    select
        account_id,
        event_name,
        first_at
    from {{ ref('int_account_events_aggregated') }}
    where {{ in_account_scope(scope) }}
),

steps as (
    select
        track,
        step_order,
        step_key,
        nullif(trim(goal_event), '') as goal_event,
        message,
        coalesce(try_cast(wait_hours as integer), {{ var('stall_window_hours') }}) as wait_hours
    from {{ ref('sequence_steps') }}
),

account_steps as (
    select
        accounts.account_id,
        accounts.signup_at,
        steps.track,
        steps.step_order,
        steps.step_key,
        steps.goal_event,
        steps.message,
        steps.wait_hours,
        events.first_at as goal_at
    from accounts
    inner join segmented on accounts.account_id = segmented.account_id
    inner join steps on segmented.track = steps.track
    left join events
        on
            accounts.account_id = events.account_id
            and steps.goal_event = events.event_name
),

with_prior as (
    select
        *,
        coalesce(
            bool_and(goal_event is null or goal_at is not null) over prior_steps,
            true
        ) as prior_goals_done,
        max(goal_at) over prior_steps as prior_goal_at
    from account_steps
    window prior_steps as (
        partition by account_id order by step_order rows between unbounded preceding and 1 preceding
    )
),

evaluated as (
    select
        account_id,
        track,
        step_order,
        step_key,
        goal_event,
        message,
        wait_hours,
        goal_at,
        case when prior_goals_done then greatest(signup_at, coalesce(prior_goal_at, signup_at)) end
            as reached_at,
        goal_event is null or goal_at is not null as is_done
    from with_prior
),

final as (
    select
        *,
        case
            when reached_at is null then 'not_reached'
            when goal_event is null then 'sent'
            when goal_at is null then 'current'
            when goal_at <= reached_at then 'skipped'
            else 'done'
        end as step_status,
        -- The stall on this step, if the goal was not done within the step's wait (ever, up to as_of).
        case
            when
                reached_at is not null
                and goal_event is not null
                and reached_at + {{ interval_hours('wait_hours') }}
                <= least(coalesce(goal_at, {{ as_of() }}), {{ as_of() }})
                then reached_at + {{ interval_hours('wait_hours') }}
        end as stalled_at,
        -- The clock of the build that rewrote this row (the downstream models' roots).
        {{ as_of() }} as _batch_as_of
    from evaluated
)

select * from final
