-- Every landed Segment message, columns renamed from raw.segment_messages, nothing dropped and nothing
-- filtered: the one model that reads the source. The staging views on top of it each keep what the
-- cycle's clock may see (known_at <= as_of) of their own message type.
with source as (
    select * from {{ source('raw', 'segment_messages') }}
),

renamed as (
    select
        message_id,
        type as message_type,
        event as event_name,
        user_id,
        anonymous_id,
        group_id as account_id,
        event_at,
        received_at,
        known_at,
        load_id,
        payload
    from source
)

select * from renamed
