"""What an hourly dbt step can leave out: the seeds and clock-free views the same project already built.

A view's SQL and a seed's rows change only with the dbt project (its SQL, CSVs and vars: the
fingerprint prepare() writes) and the warehouse it names; re-creating the same view or reloading
the same CSV each hour cost ~50 ms of dbt per node and changed nothing. Each records what it was
built from as its comment (dbt_project/macros/build_fingerprint.sql); a step's build leaves out
those whose comment matches the project it runs. Never left out:
- a view that reads the cycle's clock (as_of(), directly or through a macro): its SQL embeds it;
- anything on Spark, in a full refresh, or outside a cycle (no fingerprint).
The step then names its selector's nodes but those (`select_args`), every test of it included: a
test of a left-out view reads the view as it stands.
The step still reports each as its asset (Dagster runs nothing downstream of an output it did not
get), marked as not rebuilt.

An idle hour also leaves out the models that would change nothing (quiet()):
- an event-driven incremental model (macros/incremental_batch.sql) whose batch would be empty: its
  comment records what its last build in a cycle had seen (every message loaded up to a load id and
  known by a clock, and the project), and no message of raw lies beyond that and within the new
  clock; what it reads besides is seeds (the project), views of the landed messages and other such
  models, left out too and built no later than it;
- a per-account model that reads no clock (int_accounts_profiled, _enriched, _scored:
  macros/account_scope.sql) whose recorded fingerprint (project and firmographics) is the current
  one, whose model inputs are all left out, built no later than it and stamped (`_batch_as_of`) no
  later than it: its scope would be empty.
Never when the clock is not later than the recorded one (a replayed hour rebuilds), in a full
refresh, on Spark or outside a cycle (nothing recorded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dagster_project.lib import warehouse

CLOCK_MACROS = frozenset({"macro.onboarding.as_of", "macro.onboarding.as_of_text"})
BATCH_MACRO = "macro.onboarding.incremental_batch_record"
SCOPE_MACRO = "macro.onboarding.account_scope_record"
DOWNSTREAM_MACRO = "macro.onboarding.account_scoped_downstream"
SCOPE_STATE = frozenset({"macro.onboarding.account_scoped_model", SCOPE_MACRO})
# The sources an event-driven model's record covers (the landed messages and the ledger of their
# files), and those a per-account model's fingerprint covers (the firmographics file).
LANDED = frozenset({"source.onboarding.raw.segment_messages", "source.onboarding.raw.loaded_files"})
# What a step reads once before dbt starts, for every model of it (macros/incremental_batch.sql,
# macros/account_scope.sql): the landing's highest load id (the event-driven models' record), the
# firmographics fingerprint and the per-account models' recorded states (each model queried both, ~10 ms
# of dbt per statement).
LOAD_ID_ENV = "ONBOARDING_LOAD_ID"
FIRMOGRAPHICS_ENV = "ONBOARDING_FIRMOGRAPHICS"
SCOPE_STATES_ENV = "ONBOARDING_SCOPE_STATES"
# The workspace's number of accounts, for the bound on a scope's size (account_scope_too_large(): a workspace
# no larger than the bound never counts its scopes): the journey's rows, one per account, counted (~1 ms at 1M;
# DuckDB's row estimate also counts deleted rows: 132,507 for 100,000 after two hours).
ACCOUNTS_ENV = "ONBOARDING_ACCOUNTS"
ACCOUNTS_TABLE = ("intermediate", "int_account_journeys_evaluated")
FIRMOGRAPHICS = frozenset({"source.onboarding.raw.firmographics", "source.onboarding.raw.firmographics_loads"})


def comment_for(fingerprint: str, database: str) -> str:
    """The comment record_build_fingerprint() writes (macros/build_fingerprint.sql)."""
    return f"built from dbt project {fingerprint} in {database}"


def _calls(manifest: Mapping[str, Any], unique_id: str, wanted: Iterable[str], besides: Iterable[str] = ()) -> bool:
    """Whether the node calls one of these macros, directly or through other macros (or its config's hooks)
    but those `besides`."""
    wanted = set(wanted)
    macros = manifest.get("macros", {})
    seen: set[str] = set(besides)
    todo = list(manifest["nodes"][unique_id].get("depends_on", {}).get("macros", []))
    while todo:
        name = todo.pop()
        if name in wanted:
            return True
        if name in seen:
            continue
        seen.add(name)
        todo.extend(macros.get(name, {}).get("depends_on", {}).get("macros", []))
    return False


def reads_clock(manifest: Mapping[str, Any], unique_id: str) -> bool:
    """Whether the node's SQL calls a clock macro, directly or through other macros."""
    return _calls(manifest, unique_id, CLOCK_MACROS)


def _upstream_sources(manifest: Mapping[str, Any], unique_id: str) -> set[str] | None:
    """The sources a view reads, through other views and seeds; None when it reads a table model."""
    found: set[str] = set()
    todo, seen = [unique_id], set()
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        if node_id.startswith("source."):
            found.add(node_id)
            continue
        node = manifest["nodes"].get(node_id)
        if node is None:
            return None
        if node["resource_type"] == "seed":
            continue
        if node["resource_type"] != "model" or node["config"].get("materialized") != "view":
            return None
        todo.extend(node.get("depends_on", {}).get("nodes", []))
    return found


def candidates(manifest: Mapping[str, Any], selected: Iterable[str]) -> dict[str, tuple[str, str]]:
    """unique id -> (schema, relation name) of the selected seeds and clock-free views: those a build
    may leave out when they are unchanged."""
    found: dict[str, tuple[str, str]] = {}
    for unique_id in selected:
        node = manifest["nodes"].get(unique_id)
        if node is None or node["resource_type"] not in ("seed", "model"):
            continue
        kind = node["config"].get("materialized")
        if node["resource_type"] == "model" and (kind != "view" or reads_clock(manifest, unique_id)):
            continue
        found[unique_id] = (node["schema"], node.get("alias") or node["name"])
    return found


def _comments(con: Any) -> dict[tuple[str, str], str | None]:
    return {
        (schema, name): comment
        for schema, name, comment in con.execute(
            "select schema_name, table_name, comment from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name, comment from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
    }


def unchanged(con: Any, manifest: Mapping[str, Any], selected: Iterable[str], fingerprint: str | None) -> set[str]:
    """The unique ids among the candidates whose relation's comment says this project built it."""
    if not fingerprint:
        return set()
    found = candidates(manifest, selected)
    if not found:
        return set()
    database = con.execute("select current_database()").fetchone()[0]
    comments = _comments(con)
    expected = comment_for(fingerprint, database)
    return {unique_id for unique_id, relation in found.items() if comments.get(relation) == expected}


def landed_load_id(con: Any) -> int | None:
    """The highest load id of the landing ledger (what an event-driven model's build has seen), if any."""
    if not warehouse.table_exists(con, "raw", "loaded_files"):
        return None
    return int(con.execute("select coalesce(max(load_id), 0) from raw.loaded_files").fetchone()[0])


def step_env(con: Any, manifest: Mapping[str, Any], selected: Iterable[str]) -> dict[str, str]:
    """The environment of a step's dbt invocation that its models would otherwise each query (LOAD_ID_ENV...)."""
    env = {FIRMOGRAPHICS_ENV: firmographics_fingerprint(con)}
    load_id = landed_load_id(con)
    if load_id is not None:
        env[LOAD_ID_ENV] = str(load_id)
    scoped = _models(manifest, selected, SCOPE_MACRO)
    if scoped:
        database = con.execute("select current_database()").fetchone()[0]
        tables = _comments(con)
        states = {}
        for unique_id in scoped:
            node = manifest["nodes"][unique_id]
            relation = (node["schema"], node.get("alias") or node["name"])
            if relation in tables:
                states[".".join((database, *relation))] = tables[relation]
        env[SCOPE_STATES_ENV] = json.dumps(states)
        if warehouse.table_exists(con, *ACCOUNTS_TABLE):
            env[ACCOUNTS_ENV] = str(warehouse.count(con, ".".join(ACCOUNTS_TABLE)))
    return env


def firmographics_fingerprint(con: Any) -> str:
    """What account_scope_fingerprint() (macros/account_scope.sql) reads: the latest firmographics load's fingerprint."""
    if not warehouse.table_exists(con, "raw", "firmographics_loads"):
        return "none"
    row = con.execute("select coalesce(max(fingerprint), 'none') from raw.firmographics_loads "
                      "where loaded_at = (select max(loaded_at) from raw.firmographics_loads)").fetchone()
    return row[0] if row else "none"


def _record(comment: str | None) -> dict[str, Any] | None:
    try:
        record = json.loads(comment) if comment else None
        if isinstance(record, dict):
            as_of = datetime.fromisoformat(record["as_of"])
            record["as_of"] = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
            return record
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _models(manifest: Mapping[str, Any], selected: Iterable[str], macro: str) -> list[str]:
    return [u for u in selected if u in manifest["nodes"] and manifest["nodes"][u]["resource_type"] == "model"
            and manifest["nodes"][u]["config"].get("materialized") == "incremental" and _calls(manifest, u, [macro])]


def quiet(con: Any, manifest: Mapping[str, Any], selected: Iterable[str], fingerprint: str | None,
          clock: datetime, left_out: Iterable[str]) -> set[str]:
    """The event-driven and clock-free per-account models among the selected that would change nothing
    at this clock (module docstring), given the seeds and views already left out."""
    selected = set(selected)
    events, scoped = _models(manifest, selected, BATCH_MACRO), _models(manifest, selected, SCOPE_MACRO)
    # Those whose SQL reads no clock: the scope's own macros compare clocks only to find the accounts in scope
    # (what quiet() checks instead); a model downstream of the journey has clock columns (its strategy's).
    scoped = [u for u in scoped if not _calls(manifest, u, CLOCK_MACROS | {DOWNSTREAM_MACRO}, besides=SCOPE_STATE)]
    if not fingerprint or not (events or scoped):
        return set()
    comments = _comments(con)
    relation = {u: (manifest["nodes"][u]["schema"], manifest["nodes"][u].get("alias") or manifest["nodes"][u]["name"])
                for u in events + scoped}
    records = {u: _record(comments.get(relation[u])) for u in events + scoped}
    quiet_ids: set[str] = set()
    # An event-driven model: recorded by this project at an earlier clock, and no message beyond its record.
    beyond: dict[tuple[int, datetime], bool] = {}
    for u in events:
        record = records[u]
        if not record or record.get("fingerprint") != fingerprint or not record["as_of"] < clock:
            continue
        key = (int(record["load_id"]), record["as_of"])
        if key not in beyond:
            beyond[key] = bool(con.execute(
                "select exists (select 1 from raw.segment_messages where known_at <= ? and (load_id > ? or known_at > ?))",
                [clock, key[0], key[1]]).fetchone()[0])
        if not beyond[key]:
            quiet_ids.add(u)
    # Then what they read: seeds, views of the landed messages, and one another (left out, built no later).
    firmographics = firmographics_fingerprint(con) if scoped else "none"
    left_out = set(left_out)
    changed = True
    while changed:
        changed = False
        for u in events + scoped:
            if u in quiet_ids and not _inputs_quiet(con, manifest, u, records, quiet_ids, left_out, u in scoped):
                quiet_ids.discard(u)
                changed = True
            elif u in scoped and u not in quiet_ids and _scope_empty(con, manifest, u, records, quiet_ids, left_out,
                                                                     f"{fingerprint}/{firmographics}", clock):
                quiet_ids.add(u)
                changed = True
    return quiet_ids


def _scope_empty(con: Any, manifest: Mapping[str, Any], unique_id: str, records: Mapping[str, Any],
                 quiet_ids: set[str], left_out: set[str], fingerprint: str, clock: datetime) -> bool:
    record = records.get(unique_id)
    if not record or record.get("fingerprint") != fingerprint or not record["as_of"] < clock:
        return False
    return _inputs_quiet(con, manifest, unique_id, records, quiet_ids, left_out, True)


def _inputs_quiet(con: Any, manifest: Mapping[str, Any], unique_id: str, records: Mapping[str, Any],
                  quiet_ids: set[str], left_out: set[str], scoped: bool) -> bool:
    """Whether everything the model reads is the same as when it was last built."""
    covered = FIRMOGRAPHICS if scoped else LANDED
    as_of = records[unique_id]["as_of"]
    for parent in manifest["nodes"][unique_id].get("depends_on", {}).get("nodes", []):
        node = manifest["nodes"].get(parent)
        if node is None:
            if parent not in covered:
                return False
        elif node["resource_type"] == "seed":
            if parent not in left_out:
                return False
        elif node["config"].get("materialized") == "view":
            sources = _upstream_sources(manifest, parent)
            if sources is None or not sources <= covered:
                return False
        elif not _built_before(con, node, records.get(parent) if parent in quiet_ids else None, as_of, scoped):
            return False
    return True


def _built_before(con: Any, node: Mapping[str, Any], record: Mapping[str, Any] | None, as_of: datetime,
                  stamps: bool) -> bool:
    """Whether a model input, left out too, was last built (and, with `stamps`, stamped its rows) no later than as_of."""
    return record is not None and record["as_of"] <= as_of and not (stamps and _stamped_after(con, node, as_of))


def _stamped_after(con: Any, node: Mapping[str, Any], as_of: datetime) -> bool:
    """Whether a model's rows were stamped (`_batch_as_of`) later than this clock."""
    schema, name = node["schema"], node.get("alias") or node["name"]
    if not con.execute("select count(*) from duckdb_columns() where database_name = current_database() and "
                       "schema_name = ? and table_name = ? and column_name = '_batch_as_of'", [schema, name]).fetchone()[0]:
        return False
    latest = con.execute(f'select max(_batch_as_of) from "{schema}"."{name}"').fetchone()[0]
    return latest is not None and latest > as_of


def select_args(manifest: Mapping[str, Any], selected: Iterable[str], left_out: Iterable[str]) -> list[str]:
    """`dbt build` arguments naming the selected models, seeds and tests but those left out (sources
    build nothing); `--indirect-selection empty`: no test is added or dropped with its parents."""
    names = sorted(manifest["nodes"][u]["name"] for u in set(selected) - set(left_out) if u in manifest["nodes"])
    return ["--select", *names, "--indirect-selection", "empty"]
