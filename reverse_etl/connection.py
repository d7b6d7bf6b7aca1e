"""The DuckDB warehouse file, opened the way every writer of it must: briefly, and patient with its lock.

DuckDB allows one writer per file, and dbt opens the same file while it builds, so nothing keeps a
connection open across a step: `connect()` is a context manager that closes on exit and waits
(bounded) for a lock held by another process, with a one-line error if it never frees. The caller
names the file: this library reads no environment and knows no workspace layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

# The write-ahead log's size at which DuckDB checkpoints on its own (its default: 16 MB). A sync commits each
# page it delivered (25,000 operations to the local file): at 16 MB most commits also checkpointed the
# outbox. A 1M go-live's HubSpot sync, run alone (one run each): 190.3 s (36.5 s in those commits), peak
# 2,599 MiB at 16 MB; 170.0 and 174.4 s (17.0 s), 2,668 MiB at 256 MB; 167.9 s, 3,120 MiB at 1 GB. Every connection
# here checkpoints as it closes, so the log never outlives a step; a killed step's is replayed on the next open.
CHECKPOINT_THRESHOLD = "256MB"


class WarehouseBusy(RuntimeError):
    """Another process holds the DuckDB write lock for longer than we are willing to wait."""


@contextmanager
def connect(path: Path | str, *, read_only: bool = False, wait_seconds: float = 120.0,
            memory_limit: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse at `path`, waiting for another process's lock to clear, and always close it.

    `memory_limit` (DuckDB's size syntax, `3GB`) caps DuckDB's buffer pool for this connection, which
    then spills to disk: without it DuckDB takes up to 80% of the machine, and a first load of months of
    history used ~10 GB at 100k accounts."""
    target = Path(path)
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
        if memory_limit:
            _limit_memory(con, memory_limit)
        if not read_only:
            con.execute(f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'").fetchall()
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Fully fetched (DuckDB 2 refuses new relations while a result is half-read)."""
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows and rows[0][0])


def count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = con.execute(f"select count(*) from {relation}").fetchone()
    return int(row[0]) if row else 0


def _limit_memory(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    value = limit.strip()
    try:
        if any(c in value for c in "'\\;"):
            raise duckdb.ParserException(value)
        con.execute(f"set memory_limit = '{value}'").fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"not a DuckDB memory size: {limit!r} (e.g. 3GB)") from exc


def in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `con` is inside an explicit transaction (DuckDB's Python API does not say; in autocommit
    mode every statement gets a transaction id of its own, inside one they share it)."""
    ((first,),) = con.execute("select txid_current()").fetchall()
    ((second,),) = con.execute("select txid_current()").fetchall()
    return bool(first == second)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block in one transaction: its own (committed at the end, rolled back on any error), or the
    caller's when `con` is already inside one (which then commits or rolls back the block with the rest)."""
    if in_transaction(con):
        yield
        return
    con.begin()
    try:
        yield
        con.commit()
    except BaseException:
        con.rollback()
        raise


def concurrently(con: duckdb.DuckDBPyConnection, reads: dict[str, Callable[[duckdb.DuckDBPyConnection], Any]],
                 *, workers: int = 2) -> dict[str, Any]:
    """Run read-only queries side by side, each on its own cursor of `con`'s database; their results by name.

    A sync's diffs hash every row of a mart of ~100k rows: one DuckDB row group, which one thread scans, so
    one after another they kept one core busy while the other idled. A cursor is a connection of its own:
    it gets `con`'s TimeZone (timestamps are hashed and read as text in it), and it sees what is committed,
    so call this before `con`'s open transaction writes anything the reads should see.
    """
    ((zone,),) = con.execute("select current_setting('TimeZone')").fetchall()

    def run(read: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        cursor = con.cursor()
        try:
            cursor.execute("set TimeZone = $zone", {"zone": zone}).fetchall()
            return read(cursor)
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {name: pool.submit(run, read) for name, read in reads.items()}
        return {name: future.result() for name, future in futures.items()}
