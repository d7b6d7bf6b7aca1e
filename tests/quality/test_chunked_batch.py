"""A backlog validated in chunks says exactly what one pass over it says: same statuses, same gate, one alert.

A first load validates millions of messages; the pass holds one chunk (`ONBOARDING_QUALITY_CHUNK`) at a
time and merges the chunks into one outcome per check. Here a day with planted drift is validated once
whole and once in chunks of 16 messages, including a rule that only a merged count gets right (1 missing
`source` of 30 signups is under the 5 % threshold, but 1 of the 2-3 signups in a chunk is not).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dagster_project.quality.cycle import QualityRun, chunk_size_setting
from tests.quality import dq_events as ev
from tests.quality.conftest import HISTORY_DAYS, Workspace

DAY = HISTORY_DAYS
SIGNUP = "tracking_plan_signup_completed"


def _planted_day() -> tuple[list[dict], list[dict], set[str]]:
    day = ev.day_messages(DAY)
    missing = ev.plant(day, "signup_completed", 6, lambda m: m["properties"].pop("plan_tier"))
    unknown = ev.plant(day[-60:], "signup_completed", 1, lambda m: m["properties"].update(plan_tier="platinum"))
    ev.plant(day[90:], "signup_completed", 1, lambda m: m["properties"].pop("source"))  # under the 5 % threshold
    for m in day[::3]:
        m["receivedAt"] = ev.iso(ev.day_start(DAY) + timedelta(hours=23))
    replayed = day[:40] + ev.resend_under_new_ids(day, 30)
    return day, replayed, set(missing) | set(unknown)


def _run(root: Path, history_db: Path, **kwargs) -> tuple[Workspace, QualityRun]:
    root.mkdir()
    ws = Workspace(root, history_db)
    day, replayed, _ = _planted_day()
    ws.land("day.jsonl", day)
    ws.land("replayed.jsonl", replayed)
    return ws, ws.cycle(**kwargs)


def _expectations(run: QualityRun) -> list[tuple]:
    return [
        (c.name, e.name, e.success, e.element_count, e.unexpected_count, round(e.unexpected_percent, 9),
         e.sample_message_ids, e.affected_accounts, e.unexpected_values, e.error)
        for c in run.checks for e in c.expectations
    ]


def _findings(run: QualityRun) -> list[tuple]:
    return [(c.name, f.name, f.count, f.share, f.samples) for c in run.checks for f in c.findings]


def test_chunked_pass_equals_the_whole_pass_on_planted_drift(
    tmp_path: Path, history: tuple[Path, QualityRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole_ws, whole = _run(tmp_path / "whole", history[0])
    monkeypatch.setenv("ONBOARDING_QUALITY_CHUNK", "16")
    chunked_ws, chunked = _run(tmp_path / "chunked", history[0])

    assert whole.chunks == 1
    assert chunked.chunks == -(-chunked.batch_rows // 16) > 10
    assert chunked.batch_rows == whole.batch_rows

    _, _, broken = _planted_day()
    assert whole.check(SIGNUP).status == "fail" and whole_ws.gate() == broken
    statuses = {c.name: (c.status, c.summary, c.carried) for c in whole.checks}
    assert {c.name: (c.status, c.summary, c.carried) for c in chunked.checks} == statuses
    assert {n: s for n, (s, _, _) in statuses.items() if s != "pass"} == {
        SIGNUP: "fail", "late_arrivals": "warn", "duplicate_burst": "warn",
    }
    assert _expectations(chunked) == _expectations(whole)
    assert _findings(chunked) == _findings(whole)
    source = next(e for e in chunked.check(SIGNUP).expectations
                  if e.column == "source" and e.expectation_type == "expect_column_values_to_not_be_null")
    assert source.success and source.unexpected_count == 1  # merged, not any chunk's 1-in-3

    gate = "select account_id, check_name, reason, blocked_since from ops.send_gate order by all"
    assert chunked_ws.query(gate) == whole_ws.query(gate)
    alerts = "select check_name, previous_status, status, title, lines from ops.quality_alerts order by all"
    assert chunked_ws.query(alerts) == whole_ws.query(alerts)
    assert [a[0] for a in chunked_ws.alerts(SIGNUP)] == [SIGNUP]  # one alert per status change, not per chunk
    profiles = "select * from ops.quality_profiles order by all"
    assert chunked_ws.query(profiles) == whole_ws.query(profiles)


def test_the_chunk_size_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONBOARDING_QUALITY_CHUNK", raising=False)
    assert chunk_size_setting() == 200_000
    monkeypatch.setenv("ONBOARDING_QUALITY_CHUNK", "0")
    with pytest.raises(ValueError, match="at least 1"):
        chunk_size_setting()
    monkeypatch.setenv("ONBOARDING_QUALITY_CHUNK", "lots")
    with pytest.raises(ValueError, match="whole number"):
        chunk_size_setting()
