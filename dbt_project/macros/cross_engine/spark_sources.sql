{#
  Spark reads the sources (`raw`, `ops`) as tables of the metastore. Where the landed data lives as parquet
  files (one folder per table: <root>/<schema>/<table>/*.parquet, the layout a DuckDB `copy ... (format
  parquet)` export or a loader writes), this operation registers each source table over its folder:
    dbt run-operation register_parquet_sources --args '{root: /data/lake}' --target spark
  A cluster whose sources are already tables of its catalog does not need it.
#}
{% macro register_parquet_sources(root) %}
    {%- set schemas = [] -%}
    {%- for source in graph.sources.values() -%}
        {%- if source.schema not in schemas -%}
            {%- do schemas.append(source.schema) -%}
            {%- do run_query('create database if not exists ' ~ source.schema) -%}
        {%- endif -%}
        {%- set location = root ~ '/' ~ source.schema ~ '/' ~ source.identifier -%}
        {%- do run_query('drop table if exists ' ~ source.schema ~ '.' ~ source.identifier) -%}
        {%- do run_query(
            'create table ' ~ source.schema ~ '.' ~ source.identifier
            ~ " using parquet location '" ~ location ~ "'"
        ) -%}
        {%- do log('registered ' ~ source.schema ~ '.' ~ source.identifier ~ ' at ' ~ location, info=true) -%}
    {%- endfor -%}
{% endmacro %}
