-- Where accounts get stuck: per track and step, how many accounts reached the step, how many
-- stalled on it (no goal within the step's wait, at any time up to as_of), how many are stuck
-- there now, and how many finished the step after stalling on it. Steps without a goal (resources)
-- never stall and are listed with zero stalls.

with steps as (
    select * from {{ ref('int_account_steps_evaluated') }}
),

states as (
    select
        account_id,
        holdout,
        activated_at,
        lifecycle_stage,
        as_of
    from {{ ref('customer_onboarding_state') }}
),

final as (
    select
        steps.track,
        steps.step_order,
        steps.step_key,
        steps.goal_event,
        count(*) filter (where steps.reached_at is not null) as reached,
        count(*) filter (where steps.stalled_at is not null) as stalled,
        count(
            *) filter (
            where steps.stalled_at is not null and steps.goal_at is null
            and states.lifecycle_stage <> 'suppressed'
        ) as stuck_now,
        count(*) filter (where steps.stalled_at is not null and steps.goal_at is not null) as unstuck,
        count(*) filter (where steps.stalled_at is not null and states.holdout) as stalled_holdout,
        median({{ seconds_between('steps.reached_at', 'steps.goal_at') }} / 3600.0)
        filter (where steps.step_status = 'done') as median_hours_to_goal,
        max(states.as_of) as as_of
    from steps
    inner join states on steps.account_id = states.account_id
    group by steps.track, steps.step_order, steps.step_key, steps.goal_event
)

select
    cast(track as string) as track,
    cast(step_order as integer) as step_order,
    cast(step_key as string) as step_key,
    cast(goal_event as string) as goal_event,
    cast(reached as bigint) as reached,
    cast(stalled as bigint) as stalled,
    cast(stalled / nullif(reached, 0) as double) as stall_rate,
    cast(stuck_now as bigint) as stuck_now,
    cast(unstuck as bigint) as unstuck,
    cast(stalled_holdout as bigint) as stalled_holdout,
    cast(median_hours_to_goal as double) as median_hours_to_goal,
    as_of
from final
