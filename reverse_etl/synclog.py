"""The sync log in the warehouse, as Hightouch and Census keep it: snapshot, changelog, runs.

- `ops.sync_snapshot`: per channel and key (a person), the hash and payload last delivered;
  the next run diffs against it, so only changes go out.
- `ops.sync_changelog`: one row per operation attempted (or held back) in a run, with its result
  ('sent', 'outbox', 'failed', 'parked', 'invalid', 'skipped_gate') and error, no personal data
  beyond the ids.
- `ops.sync_runs`: one row per run: counts, requests, retries, bytes, durations, status.
Channel-generic, so every reverse-ETL destination reports the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from reverse_etl import columns, ops_tables

SYNC_DDL: tuple[str, ...] = ops_tables.SYNC_LOG


def ensure_sync_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in SYNC_DDL:
        con.execute(statement)


@dataclass(frozen=True)
class ChangeRow:
    item_id: str
    operation: str
    result: str
    account_id: str | None = None
    entity_key: str | None = None
    event_name: str | None = None
    event_id: str | None = None
    error: str | None = None
    attempt: int | None = None


def change_columns(rows: Sequence[ChangeRow]) -> dict[str, tuple[str, list[Any]]]:
    """The changelog columns of `rows` (item_id .. attempt), for columns.table."""
    return {
        "item_id": ("varchar", [r.item_id for r in rows]),
        "account_id": ("varchar", [r.account_id for r in rows]),
        "entity_key": ("varchar", [r.entity_key for r in rows]),
        "operation": ("varchar", [r.operation for r in rows]),
        "event_name": ("varchar", [r.event_name for r in rows]),
        "event_id": ("varchar", [r.event_id for r in rows]),
        "result": ("varchar", [r.result for r in rows]),
        "error": ("varchar", [r.error for r in rows]),
        "attempt": ("integer", [r.attempt for r in rows]),
    }


CHANGE_COLUMNS = "item_id, account_id, entity_key, operation, event_name, event_id, result, error, attempt"


def log_changes(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    channel: str,
    rows: Sequence[ChangeRow],
    *,
    now: datetime | None = None,
) -> int:
    if not rows:
        return 0
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    con.register("_changelog_rows", columns.table(con, change_columns(rows)))
    try:
        con.execute(
            f"insert into ops.sync_changelog select ?, ?, {CHANGE_COLUMNS}, ? from _changelog_rows",
            [run_id, channel, stamp],
        ).fetchall()
    finally:
        con.unregister("_changelog_rows")
    return len(rows)


RUN_COUNTERS: tuple[str, ...] = (
    "planned_changes",
    "sent",
    "failed",
    "parked",
    "invalid",
    "skipped_gate",
    "requests",
    "retries",
    "rate_limited",
    "bytes_sent",
)


def start_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    channel: str,
    *,
    as_of: datetime | None,
    mode: str,
    started_at: datetime,
) -> None:
    ensure_sync_tables(con)
    # A run of this channel still 'running' was killed (one sync per channel at a time: the warehouse
    # has one writer); say so, rather than leave it looking alive.
    con.execute(
        "update ops.sync_runs set status = 'interrupted', error = coalesce(error, 'the run stopped before finishing') "
        "where channel = ? and status = 'running'",
        [channel],
    ).fetchall()
    con.execute(
        "insert into ops.sync_runs (run_id, channel, as_of, started_at, status, mode) values (?, ?, ?, ?, ?, ?)",
        [run_id, channel, as_of, started_at, "running", mode],
    ).fetchall()


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    channel: str,
    *,
    status: str,
    counters: Mapping[str, int],
    diff_seconds: float,
    duration_seconds: float,
    error: str | None = None,
    summary: Mapping[str, Any] | None = None,
    finished_at: datetime | None = None,
) -> None:
    sets = ", ".join(f"{name} = ?" for name in RUN_COUNTERS)
    con.execute(
        f"""
        update ops.sync_runs set finished_at = ?, status = ?, {sets}, diff_seconds = ?, duration_seconds = ?,
               error = ?, summary = ?::json
        where run_id = ? and channel = ?
        """,
        [
            (finished_at or datetime.now(UTC)).astimezone(UTC),
            status,
            *[int(counters.get(name, 0)) for name in RUN_COUNTERS],
            diff_seconds,
            duration_seconds,
            error,
            orjson.dumps(dict(summary or {}), default=str).decode(),
            run_id,
            channel,
        ],
    ).fetchall()


def latest_run(
    con: duckdb.DuckDBPyConnection, channel: str, run_id: str | None = None
) -> dict[str, Any] | None:
    """The last sync run of a channel (or the one with `run_id`), as a dict; None if there is none.

    For the cycle summary: e.g. "customerio: api, sent 78, gated 0, failed 0, parked 0".
    """
    ensure_sync_tables(con)
    sql = "select * from ops.sync_runs where channel = ?"
    params: list[Any] = [channel]
    if run_id is not None:
        sql += " and run_id = ?"
        params.append(run_id)
    cursor = con.execute(sql + " order by started_at desc limit 1", params)
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    return dict(zip(names, found[0], strict=True)) if found else None
