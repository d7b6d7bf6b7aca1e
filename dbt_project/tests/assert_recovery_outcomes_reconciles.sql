-- recovery_outcomes: each row's population is the accounts whose attempt opened (reached). recovered <=
-- decided <= reached, sent <= reached and 0 for the holdout, the rate is recovered / decided, and the
-- accounts reaching attempt n + 1 are a part of those reaching attempt n. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'recovery_outcomes'}}}) }}

with outcomes as (
    select * from {{ ref('recovery_outcomes') }}
)

select
    track,
    attempt,
    arm,
    'recovered > decided or decided > reached' as broken
from outcomes
where recovered > decided or decided > reached
union all
select
    track,
    attempt,
    arm,
    'sent > reached, or sent to the holdout' as broken
from outcomes
where sent > reached or (arm = 'holdout' and sent > 0)
union all
select
    track,
    attempt,
    arm,
    'recovery_rate is not recovered / decided' as broken
from outcomes
where
    (decided = 0 and recovery_rate is not null)
    or (decided > 0 and abs(recovery_rate - recovered / decided) > 1e-9)
union all
select
    later.track,
    later.attempt,
    later.arm,
    'more accounts reached this attempt than the one before' as broken
from outcomes as later
left join outcomes as earlier
    on later.track = earlier.track and later.arm = earlier.arm and earlier.attempt = later.attempt - 1
where later.attempt > 1 and later.reached > coalesce(earlier.reached, 0)
