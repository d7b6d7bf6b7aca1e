"""A landed history (14 clean days) validated once per session; each test copies the warehouse file."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from dagster_project.defs.landing import load as landing
from dagster_project.defs.quality.run import QualityRun, run_quality
from dagster_project.lib import warehouse
from tests.quality import dq_events as ev

HISTORY_DAYS = 14


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, QualityRun]:
    root = tmp_path_factory.mktemp("dq_history")
    paths = [ev.write_jsonl(root / "landing" / f"day_{d:02d}.jsonl", ev.day_messages(d)) for d in range(HISTORY_DAYS)]
    db = root / "warehouse.duckdb"
    with warehouse.connect(db) as con:
        landing.load_landing(root / "landing", con, paths=paths)
        run = run_quality(con, ev.day_start(HISTORY_DAYS), reports_dir=root / "reports", deliver=False)
    return db, run


class Workspace:
    """One test's copy of the history warehouse, with helpers to land a file and run a cycle."""

    def __init__(self, root: Path, history_db: Path) -> None:
        self.root = root
        self.db = root / "warehouse.duckdb"
        shutil.copy(history_db, self.db)
        self.reports = root / "reports"

    def land(self, name: str, messages: list[dict]) -> None:
        path = ev.write_jsonl(self.root / "landing" / name, messages)
        with warehouse.connect(self.db) as con:
            landing.load_landing(self.root / "landing", con, paths=[path])

    def cycle(self, as_of=None, **kwargs) -> QualityRun:
        as_of = as_of or ev.day_start(HISTORY_DAYS + 1)
        kwargs.setdefault("deliver", False)
        with warehouse.connect(self.db) as con:
            return run_quality(con, as_of, reports_dir=self.reports, **kwargs)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with warehouse.connect(self.db) as con:
            return con.execute(sql, params or []).fetchall()

    def gate(self, check: str | None = None) -> set[str]:
        sql = "select account_id from ops.send_gate" + (" where check_name = ?" if check else "")
        return {r[0] for r in self.query(sql, [check] if check else [])}

    def alerts(self, check: str | None = None) -> list[tuple]:
        sql = "select check_name, previous_status, status, title, lines from ops.quality_alerts"
        sql += (" where check_name = ?" if check else "") + " order by as_of, check_name"
        return self.query(sql, [check] if check else [])


@pytest.fixture()
def ws(tmp_path: Path, history: tuple[Path, QualityRun]) -> Workspace:
    return Workspace(tmp_path, history[0])


NEXT_HOUR = timedelta(hours=1)
