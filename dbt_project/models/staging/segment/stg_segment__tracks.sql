-- Product events (Segment `track`), the account from context.groupId.
with messages as (
    select * from {{ ref('stg_segment__messages') }}
    where message_type = 'track'
),

renamed as (
    select
        message_id,
        account_id,
        user_id,
        event_name,
        payload -> '$.properties' as properties,
        event_at,
        known_at,
        load_id
    from messages
)

select * from renamed
