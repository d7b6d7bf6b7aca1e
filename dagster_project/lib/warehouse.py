"""The embedded DuckDB warehouse: one short-lived connection at a time, and the tables Python owns.

DuckDB allows one writer per file, and dbt opens the same file while it builds, so nothing in
Python keeps a connection open across a step: `connect()` is a context manager that closes on exit
and waits (bounded) for a lock held by another process, with a one-line error if it never frees.

dbt owns `staging`, `intermediate` and `marts`. Python owns `raw` (landed messages, file ledger,
quarantine; their DDL lives here) and `ops` (sync state, outbox, run log; every table's DDL lives in
reverse_etl/ops_tables.py). `ensure_schema()` applies what a cycle needs before dbt runs, idempotently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.lib import config
from reverse_etl import connection, ops_tables
from reverse_etl.connection import WarehouseBusy, count, table_exists

__all__ = ["DDL", "SCHEMAS", "WarehouseBusy", "connect", "count", "ensure_schema", "table_exists"]

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ops")

# Tables owned by Python. Each statement is idempotent; columns are only ever added.
DDL: tuple[str, ...] = (
    "create schema if not exists raw",
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
    *ops_tables.ACCOUNT_SEGMENTATION,
    *ops_tables.SEND_GATE,
    *ops_tables.RUN_LOG,
)


@contextmanager
def connect(path: Path | None = None, *, read_only: bool = False, wait_seconds: float = 120.0) -> Iterator[
    duckdb.DuckDBPyConnection
]:
    """Open the warehouse (default: ONBOARDING_WAREHOUSE), waiting for another process's lock to clear,
    and always close it (reverse_etl.connection.connect, with the workspace's default file)."""
    with connection.connect(path or config.warehouse_path(), read_only=read_only, wait_seconds=wait_seconds,
                            memory_limit=config.DUCKDB_MEMORY.read()) as con:
        yield con


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    # The sync log exists before dbt runs: marts.csm_alerts reads what the syncs actually sent from it.
    ops_tables.ensure(con, DDL, ops_tables.SYNC_LOG)
