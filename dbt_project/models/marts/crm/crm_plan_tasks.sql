-- The 30-day plan's milestones as CRM tasks (one per account and milestone of marts.onboarding_plan_tasks),
-- for the tracks whose plan is saved to the CRM (var crm_plan_tracks; the playbook: the high-touch kickoff's
-- "custom 30-day plan saved to CRM with milestones and follow-up cadence"). Values as HubSpot's task
-- properties take them: a task is due at the milestone's due date, COMPLETED once its goal event happened.
-- The HubSpot sync creates each task once (upsert by onboarding_task_id) and associates it to the company.

{#- Hourly, only the accounts marts.onboarding_plan_tasks rebuilt (the same rules: a rebuilt journey state,
    changed events, an open task the clock made overdue, here a NOT_STARTED task still MEDIUM past its due
    date), found on this mart's stored rows (macros/account_scope.sql); as_of is then set on every row. -#}
{%- set scoped = account_scoped_downstream(
    roots=[ref('int_account_journeys_evaluated')],
    also=["select account_id from " ~ this ~ " where task_status = 'NOT_STARTED' and task_priority = 'MEDIUM'"
        ~ " and due_at < " ~ as_of()],
    clock_columns={'as_of': as_of()},
) %}

with tasks as (
    select * from {{ ref('onboarding_plan_tasks') }}
    where track in {{ sql_list(var('crm_plan_tracks')) }} and {{ in_account_scope(scoped.scope) }}
),

roster as (
    select
        csm_id,
        name as csm_name
    from {{ ref('csm_roster') }}
),

final as (
    select
        tasks.task_id,
        tasks.account_id,
        tasks.milestone_key,
        tasks.milestone as subject,
        tasks.milestone
        || ' (30-day plan, ' || replace(tasks.track, '_', '-') || ' track'
        || case when tasks.use_case <> '*' then ', use case ' || tasks.use_case else '' end || '). '
        || case
            when tasks.goal_event is not null then 'Done when the account fires ' || tasks.goal_event || '. '
            else 'Done when the CSM marks it so. '
        end
        || 'Follow up every ' || tasks.follow_up_every_days || ' days while open'
        || coalesce('; owner: ' || roster.csm_name, '') || '.' as body,
        tasks.due_at,
        case when tasks.status = 'done' then 'COMPLETED' else 'NOT_STARTED' end as task_status,
        case when tasks.status = 'overdue' then 'HIGH' else 'MEDIUM' end as task_priority,
        tasks.follow_up_every_days,
        tasks.csm_owner,
        tasks.completed_at,
        tasks.as_of
    from tasks
    left join roster on tasks.csm_owner = roster.csm_id
)

select * from final
{{ account_scope_marker(scoped) }}
