"""Planted input for the HubSpot sync tests: marts.crm_accounts (and ops.send_gate), built directly.

The mart is created in a temp DuckDB with the columns of its dbt contract, so the sync is tested
without the journey engine (tests/trunk covers the mart through a real cycle).
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


def plant(path: Path, accounts: Iterable[Mapping[str, Any]], gate: Iterable[tuple[str, str, str]] = ()) -> None:
    """Replace marts.crm_accounts (a dbt table is rebuilt each cycle) and ops.send_gate."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema if not exists marts")
        columns = ", ".join(f"{name} {kind}" for name, kind in CRM_COLUMNS.items())
        con.execute(f"create or replace table marts.crm_accounts ({columns})")
        rows = list(accounts)
        if rows:
            con.register("_planted", pa.table({name: [r.get(name) for r in rows] for name in CRM_COLUMNS}))
            select = ", ".join(f"{name}::{kind}" for name, kind in CRM_COLUMNS.items())
            con.execute(f"insert into marts.crm_accounts select {select} from _planted").fetchall()
            con.unregister("_planted")
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
