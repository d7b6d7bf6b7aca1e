-- The ledger of landing files, one row per load: the incremental models record the highest load id
-- each batch saw (macros/incremental_batch.sql).
with source as (
    select * from {{ source('raw', 'loaded_files') }}
),

renamed as (
    select
        load_id,
        path,
        size_bytes,
        mtime,
        sha256,
        lines_read,
        messages_loaded,
        duplicates,
        quarantined,
        blank_lines,
        loaded_at
    from source
)

select * from renamed
