{# The cycle's clock as a timestamptz literal. Every time rule reads this, never now(). #}
{% macro as_of() -%}
    {%- set value = var('as_of', none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%dT%H:%M:%S+00:00') -%}
    {%- endif -%}
    cast('{{ value }}' as timestamptz)
{%- endmacro %}

{# A SQL list literal from a dbt var holding a list of strings. #}
{% macro sql_list(values) -%}
    ({%- for v in values -%}'{{ v }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}
