{#
  Generic test: every send-protecting column test of a model in one query.

  The hourly steps (selectors.yml) run the tests tagged protects_sends, and dbt spends ~35 ms of its own
  work per test node whatever its SQL (compiling it, its events, its files), ~2 s an hour for ~60
  tests. This test folds the model's protects_sends tests of the kinds below into one node and one
  query; the hourly selectors run it instead of them, the daily job runs every test alone as before.
  Folded: not_null, unique, accepted_values, unique_combination (macros/test_unique_combination.sql),
  each with dbt's default config (error severity, no `where`, thresholds != 0: the test refuses
  anything else). Relationships tests and singular tests still run as their own nodes.

  The checks are read from the project's graph (the tests attached to this model), so the YAML lists
  each test once. A row per failing test: its name (the test it folds, as dbt names it) and its
  failing rows; the step's failure line lists them (dagster_project/defs/dbt/assets.py, _folded_failures).
#}
{% test send_invariants(model) %}
{%- set checks = [] -%}
{%- if execute -%}
    {%- set folded = send_invariants_folded(model.identifier) -%}
    {%- if not folded -%}
        {{ exceptions.raise_compiler_error(
            "send_invariants on " ~ model.identifier ~ ": no send-protecting test of a folded kind is attached to it"
            ~ " (or dbt's graph is not built: dagster_project/lib/dbt.py builds it before a step)") }}
    {%- endif -%}
    {%- for test in folded -%}
        {%- set kwargs = test.test_metadata.kwargs -%}
        {%- set kind = test.test_metadata.name -%}
        {%- set column = kwargs.get('column_name') -%}
        {%- if kind == 'not_null' -%}
            {%- set query = "select count(*) from " ~ model ~ " where " ~ column ~ " is null" -%}
        {%- elif kind == 'unique' -%}
            {%- set query = "select count(*) from (select " ~ column ~ " from " ~ model ~ " where " ~ column
                ~ " is not null group by 1 having count(*) > 1)" -%}
        {%- elif kind == 'unique_combination' -%}
            {%- set columns = kwargs.columns | join(', ') -%}
            {%- set query = "select count(*) from (select " ~ columns ~ " from " ~ model ~ " group by " ~ columns
                ~ " having count(*) > 1)" -%}
        {%- else -%}
            {%- set values = [] -%}
            {%- for value in kwargs['values'] -%}
                {%- do values.append("'" ~ (value | string | replace("'", "''")) ~ "'" if kwargs.get('quote', true) else value | string) -%}
            {%- endfor -%}
            {%- set query = "select count(*) from " ~ model ~ " where " ~ column ~ " not in (" ~ values | join(', ') ~ ")" -%}
        {%- endif -%}
        {%- do checks.append("select '" ~ test.name ~ "' as failing_test, (" ~ query ~ ") as failing_rows") -%}
    {%- endfor -%}
{%- else -%}
    {%- do checks.append("select '' as failing_test, 0 as failing_rows") -%}
{%- endif %}
select failing_test, failing_rows
from (
    {{ checks | join('\n    union all\n    ') }}
) as folded_checks
where failing_rows > 0
{% endtest %}

{#- The tests send_invariants folds for a model (by its relation's name): its protects_sends tests of the
    folded kinds. A folded test with a config it cannot honour (a `where`, another severity or threshold)
    stops the build: it must then run on its own (selectors.yml). -#}
{% macro send_invariants_folded(identifier) -%}
    {%- set kinds = ['not_null', 'unique', 'unique_combination', 'accepted_values'] -%}
    {%- set found = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.get('test_metadata')
            and node.test_metadata.name in kinds and 'protects_sends' in node.tags
            and (node.attached_node or '').split('.')[-1] == identifier -%}
        {%- set config = node.config -%}
        {%- if config.get('where') or (config.get('severity') or 'error') | lower != 'error'
                or config.get('error_if', '!= 0') != '!= 0' or config.get('warn_if', '!= 0') != '!= 0' -%}
            {{ exceptions.raise_compiler_error(
                "send_invariants cannot fold " ~ node.name ~ " (a where, severity or threshold of its own):"
                ~ " run it on its own in selectors.yml") }}
        {%- endif -%}
        {%- do found.append(node) -%}
    {%- endfor -%}
    {{ return(found | sort(attribute='name')) }}
{%- endmacro %}
