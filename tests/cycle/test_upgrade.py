"""Upgrading a warehouse built by an older release: the next cycle keeps what it recorded and goes on.

A copy of the shared workspace is turned back into what the release before send decisions left
behind: `marts.onboarding_triggers` without its decision columns (every row of it was sent when it was
emitted) and a seed table of an older shape (a column the CSV has since gained is missing). One more
cycle on today's code must succeed, keep every old trigger as sent, and reload the seed in its new shape.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb

from tests.cycle.conftest import CLOCKS, Workspace, home

DECISION_COLUMNS = ("send_decision", "decision_reason", "decided_as_of", "lifecycle_stage")


def test_a_warehouse_from_before_send_decisions_upgrades_in_one_cycle(workspace: Workspace, tmp_path: Path):
    from dagster_project.cli.cycle import run_cycle

    root = tmp_path / "upgraded"
    root.mkdir()
    shutil.copy(workspace.root / "warehouse.duckdb", root / "warehouse.duckdb")
    shutil.copytree(workspace.root / "landing", root / "landing")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        for column in DECISION_COLUMNS:
            con.execute(f"alter table marts.onboarding_triggers drop column {column}")
        old = {row[0] for row in con.execute("select trigger_id from marts.onboarding_triggers").fetchall()}
        seed_columns = [r[0] for r in con.execute("describe intermediate.sequence_steps").fetchall()]
        con.execute(f"alter table intermediate.sequence_steps drop column {seed_columns[-1]}")
        # The older release never recorded this project as the seed's source (macros/build_fingerprint.sql).
        con.execute("comment on table intermediate.sequence_steps is null")
    finally:
        con.close()
    assert len(old) > 50

    with home(root):
        run_cycle(CLOCKS[-1] + timedelta(hours=1))

    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select trigger_id, send_decision, decision_reason, decided_as_of = emitted_as_of, lifecycle_stage "
            "from marts.onboarding_triggers where trigger_id in (select unnest(?::varchar[]))",
            [sorted(old)]).fetchall()
        reloaded = [r[0] for r in con.execute("describe intermediate.sequence_steps").fetchall()]
    finally:
        con.close()
    assert {r[0] for r in rows} == old, "an upgrade lost triggers the older release had recorded"
    assert {r[1] for r in rows} == {"send"}, "rows recorded before decisions existed were all sent"
    assert {r[2] for r in rows} == {"current_state", "lifecycle"}
    assert all(r[3] for r in rows), "an old row's decision is dated at its emission"
    assert all(r[4] is not None for r in rows)
    assert reloaded == seed_columns
