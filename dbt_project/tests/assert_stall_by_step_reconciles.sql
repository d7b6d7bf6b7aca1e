-- stall_by_step: each row's population is the accounts that reached the step. stalled <= reached;
-- stuck_now and unstuck are disjoint parts of stalled; stalled_holdout is a part of stalled; the stall rate
-- is stalled / reached; a step without a goal never stalls. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'stall_by_step'}}}) }}

select
    track,
    step_key,
    'stalled > reached' as broken
from {{ ref('stall_by_step') }}
where stalled > reached
union all
select
    track,
    step_key,
    'stuck_now + unstuck > stalled' as broken
from {{ ref('stall_by_step') }}
where stuck_now + unstuck > stalled
union all
select
    track,
    step_key,
    'stalled_holdout > stalled' as broken
from {{ ref('stall_by_step') }}
where stalled_holdout > stalled
union all
select
    track,
    step_key,
    'stall_rate is not stalled / reached' as broken
from {{ ref('stall_by_step') }}
where (reached = 0 and stall_rate is not null) or (reached > 0 and abs(stall_rate - stalled / reached) > 1e-9)
union all
select
    track,
    step_key,
    'a step without a goal stalled' as broken
from {{ ref('stall_by_step') }}
where goal_event is null and stalled > 0
