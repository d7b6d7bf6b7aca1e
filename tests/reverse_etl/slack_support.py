"""Test helpers for the Slack sync: the shared-interface marts built directly in a temp DuckDB.

The journey's dbt models produce marts.customer_onboarding_state and marts.onboarding_triggers; the Slack
tests plant rows with the same columns (shared interface) so they do not depend on the journey engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import duckdb

STATE_COLUMNS: dict[str, str] = {
    "account_id": "varchar",
    "company_name": "varchar",
    "primary_user_id": "varchar",
    "signup_at": "timestamptz",
    "plan_tier": "varchar",
    "mrr": "double",
    "arr": "double",
    "employees": "integer",
    "industry": "varchar",
    "country": "varchar",
    "source": "varchar",
    "track": "varchar",
    "track_source": "varchar",
    "track_confidence": "double",
    "track_reason": "varchar",
    "icp_score": "double",
    "lifecycle_stage": "varchar",
    "current_step": "varchar",
    "steps_completed": "integer",
    "steps_total": "integer",
    "activated_at": "timestamptz",
    "stalled_since": "timestamptz",
    "stall_step": "varchar",
    "hours_stalled": "double",
    "checkpoint_at": "timestamptz",
    "recovery_attempts": "integer",
    "last_recovery_at": "timestamptz",
    "win_back_at": "timestamptz",
    "suppression_reason": "varchar",
    "suppressed_at": "timestamptz",
    "email_suppressed": "boolean",
    "csm_owner": "varchar",
    "holdout": "boolean",
    "last_activity_at": "timestamptz",
    "as_of": "timestamptz",
}

TRIGGER_COLUMNS: dict[str, str] = {
    "trigger_id": "varchar",
    "account_id": "varchar",
    "person_id": "varchar",
    "kind": "varchar",
    "event_name": "varchar",
    "track": "varchar",
    "step": "varchar",
    "attempt": "integer",
    "due_at": "timestamptz",
    "emitted_as_of": "timestamptz",
    "payload": "json",
}


def create_table(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    """(Re)create `relation` with `columns` and insert `rows` (missing keys are null)."""
    schema = relation.split(".")[0]
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"drop table if exists {relation}")
    cols = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    con.execute(f"create table {relation} ({cols})")
    names = list(columns)
    placeholders = ", ".join("?" for _ in names)
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"unknown columns for {relation}: {sorted(unknown)}")
        con.execute(f"insert into {relation} values ({placeholders})", [row.get(n) for n in names])


def state_row(account_id: str, as_of: datetime, **values: Any) -> dict[str, Any]:
    """A plausible onboarding-state row; override any column by keyword."""
    row: dict[str, Any] = {
        "account_id": account_id,
        "company_name": f"Company {account_id}",
        "primary_user_id": f"user_{account_id}",
        "plan_tier": "pro",
        "mrr": 1000.0,
        "arr": 12000.0,
        "track": "standard",
        "track_source": "rules",
        "lifecycle_stage": "onboarding",
        "current_step": "invite_teammate",
        "steps_completed": 1,
        "steps_total": 3,
        "recovery_attempts": 0,
        "email_suppressed": False,
        "csm_owner": "csm_chloe",
        "holdout": False,
        "as_of": as_of,
    }
    row.update(values)
    return row


def alert_row(i: int, as_of: datetime, **values: Any) -> dict[str, Any]:
    """A marts.csm_alerts row (the columns the dbt model produces); override any column by keyword."""
    row: dict[str, Any] = {
        "alert_id": f"a{i:04d}",
        "account_id": f"acct_{i}",
        "primary_user_id": f"user_{i}",
        "kind": "stalled",
        "priority": "P1",
        "route": "digest",
        "alert_rank": i,
        "risk_score": 100000.0 - i,
        "arr_at_risk": 12000.0,
        "severity_hours": 72.0,
        "steps_remaining": 2,
        "company_name": f"Company {i}",
        "plan_tier": "pro",
        "mrr": 1000.0,
        "arr": 12000.0,
        "track": "standard",
        "track_source": "rules",
        "lifecycle_stage": "stalled",
        "holdout": False,
        "email_suppressed": False,
        "csm_owner": "csm_chloe",
        "csm_name": "Chloe Martin",
        "csm_slack_user_id": "U01CHL0003",
        "csm_booking_url": "https://cal.example.com/chloe/check-in",
        "current_step": "invite_teammate",
        "current_step_description": "Invite a teammate (sent once the project exists or after a 48-hour stall)",
        "current_step_title": "invite a teammate",
        "steps_completed": 1,
        "steps_total": 3,
        "steps_done": ["welcome_first_project"],
        "steps_todo": ["invite_teammate", "connect_integration"],
        "steps_done_titles": ["create your first project"],
        "steps_todo_titles": ["invite a teammate", "connect an integration"],
        "stall_step": "invite_teammate",
        "hours_stalled": 72.0,
        "recovery_attempts": 0,
        "triggers_sent_count": 1,
        "triggers_sent": ["onboarding_step_due welcome_first_project (2026-11-05 10:00)"],
        "changed_at": as_of,
        "signup_at": as_of,
        "stalled_since": as_of,
        "activated_at": None,
        "last_recovery_at": None,
        "win_back_at": None,
        "last_activity_at": as_of,
        "last_trigger_at": as_of,
        "as_of": as_of,
    }
    row.update(values)
    if row["priority"] == "P0" and "route" not in values:
        row["route"] = "realtime"
    return row


def plant_alerts(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Replace marts.csm_alerts with `rows` (what the dbt model would have built this cycle)."""
    import pandas as pd

    con.execute("create schema if not exists marts")
    con.execute("drop table if exists marts.csm_alerts")
    if not rows:
        con.execute("create table marts.csm_alerts (alert_id varchar, account_id varchar, alert_rank integer)")
        return
    frame = pd.DataFrame(rows)  # noqa: F841 - read by DuckDB's replacement scan
    con.execute("create table marts.csm_alerts as select * from frame")
