"""The embedded DuckDB warehouse: one short-lived connection at a time, and the tables Python owns.

DuckDB allows one writer per file, and dbt opens the same file while it builds, so nothing in
Python keeps a connection open across a step: `connect()` is a context manager that closes on exit
and waits (bounded) for a lock held by another process, with a one-line error if it never frees.

dbt owns `staging`, `intermediate` and `marts`. Python owns `raw` (landed messages, file ledger,
quarantine) and `ops` (sync state, outbox, run log); their DDL lives here, in one place, and is
applied idempotently by `ensure_schema()` before anything reads or writes them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.lib import config

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ops")

# Tables owned by Python. Each statement is idempotent; columns are only ever added.
DDL: tuple[str, ...] = (
    "create schema if not exists raw",
    "create schema if not exists ops",
    """
    create table if not exists raw.loaded_files (
        load_id bigint primary key,
        path varchar not null,
        size_bytes bigint not null,
        mtime double not null,
        sha256 varchar not null,
        lines_read bigint not null,
        messages_loaded bigint not null,
        duplicates bigint not null,
        quarantined bigint not null,
        blank_lines bigint not null,
        loaded_at timestamptz not null
    )
    """,
    """
    create table if not exists raw.segment_messages (
        message_id varchar not null,
        type varchar not null,
        event varchar,
        user_id varchar,
        anonymous_id varchar,
        group_id varchar,
        event_at timestamptz not null,
        received_at timestamptz,
        known_at timestamptz not null,
        load_id bigint not null,
        payload json not null
    )
    """,
    """
    create table if not exists raw.quarantine (
        load_id bigint not null,
        path varchar not null,
        line_no bigint,
        reason varchar not null,
        line varchar,
        quarantined_at timestamptz not null
    )
    """,
    """
    create table if not exists ops.account_segmentation (
        account_id varchar not null,
        input_hash varchar not null,
        track varchar not null,
        track_source varchar not null,
        confidence double,
        reason varchar,
        model varchar,
        decided_at timestamptz not null
    )
    """,
    """
    create table if not exists ops.send_gate (
        account_id varchar not null,
        check_name varchar not null,
        reason varchar not null,
        blocked_since timestamptz not null
    )
    """,
    """
    create table if not exists ops.run_log (
        run_id varchar not null,
        as_of timestamptz not null,
        started_at timestamptz not null,
        finished_at timestamptz,
        status varchar not null,
        full_refresh boolean not null default false,
        summary json
    )
    """,
)


class WarehouseBusy(RuntimeError):
    """Another process holds the DuckDB write lock for longer than we are willing to wait."""


@contextmanager
def connect(path: Path | None = None, *, read_only: bool = False, wait_seconds: float = 120.0) -> Iterator[
    duckdb.DuckDBPyConnection
]:
    """Open the warehouse, waiting for another process's lock to clear, and always close it."""
    target = Path(path) if path else config.warehouse_path()
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        raise FileNotFoundError(f"no warehouse at {target}: run `onboarding run` first")
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(target), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"warehouse {target} is locked by another process for over {wait_seconds:.0f}s "
                    "(a running `dagster dev` job or another `onboarding run`?)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        # Fetch: DuckDB 2 refuses relation queries while an execute() result is left unread.
        con.execute("set TimeZone = 'UTC'").fetchall()
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    # The sync log (reverse_etl/synclog.py owns its DDL) exists before dbt runs: marts.csm_alerts reads
    # what the syncs actually sent from it.
    from reverse_etl.synclog import SYNC_DDL

    for statement in (*DDL, *SYNC_DDL):
        con.execute(statement)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = con.execute(f"select count(*) from {relation}").fetchone()
    return int(row[0]) if row else 0
