-- ICP score (0-100) from the analyst-edited weights in seeds/icp_weights.csv, the rules-based track
-- (the baseline and the fallback), the guardrails every track decision must respect, and the exact
-- input the AI segmentation asset sends, with its hash: an account is classified once per distinct
-- input, so a plan upgrade (new tier, new MRR) changes the hash and re-evaluates the track.
-- Hourly, only the accounts whose events or traits changed are rebuilt (macros/account_scope.sql).
{%- set scope = account_scoped_model() %}

with enriched as (
    select * from {{ ref('int_accounts_enriched') }}
    where {{ in_account_scope(scope) }}
),

weights as (
    select * from {{ ref('icp_weights') }}
),

-- One row per account and scored attribute: a text value for categorical weights, a number for bands.
{%- set text_attributes -%}
        select
            account_id,
            plan_tier,
            lower(industry) as industry,
            funding_stage,
            lower(source) as source,
            lower(country) as country,
            cast(null as string) as _
        from enriched
{%- endset %}
{%- set number_attributes -%}
        select
            account_id,
            cast(arr as double) as arr,
            cast(employees as double) as employees
        from enriched
{%- endset %}
attributes as (
    {{ unpivot_columns(
        text_attributes, ['plan_tier', 'industry', 'funding_stage', 'source', 'country'], 'dimension', 'text_value',
    ) }}
),

numeric_attributes as (
    {{ unpivot_columns(number_attributes, ['arr', 'employees'], 'dimension', 'number_value') }}
),

matched as (
    select
        attributes.account_id,
        weights.dimension,
        max(weights.points) as points
    from attributes
    inner join weights
        on
            attributes.dimension = weights.dimension
            and lower(weights.match_value) = attributes.text_value
    group by all
    union all
    select
        numeric_attributes.account_id,
        weights.dimension,
        max(weights.points) as points
    from numeric_attributes
    inner join weights
        on
            numeric_attributes.dimension = weights.dimension
            and weights.match_value is null
            and numeric_attributes.number_value >= weights.min_value
            and (weights.max_value is null or numeric_attributes.number_value < weights.max_value)
    group by all
),

scores as (
    select
        account_id,
        cast(least(100, greatest(0, sum(points))) as integer) as icp_score
    from matched
    group by account_id
),

scored as (
    select
        enriched.*,
        coalesce(scores.icp_score, 0) as icp_score,
        -- Guardrails: the lowest and highest track any decision (rules or model) may assign.
        enriched.plan_tier = 'enterprise'
        or enriched.arr >= {{ var('segmentation_never_self_serve_arr', 24000) }} as self_serve_forbidden,
        enriched.arr >= {{ var('segmentation_high_touch_min_arr', 12000) }} as high_touch_allowed
    from enriched
    left join scores on enriched.account_id = scores.account_id
),

ruled as (
    select
        scored.*,
        case
            when scored.high_touch_allowed and (
                scored.plan_tier = 'enterprise'
                or scored.arr >= {{ var('segmentation_high_touch_arr', 30000) }}
                or scored.employees >= {{ var('segmentation_high_touch_employees', 300) }}
                or scored.icp_score >= {{ var('segmentation_high_touch_icp', 90) }}
            ) then 'high_touch'
            when not scored.self_serve_forbidden and (
                scored.plan_tier = 'free'
                or (
                    scored.arr < {{ var('segmentation_self_serve_max_arr', 6000) }}
                    and coalesce(scored.employees, 0) < {{ var('segmentation_self_serve_max_employees', 4) }}
                )
            ) then 'self_serve'
            else 'standard'
        end as rules_track,
        case
            when scored.high_touch_allowed and scored.plan_tier = 'enterprise' then 'rules: enterprise plan'
            when scored.high_touch_allowed and scored.arr >= {{ var('segmentation_high_touch_arr', 30000) }}
                then 'rules: ARR at or above the high-touch threshold'
            when
                scored.high_touch_allowed
                and scored.employees >= {{ var('segmentation_high_touch_employees', 300) }}
                then 'rules: large team on a high-value plan'
            when
                scored.high_touch_allowed and scored.icp_score >= {{ var('segmentation_high_touch_icp', 90) }}
                then 'rules: strong ICP fit'
            when not scored.self_serve_forbidden and scored.plan_tier = 'free' then 'rules: free plan'
            when
                not scored.self_serve_forbidden
                and scored.arr < {{ var('segmentation_self_serve_max_arr', 6000) }}
                and coalesce(scored.employees, 0) < {{ var('segmentation_self_serve_max_employees', 4) }}
                then 'rules: small team on a low-value plan'
            else 'rules: default path'
        end as rules_reason
    from scored
),

-- What the model is shown: firmographics and plan, no person, no e-mail. Key order is fixed, so the
-- JSON text (and its hash) only changes when a value does. The text is DuckDB's to_json on both engines
-- (json_of_struct writes Spark's doubles as DuckDB prints them: 12000000.0, not 1.2E7), so a decision cached
-- under one engine is found under the other, and an existing DuckDB warehouse keeps its hashes.
with_input as (
    select
        ruled.*,
        {#- Any plan change re-evaluates the track, even when the traits lag behind the billing event. -#}
        {%- set input_fields = [
            ('company_name', 'ruled.company_name'),
            ('plan_tier', 'ruled.plan_tier'),
            ('signup_plan_tier', 'ruled.signup_plan_tier'),
            ('mrr', 'ruled.mrr'),
            ('arr', 'ruled.arr'),
            ('employees', 'ruled.employees'),
            ('industry', 'ruled.industry'),
            ('country', 'ruled.country'),
            ('source', 'ruled.source'),
            ('utm_source', 'ruled.utm_source'),
            ('utm_campaign', 'ruled.utm_campaign'),
            ('use_case', 'ruled.use_case'),
            ('funding_stage', 'ruled.funding_stage'),
            ('tech_stack', 'ruled.tech_stack'),
            ('founded_year', 'ruled.founded_year'),
            ('annual_revenue_usd', 'ruled.annual_revenue_usd'),
            ('icp_score', 'ruled.icp_score'),
            ('last_plan_change_at', format_instant('ruled.last_plan_change_at', '%Y-%m-%dT%H:%M:%SZ')),
        ] %}
        cast({{ json_of_struct(input_fields) }} as string) as segmentation_input
    from ruled
)

select
    *,
    md5(segmentation_input) as segmentation_input_hash
from with_input
