"""`onboarding replay`: the journey's hourly cycle at each step of a past window, as a backtest.

What it answers before go-live: "had this been running, what would it have sent, per track and
per day?" Its first clock is a go-live (the history before it is adopted, see int_journey_cycles),
and every clock after it decides exactly as the hourly cycle does: at most one nudge per account
per cycle, paced per person (marts.onboarding_triggers.send_decision). It runs the real dbt models of the journey (from `int_onboarding_triggers_due`
back to the landed events, and `onboarding_triggers`) at every clock of the window, in a scratch
copy of the warehouse, so the production warehouse, its sync state and its outbox are never
touched and nothing is sent.

Speed: starting dbt for each of 720 hourly steps would take an hour, so the models are compiled
once by dbt (with a placeholder clock) and the compiled SQL is executed here, step by step, with
the same materializations dbt would use: views, tables, and incremental models folding in only
the new batch (delete+insert on the unique key, or append). Same SQL, same semantics, one process.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.lib import config, warehouse
from dagster_project.lib.dbt import dbt_env, dbt_executable

PLACEHOLDER = "2000-01-01T00:00:00+00:00"
TARGETS = ("int_onboarding_triggers_due", "onboarding_triggers", "customer_onboarding_state")
_EVERY = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")


def parse_every(text: str) -> timedelta:
    match = _EVERY.match(text or "")
    if not match:
        raise ValueError(f"--every must look like 30m, 1h, 6h or 1d, got {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError("--every must be positive")
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]


def clocks(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    if end < start:
        raise ValueError(f"--to ({config.iso(end)}) is before --from ({config.iso(start)})")
    out, clock = [], start
    while clock <= end:
        out.append(clock)
        clock += every
    return out


@dataclass
class ReplayReport:
    start: datetime
    end: datetime
    every: str
    steps: int
    seconds: float
    by_day: list[tuple[str, str, str, int]] = field(default_factory=list)  # day, track, kind, sends
    final_stages: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)  # decision_reason -> triggers
    max_nudges_per_person_cycle: int = 0
    csv_path: Path | None = None

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for _, _, kind, n in self.by_day:
            totals[kind] += n
        return dict(totals)

    def describe(self) -> str:
        lines = [
            f"replay {config.iso(self.start)} .. {config.iso(self.end)} every {self.every}: "
            f"{self.steps} cycles in {self.seconds:.1f}s (nothing sent)",
        ]
        kinds = sorted({k for _, _, k, _ in self.by_day})
        table: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for day, track, kind, n in self.by_day:
            table[(day, track)][kind] = n
        header = f"  {'day':<10} {'track':<11} " + " ".join(f"{k:>9}" for k in kinds)
        lines.append(header)
        for (day, track), counts in sorted(table.items()):
            lines.append(f"  {day:<10} {track:<11} " + " ".join(f"{counts.get(k, 0):>9}" for k in kinds))
        totals = self.totals()
        lines.append("  sent: " + (", ".join(f"{k} {totals[k]}" for k in kinds) or "nothing"))
        if self.decisions:
            lines.append("  decisions: " + ", ".join(f"{k} {v}" for k, v in self.decisions.items())
                         + f"; at most {self.max_nudges_per_person_cycle} nudge(s) per person and cycle")
        if self.final_stages:
            lines.append("  stages at the end: " + ", ".join(f"{k} {v}" for k, v in self.final_stages.items()))
        if self.csv_path:
            lines.append(f"  per day, track and kind: {self.csv_path}")
        return "\n".join(lines)


def _compile(scratch: Path, target: Path) -> dict[str, Any]:
    """dbt compile of the journey's upstream closure against the scratch warehouse."""
    select = " ".join(f"+{name}" for name in TARGETS)
    completed = subprocess.run(
        [dbt_executable(), "compile", "--quiet", "--select", select, "--exclude", "resource_type:test",
         "resource_type:unit_test", "--vars", json.dumps({"as_of": PLACEHOLDER}), "--target-path", str(target),
         "--project-dir", str(config.dbt_project_dir()), "--profiles-dir", str(config.dbt_project_dir())],
        capture_output=True, text=True, env=dbt_env(scratch),
    )
    manifest_path = target / "manifest.json"
    if completed.returncode != 0 or not manifest_path.exists():
        detail = (completed.stdout + completed.stderr).strip().splitlines()
        raise RuntimeError("dbt compile for the replay failed: " + (detail[-1] if detail else "no output"))
    return json.loads(manifest_path.read_text())


