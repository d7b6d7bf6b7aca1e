-- Product events (Segment `track`). `event_name` is the name rules match: normalised (case, spaces,
-- dashes) and mapped through the analysts' alias seed; `source_event_name` is the name as sent.
-- `account_id` is the context.groupId the message carried (null from Segment's server libraries:
-- intermediate/accounts attributes those through the user's group call).
with messages as (
    select * from {{ ref('base_segment__messages') }}
    where message_type = 'track' and known_at <= {{ as_of() }}
),

aliases as (
    select * from {{ ref('event_aliases') }}
),

normalized as (
    select
        *,
        {{ normalized_event_name('event_name') }} as normalized_event_name
    from messages
),

renamed as (
    select
        normalized.message_id,
        normalized.account_id,
        normalized.user_id,
        coalesce(aliases.event_name, normalized.normalized_event_name) as event_name,
        normalized.event_name as source_event_name,
        {{ json_value('normalized.payload', '$.properties') }} as properties,
        normalized.event_at,
        normalized.known_at,
        normalized.load_id
    from normalized
    left join aliases on normalized.normalized_event_name = aliases.alias
)

select * from renamed
