-- One row per account: the profile (group traits, current plan) joined to the firmographics file the
-- user dropped in (stg_raw__firmographics, empty until one is loaded) and the
-- behaviour of the first hours after signup. Group traits win where both exist: they are what the
-- customer told us; the enrichment file fills the gaps and adds what only a vendor knows.
-- Hourly, only the accounts whose events or traits changed are rebuilt (macros/account_scope.sql).
{%- set window_hours = var('segmentation_early_window_hours', 24) %}
{%- set scope = account_scoped_model() %}

with profiled as (
    select * from {{ ref('int_accounts_profiled') }}
    where {{ in_account_scope(scope) }}
),

firmographics as (
    select * from {{ ref('stg_raw__firmographics') }}
),

-- Early behaviour from the incremental per-event aggregates (no rescan of the events each hour):
-- which product events and activation steps the account did first within the early window.
early_activity as (
    select
        profiled.account_id,
        count(*) as early_event_types,
        count(case when events.event_name in {{ sql_list(var('activation_events')) }} then 1 end)
            as early_activation_steps
    from profiled
    inner join {{ ref('int_account_events_aggregated') }} as events
        on
            profiled.account_id = events.account_id
            and profiled.signup_at <= events.first_at
            and events.first_at < profiled.signup_at + {{ interval_hours(window_hours) }}
            and events.event_name <> 'signup_completed'
    group by profiled.account_id
),

enriched as (
    select
        profiled.account_id,
        profiled.primary_user_id,
        profiled.company_name,
        firmographics.domain,
        profiled.signup_plan_tier,
        profiled.plan_tier,
        coalesce(profiled.mrr, 0) as mrr,
        coalesce(profiled.arr, coalesce(profiled.mrr, 0) * 12) as arr,
        coalesce(profiled.employees, firmographics.employees) as employees,
        coalesce(profiled.industry, firmographics.industry) as industry,
        coalesce(profiled.country, firmographics.country) as country,
        profiled.source,
        profiled.utm_source,
        profiled.utm_campaign,
        profiled.use_case,
        firmographics.funding_stage,
        firmographics.tech_stack,
        firmographics.founded_year,
        firmographics.annual_revenue_usd,
        firmographics.account_id is not null as is_enriched,
        coalesce(early_activity.early_event_types, 0) as early_event_types,
        coalesce(early_activity.early_activation_steps, 0) as early_activation_steps,
        profiled.signup_at,
        profiled.upgraded_at,
        profiled.last_plan_change_at
    from profiled
    left join firmographics on profiled.account_id = firmographics.account_id
    left join early_activity on profiled.account_id = early_activity.account_id
)

select * from enriched
