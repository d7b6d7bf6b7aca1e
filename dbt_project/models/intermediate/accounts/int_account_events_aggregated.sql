{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'event_name'],
        incremental_strategy=engine_incremental_strategy(),
        post_hook="{{ incremental_batch_record() }}",
    )
}}
-- One row per account and product event: first and last time, who did it first, how often.
-- Incremental: each cycle folds only the new batch of events into the existing rows. Events without
-- context.groupId count for the account their user joined (macros/attributed_tracks.sql).

with {{ attributed_tracks() }},

batch as (
    select * from attributed
    where account_id is not null
),

aggregated as (
    select
        account_id,
        event_name,
        min(event_at) as first_at,
        max(event_at) as last_at,
        min_by(known_at, event_at) as first_known_at,
        max_by(known_at, event_at) as last_known_at,
        min_by(user_id, event_at) as first_user_id,
        min_by(properties, event_at) as first_properties,
        max_by(properties, event_at) as last_properties,
        count(*) as event_count
    from batch
    group by account_id, event_name
),

{% if is_incremental() %}
merged as (
    select
        a.account_id,
        a.event_name,
        least(a.first_at, coalesce(t.first_at, a.first_at)) as first_at,
        greatest(a.last_at, coalesce(t.last_at, a.last_at)) as last_at,
        case when t.first_at is not null and t.first_at <= a.first_at then t.first_known_at else a.first_known_at end
            as first_known_at,
        case when t.last_at is not null and t.last_at > a.last_at then t.last_known_at else a.last_known_at end
            as last_known_at,
        case when t.first_at is not null and t.first_at <= a.first_at then t.first_user_id else a.first_user_id end
            as first_user_id,
        case when t.first_at is not null and t.first_at <= a.first_at then t.first_properties else a.first_properties end
            as first_properties,
        case when t.last_at is not null and t.last_at > a.last_at then t.last_properties else a.last_properties end
            as last_properties,
        a.event_count + coalesce(t.event_count, 0) as event_count
    from aggregated as a
    left join {{ this }} as t
        on a.account_id = t.account_id and a.event_name = t.event_name
),
{% else %}
merged as (
    select * from aggregated
),
{% endif %}

final as (
    select
        merged.*,
        {{ batch_columns() }}
    from merged
)

select * from final
