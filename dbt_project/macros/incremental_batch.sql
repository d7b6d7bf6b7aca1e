{#
  The rows of an event-driven incremental model's next batch.

  A message is processed exactly once: in the first cycle where it is both landed and known
  (known_at <= as_of). Each batch records the highest load id that existed and the clock it ran
  with; the next batch takes rows loaded since (late files) or known since (events whose time or
  arrival was still in the future of the previous clock). Running a clock backwards needs a full
  refresh, which the cycle does by itself.

  Each build in a cycle also records what it had seen, as the table's comment
  (incremental_batch_record, the models' post-hook): every message landed up to a load id and known
  by a clock. An idle hour's step leaves the model out when no message lies beyond that record and
  within the new clock (dagster_project/defs/dbt/unchanged.py, quiet()): its batch would be empty.
#}
{% macro incremental_batch_filter() -%}
    {%- if is_incremental() %}
    {%- set bounds = incremental_batch_bounds() %}
    and (load_id > {{ bounds.load_id }} or known_at > {{ bounds.as_of }})
    {%- endif %}
{%- endmacro %}

{#
  The previous batch's bounds (highest load id, clock) of the model being built, as SQL literals.

  Read with one query just before the model runs, then written into its SQL as constants: a filter
  on constants reaches the scan of raw.segment_messages (its row groups' min/max skip the history),
  where a filter on a subquery made the engine read every landed message each hour. Outside an
  incremental run (or while parsing), the bounds of an empty table.
#}
{% macro incremental_batch_bounds() -%}
    {%- set load_id, as_of = 0, none -%}
    {%- if execute and is_incremental() -%}
        {%- set row = run_query(
            "select coalesce(max(_batch_load_id), 0), cast(max(_batch_as_of) as " ~ dbt.type_string() ~ ") from " ~ this
        ).rows[0] -%}
        {%- set load_id, as_of = row[0], row[1] -%}
    {%- endif -%}
    {{ return({
        'load_id': load_id | int,
        'as_of': "cast('" ~ (as_of or '1970-01-01 00:00:00') ~ "' as " ~ type_timestamptz() ~ ")",
    }) }}
{%- endmacro %}

{% macro batch_columns() -%}
    (select coalesce(max(load_id), 0) from {{ ref('stg_raw__loaded_files') }}) as _batch_load_id,
    {{ as_of() }} as _batch_as_of
{%- endmacro %}

{#- The post-hook of an event-driven model: what this build had seen, as the table's comment (JSON): every
    message loaded up to `load_id` (the landing's highest when the step started, ONBOARDING_LOAD_ID) and known
    by `as_of`, with the dbt project that built it. Only in a cycle (both set by it, DuckDB): a hand-run
    build records nothing and leaves an older record, which claims less than was seen (still true). -#}
{% macro incremental_batch_record() -%}
    {%- set fingerprint = env_var('ONBOARDING_DBT_FINGERPRINT', '') -%}
    {%- set load_id = env_var('ONBOARDING_LOAD_ID', '') -%}
    {%- if target.type == 'duckdb' and execute and this is not none and fingerprint and load_id -%}
        comment on table {{ this }} is '{{ tojson({"as_of": as_of_text(), "load_id": load_id | int, "fingerprint": fingerprint}) }}'
    {%- endif -%}
{%- endmacro %}
