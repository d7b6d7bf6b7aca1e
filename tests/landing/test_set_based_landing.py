"""The set-based landing: the same rows as loading file by file, on the generated workspace with its
planted duplicates, late arrivals and malformed lines; the ledger across moves and restores; a
crash that leaves only whole, recorded files behind."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.defs.landing import load as landing
from dagster_project.lib import warehouse
from dagster_project.synthetic.generate import generate

NOW = datetime(2026, 10, 1, tzinfo=UTC)
REQUIRED = ("messageId", "type", "timestamp")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("set_based")
    generate(accounts=150, days=12, seed=5, out=str(root / "landing"), start="2026-09-01T00:00:00Z",
             workers=1, progress=None)
    return root / "landing"


def reference(files: list[tuple[str, Path]]) -> tuple[dict, list, dict]:
    """The loader's contract, file by file and line by line in plain Python: the first copy of a
    messageId wins; each bad line is quarantined with its reason, file and line number."""
    import gzip

    messages: dict[str, tuple[str, dict]] = {}
    quarantine: list[tuple[str, int, str]] = []
    ledger: dict[str, tuple[int, int, int, int]] = {}
    for key, path in files:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
        lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
        loaded = duplicates = bad = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            reason = _reason(line)
            if reason:
                quarantine.append((key, number, reason))
                bad += 1
            elif (body := json.loads(line))["messageId"] in messages:
                duplicates += 1
            else:
                messages[body["messageId"]] = (key, body)
                loaded += 1
        ledger[key] = (len(lines), loaded, duplicates, bad)
    return messages, sorted(quarantine), ledger


def _reason(line: str) -> str | None:
    try:
        body = json.loads(line)
    except ValueError:
        return "invalid JSON"
    if not isinstance(body, dict):
        return "not a JSON object"
    for field in REQUIRED:
        if not str(body.get(field) or "").strip():
            return f"missing {field}"
    if body["type"] == "track" and not str(body.get("event") or "").strip():
        return "track message without event name"
    return None


def _state(con) -> tuple[dict, list, dict]:
    messages = {
        m: (path, json.loads(payload))
        for m, path, payload in con.execute(
            "select m.message_id, f.path, m.payload::varchar from raw.segment_messages m "
            "join raw.loaded_files f using (load_id)"
        ).fetchall()
    }
    quarantine = sorted(con.execute("select path, line_no, reason from raw.quarantine").fetchall())
    ledger = {
        r[0]: tuple(r[1:])
        for r in con.execute(
            "select path, lines_read, messages_loaded, duplicates, quarantined from raw.loaded_files"
        ).fetchall()
    }
    return messages, quarantine, ledger


@pytest.mark.parametrize("chunk_bytes", [landing.CHUNK_BYTES, 64 << 10])
def test_landing_in_hourly_steps_equals_the_file_by_file_contract(generated, tmp_path, monkeypatch, chunk_bytes):
    """Three landings (history, then the late files, then the rest), with the window and in-batch
    dedupe, and with chunks small enough that duplicates cross chunk boundaries."""
    monkeypatch.setattr(landing, "CHUNK_BYTES", chunk_bytes)
    files = landing.discover(generated)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        steps = [files[: len(files) // 2], files[len(files) // 2: -5], files[-5:]]
        results = [landing.load_landing(generated, con, now=NOW, paths=step) for step in steps]
        got = _state(con)
        again = landing.load_landing(generated, con, now=NOW)
    expected = reference([(landing.ledger_key(generated, p), p) for p in files])
    manifest = json.loads((generated / "ground_truth" / "manifest.json").read_text())
    assert got[0].keys() == expected[0].keys()
    assert got == expected
    # The workspace did plant what this proves: duplicates (some across landings), late arrivals, bad lines.
    assert sum(r.duplicates for r in results) >= manifest["duplicates_planted"] > 0
    assert len(got[1]) == sum(manifest["malformed_planted"].values()) > 0
    assert manifest["late_arrivals_planted"] > 0
    assert (len(again.files), again.skipped_files) == (0, len(files))


def _copy_workspace(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
    for path in target.rglob("*"):  # a restore from backup: every mtime new
        os.utime(path, (1_900_000_000, 1_900_000_000))


def test_a_moved_and_restored_workspace_loads_and_quarantines_nothing_twice(generated, tmp_path):
    first = tmp_path / "first"
    shutil.copytree(generated, first / "landing")
    with warehouse.connect(first / "warehouse.duckdb") as con:
        loaded = landing.load_landing(first / "landing", con, now=NOW)
        before = _state(con)
    assert loaded.quarantined > 0
    _copy_workspace(first, tmp_path / "moved")
    with warehouse.connect(tmp_path / "moved" / "warehouse.duckdb") as con:
        rerun = landing.load_landing(tmp_path / "moved" / "landing", con, now=NOW)
        after = _state(con)
    assert (len(rerun.files), rerun.skipped_files) == (0, len(landing.discover(generated)))
    assert after == before


def test_a_ledger_written_with_absolute_paths_still_knows_its_files_after_a_move(generated, tmp_path):
    """Ledgers from before relative keys: the content hash and the path's tail identify the file."""
    first = tmp_path / "old"
    shutil.copytree(generated, first / "landing")
    with warehouse.connect(first / "warehouse.duckdb") as con:
        landing.load_landing(first / "landing", con, now=NOW)
        con.execute("update raw.loaded_files set path = ? || '/' || path", [str((first / "landing").resolve())])
    _copy_workspace(first, tmp_path / "new")
    with warehouse.connect(tmp_path / "new" / "warehouse.duckdb") as con:
        quarantined = warehouse.count(con, "raw.quarantine")
        rerun = landing.load_landing(tmp_path / "new" / "landing", con, now=NOW)
        assert (len(rerun.files), warehouse.count(con, "raw.quarantine")) == (0, quarantined)


