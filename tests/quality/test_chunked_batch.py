"""A backlog validated in chunks says exactly what one pass over it says: same statuses, same gate, one alert.

A first load validates millions of messages; the pass holds one chunk (`ONBOARDING_QUALITY_CHUNK`) at a
time and merges the chunks into one outcome per check. Here a day with planted drift is validated once
whole and once in chunks of 16 messages, including a rule that only a merged count gets right (1 missing
`source` of 30 signups is under the 5 % threshold, but 1 of the 2-3 signups in a chunk is not).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dagster_project.defs.quality import batch, drift, scan
from dagster_project.defs.quality.run import QualityRun, chunk_size_setting
from dagster_project.defs.quality.suites import load_suites, parse_suite
from dagster_project.lib import config, warehouse
from tests.quality import dq_events as ev
from tests.quality import reference
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

    assert whole.largest_frame > 16 >= chunked.largest_frame  # no GX frame over the chunk size
    assert chunked.chunks > whole.chunks
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


def test_sql_frames_and_aggregates_match_the_python_reference(
    tmp_path: Path, history: tuple[Path, QualityRun]
) -> None:
    """What DuckDB builds (scan.py) is what the Python reference (tests/quality/reference.py) builds from Messages."""
    ws = Workspace(tmp_path, history[0])
    day, replayed, _ = _planted_day()
    ev.plant(day, "integration_connected", 2, lambda m: m["properties"].update(integration={"name": "slack"}))
    ev.plant(day, "plan_changed", 2, lambda m: m["properties"].update(mrr="12", to_tier=None, from_tier="  "))
    ev.plant(day, "project_created", 2, lambda m: m["properties"].update(project_id=17, extra=[1, True]))
    ws.land("day.jsonl", day)
    ws.land("replayed.jsonl", replayed)
    as_of = ev.day_start(DAY + 1)
    with warehouse.connect(ws.db) as con:
        total = batch.stage_batch(con, as_of)
        messages = reference.fetch_chunk(con, 0, total)
        for spec in load_suites():
            python = reference.build_frame(spec, reference.messages_for(spec, messages), as_of)
            sql = scan.suite_frame(con, spec, as_of, 0, total)
            assert list(sql.columns) == list(python.columns), spec.name
            for prop in spec.properties:  # a non-string value is shown as JSON text, not Python's str()
                shown_as_json = ~python[f"{prop}__type"].isin(["string"]) & python[prop].notna()
                python.loc[shown_as_json, prop] = sql.loc[shown_as_json, prop]
            pd.testing.assert_frame_equal(sql, python, check_dtype=True, obj=spec.name)
        assert scan.profile(con) == reference.profile(messages)
        late_count, late_samples = scan.late(con, drift.DEFAULTS.late_after)
        _, late = reference.late_share(messages)
        assert (late_count, late_samples) == (len(late), [m.message_id for m in late[:10]]) and late_count > 20
        comparable, repeats, samples = scan.repeated_events(con)
        (finding,) = [f for f in reference.duplicate_bursts(messages, 0, 0) if f.kind == "same_event_new_id"]
        assert (repeats, samples) == (finding.count, finding.samples) and repeats > 20
        assert comparable == sum(1 for m in messages if m.type in ("track", "identify", "group"))
        batch.drop_staged(con)


def test_the_duckdb_memory_cap_is_lifted_after_the_pass(tmp_path: Path) -> None:
    # The cycle's connections carry the workspace cap (ONBOARDING_DUCKDB_MEMORY): the pass sets it back.
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        before = con.execute("select current_setting('memory_limit')").fetchone()[0]
        with batch.memory_limit(con, "256MB", restore=config.DUCKDB_MEMORY.read()):
            assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "244.1 MiB"
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == before
    # A connection with DuckDB's default gets the default back.
    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    try:
        before = con.execute("select current_setting('memory_limit')").fetchone()[0]
        with batch.memory_limit(con, "256MB"):
            assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "244.1 MiB"
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == before
    finally:
        con.close()
    with (warehouse.connect(tmp_path / "w.duckdb") as con, pytest.raises(ValueError, match="not a DuckDB memory size"),
          batch.memory_limit(con, "1GB'; --")):
        pass


def test_a_suite_on_another_root_reads_the_whole_payload(tmp_path: Path, history: tuple[Path, QualityRun]) -> None:
    spec = parse_suite({
        "name": "signup_context",
        "meta": {"message_type": "track", "event": "signup_completed", "properties_root": "context"},
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "groupId"}}],
    })
    assert scan.needs_full_payload([spec]) and not scan.needs_full_payload(load_suites())
    ws = Workspace(tmp_path, history[0])
    day = ev.day_messages(DAY)
    ev.plant(day, "signup_completed", 2, lambda m: m.pop("context"))
    ws.land("day.jsonl", day)
    as_of = ev.day_start(DAY + 1)
    with warehouse.connect(ws.db) as con:
        total = batch.stage_batch(con, as_of, full_payload=True)
        python = reference.build_frame(spec, reference.messages_for(spec, reference.fetch_chunk(con, 0, total)), as_of)
        sql = scan.suite_frame(con, spec, as_of, 0, total)
        batch.drop_staged(con)
    pd.testing.assert_frame_equal(sql, python)
    assert int(sql["groupId"].isna().sum()) == 2 and len(sql) == 30
