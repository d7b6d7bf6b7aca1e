"""The loader: once per file, once per message, and every line accounted for."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.defs.landing import load as landing
from dagster_project.lib import warehouse
from tests.support.events import Scenario

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as connection:
        yield connection


def _write(path: Path, lines: list[str], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def _msg(message_id: str, **extra) -> str:
    body = {"messageId": message_id, "type": "track", "event": "project_created", "userId": "u1",
            "timestamp": "2026-10-01T10:00:00Z", "context": {"groupId": "a1"}, "properties": {"project_id": "p"}}
    body.update(extra)
    return json.dumps({k: v for k, v in body.items() if v is not None})


def test_bad_lines_are_quarantined_with_their_reason_and_the_rest_loads(tmp_path, con):
    land = tmp_path / "landing"
    _write(land / "a.jsonl", [
        _msg("m1"), "not json", "", "[1, 2]", _msg(None), _msg("m2", type=None), _msg("m3", timestamp=None),
        _msg("m4", timestamp="yesterday"), _msg("m5", event=None), '{"bad\x01": 1}', _msg("m6"),
        _msg("m7", event=None),
    ])
    result = landing.load_landing(land, con)
    assert result.messages_loaded == 2
    reasons = sorted(r for (r,) in con.execute("select reason from raw.quarantine").fetchall())
    assert reasons == sorted([
        "invalid JSON", "not a JSON object", "missing messageId", "missing type", "missing timestamp",
        "unparseable timestamp: yesterday", "track message without event name",
        "invalid JSON (Expected Number of Columns: 1 Found: 2)", "track message without event name",
    ])
    ledger = con.execute("select lines_read, messages_loaded, duplicates, quarantined, blank_lines "
                         "from raw.loaded_files").fetchall()
    assert ledger == [(12, 2, 0, 9, 1)]
    # Line numbers are the file's, also after a line the reader itself rejected.
    lines = con.execute("select line_no, reason from raw.quarantine order by line_no").fetchall()
    assert [n for n, _ in lines] == [2, 4, 5, 6, 7, 8, 9, 10, 12]
    assert lines[-2][1].startswith("invalid JSON (") and lines[-1][1] == "track message without event name"


def test_a_file_loads_once_and_a_message_id_once_across_files_gzip_and_subfolders(tmp_path, con):
    land = tmp_path / "landing"
    _write(land / "2026" / "10" / "01" / "09.jsonl.gz", [_msg("m1"), _msg("m2"), _msg("m1")], gz=True)
    _write(land / "late" / "b.jsonl", [_msg("m2"), _msg("m3")])
    first = landing.load_landing(land, con)
    assert (first.messages_loaded, first.duplicates) == (3, 2)
    again = landing.load_landing(land, con)
    assert (len(again.files), again.skipped_files) == (0, 2)
    assert warehouse.count(con, "raw.segment_messages") == 3
    # Same content under a new mtime is still the same file (content hash).
    (land / "late" / "b.jsonl").touch()
    assert len(landing.load_landing(land, con).files) == 0
    # An appended file loads again; only the new message is new.
    with (land / "late" / "b.jsonl").open("a") as handle:
        handle.write(_msg("m4") + "\n")
    appended = landing.load_landing(land, con)
    assert (appended.messages_loaded, appended.duplicates) == (1, 2)


def test_an_unreadable_file_is_reported_not_recorded_and_loaded_once_it_is_whole(tmp_path, con):
    land = tmp_path / "landing"
    good = _write(land / "good.jsonl", [_msg("m1")])
    whole = gzip.compress(("\n".join(_msg(f"x{i}") for i in range(2000)) + "\n").encode())
    partial = land / "writing.jsonl.gz"
    partial.write_bytes(whole[: len(whole) // 2])
    result = landing.load_landing(land, con)
    assert [f.path for f in result.files] == [good.name]  # the ledger key: relative to the landing directory
    assert [p for p, _ in result.unreadable] == [str(partial)]
    assert warehouse.count(con, "raw.loaded_files") == 1
    partial.write_bytes(whole)
    later = landing.load_landing(land, con)
    assert later.messages_loaded == 2000 and not later.unreadable


def test_an_unreadable_file_after_a_committed_chunk_loads_the_others_once(tmp_path, con, monkeypatch):
    """One file per chunk: the first chunk commits before the unreadable one fails; the retry loads
    the later files only, with their own load ids, and records nothing twice."""
    monkeypatch.setattr(landing, "CHUNK_BYTES", 1)
    land = tmp_path / "landing"
    first = _write(land / "a.jsonl", [_msg("m1"), _msg("m2")])
    whole = gzip.compress(("\n".join(_msg(f"x{i}") for i in range(2000)) + "\n").encode())
    partial = land / "b.jsonl.gz"
    partial.write_bytes(whole[: len(whole) // 2])
    last = _write(land / "c.jsonl", [_msg("m3"), _msg("m1")])
    result = landing.load_landing(land, con)
    assert [f.path for f in result.files] == [first.name, last.name]
    assert [p for p, _ in result.unreadable] == [str(partial)]
    assert (result.messages_loaded, result.duplicates) == (3, 1)
    ledger = con.execute("select path, load_id, messages_loaded from raw.loaded_files order by load_id").fetchall()
    assert ledger == [(first.name, 1, 2), (last.name, 2, 1)]
    assert sorted(r[0] for r in con.execute("select message_id from raw.segment_messages").fetchall()) == [
        "m1", "m2", "m3"]


def test_known_at_is_the_later_of_event_time_and_arrival(tmp_path, con):
    scenario = Scenario("k")
    scenario.track("a1", "u1", "project_created", T0, received=datetime(2026, 10, 1, 15, tzinfo=UTC))
    scenario.track("a1", "u1", "teammate_invited", T0)
    scenario.write(tmp_path / "landing")
    landing.load_landing(tmp_path / "landing", con)
    rows = dict(con.execute("select event, known_at from raw.segment_messages").fetchall())
    assert rows["project_created"] == datetime(2026, 10, 1, 15, tzinfo=UTC)
    assert rows["teammate_invited"] == T0
