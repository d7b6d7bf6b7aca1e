"""`onboarding replay`: the journey's hourly cycle at each step of a past window, as a backtest.

What it answers before go-live: "had this been running, what would it have sent, per track and
per day?" Its first clock is a go-live (the history before it is adopted, see int_journey_cycles),
and every clock after it decides exactly as the hourly cycle does: at most one nudge per account
per cycle, paced per person (marts.onboarding_triggers.send_decision). It runs the real dbt models of the journey (from `int_onboarding_triggers_due`
back to the landed events, and `onboarding_triggers`) at every clock of the window, in a scratch
copy of the warehouse, so the production warehouse, its sync state and its outbox are never
touched and nothing is sent.

Each step is dbt itself: the hourly cycle's in-process runner (lib/dbt.py, the prepared manifest, no
subprocess, no parse) with the step's clock in ONBOARDING_AS_OF, so every materialization, incremental
strategy and macro is dbt's own and a replay can never drift from what the cycle builds.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.lib import config, warehouse
from dagster_project.lib.dbt import AS_OF_ENV, invoke_in_process, prepare_if_stale

# What a replay step builds: the journey's decisions and state, with everything upstream of them.
TARGETS = ("int_onboarding_triggers_due", "onboarding_triggers", "customer_onboarding_state")
SELECTION = " ".join(f"+{name}" for name in TARGETS)
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


def _dbt_step(command: str, scratch: Path, target: Path, clock: datetime) -> None:
    """One dbt invocation of the journey's upstream closure at `clock`: dbt itself, in this process,
    from the prepared manifest (the cycle's own runner), its data and unit tests left to the cycle."""
    # `run` builds models only; `build` (the first clock, which also loads the seeds) would test too.
    skip_tests = ["--exclude-resource-type", "test", "unit_test"] if command == "build" else []
    result = invoke_in_process(
        [command, "--select", SELECTION, *skip_tests],
        target,
        {"ONBOARDING_WAREHOUSE": str(scratch), AS_OF_ENV: config.iso(clock)},
    )
    # The first failed node by unique id, not the first dbt's threads finished: one failure, one line.
    failed = sorted((r for r in result.results if str(r.status) in ("error", "fail")), key=lambda r: r.node.unique_id)
    if failed:
        node = failed[0].node.unique_id.split(".", 2)[-1]
        message = " ".join((failed[0].message or "").split())[:300]
        raise RuntimeError(f"replay: dbt {command} failed at {node} for clock {config.iso(clock)}: {message}")


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
    # Named as the production file is: dbt-duckdb names the database after the file, and the manifest
    # prepared for the production warehouse serves a database of that name without a parse.
    scratch = workdir / source.name
    began = time.perf_counter()

    # Copy the inputs; the first clock builds the seeds and every model (dbt's full-build SQL, a
    # go-live: int_journey_cycles adopts the history), each later clock runs the models, whose
    # incremental ones fold in only what is new, exactly as the hourly cycle's dbt step does.
    with warehouse.connect(scratch) as con:
        warehouse.ensure_schema(con)
        _copy_warehouse_inputs(source, con)
    target = workdir / "target"
    prepare_if_stale()  # as `onboarding run` does: a checkout whose dbt files changed parses them once, here
    progress(f"replay: {len(steps)} cycles from {config.iso(start)} every {every} (dbt, in process)")
    for index, clock in enumerate(steps, start=1):
        _dbt_step("build" if index == 1 else "run", scratch, target, clock)
        if index % max(1, len(steps) // 20) == 0:
            progress(f"replay: {index}/{len(steps)} cycles, clock {config.iso(clock)}")
    shutil.rmtree(target, ignore_errors=True)

    with warehouse.connect(scratch) as con:
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