def _plan(manifest: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(models to run in dependency order, seeds they read)."""
    nodes = manifest["nodes"]
    wanted: set[str] = set()
    stack = [uid for uid, n in nodes.items() if n["resource_type"] == "model" and n["name"] in TARGETS]
    while stack:
        uid = stack.pop()
        if uid in wanted or uid not in nodes:
            continue
        wanted.add(uid)
        stack.extend(nodes[uid].get("depends_on", {}).get("nodes", []))
    order: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in wanted:
            return
        seen.add(uid)
        for dep in nodes[uid].get("depends_on", {}).get("nodes", []):
            visit(dep)
        order.append(uid)

    for uid in sorted(wanted):
        visit(uid)
    models = [nodes[u] for u in order if nodes[u]["resource_type"] == "model"]
    seeds = [nodes[u] for u in order if nodes[u]["resource_type"] == "seed"]
    return models, seeds


def _relation(node: dict[str, Any]) -> str:
    return f'"{node["schema"]}"."{node["alias"]}"'


def _copy_warehouse_inputs(source: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Every table of `raw` and `ops` (the sources: landed events, enrichment, LLM decisions)."""
    con.execute(f"attach '{source}' as prod (read_only)")
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'prod' and table_schema in ('raw', 'ops') and table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create or replace table "{schema}"."{table}" as select * from prod."{schema}"."{table}"')
    finally:
        con.execute("detach prod")


def _load_seeds(con: duckdb.DuckDBPyConnection, seeds: list[dict[str, Any]]) -> None:
    for seed in seeds:
        path = config.dbt_project_dir() / seed["original_file_path"]
        con.execute(f'create schema if not exists "{seed["schema"]}"')
        con.execute(
            f"create or replace table {_relation(seed)} as select * from read_csv(?, header = true)", [str(path)]
        )


def _run_model(con: duckdb.DuckDBPyConnection, node: dict[str, Any], sql: str, exists: bool) -> None:
    relation = _relation(node)
    materialized = node["config"]["materialized"]
    con.execute(f'create schema if not exists "{node["schema"]}"')
    if materialized == "view":
        con.execute(f"create or replace view {relation} as {sql}")
    elif materialized != "incremental" or not exists:
        con.execute(f"create or replace table {relation} as {sql}")
    else:
        con.execute(f"create or replace temp table _replay_batch as {sql}")
        key = node["config"].get("unique_key")
        if node["config"].get("incremental_strategy") == "delete+insert" and key:
            keys = [key] if isinstance(key, str) else list(key)
            match = " and ".join(f"t.{k} = b.{k}" for k in keys)
            con.execute(f"delete from {relation} t where exists (select 1 from _replay_batch b where {match})")
        con.execute(f"insert into {relation} by name select * from _replay_batch")


def replay(
    start: datetime,
    end: datetime,
    every: str = "1h",
    *,
    progress=lambda line: print(line, file=sys.stderr, flush=True),
) -> ReplayReport:
    step = parse_every(every)
    steps = clocks(start, end, step)
    source = config.warehouse_path()
    if not source.exists():
        raise FileNotFoundError(f"no warehouse at {source}: load events with `onboarding run` first")
    workdir = config.home() / "replay" / f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    scratch = workdir / "replay.duckdb"
    began = time.perf_counter()

    # Copy the inputs, compile once with no model tables (full-build SQL), run the first step, then
    # compile again so the incremental models get their incremental SQL (dbt decides that from
    # what exists).
    with warehouse.connect(scratch) as con:
        warehouse.ensure_schema(con)
        _copy_warehouse_inputs(source, con)
    full_manifest = _compile(scratch, workdir / "target-full")
    models, seeds = _plan(full_manifest)
    with warehouse.connect(scratch) as con:
        _load_seeds(con, seeds)
        for node in models:
            sql = node["compiled_code"].replace(PLACEHOLDER, config.iso(steps[0]))
            _run_model(con, node, sql, exists=False)
    incremental_manifest = _compile(scratch, workdir / "target-incremental")
    compiled = {uid: n["compiled_code"] for uid, n in incremental_manifest["nodes"].items() if "compiled_code" in n}
    progress(f"replay: {len(steps)} cycles of {len(models)} models from {config.iso(start)} every {every}")

    with warehouse.connect(scratch) as con:
        for index, clock in enumerate(steps[1:], start=2):
            stamp = config.iso(clock)
            for node in models:
                _run_model(con, node, compiled[node["unique_id"]].replace(PLACEHOLDER, stamp), exists=True)
            if index % max(1, len(steps) // 20) == 0:
                progress(f"replay: {index}/{len(steps)} cycles, clock {stamp}")
        by_day = con.execute(
            """
            select strftime(decided_as_of, '%Y-%m-%d') as day, coalesce(track, '-') as track, kind, count(*)
            from marts.onboarding_triggers where send_decision = 'send' group by all order by all
            """
        ).fetchall()
        decisions = dict(con.execute(
            "select decision_reason, count(*) from marts.onboarding_triggers group by 1 order by 2 desc"
        ).fetchall())
        (most,) = con.execute(
            """
            select coalesce(max(n), 0) from (
                select count(*) as n from marts.onboarding_triggers
                where send_decision = 'send' and kind in ('step_due', 'stalled', 'recovery', 'win_back')
                group by person_id, decided_as_of)
            """
        ).fetchone()
        stages = dict(
            con.execute(
                "select lifecycle_stage, count(*) from marts.customer_onboarding_state group by 1 order by 2 desc"
            ).fetchall()
        )
        csv_path = config.reports_dir() / f"replay-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"""
            copy (select strftime(coalesce(decided_as_of, emitted_as_of), '%Y-%m-%d') as day, track, kind,
                         send_decision, decision_reason, count(*) as triggers
                  from marts.onboarding_triggers group by all order by all) to '{csv_path}' (header)
            """
        )
    return ReplayReport(
        start=start,
        end=end,
        every=every,
        steps=len(steps),
        seconds=time.perf_counter() - began,
        by_day=[(d, t, k, int(n)) for d, t, k, n in by_day],
        final_stages={str(k): int(v) for k, v in stages.items()},
        decisions={str(k): int(v) for k, v in decisions.items()},
        max_nudges_per_person_cycle=int(most),
        csv_path=csv_path,
    )
