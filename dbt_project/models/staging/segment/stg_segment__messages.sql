-- Every landed message visible at the cycle's clock: known (happened and arrived) by as_of.
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
    where known_at <= {{ as_of() }}
)

select * from renamed
