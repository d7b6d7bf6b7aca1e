-- People (Segment `identify`): the traits Customer.io needs for the primary contact.
with messages as (
    select * from {{ ref('stg_segment__messages') }}
    where message_type = 'identify'
),

renamed as (
    select
        message_id,
        user_id,
        payload ->> '$.traits.email' as email,
        payload ->> '$.traits.name' as person_name,
        payload ->> '$.traits.title' as title,
        event_at,
        known_at,
        load_id
    from messages
    where user_id is not null
)

select * from renamed
