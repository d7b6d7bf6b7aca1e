"""Attribution across cycles, through the real dbt models: a group call that lands after its user's
groupless tracks attributes them in that cycle, exactly as a full refresh would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster_project.defs.landing import load as landing
from dagster_project.lib import config, warehouse
from dagster_project.lib.dbt import dbt_executable
from tests.support.events import iso

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)
MODELS = "+int_account_events_aggregated +int_events_unattributed"


def _dbt(db: Path, target: Path, as_of: datetime, *extra: str) -> None:
    env = dict(os.environ, ONBOARDING_WAREHOUSE=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    cmd = [
        dbt_executable(), "build", "--select", MODELS, "--exclude-resource-type", "test", "unit_test",
        "--vars", json.dumps({"as_of": config.iso(as_of)}),
        "--project-dir", str(config.dbt_project_dir()), "--profiles-dir", str(config.dbt_project_dir()),
        "--target-path", str(target), *extra,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]


def _message(kind: str, user: str, at: datetime, **fields) -> dict:
    return {"messageId": f"{kind}-{user}-{at:%d%H%M}-{fields.get('event', '')}", "type": kind, "userId": user,
            "timestamp": iso(at), **fields}


def _land(root: Path, name: str, messages: list[dict]) -> None:
    path = root / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    with warehouse.connect(root / "w.duckdb") as con:
        landing.load_landing(root / "landing", con)


def _state(db: Path) -> tuple[list[tuple], list[tuple]]:
    with warehouse.connect(db, read_only=True) as con:
        events = con.execute(
            "select account_id, event_name, first_at, first_known_at, first_user_id, event_count "
            "from intermediate.int_account_events_aggregated order by all"
        ).fetchall()
        stray = con.execute("select user_id, event_name from intermediate.int_events_unattributed order by all").fetchall()
    return events, stray


def test_a_late_group_call_attributes_earlier_groupless_tracks_like_a_full_refresh(tmp_path):
    target = tmp_path / "target"
    first_clock, second_clock = T0 + timedelta(hours=6), T0 + timedelta(hours=12)
    _land(tmp_path, "h1.jsonl", [
        _message("group", "u1", T0, groupId="a1", traits={"name": "A1"}),
        _message("track", "u1", T0 + timedelta(hours=1), event="Project Created", properties={}),
        _message("track", "u2", T0 + timedelta(hours=2), event="teammate-invited", properties={}),
        _message("track", "u3", T0 + timedelta(hours=2), event="project_created", properties={}),
        _message("group", "u1", T0 + timedelta(hours=3), groupId="a9", traits={"name": "A9"}),
        _message("track", "u1", T0 + timedelta(hours=4), event="Integration Added", properties={}),
    ])
    _dbt(tmp_path / "w.duckdb", target, first_clock)
    events, stray = _state(tmp_path / "w.duckdb")
    assert [(e[0], e[1]) for e in events] == [("a1", "project_created"), ("a9", "integration_connected")]
    assert stray == [("u2", "teammate-invited"), ("u3", "project_created")]

    # u2's group call, back-dated before its track, lands in the next hour.
    late = _message("group", "u2", T0 + timedelta(hours=1), groupId="a2", traits={"name": "A2"})
    late["receivedAt"] = iso(T0 + timedelta(hours=8))
    _land(tmp_path, "h2.jsonl", [late])
    _dbt(tmp_path / "w.duckdb", target, second_clock)
    incremental = _state(tmp_path / "w.duckdb")
    assert ("a2", "teammate_invited") in [(e[0], e[1]) for e in incremental[0]]
    known = {(e[0], e[1]): e[3] for e in incremental[0]}
    assert known[("a2", "teammate_invited")] == T0 + timedelta(hours=8)  # known once the group call was
    assert incremental[1] == [("u3", "project_created")]

    shutil.copy(tmp_path / "w.duckdb", tmp_path / "full.duckdb")
    _dbt(tmp_path / "full.duckdb", target, second_clock, "--full-refresh")
    assert _state(tmp_path / "full.duckdb") == incremental
