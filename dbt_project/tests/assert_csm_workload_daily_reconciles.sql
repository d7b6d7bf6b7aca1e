-- csm_workload_daily: situations is the sum of its kinds, P0 alerts are a part of the open alerts, and the
-- alert queue is only stated on the as_of day. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'csm_workload_daily'}}}) }}

select
    csm_owner,
    day,
    'situations is not the sum of its kinds' as broken
from {{ ref('csm_workload_daily') }}
where situations <> stalls + recoveries + win_backs + handoffs + high_touch_signups
union all
select
    csm_owner,
    day,
    'open_p0_alerts > open_alerts' as broken
from {{ ref('csm_workload_daily') }}
where open_p0_alerts > open_alerts
union all
select
    csm_owner,
    day,
    'open alerts stated on a day other than the as_of day' as broken
from {{ ref('csm_workload_daily') }}
where (day = cast(as_of as date)) <> (open_alerts is not null)
