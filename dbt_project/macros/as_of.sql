{#
  The cycle's clock as a timestamptz literal. Every time rule reads this, never now().

  Where the clock comes from, first that is set:
  1. the `as_of` var: unit tests (`overrides: vars`), the replay's one compile, a hand-run
     `dbt build --vars '{as_of: ...}'`;
  2. the ONBOARDING_AS_OF environment variable: the hourly cycle sets it for its dbt invocations.
     It is read only while executing (`execute`), never while parsing, so a new clock each hour
     leaves the manifest and dbt's partial parsing valid (a var in --vars would re-parse the whole
     project every cycle);
  3. the run's start time (a bare `dbt build`).
#}
{% macro as_of() -%}
    cast('{{ as_of_text() }}' as {{ type_timestamptz() }})
{%- endmacro %}

{# The same clock as its ISO text (what as_of() casts). #}
{% macro as_of_text() -%}
    {%- set value = var('as_of', none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = env_var('ONBOARDING_AS_OF', '') -%}
    {%- endif -%}
    {%- if value is none or value == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%dT%H:%M:%S+00:00') -%}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{# A SQL list literal from a dbt var holding a list of strings. #}
{% macro sql_list(values) -%}
    ({%- for v in values -%}'{{ v }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}
