-- The custom 30-day plan of each account as tasks: one row per account and milestone of
-- seeds/onboarding_plan_milestones.csv, with its due date, whether the product event that completes
-- it happened, and its status at the cycle's clock. A high-touch plan starts at the kickoff booking
-- (no kickoff, no plan yet); the other tracks' plans start at signup. A use case category
-- (seeds/use_case_keywords.csv, via int_accounts_content_personalised) adds its own milestones to the
-- track's '*' ones.

{#- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose journey state was rebuilt
    (the state mart and the use case follow it), whose events changed (completions, the kickoff), and those
    with an open task whose due date the clock passed (open -> overdue), found on the stored rows; as_of is
    then set on every row. -#}
{%- set scoped = account_scoped_downstream(
    roots=[ref('int_account_journeys_evaluated')],
    also=["select account_id from " ~ this ~ " where status = 'open' and due_at < " ~ as_of()],
    clock_columns={'as_of': as_of()},
) %}

with states as (
    select
        account_id,
        track,
        csm_owner,
        signup_at,
        lifecycle_stage,
        as_of
    from {{ ref('customer_onboarding_state') }}
    where lifecycle_stage <> 'suppressed' and {{ in_account_scope(scoped.scope) }}
),

categories as (
    select
        account_id,
        use_case
    from {{ ref('int_accounts_content_personalised') }}
    where {{ in_account_scope(scoped.scope) }}
),

events as (
    select
        account_id,
        event_name,
        first_at
    from {{ ref('int_account_events_aggregated') }}
    where {{ in_account_scope(scoped.scope) }}
),

kickoffs as (
    select
        account_id,
        first_at as kickoff_at
    from events
    where event_name = 'kickoff_booked'
),

plans as (
    select
        states.*,
        coalesce(categories.use_case, '*') as use_case,
        case when states.track = 'high_touch' then kickoffs.kickoff_at else states.signup_at end
            as plan_start_at
    from states
    left join categories on states.account_id = categories.account_id
    left join kickoffs on states.account_id = kickoffs.account_id
),

milestones as (
    select * from {{ ref('onboarding_plan_milestones') }}
),

final as (
    select
        plans.account_id || ':' || milestones.milestone_key as task_id,
        plans.account_id,
        plans.track,
        plans.use_case,
        plans.csm_owner,
        milestones.milestone_key,
        milestones.milestone,
        milestones.goal_event,
        plans.plan_start_at,
        plans.plan_start_at + {{ interval_days('milestones.day') }} as due_at,
        milestones.follow_up_every_days,
        events.first_at as completed_at,
        case
            when events.first_at is not null then 'done'
            when plans.plan_start_at + {{ interval_days('milestones.day') }} < plans.as_of then 'overdue'
            else 'open'
        end as status,
        plans.as_of
    from plans
    inner join milestones
        on plans.track = milestones.track and milestones.use_case in ('*', plans.use_case)
    left join events
        on plans.account_id = events.account_id and milestones.goal_event = events.event_name
    where plans.plan_start_at is not null
)

select * from final
{{ account_scope_marker(scoped) }}
