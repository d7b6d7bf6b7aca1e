-- Accounts (Segment `group`): firmographic traits as the customer or the product sent them.
with messages as (
    select * from {{ ref('stg_segment__messages') }}
    where message_type = 'group'
),

renamed as (
    select
        message_id,
        account_id,
        user_id,
        payload ->> '$.traits.name' as company_name,
        lower(payload ->> '$.traits.plan_tier') as plan_tier,
        try_cast(payload ->> '$.traits.mrr' as double) as mrr,
        try_cast(payload ->> '$.traits.employees' as integer) as employees,
        payload ->> '$.traits.industry' as industry,
        payload ->> '$.traits.country' as country,
        payload ->> '$.traits.source' as source,
        payload ->> '$.traits.utm_source' as utm_source,
        payload ->> '$.traits.utm_campaign' as utm_campaign,
        payload ->> '$.traits.use_case' as use_case,
        event_at,
        known_at,
        load_id
    from messages
    where account_id is not null
)

select * from renamed
