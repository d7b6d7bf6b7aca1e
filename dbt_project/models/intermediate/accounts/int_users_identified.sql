{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy='delete+insert',
    )
}}
-- The latest identify traits per person. E-mail addresses live here and in the Customer.io feed only.

with batch as (
    select * from {{ ref('stg_segment__identifies') }}
    where true
    {{ incremental_batch_filter() }}
),

aggregated as (
    select
        user_id,
        max(event_at) as identified_at,
        arg_max(email, event_at) filter (where email is not null) as email,
        arg_max(person_name, event_at) filter (where person_name is not null) as person_name,
        arg_max(title, event_at) filter (where title is not null) as title
    from batch
    group by user_id
),

{% if is_incremental() %}
merged as (
    select
        a.user_id,
        greatest(a.identified_at, coalesce(t.identified_at, a.identified_at)) as identified_at,
        {% for col in ['email', 'person_name', 'title'] %}
        case
            when t.user_id is null then a.{{ col }}
            when a.identified_at >= t.identified_at then coalesce(a.{{ col }}, t.{{ col }})
            else coalesce(t.{{ col }}, a.{{ col }})
        end as {{ col }}{{ "," if not loop.last }}
        {% endfor %}
    from aggregated as a
    left join {{ this }} as t on a.user_id = t.user_id
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
