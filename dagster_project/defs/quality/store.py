"""The `ops` tables this package owns, and every read/write of them (the rest of the package is pure).

- `ops.quality_load_watermarks`: per landed file, the cycle clock up to which its messages were validated,
  so each message is validated once, in the first cycle whose clock has seen it arrive (replays too).
- `ops.quality_check_status`: the current status per check; alerts fire only when it changes.
- `ops.quality_alerts`: one row per status change (the Slack payload); `delivered_at` is set once sent.
- `ops.quality_results`: per cycle, one row per expectation / drift finding (history for the report and
  notebooks).
- `ops.quality_profiles`: per arrival hour and event, the property types seen (each message counted once,
  when validated); `good` is false for an event whose suite failed in that cycle. Schema drift compares
  the last 24 h of arrivals with the good arrivals of the week before.
- `ops.quality_history`, `ops.quality_first_seen`, `ops.quality_history_state`: what a pass needs from the
  history (group calls, signups, each user's first account), kept by the passes; history.py reads and
  writes them.
- `ops.send_gate` is shared (its DDL is in reverse_etl/ops_tables.py); this module writes the rows of its own checks only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import duckdb

from dagster_project.lib import warehouse
from reverse_etl import ops_tables

DDL: tuple[str, ...] = ops_tables.QUALITY


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    warehouse.ensure_schema(con)
    for statement in DDL:
        con.execute(statement)


def advance_watermarks(con: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    """Every file landed so far has been validated through `as_of` (never moves a watermark back)."""
    con.execute(
        """
        insert into ops.quality_load_watermarks
        select load_id, ?::timestamptz from raw.loaded_files
        on conflict (load_id) do update
            set validated_through = greatest(validated_through, excluded.validated_through)
        """,
        [as_of],
    )


def new_load_ids(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Files never validated before this cycle (their loader counts feed the duplicate check)."""
    rows = con.execute(
        """
        select f.load_id from raw.loaded_files f
        anti join ops.quality_load_watermarks w on w.load_id = f.load_id
        order by f.load_id
        """
    ).fetchall()
    return [int(r[0]) for r in rows]


def loader_counts(con: duckdb.DuckDBPyConnection, load_ids: list[int]) -> tuple[int, int]:
    """(lines read, duplicates the loader dropped) over the given files."""
    if not load_ids:
        return 0, 0
    row = con.execute(
        "select coalesce(sum(lines_read), 0), coalesce(sum(duplicates), 0) from raw.loaded_files "
        "where list_contains(?, load_id)",
        [load_ids],
    ).fetchone()
    return int(row[0]), int(row[1])


