-- The hand-off to the customer-health monitor: one row per activated account that is not suppressed,
-- with what a health-score system needs: owner, activation, usage since activation, and the next
-- check-in, NPS and renewal dates (the retention hand-offs of var handoff_days: check-in, NPS, renewal).
{%- set days = var('handoff_days') %}
{#- Hourly, only the accounts whose journey state was rebuilt or whose events changed are rebuilt
    (macros/account_scope.sql); the columns that move with the clock (the days since, the next touchpoint,
    as_of) are then set on every row, from its stored columns. -#}
{%- set next_touchpoint = [] -%}
{%- set next_touchpoint_at = [] -%}
{%- for name in ['check_in', 'nps', 'renewal'] -%}
{%- set due = 'signup_at + ' ~ interval_days(days[loop.index0]) -%}
{%- set when = 'when ' ~ due ~ ' > ' ~ as_of() ~ ' then ' -%}
{%- do next_touchpoint.append(when ~ "'" ~ name ~ "'") -%}
{%- do next_touchpoint_at.append(when ~ due) -%}
{%- endfor %}
{%- set scoped = account_scoped_downstream(
    roots=[ref('int_account_journeys_evaluated')],
    clock_columns={
        'days_since_activation': boundaries_between('day', 'activated_at', as_of()),
        'days_since_last_activity': boundaries_between('day', 'last_activity_at', as_of()),
        'next_touchpoint': 'case ' ~ next_touchpoint | join(' ') ~ ' end',
        'next_touchpoint_at': 'case ' ~ next_touchpoint_at | join(' ') ~ ' end',
        'as_of': as_of(),
    },
) %}

with states as (
    select * from {{ ref('customer_onboarding_state') }}
    where
        activated_at is not null and lifecycle_stage <> 'suppressed'
        and {{ in_account_scope(scoped.scope) }}
),

usage as (
    -- from the incremental per-event aggregates: no rescan of the events
    select
        events.account_id,
        count(*) filter (where events.last_at >= states.activated_at) as event_types_used_since_activation,
        count(*) as event_types_used,
        sum(events.event_count) as events_total
    from {{ ref('int_account_events_aggregated') }} as events
    inner join states on events.account_id = states.account_id
    group by events.account_id
),

final as (
    select
        states.account_id,
        states.company_name,
        states.csm_owner,
        states.track,
        states.plan_tier,
        states.arr,
        states.lifecycle_stage,
        states.signup_at,
        states.activated_at,
        {{ boundaries_between('day', 'states.activated_at', 'states.as_of') }} as days_since_activation,
        coalesce(usage.event_types_used_since_activation, 0) as event_types_used_since_activation,
        coalesce(usage.event_types_used, 0) as event_types_used,
        cast(coalesce(usage.events_total, 0) as bigint) as events_total,
        states.last_activity_at,
        {{ boundaries_between('day', 'states.last_activity_at', 'states.as_of') }}
            as days_since_last_activity,
        states.signup_at + {{ interval_days(days[0]) }} as check_in_at,
        states.signup_at + {{ interval_days(days[1]) }} as nps_at,
        states.signup_at + {{ interval_days(days[2]) }} as renewal_at,
        case
            when states.signup_at + {{ interval_days(days[0]) }} > states.as_of then 'check_in'
            when states.signup_at + {{ interval_days(days[1]) }} > states.as_of then 'nps'
            when states.signup_at + {{ interval_days(days[2]) }} > states.as_of then 'renewal'
        end as next_touchpoint,
        case
            when
                states.signup_at + {{ interval_days(days[0]) }} > states.as_of
                then states.signup_at + {{ interval_days(days[0]) }}
            when
                states.signup_at + {{ interval_days(days[1]) }} > states.as_of
                then states.signup_at + {{ interval_days(days[1]) }}
            when
                states.signup_at + {{ interval_days(days[2]) }} > states.as_of
                then states.signup_at + {{ interval_days(days[2]) }}
        end as next_touchpoint_at,
        states.as_of
    from states
    left join usage on states.account_id = usage.account_id
)

select * from final
{{ account_scope_marker(scoped) }}
