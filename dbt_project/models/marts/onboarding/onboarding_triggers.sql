{{
    config(
        materialized='incremental',
        unique_key='trigger_id',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}
-- The history of every trigger the journey emitted: a row is added the first cycle a trigger is
-- due and still relevant, and never changes after. The Customer.io sync sends the rows it has not
-- sent yet. Never rebuilt by a full refresh: this is the record of what was decided.

with due as (
    select * from {{ ref('int_onboarding_triggers_due') }}
),

new_triggers as (
    select due.*
    from due
    {% if is_incremental() %}
    anti join {{ this }} as emitted on due.trigger_id = emitted.trigger_id
    {% endif %}
),

final as (
    select
        trigger_id,
        account_id,
        person_id,
        kind,
        event_name,
        track,
        step,
        cast(attempt as integer) as attempt,
        due_at,
        {{ as_of() }} as emitted_as_of,
        payload
    from new_triggers
)

select * from final
