{#
  The incremental models' `delete+insert` (DuckDB's strategy) on Spark with parquet tables, which have no
  row-level delete or merge. dbt-spark's incremental materialization runs as usual (the model's SQL, with
  is_incremental() and `this`, becomes the temporary view `<model>__dbt_tmp`: the new rows of the keys
  the batch touched); only its last step differs. Spark refuses to INSERT OVERWRITE a parquet table that
  the same query reads, so the table's next state is staged first:
    1. `<model>__dbt_stage` (a parquet table beside the model) = the batch's rows, plus the model's rows
       whose key the batch does not hold (one pass: a window over both, the batch evaluated once);
    2. INSERT OVERWRITE the model from the stage.
  The same rows as DuckDB's `delete from ... where key in (batch); insert batch`: a row of the batch
  replaces every row of its key, a null key part matches nothing. The stage is kept until the next build
  (dropped before it is written again): if the overwrite fails half-way, the state is in it.
  Where the tables are Delta or Iceberg (var spark_table_format), the models use dbt-spark's `merge` instead
  (engine_incremental_strategy) and none of this runs.
  dbt-spark's own macros are overridden here (dbt resolves the root project's macro first) and delegate
  every other strategy to the adapter's version (`dbt.<name>`: dbt's and the adapter's macros) unchanged.
#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy == 'delete+insert' -%}
        {#- It ends in an INSERT OVERWRITE: allowed where dbt-spark allows insert_overwrite (not on an endpoint). -#}
        {%- do dbt.dbt_spark_validate_get_incremental_strategy('insert_overwrite', file_format) -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy == 'delete+insert' -%}
        {{ return(spark_delete_insert_sql(source, target, unique_key)) }}
    {%- endif -%}
    {{ return(dbt.dbt_spark_get_incremental_sql(
        strategy, source, target, existing, unique_key, incremental_predicates)) }}
{%- endmacro %}

{% macro spark_delete_insert_sql(source, target, unique_key) -%}
    {%- set keys = [unique_key] if unique_key is string else (unique_key or []) -%}
    {%- if not keys -%}
        {{ exceptions.raise_compiler_error('delete+insert on Spark needs a unique_key: ' ~ target) }}
    {%- endif -%}
    {%- set stage = target.incorporate(path={'identifier': target.identifier ~ '__dbt_stage'}) -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {%- call statement('drop_stage') -%}
        drop table if exists {{ stage }}
    {%- endcall -%}
    {%- call statement('write_stage') -%}
        create table {{ stage }} using parquet as
        with both_sides as (
            select {{ columns }}, true as _from_batch from {{ source }}
            union all
            select {{ columns }}, false as _from_batch from {{ target }}
        ),

        kept as (
            select
                *,
                bool_or(_from_batch) over (partition by {{ keys | join(', ') }}) as _key_in_batch
            from both_sides
        )

        select {{ columns }} from kept
        where _from_batch or not _key_in_batch
            {%- for key in keys %} or {{ key }} is null{% endfor %}
    {%- endcall -%}
    insert overwrite table {{ target }}
    select {{ columns }} from {{ stage }}
{%- endmacro %}
