-- One row per reverse-ETL sync run, with the cycle clock (as_of) it ran for.
with source as (
    select * from {{ source('sync_log', 'sync_runs') }}
),

renamed as (
    select
        run_id,
        channel,
        as_of,
        started_at,
        finished_at,
        status,
        mode,
        planned_changes,
        sent,
        failed,
        parked,
        invalid,
        skipped_gate,
        requests,
        retries,
        rate_limited,
        bytes_sent,
        diff_seconds,
        duration_seconds,
        error,
        summary
    from source
)

select * from renamed
