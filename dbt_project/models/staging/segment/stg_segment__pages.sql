-- Page, screen and alias messages: kept for analysis, they drive no onboarding rule.
with messages as (
    select * from {{ ref('stg_segment__messages') }}
    where message_type in ('page', 'screen', 'alias')
),

renamed as (
    select
        message_id,
        message_type,
        user_id,
        anonymous_id,
        account_id,
        payload ->> '$.name' as page_name,
        event_at,
        known_at,
        load_id
    from messages
)

select * from renamed
