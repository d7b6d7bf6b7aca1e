{#
  The latest non-null value of each column per key, folded incrementally: the new batch's latest
  values are merged into the existing row, the newer side (by `time_column`) winning per column,
  and a value missing from a later message keeps the previous one.
  `batch` is a relation or CTE name with `key`, `time_column` and `columns`.
#}
{% macro latest_values(batch, key, time_column, columns) -%}
aggregated as (
    select
        {{ key }},
        max({{ time_column }}) as {{ time_column }},
        {%- for col in columns %}
        max_by({{ col }}, {{ time_column }}) filter (where {{ col }} is not null) as {{ col }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ batch }}
    group by {{ key }}
),

{% if is_incremental() -%}
merged as (
    select
        a.{{ key }},
        greatest(a.{{ time_column }}, coalesce(t.{{ time_column }}, a.{{ time_column }})) as {{ time_column }},
        {%- for col in columns %}
        case
            when t.{{ key }} is null then a.{{ col }}
            when a.{{ time_column }} >= t.{{ time_column }} then coalesce(a.{{ col }}, t.{{ col }})
            else coalesce(t.{{ col }}, a.{{ col }})
        end as {{ col }}{{ "," if not loop.last }}
        {%- endfor %}
    from aggregated as a
    left join {{ this }} as t on a.{{ key }} = t.{{ key }}
),
{%- else -%}
merged as (
    select * from aggregated
),
{%- endif %}

final as (
    select
        merged.*,
        {{ batch_columns() }}
    from merged
)
{%- endmacro %}
