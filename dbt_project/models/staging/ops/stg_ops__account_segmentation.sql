-- Track decisions of the AI segmentation asset, one row per account and input hash, as written to
-- ops.account_segmentation (int_accounts_segmented keeps the latest decision known at the clock).
with source as (
    select * from {{ source('ops', 'account_segmentation') }}
),

renamed as (
    select
        account_id,
        input_hash,
        track,
        track_source,
        confidence,
        reason,
        model,
        decided_at
    from source
)

select * from renamed
