"""Planted inputs for the Customer.io sync tests: the shared-interface marts, built directly.

marts.customerio_people, marts.onboarding_triggers and ops.send_gate are created in a temp
DuckDB with the columns of the shared interface, so the sync is tested without the journey engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from reverse_etl.ids import trigger_ulid

PEOPLE_COLUMNS: dict[str, str] = {
    "person_id": "varchar",
    "account_id": "varchar",
    "email": "varchar",
    "company_name": "varchar",
    "onboarding_track": "varchar",
    "lifecycle_stage": "varchar",
    "activated_at": "bigint",
    "current_step": "varchar",
    "csm_owner": "varchar",
    "plan_tier": "varchar",
    "signup_at": "bigint",
    "recovery_attempts": "integer",
    "suppression_reason": "varchar",
    "unsubscribed": "boolean",
    "holdout": "boolean",
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
    "send_decision": "varchar",
    "decision_reason": "varchar",
    "decided_as_of": "timestamptz",
}
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def person(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "person_id": f"user_{i:06d}",
        "account_id": f"acct_{i:06d}",
        "email": f"person{i}@example.com",
        "company_name": f"Company {i}",
        "onboarding_track": ("high_touch", "standard", "self_serve")[i % 3],
        "lifecycle_stage": "onboarding",
        "activated_at": None,
        "current_step": "create_project",
        "csm_owner": "csm_1" if i % 3 == 0 else None,
        "plan_tier": "pro",
        "signup_at": int((BASE - timedelta(days=2)).timestamp()),
        "recovery_attempts": 0,
        "suppression_reason": None,
        "unsubscribed": False,
        "holdout": False,
        "as_of": BASE,
    }
    row.update(overrides)
    return row


def trigger(
    i: int,
    kind: str = "step_due",
    *,
    step: str = "create_project",
    attempt: int = 1,
    due_at: datetime = BASE,
    emitted_as_of: datetime = BASE,
    **overrides: Any,
) -> dict[str, Any]:
    event_name = f"onboarding_{kind}"
    track = ("high_touch", "standard", "self_serve")[i % 3]
    payload = {
        "step_due": {"track": track, "step": step},
        "stalled": {"step": step},
        "recovery": {"attempt": attempt},
        "handoff": {"csm_owner": "csm_1"},
    }.get(kind, {})
    row: dict[str, Any] = {
        "trigger_id": f"trg_{i:06d}_{kind}_{step}_{attempt}",
        "account_id": f"acct_{i:06d}",
        "person_id": f"user_{i:06d}",
        "kind": kind,
        "event_name": event_name,
        "track": track,
        "step": step,
        "attempt": attempt,
        "due_at": due_at,
        "emitted_as_of": emitted_as_of,
        "payload": json.dumps(payload),
        "send_decision": "send",
        "decision_reason": "current_state" if kind in ("step_due", "stalled", "recovery", "win_back") else "lifecycle",
        "decided_as_of": emitted_as_of,
    }
    row.update(overrides)
    return row


def event_id(row: Mapping[str, Any]) -> str:
    return trigger_ulid(row["trigger_id"], row["due_at"])


def _create(con: duckdb.DuckDBPyConnection, relation: str, columns: Mapping[str, str]) -> None:
    schema = relation.split(".")[0]
    con.execute(f"create schema if not exists {schema}")
    cols = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    con.execute(f"create table if not exists {relation} ({cols})")


def _insert(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    rows = list(rows)
    if not rows:
        return
    data = {name: [r.get(name) for r in rows] for name in columns}
    con.register("_planted", pa.table(data))
    try:
        select = ", ".join(f"{name}::{kind}" for name, kind in columns.items())
        con.execute(f"insert into {relation} select {select} from _planted").fetchall()
    finally:
        con.unregister("_planted")


def plant(
    path: Path,
    *,
    people: Iterable[Mapping[str, Any]] = (),
    triggers: Iterable[Mapping[str, Any]] = (),
    gate: Iterable[tuple[str, str, str]] = (),
    replace_people: bool = True,
) -> None:
    """Write the input marts (people replaced, like a dbt table; triggers appended) and the gate."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        _create(con, "marts.customerio_people", PEOPLE_COLUMNS)
        _create(con, "marts.onboarding_triggers", TRIGGER_COLUMNS)
        con.execute("create schema if not exists ops")
        con.execute(
            "create table if not exists ops.send_gate (account_id varchar not null, check_name varchar "
            "not null, reason varchar not null, blocked_since timestamptz not null)"
        )
        people = list(people)
        if replace_people and people:
            con.execute("delete from marts.customerio_people")
        _insert(con, "marts.customerio_people", PEOPLE_COLUMNS, people)
        _insert(con, "marts.onboarding_triggers", TRIGGER_COLUMNS, triggers)
        con.execute("delete from ops.send_gate")
        for account_id, check_name, reason in gate:
            con.execute(
                "insert into ops.send_gate values (?, ?, ?, ?)", [account_id, check_name, reason, BASE]
            )
    finally:
        con.close()


def rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
