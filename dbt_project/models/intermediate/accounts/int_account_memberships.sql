{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        post_hook="{{ incremental_batch_record() }}",
    )
}}
-- Who joined which account, and when: one row per user, account and group-call time. A track or
-- page without context.groupId belongs to its user's latest membership at or before it (see the
-- attributed_tracks macro). first_load_id / first_known_at say when the membership became known.

with batch as (
    select
        user_id,
        account_id,
        event_at as joined_at,
        known_at,
        load_id
    from {{ ref('stg_segment__groups') }}
    where user_id is not null
    {{ incremental_batch_filter() }}
),

aggregated as (
    select
        user_id,
        account_id,
        joined_at,
        min(known_at) as first_known_at,
        min(load_id) as first_load_id
    from batch
    group by user_id, account_id, joined_at
),

new_memberships as (
    -- A membership, once known, keeps the time it first became known: later copies add nothing.
    select * from aggregated
    {%- if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as t
        where t.user_id = aggregated.user_id and t.account_id = aggregated.account_id
            and t.joined_at = aggregated.joined_at
    )
    {%- endif %}
),

final as (
    select
        new_memberships.*,
        {{ batch_columns() }}
    from new_memberships
)

select * from final
