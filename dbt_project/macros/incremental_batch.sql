{#
  The rows of an event-driven incremental model's next batch.

  A message is processed exactly once: in the first cycle where it is both landed and known
  (known_at <= as_of). Each batch records the highest load id that existed and the clock it ran
  with; the next batch takes rows loaded since (late files) or known since (events whose time or
  arrival was still in the future of the previous clock). Running a clock backwards needs a full
  refresh, which the cycle does by itself.
#}
{% macro incremental_batch_filter() -%}
    {%- if is_incremental() %}
    and (
        load_id > (select coalesce(max(_batch_load_id), 0) from {{ this }})
        or known_at > (select coalesce(max(_batch_as_of), cast('1970-01-01' as {{ type_timestamptz() }})) from {{ this }})
    )
    {%- endif %}
{%- endmacro %}

{% macro batch_columns() -%}
    (select coalesce(max(load_id), 0) from {{ ref('stg_raw__loaded_files') }}) as _batch_load_id,
    {{ as_of() }} as _batch_as_of
{%- endmacro %}
