"""A whole hourly cycle with `ONBOARDING_ENGINE=spark`: the same landing, the same sends.

One generated workspace, one `onboarding run` on each engine (each its own home, the same landed files):
on Spark, the dbt steps build from the parquet lake the cycle writes (dagster_project/lib/lake.py) and
the Python steps read Spark's tables back through DuckDB views. What leaves the product (the Customer.io,
HubSpot and Slack payloads in the local outbox) must be the same on both engines, and the lake must hold
each landed message exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
AS_OF = "2026-01-14T00:00:00Z"
# Fields that name the run or the moment of writing, not what is sent.
VOLATILE = {"run_id", "written_at", "recorded_at", "enqueued_at", "sent_at"}


@pytest.fixture(scope="module", autouse=True)
def _java() -> None:
    if shutil.which("java") is None:
        pytest.fail("Spark needs a Java 17 runtime: apt-get install openjdk-17-jre-headless (.ci/run does)")


def _run(args: list[str], home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONBOARDING_", "DBT_", "DAGSTER_"))}
    env.update(ONBOARDING_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), ONBOARDING_PROGRESS="0", **extra)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(BIN / "onboarding"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, f"onboarding {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def homes() -> Iterator[dict[str, Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="onboarding-spark-cycle-"))
    duck, spark = tmp / "duck", tmp / "spark"
    _run(["generate", "--accounts", "40", "--days", "14", "--seed", "5", "--start", "2026-01-01T00:00:00+00:00",
          "--workers", "1"], duck)
    shutil.copytree(duck / "landing", spark / "landing")
    _run(["run", "--as-of", AS_OF], duck)
    # Its own dbt target folder: the Spark manifest is prepared there, away from the suite's.
    _run(["run", "--as-of", AS_OF], spark, ONBOARDING_ENGINE="spark", ONBOARDING_DBT_TARGET=str(tmp / "target"))
    yield {"duck": duck, "spark": spark}
    shutil.rmtree(tmp, ignore_errors=True)


def _payloads(home: Path, channel: str) -> list[str]:
    lines = (home / "outbox" / f"{channel}.jsonl").read_text().splitlines()
    return sorted(json.dumps({k: v for k, v in json.loads(line).items() if k not in VOLATILE}, sort_keys=True)
                  for line in lines)


@pytest.mark.parametrize("channel", ["customerio", "hubspot", "slack"])
def test_a_spark_cycle_sends_what_a_duckdb_cycle_sends(homes: dict[str, Path], channel: str) -> None:
    duck, spark = _payloads(homes["duck"], channel), _payloads(homes["spark"], channel)
    assert duck, f"the DuckDB cycle sent nothing to {channel}: the comparison would prove nothing"
    assert spark == duck


def test_the_lake_holds_each_landed_message_once(homes: dict[str, Path]) -> None:
    home = homes["spark"]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        landed = con.execute("select count(*), max(load_id) from raw.segment_messages").fetchall()[0]
        lake = con.execute(
            f"select count(*), count(distinct message_id), max(load_id) "
            f"from read_parquet('{home / 'lake' / 'raw' / 'segment_messages'}/*.parquet')"
        ).fetchall()[0]
        kinds = dict(con.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts'"
        ).fetchall())
    assert landed[0] > 1000
    assert lake == (landed[0], landed[0], landed[1])
    # The marts the syncs read are Spark's tables, read back as views.
    assert kinds["customer_onboarding_state"] == "VIEW" and kinds["onboarding_triggers"] == "VIEW"
