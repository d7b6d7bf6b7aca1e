"""Hourly cycles with `ONBOARDING_ENGINE=spark`: the same landing, the same sends.

One generated workspace, two `onboarding run`s on each engine (each its own home, the same landed files):
on Spark, the dbt steps build from the parquet lake the cycle writes (dagster_project/lib/lake.py) and
the Python steps read Spark's tables back through DuckDB views. The last day's files land only before the
second cycle, twelve hours after the first: that cycle folds a new batch into the incremental models (on
Spark: delete+insert by staging and INSERT OVERWRITE, macros/cross_engine/spark_incremental.sql) and must
remember the first one (its clock, so no second go-live adoption; what it already decided and sent).
What leaves the product (the Customer.io, HubSpot and Slack payloads in the local outbox) must be the same
on both engines after each cycle, and the lake must hold each landed message exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
AS_OF = "2026-01-14T00:00:00Z"
# The second cycle: twelve hours later (within adoption_gap_hours: not an adoption), with the files of 2026-01-14
# landed meanwhile. At this clock a cycle that forgot the first one (Spark before its models were incremental)
# sends two more Customer.io nudges than DuckDB: it adopts again and its pacing cap misses the first cycle's sends.
SECOND_AS_OF = "2026-01-14T12:00:00Z"
HELD_BACK = Path("landing") / "events" / "2026-01-14"
CHANNELS = ("customerio", "hubspot", "slack")
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


def _payloads(home: Path, channel: str) -> list[str]:
    lines = (home / "outbox" / f"{channel}.jsonl").read_text().splitlines()
    return sorted(json.dumps({k: v for k, v in json.loads(line).items() if k not in VOLATILE}, sort_keys=True)
                  for line in lines)


@pytest.fixture(scope="module")
def homes() -> Iterator[dict[str, object]]:
    tmp = Path(tempfile.mkdtemp(prefix="onboarding-spark-cycle-"))
    duck, spark = tmp / "duck", tmp / "spark"
    _run(["generate", "--accounts", "40", "--days", "14", "--seed", "5", "--start", "2026-01-01T00:00:00+00:00",
          "--workers", "1"], duck)
    shutil.move(duck / HELD_BACK, tmp / "held-back")
    shutil.copytree(duck / "landing", spark / "landing")
    # Its own dbt target folder: the Spark manifest is prepared there, away from the suite's.
    engines = {duck: {}, spark: {"ONBOARDING_ENGINE": "spark", "ONBOARDING_DBT_TARGET": str(tmp / "target")}}
    sent: dict[str, dict[str, list[str]]] = {}
    seconds: dict[str, float] = {}
    for cycle, as_of in (("first", AS_OF), ("second", SECOND_AS_OF)):
        for home, extra in engines.items():
            if cycle == "second":
                shutil.copytree(tmp / "held-back", home / HELD_BACK)
            started = time.monotonic()
            _run(["run", "--as-of", as_of], home, **extra)
            seconds[f"{home.name} {cycle}"] = round(time.monotonic() - started, 1)
            sent[f"{home.name} {cycle}"] = {channel: _payloads(home, channel) for channel in CHANNELS}
    print(f"\nspark cycle test, seconds per `onboarding run`: {seconds}")
    yield {"duck": duck, "spark": spark, "sent": sent}
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("cycle", ["first", "second"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_spark_cycle_sends_what_a_duckdb_cycle_sends(homes: dict[str, object], channel: str, cycle: str) -> None:
    duck, spark = homes["sent"][f"duck {cycle}"][channel], homes["sent"][f"spark {cycle}"][channel]
    assert duck, f"the DuckDB cycle sent nothing to {channel}: the comparison would prove nothing"
    assert spark == duck


def test_the_second_cycle_sends_news_only(homes: dict[str, object]) -> None:
    """The second cycle sent something (else its comparison proves little), and on both engines it did not adopt
    the history again: nothing the first cycle had decided was decided again."""
    first, second = homes["sent"]["duck first"]["customerio"], homes["sent"]["duck second"]["customerio"]
    assert len(second) > len(first), "the second cycle sent nothing to Customer.io"
    for home in (homes["duck"], homes["spark"]):
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            cycles = con.execute(
                "select strftime(as_of, '%H'), strftime(previous_as_of, '%H'), is_adoption "
                "from intermediate.int_journey_cycles order by as_of"
            ).fetchall()
            backfilled_now = con.execute(
                "select count(*) from marts.onboarding_triggers "
                "where decision_reason = 'backfilled' and decided_as_of = ?", [SECOND_AS_OF]
            ).fetchone()[0]
        assert cycles == [("00", None, True), ("12", "00", False)], f"{home.name}: {cycles}"
        assert backfilled_now == 0, f"{home.name}: the second cycle backfilled {backfilled_now} triggers"


# The incremental models (delete+insert on both engines; on Spark by staging and INSERT OVERWRITE).
INCREMENTAL = (
    "intermediate.int_account_events_aggregated", "intermediate.int_account_traits_latest",
    "intermediate.int_users_identified", "intermediate.int_contacts_unsubscribed",
    "intermediate.int_account_memberships", "intermediate.int_journey_cycles", "marts.onboarding_triggers",
)


def _rows(home: Path, relation: str) -> list[str]:
    """The relation's rows as sorted text: columns by name, doubles to 9 decimals, JSON documents parsed."""

    def value(v: object) -> object:
        if isinstance(v, float):
            return round(v, 9)
        if isinstance(v, str) and v[:1] in "{[":
            try:
                return json.loads(v)
            except ValueError:
                return v
        return v

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        cursor = con.execute(f"select * from {relation}")
        names = [d[0] for d in cursor.description]
        return sorted(json.dumps({n: value(v) for n, v in zip(names, row, strict=True)}, sort_keys=True, default=str)
                      for row in cursor.fetchall())


@pytest.mark.parametrize("relation", INCREMENTAL)
def test_after_two_cycles_the_incremental_models_hold_the_same_rows(homes: dict[str, object], relation: str) -> None:
    duck, spark = _rows(homes["duck"], relation), _rows(homes["spark"], relation)
    assert duck, f"{relation} is empty: the comparison would prove nothing"
    only_duck, only_spark = sorted(set(duck) - set(spark)), sorted(set(spark) - set(duck))
    assert (len(duck), only_duck[:3], only_spark[:3]) == (len(spark), [], [])


def test_the_lake_holds_each_landed_message_once(homes: dict[str, object]) -> None:
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
