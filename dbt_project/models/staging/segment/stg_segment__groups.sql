-- Accounts (Segment `group`): firmographic traits as the customer or the product sent them, from
-- `traits` or, field by field, `context.traits`.
with messages as (
    select * from {{ ref('base_segment__messages') }}
    where message_type = 'group' and known_at <= {{ as_of() }}
),

renamed as (
    select
        message_id,
        account_id,
        user_id,
        {{ segment_trait('name') }} as company_name,
        lower({{ segment_trait('plan_tier') }}) as plan_tier,
        try_cast({{ segment_trait('mrr') }} as double) as mrr,
        try_cast({{ segment_trait('employees') }} as integer) as employees,
        {{ segment_trait('industry') }} as industry,
        {{ segment_trait('country') }} as country,
        {{ segment_trait('source') }} as source,
        {{ segment_trait('utm_source') }} as utm_source,
        {{ segment_trait('utm_campaign') }} as utm_campaign,
        {{ segment_trait('use_case') }} as use_case,
        event_at,
        known_at,
        load_id
    from messages
    where account_id is not null
)

select * from renamed
