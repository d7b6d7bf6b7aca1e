-- Accounts whose sends a failing blocking data-quality check holds back ('*' = every account).
with source as (
    select * from {{ source('ops', 'send_gate') }}
),

renamed as (
    select
        account_id,
        check_name,
        reason,
        blocked_since
    from source
)

select * from renamed