def test_a_crash_mid_landing_keeps_whole_committed_chunks_and_the_next_landing_loads_the_rest(
    generated, tmp_path, monkeypatch
):
    """Each chunk commits its files with their ledger rows: a crash in the third chunk leaves two
    chunks of whole, recorded files and nothing of the third; the next landing loads the rest, and
    the warehouse ends as one clean landing leaves it."""
    monkeypatch.setattr(landing, "CHUNK_BYTES", 64 << 10)
    files = landing.discover(generated)
    chunks = list(landing._chunks([landing._Pending(p, "", p.stat().st_size, 0.0, "") for p in files]))
    assert len(chunks) > 3
    real = landing._load_chunk
    calls = []

    def dies_on_the_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(landing, "_load_chunk", dies_on_the_third_chunk)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(KeyboardInterrupt):
            landing.load_landing(generated, con, now=NOW)
        recorded = con.execute("select path from raw.loaded_files order by load_id").fetchall()
        assert [r[0] for r in recorded] == [landing.ledger_key(generated, p.path) for p in chunks[0] + chunks[1]]
        # Whole files only: every loaded or quarantined row belongs to a recorded file, in the counts recorded.
        per_file = con.execute(
            """
            select f.messages_loaded, f.quarantined,
                   (select count(*) from raw.segment_messages m where m.load_id = f.load_id),
                   (select count(*) from raw.quarantine q where q.load_id = f.load_id)
            from raw.loaded_files f
            """
        ).fetchall()
        assert all(r[0] == r[2] and r[1] == r[3] for r in per_file)
        orphans = con.execute(
            "select count(*) from raw.segment_messages anti join raw.loaded_files using (load_id)"
        ).fetchone()[0]
        assert orphans == 0 and sum(r[2] for r in per_file) > 0
        monkeypatch.setattr(landing, "_load_chunk", real)
        rest = landing.load_landing(generated, con, now=NOW)
        assert (len(rest.files), rest.skipped_files) == (len(files) - len(recorded), len(recorded))
        got = _state(con)
    assert got == reference([(landing.ledger_key(generated, p), p) for p in files])


def test_one_summary_line_per_landing(generated, tmp_path):
    lines: list[str] = []
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        result = landing.load_landing(generated, con, now=NOW, progress=lines.append)
    assert len(lines) == 1 and f"{len(result.files)} new files" in lines[0]
