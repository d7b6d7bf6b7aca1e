{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'user_id'],
        incremental_strategy=engine_incremental_strategy(),
        post_hook="{{ incremental_batch_record() }}",
    )
}}
-- Who opted out of e-mail, per account and person (only the primary contact's opt-out matters
-- for sends; a teammate's is kept for the record). The e-mail-scope rows of
-- seeds/suppression_events.csv name the events: a new one is one seed row.

{%- set email_scope -%}
event_name in (select event from {{ ref('suppression_events') }} where scope = 'email') and user_id is not null
{%- endset %}
with {{ attributed_tracks(email_scope) }},

batch as (
    select * from attributed
    where account_id is not null
),

aggregated as (
    select
        account_id,
        user_id,
        min(event_at) as unsubscribed_at
    from batch
    group by account_id, user_id
),

{% if is_incremental() %}
merged as (
    select
        a.account_id,
        a.user_id,
        least(a.unsubscribed_at, coalesce(t.unsubscribed_at, a.unsubscribed_at)) as unsubscribed_at
    from aggregated as a
    left join {{ this }} as t on a.account_id = t.account_id and a.user_id = t.user_id
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
