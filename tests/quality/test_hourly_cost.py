"""An hourly pass costs its batch, not the history: what it reads instead gives the history's answers.

- The volume check counts the last 29 days of arrivals from the hourly profiles the pass keeps (plus
  its own batch) instead of re-reading `raw`: the same counts, messages arriving exactly at a window's
  end or start included; a clock off the hour reads `raw` as before.
- The batch is found without reading validated payloads, and the signups and group calls it needs are
  read from narrow columns: the staged batch is the one the whole-history rule gives (test_chunked_batch
  compares it with the Python reference).
- Great Expectations is imported only for a batch with suite rows, in the background while DuckDB
  stages it, without Spark's Python package (which, imported under `python -c`, exits the interpreter).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from dagster_project.defs.quality import batch, scan
from dagster_project.lib import warehouse
from tests.quality import dq_events as ev
from tests.quality.conftest import HISTORY_DAYS, Workspace

DAY = HISTORY_DAYS
AS_OF = ev.day_start(DAY + 1)
DAYS = 29  # 7 * volume_weeks + 1


def _arriving_at(n: int, at, event: str = "project_created") -> dict:
    """A track whose server receipt is exactly `at` (to the millisecond, as Segment stamps it)."""
    acc = ev.account_id(DAY, n % 30)
    return {"messageId": f"edge-{n}", "type": "track", "event": event, "userId": f"usr_d{DAY:02d}_{n % 30:03d}",
            "timestamp": ev.iso(at - timedelta(seconds=5)), "receivedAt": ev.iso(at),
            "properties": {"project_id": f"prj_edge_{n}"}, "context": {"groupId": acc}}


def _edges() -> list[dict]:
    """Messages arriving exactly at the clock, at window ends (1 and 3 days back), and one past the last window."""
    instants = [AS_OF, AS_OF - timedelta(days=1), AS_OF - timedelta(days=3), AS_OF - timedelta(days=3),
                AS_OF - timedelta(days=DAYS), AS_OF - timedelta(days=1, hours=1)]
    return [_arriving_at(n, at, "signup_completed" if n == 3 else "project_created") for n, at in enumerate(instants)]


def _series(con, as_of, profile=None):
    if profile is None:
        return batch._arrivals_from_raw(con, as_of, DAYS), batch._first_arrival(con)
    return batch.arrivals_by_day(con, as_of, DAYS, profile)


def test_volume_counts_from_the_profiles_equal_the_history(ws: Workspace) -> None:
    ws.land("day.jsonl", ev.day_messages(DAY) + _edges())
    with warehouse.connect(ws.db) as con:
        total = batch.stage_batch(con, AS_OF)
        profile = scan.profile(con)
        from_profiles = _series(con, AS_OF, profile)
        from_history = _series(con, AS_OF)
        batch.drop_staged(con)
    assert total > 0 and from_history[0]["track:project_created"][1] > 0
    assert from_profiles == from_history
    with warehouse.connect(ws.db) as con:  # the profiles were read, and the edges moved to their windows
        assert batch._hour_bounds(con, [AS_OF - timedelta(days=k) for k in range(DAYS + 1)])
        edges = batch._arrivals_at(con, [AS_OF - timedelta(days=k) for k in range(1, DAYS + 1)])
    assert sorted(edges) == [("track:project_created", 1, 1), ("track:project_created", 3, 1),
                             ("track:project_created", DAYS, 1), ("track:signup_completed", 3, 1)]

    ws.cycle(AS_OF)  # stores the batch's profile
    with warehouse.connect(ws.db) as con:
        # Nothing new (the same clock again): the stored profiles alone.
        assert _series(con, AS_OF, {}) == _series(con, AS_OF)
        # A clock off the hour reads the history, as before.
        odd = AS_OF + timedelta(minutes=30)
        assert _series(con, odd, {}) == _series(con, odd)

    later = AS_OF + timedelta(hours=1)  # an hour whose batch has a late arrival two days back
    ws.land("hour.jsonl", [_arriving_at(40, later), _arriving_at(41, later - timedelta(days=2))])
    with warehouse.connect(ws.db) as con:
        batch.stage_batch(con, later)
        profile = scan.profile(con)
        assert _series(con, later, profile) == _series(con, later)
        batch.drop_staged(con)


def test_an_hourly_pass_stages_only_its_batch(ws: Workspace) -> None:
    ws.land("day.jsonl", ev.day_messages(DAY))
    ws.cycle(AS_OF)
    hour = AS_OF + timedelta(hours=1)
    batch_messages = ev.account_messages(DAY, 3, prefix="late")[3:5]
    for n, m in enumerate(batch_messages):
        m["timestamp"] = ev.iso(hour - timedelta(minutes=30 - n))
        m["receivedAt"] = ev.iso(hour - timedelta(minutes=29 - n))
    ws.land("hour.jsonl", batch_messages)
    run = ws.cycle(hour)
    assert run.batch_rows == 2
    assert run.check("tracking_plan_project_created").rows == 1
    assert ws.query("select count(*) from ops.quality_load_watermarks where validated_through = ?", [hour])[0][0] == \
        ws.query("select count(*) from raw.loaded_files")[0][0]


def test_great_expectations_loads_in_the_background_without_spark(ws: Workspace) -> None:
    """Under `python -c` too: pyspark's import would exit that interpreter with status 0 and no output."""
    ws.land("day.jsonl", ev.day_messages(DAY, per_day=3))
    script = (
        "import sys\nfrom datetime import datetime\nfrom dagster_project.lib import warehouse\n"
        "from dagster_project.defs.quality.run import run_quality\n"
        "with warehouse.connect(sys.argv[1]) as con:\n"
        "    run = run_quality(con, datetime.fromisoformat(sys.argv[2]), reports_dir=None, deliver=False)\n"
        "print(run.batch_rows > 0, run.chunks > 0, 'great_expectations' in sys.modules, 'pyspark' in sys.modules,\n"
        "      run.timings['gx_import_seconds'] > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(ws.db), AS_OF.isoformat()], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "ONBOARDING_HOME": str(ws.root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "True", "False", "True"], done.stderr[-2000:]


def test_files_landed_ahead_of_the_clock_are_validated_hour_by_hour(ws: Workspace) -> None:
    """A backfill lands two days at once: each cycle validates what arrived by its clock, once."""
    today, tomorrow = ev.day_messages(DAY), ev.day_messages(DAY + 1, per_day=10)
    ws.land("two_days.jsonl", today + tomorrow)
    first = ws.cycle(AS_OF)
    assert first.batch_rows == len(today)
    second = ws.cycle(AS_OF + timedelta(days=1))
    assert second.batch_rows == len(tomorrow)
    assert ws.cycle(AS_OF + timedelta(days=1)).batch_rows == 0
