-- One row per account that completed signup: who the customer is and what it pays now.
-- The primary contact is the user who sent signup_completed. The plan is the latest plan_changed
-- event (billing is the authority: a teammate's later group call may still carry the old tier),
-- else the latest group trait, else the plan chosen at signup.
-- Hourly, only the accounts whose events or traits changed are rebuilt (macros/account_scope.sql).
{%- set scope = account_scoped_model() %}

with events as (
    select * from {{ ref('int_account_events_aggregated') }}
    where {{ in_account_scope(scope) }}
),

traits as (
    select * from {{ ref('int_account_traits_latest') }}
    where {{ in_account_scope(scope) }}
),

tiers as (
    select * from {{ ref('plan_tiers') }}
),

signups as (
    select
        account_id,
        first_user_id as primary_user_id,
        first_at as signup_at,
        lower({{ json_text('first_properties', '$.plan_tier') }}) as signup_plan_tier,
        {{ json_text('first_properties', '$.source') }} as signup_source
    from events
    where event_name = 'signup_completed'
),

plan_changes as (
    select
        account_id,
        last_at as last_plan_change_at,
        lower({{ json_text('last_properties', '$.from_tier') }}) as from_tier,
        lower({{ json_text('last_properties', '$.to_tier') }}) as to_tier,
        try_cast({{ json_text('last_properties', '$.mrr') }} as double) as changed_mrr
    from events
    where event_name = 'plan_changed'
),

joined as (
    select
        signups.account_id,
        signups.primary_user_id,
        traits.company_name,
        signups.signup_at,
        signups.signup_plan_tier,
        coalesce(plan_changes.to_tier, traits.plan_tier, signups.signup_plan_tier) as plan_tier,
        coalesce(
            case when plan_changes.to_tier is not null then plan_changes.changed_mrr end,
            traits.mrr,
            0
        ) as mrr,
        traits.employees,
        traits.industry,
        traits.country,
        coalesce(signups.signup_source, traits.source) as source,
        traits.utm_source,
        traits.utm_campaign,
        traits.use_case,
        plan_changes.last_plan_change_at,
        case
            when from_rank.tier_rank is not null and to_rank.tier_rank > from_rank.tier_rank
                then plan_changes.last_plan_change_at
        end as upgraded_at
    from signups
    left join traits on signups.account_id = traits.account_id
    left join plan_changes on signups.account_id = plan_changes.account_id
    left join tiers as from_rank on plan_changes.from_tier = from_rank.plan_tier
    left join tiers as to_rank on plan_changes.to_tier = to_rank.plan_tier
),

final as (
    select
        account_id,
        primary_user_id,
        company_name,
        signup_at,
        signup_plan_tier,
        plan_tier,
        mrr,
        mrr * 12 as arr,
        employees,
        industry,
        country,
        source,
        utm_source,
        utm_campaign,
        use_case,
        upgraded_at,
        last_plan_change_at
    from joined
)

select * from final
