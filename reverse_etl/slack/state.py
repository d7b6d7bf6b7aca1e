"""The Slack sync's memory in the warehouse: which status changes were announced, digests, drafts, runs.

Why: "one alert per status change" needs state that outlives a run. An alert_id (from marts.csm_alerts)
is inserted into ops.slack_alerts the first cycle it is seen and never again, so a customer still stalled
next hour, or the same as-of run twice, posts nothing new. ops.slack_digests has one row per UTC day,
written in the same transaction that queues the digest: at most one digest a day.
Delivery itself (pending / sent / parked, retries) is the shared outbox's job (reverse_etl/outbox.py,
channel 'slack').
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from dagster_project.warehouse import table_exists

CHANNEL = "slack"
ALERTS_RELATION = "marts.csm_alerts"

SLACK_DDL: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.slack_alerts (
        alert_id varchar primary key,
        account_id varchar not null,
        kind varchar not null,
        priority varchar not null,
        route varchar not null,
        alert_rank integer,
        risk_score double,
        first_seen_as_of timestamptz not null,
        status varchar not null,
        digest_date date,
        outbox_item_id varchar,
        context json
    )
    """,
    """
    create table if not exists ops.slack_digests (
        digest_date date primary key,
        as_of timestamptz not null,
        item_id varchar,
        channel varchar not null,
        alerts_total integer not null,
        alerts_shown integer not null,
        alerts_summarised integer not null,
        realtime_since integer not null,
        created_at timestamptz not null
    )
    """,
    """
    create table if not exists ops.slack_recovery_drafts (
        alert_id varchar primary key,
        account_id varchar not null,
        kind varchar not null,
        stall_step varchar,
        source varchar not null,
        model varchar,
        subject varchar not null,
        body varchar not null,
        error varchar,
        created_as_of timestamptz not null
    )
    """,
    """
    create table if not exists ops.slack_runs (
        run_id varchar,
        as_of timestamptz not null,
        started_at timestamptz not null,
        alerts_current integer not null,
        alerts_new integer not null,
        realtime_queued integer not null,
        digest_date date,
        digest_alerts integer,
        gated integer not null,
        posted integer not null,
        failed integer not null,
        written_local integer not null,
        parked integer not null,
        summary json
    )
    """,
)

# alert statuses in ops.slack_alerts
REALTIME = "realtime_queued"
DIGEST_PENDING = "digest_pending"
DIGESTED = "digested"
SUPERSEDED = "superseded"
NOT_ROUTED = "not_routed"  # route 'none' (self-serve): remembered and counted, never listed


def ensure_slack_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in SLACK_DDL:
        con.execute(statement)


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def current_alerts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """marts.csm_alerts as built for this cycle (empty if the model has not been built yet)."""
    if not table_exists(con, "marts", "csm_alerts"):
        return []
    return _records(con, f"select * from {ALERTS_RELATION} order by alert_rank")


def gate(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{account_id: 'check: reason'} from ops.send_gate; key '*' blocks every account."""
    if not table_exists(con, "ops", "send_gate"):
        return {}
    blocked: dict[str, str] = {}
    for account_id, check, reason in con.execute(
        "select account_id, check_name, reason from ops.send_gate order by blocked_since, check_name"
    ).fetchall():
        blocked.setdefault(str(account_id), f"{check}: {reason}")
    return blocked


def gate_reason(blocked: Mapping[str, str], account_id: str) -> str | None:
    return blocked.get("*") or blocked.get(account_id)


def known_alert_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select alert_id from ops.slack_alerts").fetchall()}


def digest_done(con: duckdb.DuckDBPyConnection, digest_date: Any) -> bool:
    row = con.execute("select count(*) from ops.slack_digests where digest_date = ?", [digest_date]).fetchone()
    return bool(row and row[0])


def pending_digest(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select alert_id from ops.slack_alerts where status = ? order by alert_rank", [DIGEST_PENDING]
        ).fetchall()
    ]


def realtime_since_last_digest(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(
        """
        select count(*) from ops.slack_alerts
        where route = 'realtime'
          and first_seen_as_of > coalesce((select max(as_of) from ops.slack_digests), '-infinity'::timestamptz)
        """
    ).fetchone()
    return int(row[0]) if row else 0


def unrouted_since_last_digest(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(
        """
        select count(*) from ops.slack_alerts
        where status = ?
          and first_seen_as_of > coalesce((select max(as_of) from ops.slack_digests), '-infinity'::timestamptz)
        """,
        [NOT_ROUTED],
    ).fetchone()
    return int(row[0]) if row else 0


def drafts_for(con: duckdb.DuckDBPyConnection, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not alert_ids:
        return {}
    rows = _records(
        con,
        "select alert_id, source, model, subject, body from ops.slack_recovery_drafts "
        "where list_contains(?, alert_id)",
        [alert_ids],
    )
    return {r["alert_id"]: r for r in rows}
