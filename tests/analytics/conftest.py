"""One generated workspace for the analytics tests: built once per session, read by every test.

1,200 accounts over 35 days (about 120 in the holdout) and two cycles: day 21 (recoveries and
stalls under way) and the end of the window (every 14-day window of the first three weeks closed).
The generator plants the holdout's lift (dagster_project/synthetic, HOLDOUT_MISSED_ACTIVATION)
and writes each account's holdout flag to the ground truth, so the marts can be checked against it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.cycle.conftest import home

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 35
ACCOUNTS = 1200
SEED = 23
CLOCKS = [START + timedelta(days=21), START + timedelta(days=DAYS)]


@dataclass
class AnalyticsWorkspace:
    root: Path
    truth: pd.DataFrame
    manifest: dict

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql, params or []).df()
        finally:
            con.close()

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(CLOCKS[-1])


def _truth(path: Path) -> pd.DataFrame:
    with path.open(newline="", encoding="utf-8") as handle:
        frame = pd.DataFrame(list(csv.DictReader(handle)))
    for column in ("signup_at", "activated_at", "suppressed_at"):
        frame[column] = pd.to_datetime(frame[column].replace("", None), utc=True)
    frame["holdout"] = frame["holdout"] == "true"
    frame["holdout_missed_activation"] = frame["holdout_missed_activation"] == "true"
    return frame


@pytest.fixture(scope="session")
def analytics_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsWorkspace]:
    from dagster_project.cli.cycle import run_cycle
    from dagster_project.synthetic.generate import generate

    root = tmp_path_factory.mktemp("analytics")
    with home(root):
        generate(accounts=ACCOUNTS, days=DAYS, seed=SEED, out=str(root / "landing"), start=START.isoformat(),
                 workers=1, progress=None)
        for clock in CLOCKS:
            run_cycle(clock)
        truth_dir = root / "landing" / "ground_truth"
        yield AnalyticsWorkspace(
            root=root,
            truth=_truth(truth_dir / "accounts.csv"),
            manifest=json.loads((truth_dir / "manifest.json").read_text()),
        )
