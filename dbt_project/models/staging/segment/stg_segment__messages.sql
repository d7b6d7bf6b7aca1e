-- Every landed message visible at the cycle's clock: known (happened and arrived) by as_of.
with messages as (
    select * from {{ ref('base_segment__messages') }}
),

visible as (
    select
        message_id,
        message_type,
        event_name,
        user_id,
        anonymous_id,
        account_id,
        event_at,
        received_at,
        known_at,
        load_id,
        payload
    from messages
    where known_at <= {{ as_of() }}
)

select * from visible
