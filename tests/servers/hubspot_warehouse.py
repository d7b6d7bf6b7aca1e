"""Planted input for the HubSpot sync tests: marts.crm_accounts (and ops.send_gate), built directly.

The mart is created in a temp DuckDB with the columns of its dbt contract, so the sync is tested
without the journey engine (tests/cycle covers the mart through a real cycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

CRM_COLUMNS: dict[str, str] = {
    "account_id": "varchar",
    "company_name": "varchar",
    "domain": "varchar",
    "person_id": "varchar",
    "email": "varchar",
    "first_name": "varchar",
    "last_name": "varchar",
    "job_title": "varchar",
    "track": "varchar",
    "lifecycle_stage": "varchar",
    "current_step": "varchar",
    "csm_owner": "varchar",
    "recovery_attempts": "integer",
    "plan_tier": "varchar",
    "signup_at": "timestamptz",
    "activated_at": "timestamptz",
    "as_of": "timestamptz",
}
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def account(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "account_id": f"acct_{i:06d}",
        "company_name": f"Company {i}",
        "domain": f"company{i}.example.com",
        "person_id": f"user_{i:06d}",
        "email": f"Person{i}@Company{i}.example.com",
        "first_name": "Ada",
        "last_name": f"Person {i}",
        "job_title": "CTO",
        "track": ("high_touch", "standard", "self_serve")[i % 3],
        "lifecycle_stage": "onboarding",
        "current_step": "create_project",
        "csm_owner": "csm_ana" if i % 3 == 0 else None,
        "recovery_attempts": 0,
        "plan_tier": "starter",
        "signup_at": BASE - timedelta(days=2, minutes=i),
        "activated_at": None,
        "as_of": BASE,
    }
    row.update(overrides)
    return row


def _replace(con: duckdb.DuckDBPyConnection, table: str, columns: Mapping[str, str],
             rows_: Iterable[Mapping[str, Any]]) -> None:
    """Recreate a dbt table with the columns of its contract and fill it (a dbt table is rebuilt each cycle)."""
    con.execute("create schema if not exists marts")
    con.execute(f"create or replace table {table} ({', '.join(f'{n} {k}' for n, k in columns.items())})")
    planted = list(rows_)
    if planted:
        con.register("_planted", pa.table({name: [r.get(name) for r in planted] for name in columns}))
        select = ", ".join(f"{name}::{kind}" for name, kind in columns.items())
        con.execute(f"insert into {table} select {select} from _planted").fetchall()
        con.unregister("_planted")


def plant(path: Path, accounts: Iterable[Mapping[str, Any]], gate: Iterable[tuple[str, str, str]] = ()) -> None:
    """Replace marts.crm_accounts and ops.send_gate."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        _replace(con, "marts.crm_accounts", CRM_COLUMNS, accounts)
        con.execute("create schema if not exists ops")
        con.execute(
            "create table if not exists ops.send_gate (account_id varchar not null, check_name varchar "
            "not null, reason varchar not null, blocked_since timestamptz not null)"
        )
        con.execute("delete from ops.send_gate")
        for account_id, check_name, reason in gate:
            con.execute("insert into ops.send_gate values (?, ?, ?, ?)", [account_id, check_name, reason, BASE])
    finally:
        con.close()


def rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


TASK_COLUMNS: dict[str, str] = {
    "task_id": "varchar",
    "account_id": "varchar",
    "milestone_key": "varchar",
    "subject": "varchar",
    "body": "varchar",
    "due_at": "timestamptz",
    "task_status": "varchar",
    "task_priority": "varchar",
    "follow_up_every_days": "integer",
    "csm_owner": "varchar",
    "completed_at": "timestamptz",
    "as_of": "timestamptz",
}


def task(account_index: int, milestone: str, day: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "task_id": f"acct_{account_index:06d}:{milestone}",
        "account_id": f"acct_{account_index:06d}",
        "milestone_key": milestone,
        "subject": f"Milestone {milestone}",
        "body": f"Milestone {milestone} (30-day plan). Follow up every 3 days while open.",
        "due_at": BASE + timedelta(days=day),
        "task_status": "NOT_STARTED",
        "task_priority": "MEDIUM",
        "follow_up_every_days": 3,
        "csm_owner": "csm_ana",
        "completed_at": None,
        "as_of": BASE,
    }
    row.update(overrides)
    return row


def plant_tasks(path: Path, tasks: Iterable[Mapping[str, Any]]) -> None:
    """Replace marts.crm_plan_tasks."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        _replace(con, "marts.crm_plan_tasks", TASK_COLUMNS, tasks)
    finally:
        con.close()


def plant_briefing(path: Path, account_index: int, subject: str, body: str, source: str = "template") -> None:
    """A kickoff briefing as the Slack sync stores it (ops.slack_recovery_drafts, its own DDL)."""
    from reverse_etl.slack.state import ensure_slack_tables

    con = duckdb.connect(str(path))
    try:
        ensure_slack_tables(con)
        con.execute(
            "insert into ops.slack_recovery_drafts values (?, ?, 'kickoff_booked', null, ?, null, ?, ?, null, ?)",
            [f"alert_{account_index}", f"acct_{account_index:06d}", source, subject, body, BASE],
        )
    finally:
        con.close()
