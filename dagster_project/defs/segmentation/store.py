"""Warehouse I/O of the segmentation asset: what to ask, what was decided, what it cost.

ops.account_segmentation (DDL in dagster_project/lib/warehouse.py) holds the decisions the journey reads
through int_accounts_segmented. The tables below are this package's own bookkeeping; each statement
is idempotent and only ever adds columns.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb

from dagster_project.defs.segmentation.runner import BatchResult, PendingAccount
from dagster_project.lib import warehouse
from reverse_etl import ops_tables

SCORED = "intermediate.int_accounts_scored"
SEGMENTED = "intermediate.int_accounts_segmented"
ERROR_PREFIX = "error:"

DDL: tuple[str, ...] = ops_tables.SEGMENTATION_RUNS


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    warehouse.ensure_schema(con)
    for statement in DDL:
        con.execute(statement)


def scored_count(con: duckdb.DuckDBPyConnection) -> int:
    if not warehouse.table_exists(con, "intermediate", "int_accounts_scored"):
        return 0
    return warehouse.count(con, SCORED)


def pending_accounts(
    con: duckdb.DuckDBPyConnection, *, limit: int, max_error_cycles: int
) -> tuple[list[PendingAccount], int]:
    """Accounts whose current input hash has no usable decision, newest signups first, and how many.

    A decision counts once made, whatever it was, except an error fallback (a transport failure, not
    an answer): that input is asked again in later cycles, at most `max_error_cycles` times in all.
    """
    if not warehouse.table_exists(con, "intermediate", "int_accounts_scored"):
        return [], 0
    ctes = f"""
        with decided as (
            select
                account_id,
                input_hash,
                count(*) filter (where not (track_source = 'fallback' and reason like '{ERROR_PREFIX}%'))
                    as answers,
                count(*) filter (where track_source = 'fallback' and reason like '{ERROR_PREFIX}%') as errors
            from ops.account_segmentation
            group by all
        ),
        pending as (
            select s.account_id, s.segmentation_input_hash, s.segmentation_input,
                   s.self_serve_forbidden, s.high_touch_allowed, s.signup_at
            from {SCORED} as s
            left join decided as d
                on d.account_id = s.account_id and d.input_hash = s.segmentation_input_hash
            where coalesce(d.answers, 0) = 0 and coalesce(d.errors, 0) < ?
        )
    """
    total_row = con.execute(ctes + "select count(*) from pending", [max_error_cycles]).fetchone()
    total = int(total_row[0]) if total_row else 0
    rows = con.execute(
        ctes + "select * from pending order by signup_at desc, account_id limit ?", [max_error_cycles, limit]
    ).fetchall()
    accounts = [
        PendingAccount(
            account_id=row[0],
            input_hash=row[1],
            segmentation_input=row[2],
            self_serve_forbidden=bool(row[3]),
            high_touch_allowed=bool(row[4]),
        )
        for row in rows
    ]
    return accounts, total


def write_decisions(
    con: duckdb.DuckDBPyConnection, *, run_id: str, as_of: datetime, model: str, batch: BatchResult
) -> None:
    """One decision per asked account (decided_at = the cycle clock, so replays see them in time)."""
    decisions = [
        (
            o.account.account_id,
            o.account.input_hash,
            o.decision.track,
            o.decision.track_source,
            o.decision.confidence,
            o.decision.reason,
            model,
            as_of,
        )
        for o in batch.outcomes
    ]
    calls = [
        (
            run_id,
            o.account.account_id,
            o.account.input_hash,
            o.call.answer.track if o.call.answer else None,
            o.call.answer.confidence if o.call.answer else None,
            o.decision.track,
            o.decision.track_source,
            o.call.error,
            o.call.attempts,
            o.call.waits,
            o.call.usage.input_tokens,
            o.call.usage.output_tokens,
            o.call.usage.cache_creation_input_tokens,
            o.call.usage.cache_read_input_tokens,
            o.call.latency_ms,
            as_of,
        )
        for o in batch.outcomes
    ]
    con.execute("begin")
    try:
        if decisions:
            con.executemany("insert into ops.account_segmentation values (?, ?, ?, ?, ?, ?, ?, ?)", decisions)
        if calls:
            con.executemany(
                "insert into ops.segmentation_calls values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", calls
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def write_run(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    columns = [c[0] for c in con.execute("describe ops.segmentation_runs").fetchall()]
    values = [json.dumps(row[c]) if isinstance(row.get(c), dict | list) else row.get(c) for c in columns]
    placeholders = ", ".join("?" for _ in columns)
    con.execute(f"insert into ops.segmentation_runs ({', '.join(columns)}) values ({placeholders})", values)
