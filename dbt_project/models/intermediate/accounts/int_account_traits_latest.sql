{{
    config(
        materialized='incremental',
        unique_key='account_id',
        incremental_strategy=engine_incremental_strategy(),
        post_hook="{{ incremental_batch_record() }}",
    )
}}
-- The latest value of each group trait per account (a trait missing from a later call keeps its
-- previous value). Late-arriving group calls count at their own event time.

with batch as (
    select
        *,
        event_at as traits_at
    from {{ ref('stg_segment__groups') }}
    where true
    {{ incremental_batch_filter() }}
),

{{ latest_values(
    'batch', 'account_id', 'traits_at',
    ['company_name', 'plan_tier', 'mrr', 'employees', 'industry', 'country', 'source', 'utm_source',
     'utm_campaign', 'use_case'],
) }}

select * from final
