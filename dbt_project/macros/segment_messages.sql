{#
  How a Segment message is read, whatever client sent it (shared with the data-quality suites,
  which implement the same rules in their own SQL).
#}

{#- An event name as rules match it: case, spaces, dashes and underscores folded
    (`Signup Completed`, `signup-completed`, `SIGNUP_COMPLETED` -> `signup_completed`). -#}
{% macro normalized_event_name(column) -%}
    {{ regexp_replace_all('lower(trim(' ~ column ~ '))', '[\s_-]+', '_') }}
{%- endmacro %}

{#- A trait of an identify or group call: `traits`, else `context.traits` (RudderStack and
    analytics.js put them there), field by field. -#}
{% macro segment_trait(name, payload='payload') -%}
    coalesce({{ json_text(payload, '$.traits.' ~ name) }}, {{ json_text(payload, '$.context.traits.' ~ name) }})
{%- endmacro %}
