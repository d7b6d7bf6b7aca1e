{{
    config(
        materialized='incremental',
        unique_key='as_of',
        incremental_strategy=engine_incremental_strategy(),
        full_refresh=false,
    )
}}
-- One row per cycle clock the journey ran at, and whether that cycle adopts the history (go-live):
-- the first cycle on a warehouse, or one more than `adoption_gap_hours` after the previous clock (the
-- scheduler was down). An adopting cycle records what came due in the past as 'backfilled' and sends
-- only each account's current-state nudge (or nothing, var `adoption_sends`), so switching the engine
-- on over weeks of history does not mail every customer everything at once.
-- Never rebuilt by a full refresh: it is the record of which clocks ran. Running a clock again gives
-- the same row (the previous clock is the latest one before it).

{% set gap_hours = var('adoption_gap_hours') %}

with previous as (
    {% if is_incremental() %}
    select max(as_of) as previous_as_of from {{ this }} where as_of < {{ as_of() }}
    {% else %}
    select cast(null as {{ type_timestamptz() }}) as previous_as_of
    {% endif %}
),

final as (
    select
        {{ as_of() }} as as_of,
        previous_as_of,
        previous_as_of is null
        or previous_as_of < {{ as_of() }} - {{ interval_hours(gap_hours) }} as is_adoption,
        '{{ var("adoption_sends") }}' as adoption_sends
    from previous
)

select * from final
