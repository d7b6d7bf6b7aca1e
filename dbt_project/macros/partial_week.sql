{# A signup week the warehouse did not observe in full: it starts before the first signup day of the
   warehouse, or it had not ended at the clock. week is a date (Monday), first_day a date, as_of a timestamptz. #}
{% macro is_partial_week(week, first_day, as_of) -%}
    ({{ week }} < {{ first_day }} or {{ week }} + 7 > cast({{ as_of }} as date))
{%- endmacro %}
