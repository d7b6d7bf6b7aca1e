"""The generated workspace the end-to-end cycle tests share: built once per session."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 35
ACCOUNTS = 300
SEED = 11
# Cycles of the shared workspace: early, around the checkpoint, and after the last window closes.
CLOCKS = [START + timedelta(days=d, hours=h) for d, h in ((3, 6), (12, 0), (16, 12), (24, 0), (DAYS, 0))]


@contextmanager
def home(root: Path) -> Iterator[Path]:
    """Point the contract's variables at one workspace for the duration of a block."""
    saved = {k: os.environ.get(k) for k in ("ONBOARDING_HOME", "ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR")}
    os.environ["ONBOARDING_HOME"] = str(root)
    os.environ.pop("ONBOARDING_WAREHOUSE", None)
    os.environ.pop("ONBOARDING_LANDING_DIR", None)
    try:
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Workspace:
    root: Path
    truth: dict[str, dict[str, str]]
    manifest: dict
    results: list = field(default_factory=list)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True)
        try:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def dicts(self, sql: str, params: list | None = None) -> list[dict]:
        con = duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True)
        try:
            con.execute("set TimeZone = 'UTC'")
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            con.close()


def parse_time(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def plant(landing: Path) -> None:
    """Hand-planted accounts beside the generated ones: the exact edges the journey rules must get right."""
    from tests.support.events import Scenario

    s = Scenario("planted")
    # Activates 35 minutes after signup, before its first cycle (CLOCKS[0]): no onboarding e-mail at all.
    user = s.signup("planted_instant", CLOCKS[0] - timedelta(minutes=55), plan_tier="pro", mrr=400)
    s.activate("planted_instant", user, CLOCKS[0] - timedelta(minutes=20))
    # Its last activation event happens before CLOCKS[1] but lands only after it.
    user = s.signup("planted_late", START + timedelta(days=10), plan_tier="starter", mrr=100)
    s.track("planted_late", user, "project_created", START + timedelta(days=10, hours=1), project_id="p")
    s.track("planted_late", user, "teammate_invited", START + timedelta(days=10, hours=2), invitee_email="m@x.io")
    s.track("planted_late", user, "integration_connected", CLOCKS[1] - timedelta(hours=3),
            received=CLOCKS[1] + timedelta(hours=5), integration="github")
    # Cancels on day 12 after stalling: nothing may be emitted for it afterwards.
    user = s.signup("planted_cancel", START + timedelta(days=1), plan_tier="starter", mrr=80)
    s.track("planted_cancel", user, "subscription_cancelled", START + timedelta(days=13), reason="price")
    s.write(landing)


PLANTED = ("planted_instant", "planted_late", "planted_cancel")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from dagster_project.cli.cycle import run_cycle
    from dagster_project.synthetic.generate import generate

    root = tmp_path_factory.mktemp("workspace")
    with home(root):
        generate(accounts=ACCOUNTS, days=DAYS, seed=SEED, out=str(root / "landing"), start=START.isoformat(),
                 workers=1, progress=None)
        plant(root / "landing")
        results = [run_cycle(clock) for clock in CLOCKS]
    truth_dir = root / "landing" / "ground_truth"
    with (truth_dir / "accounts.csv").open() as handle:
        truth = {row["account_id"]: row for row in csv.DictReader(handle)}
    manifest = json.loads((truth_dir / "manifest.json").read_text())
    return Workspace(root=root, truth=truth, manifest=manifest, results=results)
