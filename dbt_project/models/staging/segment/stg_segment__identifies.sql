-- People (Segment `identify`): the traits Customer.io needs for the primary contact, from `traits`
-- or, field by field, `context.traits` (RudderStack and analytics.js put them there).
with messages as (
    select * from {{ ref('base_segment__messages') }}
    where message_type = 'identify' and known_at <= {{ as_of() }}
),

renamed as (
    select
        message_id,
        user_id,
        {{ segment_trait('email') }} as email,
        {{ segment_trait('name') }} as person_name,
        {{ segment_trait('title') }} as title,
        event_at,
        known_at,
        load_id
    from messages
    where user_id is not null
)

select * from renamed
