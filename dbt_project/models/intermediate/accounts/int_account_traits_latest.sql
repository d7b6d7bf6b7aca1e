{{
    config(
        materialized='incremental',
        unique_key='account_id',
        incremental_strategy='delete+insert',
    )
}}
-- The latest value of each group trait per account (a trait missing from a later call keeps its
-- previous value). Late-arriving group calls count at their own event time.

with batch as (
    select * from {{ ref('stg_segment__groups') }}
    where true
    {{ incremental_batch_filter() }}
),

aggregated as (
    select
        account_id,
        max(event_at) as traits_at,
        arg_max(company_name, event_at) filter (where company_name is not null) as company_name,
        arg_max(plan_tier, event_at) filter (where plan_tier is not null) as plan_tier,
        arg_max(mrr, event_at) filter (where mrr is not null) as mrr,
        arg_max(employees, event_at) filter (where employees is not null) as employees,
        arg_max(industry, event_at) filter (where industry is not null) as industry,
        arg_max(country, event_at) filter (where country is not null) as country,
        arg_max(source, event_at) filter (where source is not null) as source,
        arg_max(utm_source, event_at) filter (where utm_source is not null) as utm_source,
        arg_max(utm_campaign, event_at) filter (where utm_campaign is not null) as utm_campaign,
        arg_max(use_case, event_at) filter (where use_case is not null) as use_case
    from batch
    group by account_id
),

{% if is_incremental() %}
merged as (
    select
        a.account_id,
        greatest(a.traits_at, coalesce(t.traits_at, a.traits_at)) as traits_at,
        {% for col in ['company_name', 'plan_tier', 'mrr', 'employees', 'industry', 'country', 'source',
                       'utm_source', 'utm_campaign', 'use_case'] %}
        case
            when t.account_id is null then a.{{ col }}
            when a.traits_at >= t.traits_at then coalesce(a.{{ col }}, t.{{ col }})
            else coalesce(t.{{ col }}, a.{{ col }})
        end as {{ col }}{{ "," if not loop.last }}
        {% endfor %}
    from aggregated as a
    left join {{ this }} as t on a.account_id = t.account_id
),
{% else %}
merged as (
    select * from aggregated
),
{% endif %}

final as (
    select
        merged.*,
        {{ batch_columns() }}
    from merged
)

select * from final
