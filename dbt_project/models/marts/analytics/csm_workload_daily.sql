-- CSM workload: per CSM and day, the situations that asked for a human. One row per CSM and
-- day of the trigger history (marts.onboarding_triggers, the day of due_at): stalls, day-14
-- recoveries, win-backs, hand-offs and high-touch signups of the accounts the CSM owns, with the
-- CSM's weekly capacity from the roster and the alerts open for them at the last cycle
-- (marts.csm_alerts: the Slack queue, on the as_of day only).

with triggers as (
    select
        account_id,
        kind,
        cast(due_at as date) as day
    from {{ ref('onboarding_triggers') }}
    where kind in ('stalled', 'recovery', 'win_back', 'handoff')
),

states as (
    select
        account_id,
        csm_owner,
        track,
        signup_at,
        as_of
    from {{ ref('customer_onboarding_state') }}
),

signups as (
    select
        account_id,
        'high_touch_signup' as kind,
        cast(signup_at as date) as day
    from states
    where track = 'high_touch'
),

roster as (
    select
        csm_id,
        name,
        cast(capacity as integer) as capacity
    from {{ ref('csm_roster') }}
),

events as (
    select
        states.csm_owner,
        all_events.day,
        all_events.kind
    from (
        select * from triggers
        union all
        select * from signups
    ) as all_events
    inner join states on all_events.account_id = states.account_id
    where states.csm_owner is not null
),

daily as (
    select
        csm_owner,
        day,
        count(*) as situations,
        count(*) filter (where kind = 'stalled') as stalls,
        count(*) filter (where kind = 'recovery') as recoveries,
        count(*) filter (where kind = 'win_back') as win_backs,
        count(*) filter (where kind = 'handoff') as handoffs,
        count(*) filter (where kind = 'high_touch_signup') as high_touch_signups
    from events
    group by csm_owner, day
),

open_alerts as (
    select
        csm_owner,
        count(*) as open_alerts,
        count(*) filter (where priority = 'P0') as open_p0_alerts
    from {{ ref('csm_alerts') }}
    group by csm_owner
),

clock as (
    select max(as_of) as as_of from states
)

select
    cast(daily.csm_owner as string) as csm_owner,
    cast(roster.name as string) as csm_name,
    daily.day,
    cast(daily.situations as bigint) as situations,
    cast(daily.stalls as bigint) as stalls,
    cast(daily.recoveries as bigint) as recoveries,
    cast(daily.win_backs as bigint) as win_backs,
    cast(daily.handoffs as bigint) as handoffs,
    cast(daily.high_touch_signups as bigint) as high_touch_signups,
    cast(
        case
            when daily.day = cast(clock.as_of as date) then coalesce(open_alerts.open_alerts, 0)
        end as bigint
    )
        as open_alerts,
    cast(
        case
            when daily.day = cast(clock.as_of as date) then coalesce(open_alerts.open_p0_alerts, 0)
        end as bigint
    )
        as open_p0_alerts,
    cast(roster.capacity as integer) as weekly_capacity,
    clock.as_of
from daily
cross join clock
left join roster on daily.csm_owner = roster.csm_id
left join open_alerts on daily.csm_owner = open_alerts.csm_owner
