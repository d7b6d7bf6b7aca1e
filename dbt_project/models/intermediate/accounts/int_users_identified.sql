{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy=engine_incremental_strategy(),
        post_hook="{{ incremental_batch_record() }}",
    )
}}
-- The latest identify traits per person. E-mail addresses live here and in the Customer.io feed only.

with batch as (
    select
        *,
        event_at as identified_at
    from {{ ref('stg_segment__identifies') }}
    where true
    {{ incremental_batch_filter() }}
),

{{ latest_values('batch', 'user_id', 'identified_at', ['email', 'person_name', 'title']) }}

select * from final
