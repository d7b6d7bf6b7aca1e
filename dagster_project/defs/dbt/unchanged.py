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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CLOCK_MACROS = frozenset({"macro.onboarding.as_of", "macro.onboarding.as_of_text"})


def comment_for(fingerprint: str, database: str) -> str:
    """The comment record_build_fingerprint() writes (macros/build_fingerprint.sql)."""
    return f"built from dbt project {fingerprint} in {database}"


def reads_clock(manifest: Mapping[str, Any], unique_id: str) -> bool:
    """Whether the node's SQL calls a clock macro, directly or through other macros."""
    macros = manifest.get("macros", {})
    seen: set[str] = set()
    todo = list(manifest["nodes"][unique_id].get("depends_on", {}).get("macros", []))
    while todo:
        name = todo.pop()
        if name in CLOCK_MACROS:
            return True
        if name in seen:
            continue
        seen.add(name)
        todo.extend(macros.get(name, {}).get("depends_on", {}).get("macros", []))
    return False


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


def unchanged(con: Any, manifest: Mapping[str, Any], selected: Iterable[str], fingerprint: str | None) -> set[str]:
    """The unique ids among the candidates whose relation's comment says this project built it."""
    if not fingerprint:
        return set()
    found = candidates(manifest, selected)
    if not found:
        return set()
    database = con.execute("select current_database()").fetchone()[0]
    comments = {
        (schema, name): comment
        for schema, name, comment in con.execute(
            "select schema_name, table_name, comment from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name, comment from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
    }
    expected = comment_for(fingerprint, database)
    return {unique_id for unique_id, relation in found.items() if comments.get(relation) == expected}


def select_args(manifest: Mapping[str, Any], selected: Iterable[str], left_out: Iterable[str]) -> list[str]:
    """`dbt build` arguments naming the selected models, seeds and tests but those left out (sources
    build nothing); `--indirect-selection empty`: no test is added or dropped with its parents."""
    names = sorted(manifest["nodes"][u]["name"] for u in set(selected) - set(left_out) if u in manifest["nodes"])
    return ["--select", *names, "--indirect-selection", "empty"]
