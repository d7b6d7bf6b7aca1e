"""The Slack sync's memory in the warehouse: which status changes were announced, digests, drafts, runs.

Why: "one alert per status change" needs state that outlives a run. An alert_id (from marts.csm_alerts)
is inserted into ops.slack_alerts the first cycle it is seen and never again, so a customer still stalled
next hour, or the same as-of run twice, posts nothing new. ops.slack_digests has one row per UTC day,
written in the same transaction that queues the digest: at most one digest a day.
Delivery itself (pending / sent / parked, retries) is the shared outbox's job (reverse_etl/outbox.py,
channel 'slack'); ops.slack_posts is what makes it exactly once across a crash: a row is written before a
request that may reach Slack and completed with the message's `ts` when Slack's answer is recorded. A
pending item whose row has no `ts` had its outcome lost (killed, timed out): the transport looks for its
id in the channel's history before posting it again (transport.py).
Writes are set-based (one statement per cycle, not one per alert): a first cycle can hold 10^5 alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson

from reverse_etl import columns, ops_tables
from reverse_etl.connection import table_exists

CHANNEL = "slack"
ALERTS_RELATION = "marts.csm_alerts"

SLACK_DDL: tuple[str, ...] = ops_tables.SLACK

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


@dataclass(frozen=True)
class Ranking:
    """What a cycle needs of the whole of marts.csm_alerts: its ids and accounts (to gate and to age the
    digest), the clock it was built for and the real-time cap it carries. Reading every alert whole each
    hour cost 1.4 s at 100k accounts (42k alerts, 58 columns), for the few dozen that are new."""

    accounts: dict[str, str]  # alert_id -> account_id, in ranking order
    as_of: datetime | None
    realtime_cap: int | None


def ranking(con: duckdb.DuckDBPyConnection) -> Ranking:
    """marts.csm_alerts as built for this cycle, narrow (empty if the model has not been built yet)."""
    if not table_exists(con, "marts", "csm_alerts"):
        return Ranking({}, None, None)
    rows = con.execute(f"select alert_id, account_id from {ALERTS_RELATION} order by alert_rank").fetchall()
    # A ranking built by an older model (or a test's hand-made one) may lack the clock or the cap.
    present = {c[0] for c in con.execute(f"describe {ALERTS_RELATION}").fetchall()}
    as_of = "max(as_of)" if "as_of" in present else "null"
    cap = (f"(select realtime_cap from {ALERTS_RELATION} where realtime_cap is not null order by alert_rank limit 1)"
           if "realtime_cap" in present else "null")
    ((as_of, cap),) = con.execute(f"select {as_of}, {cap} from {ALERTS_RELATION}").fetchall()
    return Ranking({str(a): str(b) for a, b in rows}, as_of, None if cap is None else int(cap))


# What a cycle needs of each new alert before it reads any whole: to gate it, cap the real-time pings,
# choose its draft and page through them in ranking order.
KEY_COLUMNS = ("alert_id", "account_id", "kind", "route", "alert_rank")


def new_alert_keys(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The alerts of marts.csm_alerts never seen before (not in ops.slack_alerts), KEY_COLUMNS only, in
    ranking order. A go-live finds one per open alert (418k at 1M accounts): read whole at once, with the
    context each keeps, 416k alerts took the Slack step to 7.8 GB; the cycle reads them whole a page at
    a time (`alerts_by_id`)."""
    if not table_exists(con, "marts", "csm_alerts"):
        return []
    return _records(
        con,
        f"select {', '.join(KEY_COLUMNS)} from {ALERTS_RELATION} as a where not exists "
        "(select 1 from ops.slack_alerts as k where k.alert_id = a.alert_id) order by alert_rank",
    )


