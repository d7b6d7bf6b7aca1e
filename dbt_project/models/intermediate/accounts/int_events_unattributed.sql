{#- A view on DuckDB; a table on Spark, whose views the Python steps cannot read back
    (dagster_project/lib/lake.py). #}
{{ config(materialized='view' if target.type == 'duckdb' else 'table') }}
-- Tracks and pages that belong to no account: no context.groupId and their user never joined an
-- account (no group call at or before the event). Kept in raw, never sent, never gating anyone;
-- the cycle summary counts this cycle's (by load_id) and the data channel hears of them.

with messages as (
    select
        message_id,
        message_type,
        user_id,
        anonymous_id,
        event_name,
        event_at,
        known_at,
        load_id
    from {{ ref('stg_segment__messages') }}
    where message_type in ('track', 'page') and account_id is null
),

memberships as (
    select
        user_id,
        account_id,
        joined_at
    from {{ ref('int_account_memberships') }}
),

unattributed as (
    {{ adapter.dispatch('unattributed_messages', 'onboarding')() }}
)

select * from unattributed
