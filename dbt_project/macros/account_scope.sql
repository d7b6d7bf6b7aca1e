{#
  Per-account models (int_accounts_profiled, int_accounts_enriched, int_accounts_scored,
  int_account_steps_evaluated, int_account_journeys_evaluated) rebuild, each hour, only the accounts
  whose inputs changed since their own last build, or on which the clock reached one of their rules:
  rebuilding every account every hour made an idle cycle cost O(accounts).

  What changes an account's row, and how it is seen:
  - its events, group traits or opt-outs: the event-driven models stamp every row a batch rewrote with
    that batch's clock (`_batch_as_of`), so the accounts changed since this model's last build are the
    rows stamped later than it;
  - what a model names in `also`: for the journey's steps and state, a changed track decision and the
    clock reaching a rule (a stall, a recovery window, win-back, retention), each a query on the rows
    the model stored (so no due time can drift from the rule that computes it);
  - anything else it reads is the same for every account (the seeds, the vars, the SQL: the dbt
    project, fingerprinted by the cycle as ONBOARDING_DBT_FINGERPRINT; the firmographics file:
    raw.firmographics_loads): when that fingerprint differs from the one the last build recorded,
    every account is rebuilt.
  The state (the clock and fingerprint of the last build) is the table's comment, written by
  account_scope_record() as the model's post-hook: it lives and dies with the table.

  Downstream of the journey state (account_scoped_downstream, below): int_onboarding_triggers_due,
  int_recovery_offers_chosen, int_accounts_content_personalised, customer_onboarding_state, crm_accounts,
  customerio_people, onboarding_plan_tasks, crm_plan_tasks, health_monitor_handoff and csm_alerts. Their
  roots are the journey's steps and state, which stamp every row they rewrite (`_batch_as_of`); an `also`
  query may read `__scope_since__` (the last build's clock) for a root keyed otherwise (people, sends).

  A clock earlier than the last build's (a replayed hour) rebuilds every account. DuckDB only
  (delete+insert on account_id); on Spark these models stay tables, rebuilt whole (README, "Running
  on Spark"). tests/cycle/test_dbt_steps.py compares them with a full rebuild after five cycles, 300
  hours without an event, and a replayed hour.
#}

{#- A per-account model's config and its scope (account_scope): the accounts whose events or group
    traits changed (or a row of another event-driven model in `roots`), and those `also` names
    (subqueries of account ids: what else changes a row, e.g. the clock reaching a stored due time).
    Call it first in the model:
    `{%- set scope = account_scoped_model() %}`. -#}
{% macro account_scoped_model(roots=[], also=[], strategy='delete+insert', on_schema_change='sync_all_columns') -%}
    {{ config(
        materialized='incremental' if target.type == 'duckdb' else 'table',
        unique_key='account_id',
        incremental_strategy=strategy,
        on_schema_change=on_schema_change,
        post_hook="{{ account_scope_record() }}",
    ) }}
    {{ return(account_scope([ref('int_account_events_aggregated'), ref('int_account_traits_latest')] + roots, also)) }}
{%- endmacro %}

{#- What the last build's state must match: the dbt project and the firmographics file. Outside a
    cycle (a hand-run dbt build) there is no project fingerprint: every account is rebuilt. A cycle's
    step reads the firmographics fingerprint once for all its models (ONBOARDING_FIRMOGRAPHICS, the same
    query: dagster_project/defs/dbt/unchanged.py); without it, each model queries it. -#}
{% macro account_scope_fingerprint() -%}
    {%- set project = env_var('ONBOARDING_DBT_FINGERPRINT', '') or ('unknown:' ~ invocation_id) -%}
    {%- set firmographics = env_var('ONBOARDING_FIRMOGRAPHICS', '') or 'none' -%}
    {%- if execute and not env_var('ONBOARDING_FIRMOGRAPHICS', '') -%}
        {%- set loads = adapter.get_relation(database=this.database, schema='raw', identifier='firmographics_loads') -%}
        {%- if loads is not none -%}
            {%- set rows = run_query(
                "select coalesce(max(fingerprint), 'none') from " ~ loads
                ~ " where loaded_at = (select max(loaded_at) from " ~ loads ~ ")"
            ).rows -%}
            {%- set firmographics = rows[0][0] if rows else 'none' -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(project ~ '/' ~ firmographics) }}
{%- endmacro %}

{#- The account ids to rebuild as a subquery, or none for every account (first build, full refresh,
    a changed fingerprint, Spark). `roots`: the event-driven models the account's row derives from. -#}
{% macro account_scope(roots, also=[]) -%}
    {#- A unit test has no `this`: it builds every account of its fixture. -#}
    {%- if not (execute and this is not none and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {#- The last build's state: a cycle's step reads every scoped model's comment at once before dbt starts
        (ONBOARDING_SCOPE_STATES, relation -> comment); without it, each model queries its own. -#}
    {%- set states = fromjson(env_var('ONBOARDING_SCOPE_STATES', '') or '{}') -%}
    {%- set relation = this.database ~ '.' ~ this.schema ~ '.' ~ this.identifier -%}
    {%- if relation in states -%}
        {%- set rows = [[states[relation]]] -%}
    {%- else -%}
        {%- set rows = run_query(
            "select comment from duckdb_tables() where database_name = '" ~ this.database
            ~ "' and schema_name = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'"
        ).rows -%}
    {%- endif -%}
    {%- set state = fromjson(rows[0][0]) if rows and rows[0][0] else none -%}
    {%- if state is none or state.get('fingerprint') != account_scope_fingerprint() -%}
        {{ return(none) }}
    {%- endif -%}
    {#- A clock earlier than the last build's (a replayed hour): the rows hold that later clock's state. -#}
    {%- if utc_instant(state['as_of']) > utc_instant(as_of_text()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set since = "cast('" ~ state['as_of'] ~ "' as " ~ type_timestamptz() ~ ")" -%}
    {%- set changed = [] -%}
    {%- for root in roots -%}
        {%- do changed.append("select account_id from " ~ root ~ " where _batch_as_of > " ~ since) -%}
    {%- endfor -%}
    {#- An `also` query may name the last build's clock as __scope_since__ (a root keyed otherwise than by
        account, e.g. the people: the accounts whose primary contact's row was stamped since). -#}
    {%- for query in also -%}
        {%- do changed.append(query | replace('__scope_since__', since)) -%}
    {%- endfor -%}
    {%- set scope = changed | join(' union ') -%}
    {{ return(none if account_scope_too_large(scope) else scope) }}
{%- endmacro %}

{#- Whether more accounts are in scope than var('account_scope_max_accounts'): then every account is rebuilt
    (why: macros/_macros.yml). ONBOARDING_ACCOUNTS comes from dagster_project/defs/dbt/unchanged.py. -#}
{% macro account_scope_too_large(scope) -%}
    {%- set most = var('account_scope_max_accounts', none) -%}
    {%- if most is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set accounts = env_var('ONBOARDING_ACCOUNTS', '') -%}
    {%- if accounts and accounts | int <= most | int -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set rows = run_query("select count(*) > " ~ (most | int) ~ " from (" ~ scope ~ ") as scope").rows -%}
    {%- if rows and rows[0][0] -%}
        {{ log(this.identifier ~ ": more than " ~ (most | int) ~ " accounts in scope, every account rebuilt", info=true) }}
        {{ return(true) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}

{#- A predicate keeping the accounts in scope (`true` when every account is). -#}
{% macro in_account_scope(scope, column='account_id') -%}
    {%- if scope is none -%}true{%- else -%}{{ column }} in ({{ scope }}){%- endif -%}
{%- endmacro %}

{#- The post-hook: this build's clock and fingerprint, as the table's comment. -#}
{% macro account_scope_record() -%}
    {%- if target.type == 'duckdb' and execute and this is not none -%}
        comment on table {{ this }} is '{{ tojson({"as_of": as_of_text(), "fingerprint": account_scope_fingerprint()}) | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#- An ISO clock as a naive UTC datetime (Z, an offset or none: UTC), to compare two clocks. -#}
{% macro utc_instant(text) -%}
    {%- set instant = modules.datetime.datetime.fromisoformat(text | replace('Z', '+00:00')) -%}
    {%- if instant.tzinfo is not none -%}
        {%- set instant = (instant - instant.utcoffset()).replace(tzinfo=none) -%}
    {%- endif -%}
    {{ return(instant) }}
{%- endmacro %}

{#- A model downstream of the journey state (a row per account and trigger, task, offer...: an account may
    have no row at all, e.g. once suppressed). Its `roots` are the scoped models it reads (their rows carry
    `_batch_as_of`, the clock of the build that rewrote them), `also` what else moves a row (the clock
    reaching a rule, on the stored rows or upstream); `clock_columns` (name -> expression, or a list of
    them, one update each, in order, when one reads another) are the columns that move with every clock
    (as_of, hours_stalled): set on every row after the scoped rows are replaced (column-wide updates,
    cheaper than a rebuild); `clock_statements` run after them (a ranking over every row). The strategy (account_scope) deletes every row of the
    accounts in scope, then inserts the rebuilt ones, so an account that lost its rows loses them here too.
    The model ends with `{{ account_scope_marker(scope) }}`. -#}
{% macro account_scoped_downstream(roots=[], also=[], clock_columns={}, clock_statements=[]) -%}
    {%- set scope = account_scoped_model(roots, also, strategy='account_scope', on_schema_change='append_new_columns') -%}
    {{ return({'scope': scope, 'clock_columns': clock_columns, 'clock_statements': clock_statements}) }}
{%- endmacro %}

{#- The scope and the clock columns, as a comment at the end of the model's SQL, for the strategy below
    (which runs in the same node after the model's rows were computed: no other state to carry). -#}
{% macro account_scope_marker(scoped) -%}
    {%- if target.type == 'duckdb' and execute %}
/* account_scope{{ tojson({'scope': scoped['scope'], 'set': scoped['clock_columns'], 'then': scoped.get('clock_statements', [])}) }}account_scope */
    {%- endif -%}
{%- endmacro %}

{#- The incremental strategy `account_scope` (DuckDB): every row of the accounts in scope (all rows when
    the scope is every account) is replaced by the model's new rows; then the clock's columns are set. The
    scope's queries read the stored rows as they were when the new rows were computed (the delete runs first). -#}
{% macro get_incremental_account_scope_sql(arg_dict) -%}
    {%- set found = modules.re.search('/\\* account_scope(.*?)account_scope \\*/', compiled_code, modules.re.S) -%}
    {%- if found is none -%}
        {{ exceptions.raise_compiler_error(model.name ~ ': account_scope strategy without account_scope_marker(scope)') }}
    {%- endif -%}
    {%- set marked = fromjson(found.group(1)) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {#- A contract allows only appending new columns (on_schema_change): every account is rebuilt on a changed
        project, when the columns the model no longer has are dropped. -#}
    {%- if marked['scope'] is none -%}
        {%- set kept = adapter.get_columns_in_relation(arg_dict['temp_relation']) | map(attribute='name') | list -%}
        {%- for column in adapter.get_columns_in_relation(target_relation) if column.name not in kept %}
    alter table {{ target_relation }} drop column {{ adapter.quote(column.name) }};
        {%- endfor -%}
        {%- set columns = get_quoted_csv(kept) -%}
    {%- endif %}
    delete from {{ target_relation }}
    {%- if marked['scope'] is not none %} where account_id in ({{ marked['scope'] }}){% endif %};
    insert into {{ target_relation }} ({{ columns }}) (select {{ columns }} from {{ arg_dict['temp_relation'] }});
    {%- set updates = marked['set'] if marked['set'] is sequence and marked['set'] is not mapping else [marked['set']] -%}
    {%- for update in updates if update %}
    update {{ target_relation }} set
    {%- for name, expression in update.items() %} {{ name }} = {{ expression }}{{ ',' if not loop.last }}{% endfor %};
    {%- endfor %}
    {%- for statement in marked['then'] %}
    {{ statement }};
    {%- endfor %}
{%- endmacro %}