def alerts_by_id(
    con: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], only: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The given alerts of marts.csm_alerts (those still in it), whole or `only` these columns (with
    alert_id), in the order given.

    The ids travel as a registered table and are joined: `list_contains(?, alert_id)` compares every row of
    the ranking with every id given, which a digest of 10^5 pending alerts cannot afford."""
    if not alert_ids or not table_exists(con, "marts", "csm_alerts"):
        return {}
    wanted = ", ".join(f"a.{c}" for c in dict.fromkeys(("alert_id", *only))) if only else "a.*"
    ids = columns.table(con, {"alert_id": ("varchar", list(alert_ids)),
                              "position": ("bigint", list(range(len(alert_ids))))})
    con.register("_slack_wanted", ids)
    try:
        rows = _records(con, f"select {wanted} from {ALERTS_RELATION} as a "
                             "join _slack_wanted as w on w.alert_id = a.alert_id order by w.position")
    finally:
        con.unregister("_slack_wanted")
    return {r["alert_id"]: r for r in rows}


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


def set_status(con: duckdb.DuckDBPyConnection, alert_ids: Sequence[str], status: str, *,
               digest_date: Any = None) -> None:
    """Set the status (and the digest's day, if given) of the given remembered alerts, ids joined as a table."""
    if not alert_ids:
        return
    con.register("_slack_status", columns.table(con, {"alert_id": ("varchar", list(alert_ids))}))
    try:
        con.execute(
            "update ops.slack_alerts set status = ?, digest_date = coalesce(?, digest_date) "
            "where alert_id in (select alert_id from _slack_status)",
            [status, digest_date],
        )
    finally:
        con.unregister("_slack_status")


def drafts_for(con: duckdb.DuckDBPyConnection, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not alert_ids:
        return {}
    rows = _records(
        con,
        "select alert_id, kind, source, model, subject, body from ops.slack_recovery_drafts "
        "where list_contains(?, alert_id)",
        [alert_ids],
    )
    return {r["alert_id"]: r for r in rows}


def to_json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def remember_alerts(con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the cycle's new alerts into ops.slack_alerts in one statement (each row: the alert's columns,
    `status`, `outbox_item_id`, `first_seen_as_of`; `context` is the whole alert as JSON)."""
    if not rows:
        return 0
    table = columns.table(con, {
        "alert_id": ("varchar", [str(r["alert_id"]) for r in rows]),
        "account_id": ("varchar", [str(r["account_id"]) for r in rows]),
        "kind": ("varchar", [r["kind"] for r in rows]),
        "priority": ("varchar", [r["priority"] for r in rows]),
        "route": ("varchar", [r["route"] for r in rows]),
        "alert_rank": ("bigint", [r.get("alert_rank") for r in rows]),
        "risk_score": ("double", [None if r.get("risk_score") is None else float(r["risk_score"]) for r in rows]),
        "first_seen_as_of": ("timestamptz", [r["first_seen_as_of"] for r in rows]),
        "status": ("varchar", [r["status"] for r in rows]),
        "outbox_item_id": ("varchar", [r.get("outbox_item_id") for r in rows]),
        "context": ("varchar", [to_json(r["context"]) for r in rows]),
    })
    con.register("_slack_new_alerts", table)
    try:
        con.execute(
            """
            insert into ops.slack_alerts (alert_id, account_id, kind, priority, route, alert_rank, risk_score,
                first_seen_as_of, status, digest_date, outbox_item_id, context)
            select alert_id, account_id, kind, priority, route, alert_rank, risk_score, first_seen_as_of, status,
                   null, outbox_item_id, context::json
            from _slack_new_alerts
            """
        )
    finally:
        con.unregister("_slack_new_alerts")
    return len(rows)


def store_drafts(con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert recovery drafts (ops.slack_recovery_drafts columns) in one statement."""
    if not rows:
        return 0
    names = ("alert_id", "account_id", "kind", "stall_step", "source", "model", "subject", "body", "error")
    table = columns.table(con, {c: ("varchar", [None if r.get(c) is None else str(r[c]) for r in rows]) for c in names}
                          | {"created_as_of": ("timestamptz", [r["created_as_of"] for r in rows])})
    con.register("_slack_new_drafts", table)
    try:
        con.execute(f"insert into ops.slack_recovery_drafts ({', '.join(names)}, created_as_of) "
                    f"select {', '.join(names)}, created_as_of from _slack_new_drafts")
    finally:
        con.unregister("_slack_new_drafts")
    return len(rows)


# -- exactly once across a crash (see the module docstring) ----------------------------------------------


def begin_attempt(con: duckdb.DuckDBPyConnection, item_id: str, channel: str, at: datetime) -> None:
    """Written (and committed) before a request that may reach Slack: from now on the outcome is unknown."""
    con.execute(
        """
        insert into ops.slack_posts (item_id, channel, attempt_started_at) values (?, ?, ?)
        on conflict (item_id) do update set channel = excluded.channel,
            attempt_started_at = excluded.attempt_started_at, ts = null, confirmed_by = null, confirmed_at = null
        """,
        [item_id, channel, at],
    )


def clear_attempt(con: duckdb.DuckDBPyConnection, item_id: str) -> None:
    """Slack answered that it did not post the message: nothing to look for."""
    con.execute("delete from ops.slack_posts where item_id = ? and ts is null", [item_id])


def record_posted(
    con: duckdb.DuckDBPyConnection, item_id: str, channel: str, channel_id: str | None, ts: str | None,
    confirmed_by: str, at: datetime,
) -> None:
    con.execute(
        """
        insert into ops.slack_posts values (?, ?, ?, null, ?, ?, ?)
        on conflict (item_id) do update set channel = excluded.channel,
            channel_id = coalesce(excluded.channel_id, ops.slack_posts.channel_id), attempt_started_at = null,
            ts = excluded.ts, confirmed_by = excluded.confirmed_by, confirmed_at = excluded.confirmed_at
        """,
        [item_id, channel, channel_id, ts, confirmed_by, at],
    )


def unknown_outcomes(con: duckdb.DuckDBPyConnection, item_ids: Sequence[str]) -> dict[str, tuple[str, datetime]]:
    """{item_id: (channel, attempt started)} of the given items whose last request was never answered."""
    if not item_ids:
        return {}
    rows = con.execute(
        "select item_id, channel, attempt_started_at from ops.slack_posts "
        "where ts is null and attempt_started_at is not null and list_contains(?, item_id)",
        [list(item_ids)],
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def known_channel_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{channel as the payload names it: Slack's conversation id}, learnt from earlier answers."""
    rows = con.execute(
        "select channel, arg_max(channel_id, confirmed_at) from ops.slack_posts where channel_id is not null group by 1"
    ).fetchall()
    return {r[0]: r[1] for r in rows}