def previous_statuses(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {name: status for name, status in con.execute("select check_name, status from ops.quality_check_status").fetchall()}


def save_statuses(con: duckdb.DuckDBPyConnection, statuses: dict[str, tuple[str, str]], as_of: datetime) -> None:
    """Upsert (status, summary) per check, in one statement; `since` moves only when the status changes."""
    if not statuses:
        return
    names = list(statuses)
    con.execute(
        """
        insert into ops.quality_check_status
        select unnest($names::varchar[]), unnest($statuses::varchar[]), $as_of, $as_of, unnest($summaries::varchar[])
        on conflict (check_name) do update set
            since = case when ops.quality_check_status.status = excluded.status
                         then ops.quality_check_status.since else excluded.since end,
            status = excluded.status,
            last_as_of = excluded.last_as_of,
            summary = excluded.summary
        """,
        {"names": names, "statuses": [statuses[n][0] for n in names], "summaries": [statuses[n][1] for n in names],
         "as_of": as_of},
    )


def gate_rows(con: duckdb.DuckDBPyConnection, check_name: str | None = None) -> list[tuple[str, str, str, datetime]]:
    sql = "select account_id, check_name, reason, blocked_since from ops.send_gate"
    if check_name:
        return con.execute(sql + " where check_name = ? order by account_id", [check_name]).fetchall()
    return con.execute(sql + " order by check_name, account_id").fetchall()


def close_gate(con: duckdb.DuckDBPyConnection, check_name: str, reasons: dict[str, str], as_of: datetime) -> None:
    """Add accounts to the gate of a failing check; accounts already gated keep their `blocked_since`."""
    if not reasons:
        return
    accounts, texts = zip(*sorted(reasons.items()), strict=True)
    con.execute(
        """
        insert into ops.send_gate
        select n.account_id, ?, n.reason, ?::timestamptz
        from (select unnest(?::varchar[]) as account_id, unnest(?::varchar[]) as reason) as n
        where not exists (
            select 1 from ops.send_gate as g where g.account_id = n.account_id and g.check_name = ?
        )
        """,
        [check_name, as_of, list(accounts), list(texts), check_name],
    )


def open_gate(con: duckdb.DuckDBPyConnection, check_name: str) -> int:
    """The check passes again: release every account it had gated; returns how many rows were released."""
    return len(con.execute("delete from ops.send_gate where check_name = ? returning 1", [check_name]).fetchall())


def release_everyone(con: duckdb.DuckDBPyConnection, check_names: list[str]) -> dict[str, int]:
    """Delete the `'*'` (every account) rows these checks wrote before the gate was scoped to accounts.

    Returns {check: rows released}. A '*' row under any other check name (an operator's own stop) stays.
    """
    rows = con.execute(
        "delete from ops.send_gate where account_id = '*' and list_contains(?, check_name) returning check_name",
        [check_names],
    ).fetchall()
    released: dict[str, int] = {}
    for (name,) in rows:
        released[name] = released.get(name, 0) + 1
    return released


def insert_alerts(con: duckdb.DuckDBPyConnection, alerts: Iterable[dict], created_at: datetime) -> None:
    for a in alerts:
        con.execute(
            """
            insert into ops.quality_alerts
                (alert_id, check_name, as_of, previous_status, status, channel, title, lines, text, created_at)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            on conflict (alert_id) do nothing
            """,
            [a["alert_id"], a["check_name"], a["as_of"], a["previous_status"], a["status"], a["channel"],
             a["title"], json.dumps(a["lines"]), a["text"], created_at],
        )


def pending_alerts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = con.execute(
        "select alert_id, check_name, as_of, status, title, lines from ops.quality_alerts "
        "where delivered_at is null order by as_of, check_name"
    ).fetchall()
    return [
        {"alert_id": r[0], "check_name": r[1], "as_of": r[2], "status": r[3], "title": r[4],
         "lines": json.loads(r[5] or "[]")}
        for r in rows
    ]


def mark_delivered(con: duckdb.DuckDBPyConnection, alert_id: str, when: datetime, delivery: str) -> None:
    con.execute(
        "update ops.quality_alerts set delivered_at = ?, delivery = ? where alert_id = ?", [when, delivery, alert_id]
    )


def insert_results(con: duckdb.DuckDBPyConnection, rows: Iterable[tuple], as_of: datetime) -> None:
    """Replace the cycle's rows (check, finding, severity, passed, elements, unexpected, percent, detail)."""
    con.execute("delete from ops.quality_results where as_of = ?", [as_of])
    data = list(rows)
    if not data:
        return
    columns = [list(c) for c in zip(*data, strict=True)]
    con.execute(
        """
        insert into ops.quality_results
        select ?::timestamptz, unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::boolean[]),
               unnest(?::bigint[]), unnest(?::bigint[]), unnest(?::double[]), unnest(?::varchar[])::json
        """,
        [as_of, *columns],
    )


def insert_profiles(
    con: duckdb.DuckDBPyConnection, rows: Iterable[tuple[datetime, str, str, str, int, bool]], as_of: datetime
) -> None:
    data = list(rows)
    if not data:
        return
    hours, keys, props, types, counts, goods = (list(c) for c in zip(*data, strict=True))
    # One statement with list parameters, not one per row: a first cycle over weeks writes ~10^5 rows.
    con.execute(
        """
        insert into ops.quality_profiles
        select unnest(?::timestamptz[]), unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]),
               unnest(?::bigint[]), unnest(?::boolean[]), ?::timestamptz
        """,
        [hours, keys, props, types, counts, goods, as_of],
    )


def prune_profiles(con: duckdb.DuckDBPyConnection, before: datetime) -> None:
    """Profiles older than any window reads (the baseline week plus the recent day) are dead weight."""
    con.execute("delete from ops.quality_profiles where arrived_hour < ?::timestamptz", [before])


def window_profiles(
    con: duckdb.DuckDBPyConnection, after: datetime, until: datetime, *, good_only: bool, hourly: bool = False
) -> dict:
    """Profiles of messages that arrived in (after, until]: {event_key: {property: {json_type: rows}}},
    or keyed by (arrival hour, event_key) when `hourly`. Property '' holds the event's row count.
    """
    rows = con.execute(
        f"""
        select {"arrived_hour" if hourly else "null"} as hour, event_key, property, json_type, sum(rows)::bigint
        from ops.quality_profiles
        where arrived_hour > date_trunc('hour', ?::timestamptz) and arrived_hour <= ?::timestamptz
          {"and good" if good_only else ""}
        group by all
        """,
        [after, until],
    ).fetchall()
    out: dict = {}
    for hour, key, prop, json_type, n in rows:
        out.setdefault((hour, key) if hourly else key, {}).setdefault(prop, {})[json_type] = int(n)
    return out


def hourly_rows(con: duckdb.DuckDBPyConnection, since: datetime, until: datetime) -> dict[tuple[datetime, str], int]:
    """Messages validated by a pass whose clock was `until` or earlier, per arrival hour in [since, until]."""
    rows = con.execute(
        """
        select arrived_hour, event_key, sum(rows)::bigint from ops.quality_profiles
        where property = '' and arrived_hour >= $since and arrived_hour <= $until and as_of <= $until
        group by all
        """,
        {"since": since, "until": until},
    ).fetchall()
    return {(hour, key): int(n) for hour, key, n in rows}
