-- The reverse-ETL syncs' record of each operation they attempted or held back, with its result.
with source as (
    select * from {{ source('sync_log', 'sync_changelog') }}
),

renamed as (
    select
        run_id,
        channel,
        item_id,
        account_id,
        entity_key,
        operation,
        event_name,
        event_id,
        result,
        error,
        attempt,
        recorded_at
    from source
)

select * from renamed
