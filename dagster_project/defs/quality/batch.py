"""Read the batch to validate from DuckDB: messages that arrived by the cycle clock and were not validated.

A message arrives at `coalesce(received_at, event_at)` (when Segment's server saw it). It is validated in
the first cycle whose clock is at or after its arrival, whatever file it came in: live, that is the cycle
that landed it; in a replay over files landed in bulk, it is the cycle of its own hour. A client whose
clock runs ahead is therefore seen at arrival, and flagged as an event from the future.

The batch is staged once in a DuckDB temp table (`_quality_staged`: each message's properties/traits,
its account and the account's signup), so a first load of millions of messages is never held in Python:
`scan.py` reads suite frames (in arrival order within each event) and aggregates from it in SQL. DuckDB
keeps the staged rows and spills them to its temp directory past `memory_limit`. The Python reference
the SQL is tested against (staged rows as `Message` objects) lives with the tests:
tests/quality/reference.py.

What a pass reads is its batch, not the history:

- the pending messages are found by two filtered scans of `raw` (`_source`) that DuckDB applies while it
  reads: the messages of files without a watermark, and those known after the oldest watermark. Only
  their payloads are read and parsed, once;
- the history is read only for what the batch needs from it and only on narrow columns, in one scan
  (`_HISTORY_SQL`): the `group` calls (to attribute groupless messages) and the signups (each account's
  signup time). An hour with nothing new reads no history at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from dagster_project.defs.quality import history, names, store

if TYPE_CHECKING:
    from dagster_project.defs.quality.merge import Profile

# `{source}` is `raw.segment_messages` (with `raw_row`, its rowid) narrowed to a superset of the pending
# messages (`_source`); `_PENDING` is the exact rule.
_PENDING = """coalesce(m.received_at, m.event_at) <= $as_of
  and (w.validated_through is null or coalesce(m.received_at, m.event_at) > w.validated_through)
  {load_filter}"""

# The batch's messages per kind and name as sent; event names (names.py) once per distinct name.
_COUNTS_SQL = """
create or replace temp table _quality_counts as
select m.type, m.event as raw_event, count(*) as messages
from {source} as m left join ops.quality_load_watermarks as w on w.load_id = m.load_id
where {pending}
group by all
"""

_NAMES_SQL = """
create or replace temp table _quality_names as
select raw_event, quality_event_name(raw_event) as event
from (select distinct raw_event from _quality_counts where raw_event is not null)
"""

_KEY_COUNTS_SQL = """
select case when c.type = 'track' then 'track:' || n.event else c.type end as event_key, sum(c.messages)::bigint
from _quality_counts as c left join _quality_names as n using (raw_event)
group by all
"""

# The batch's messages without a groupId, whose account the rule below finds.
_GROUPLESS_SQL = """
create or replace temp table _quality_groupless as
select m.raw_row, m.type, m.user_id, m.event_at
from {source} as m left join ops.quality_load_watermarks as w on w.load_id = m.load_id
where m.group_id is null and m.type in ('track', 'page', 'identify') and {pending}
"""

# What the batch needs from the history, in one scan of narrow columns: the `group` calls and the
# signups (the tracks whose name as sent the name rule maps to `signup_completed`: $names), known by
# the clock.
_HISTORY_SQL = """
create or replace temp table _quality_history as
select type, user_id, group_id, event_at
from raw.segment_messages
where coalesce(received_at, event_at) <= $as_of
  and ((type = 'group' and group_id is not null) or (type = 'track' and list_contains($names::varchar[], event)))
"""

# Accounts per the shared rule, for the messages without a groupId: a track or page belongs to its user's
# latest `group` call at or before it (ASOF join), an identify to the user's latest group call known by
# the clock (else the first account seen with them: `_FIRST_SEEN_SQL`, read only for users who made no
# group call). Every other message's account is its groupId.
_ACCOUNTS_SQL = """
create or replace temp table _quality_accounts as
with group_calls as (
    select user_id, group_id, event_at from _quality_history
    where type = 'group' and user_id in (select user_id from _quality_groupless)
),
identified as (
    select user_id, arg_max(group_id, event_at) as account_id from group_calls group by user_id
)
select p.raw_row, g.group_id as account_id
from (select * from _quality_groupless where type in ('track', 'page')) as p
asof left join group_calls as g on g.user_id = p.user_id and p.event_at >= g.event_at
union all
select p.raw_row, i.account_id
from (select * from _quality_groupless where type = 'identify') as p
left join identified as i on i.user_id = p.user_id
"""

# `{seen}`: (user_id, group_id, event_at) of the messages with a groupId known by the clock: from `raw`
# (_SEEN_IN_RAW), or the kept first accounts plus the batch's (history.FIRST_SEEN_ROWS).
_FIRST_SEEN_SQL = """
update _quality_accounts as a set account_id = f.account_id
from (
    select g.raw_row, s.account_id
    from _quality_groupless as g
    join (
        select user_id, arg_min(group_id, (event_at, group_id)) as account_id
        from {seen}
        where user_id in (select user_id from _quality_unidentified)
        group by user_id
    ) as s on s.user_id = g.user_id
    where g.raw_row in (select raw_row from _quality_unidentified)
) as f
where a.raw_row = f.raw_row
"""

_SEEN_IN_RAW = """(
    select user_id, group_id, event_at from raw.segment_messages
    where group_id is not null and coalesce(received_at, event_at) <= $as_of
)"""

# The staged batch: each pending message with its account and what the rules read from its payload, the
# properties (track) or traits (identify, group), parsed once. A page or screen has no body: no rule
# reads one.
_BATCH_SQL = """
create or replace temp table {batch} as
select
    case when m.type = 'track' then 'track:' || n.event else m.type end as event_key,
    m.message_id, m.type, n.event, m.user_id, coalesce(m.group_id, a.account_id) as account_id,
    m.event_at, m.received_at, m.load_id, coalesce(m.received_at, m.event_at) as arrived_at,
    case
        when m.type = 'track' then m.payload -> '$.properties'
        when m.type not in ('identify', 'group') then null
        -- traits field by field: `traits` first, then `context.traits` (RudderStack, analytics.js)
        when json_type(m.payload -> '$.context.traits') = 'OBJECT' then json_merge_patch(
            m.payload -> '$.context.traits', json_merge_patch('{{}}'::json, coalesce(m.payload -> '$.traits', '{{}}'::json))
        )
        else m.payload -> '$.traits'
    end as body,
    {payload_column} as payload
from {source} as m
left join ops.quality_load_watermarks as w on w.load_id = m.load_id
left join _quality_names as n on n.raw_event = m.event
left join _quality_accounts as a on a.raw_row = m.raw_row
where {pending}
"""

# The first signup_completed of each account of the batch, whether it carried the groupId or was
# attributed through its user's group call (same rule as above), among messages known by the clock:
# every signup is attributed, then those of the batch's accounts are kept. A groupless signup whose
# user never called `group` for one of these accounts belongs to another account (or none), so this is
# exactly the search among the batch accounts' members.
_SIGNUPS_SQL = """
create or replace temp table {signups} as
with signup_tracks as (
    select user_id, group_id, event_at from _quality_history where type = 'track'
),
member_groups as (
    select user_id, group_id, event_at from _quality_history
    where type = 'group' and user_id in (select user_id from signup_tracks where group_id is null)
),
signups as (
    select coalesce(c.group_id, g.group_id) as account_id, min(c.event_at) as signup_at
    from signup_tracks as c
    asof left join member_groups as g on g.user_id = c.user_id and c.event_at >= g.event_at
    group by all
)
select account_id, signup_at from signups
where account_id in (select account_id from {batch})
"""

# The staged batch as the suites read it: with each account's signup. A view: the aggregates read the
# batch table itself (`BATCH`), a suite's frame only its event's rows of this join.
_STAGE_SQL = """
create or replace temp view {staged} as
select b.*, s.signup_at, b.rowid as staged_row
from {batch} as b
left join {signups} as s on s.account_id = b.account_id
"""

STAGED = "_quality_staged"
BATCH = "_quality_staged_batch"
SIGNUPS = "_quality_staged_signups"
_SCRATCH = ("_quality_counts", "_quality_names", "_quality_groupless", "_quality_history", "_quality_accounts",
            "_quality_unidentified")


def _source(con: duckdb.DuckDBPyConnection) -> tuple[str, dict]:
    """`raw.segment_messages` narrowed to a superset of the pending messages, and its parameters ($as_of
    is the caller's).

    A pending message is in a file without a watermark, or arrived after its file's watermark, so after
    the oldest watermark; `known_at`, the later of its timestamp and its arrival (so the loader writes
    it), is then after it too; and it arrived by the clock. Scans whose filters DuckDB applies while it
    reads (each on plain columns), so the validated history costs a look at a few narrow columns and its
    payloads are never read, nor those of messages arriving after the clock (files landed ahead of the
    cycles, as in a backfill). Without any watermark (a first pass) every message is a candidate.
    """
    select = "select rowid as raw_row, * from raw.segment_messages"
    oldest = con.execute("select min(validated_through) from ops.quality_load_watermarks").fetchone()[0]
    if oldest is None:
        return f"({select})", {}
    unvalidated = [int(r[0]) for r in con.execute(
        """
        select f.load_id from raw.loaded_files as f
        anti join ops.quality_load_watermarks as w on w.load_id = f.load_id
        """
    ).fetchall()]
    validated = "known_at > $oldest and not list_contains($unvalidated::bigint[], load_id)"
    return (
        f"""({select} where list_contains($unvalidated::bigint[], load_id)
            union all
            {select} where received_at <= $as_of and {validated}
            union all
            {select} where received_at is null and event_at <= $as_of and {validated})""",
        {"oldest": oldest, "unvalidated": unvalidated},
    )


def _first_seen(con: duckdb.DuckDBPyConnection, as_of: datetime, kept: bool) -> None:
    """An identify whose user never called `group` belongs to the first account seen with them (from the
    kept first accounts plus the batch's when `kept`, else from `raw`)."""
    con.execute(
        """
        create or replace temp table _quality_unidentified as
        select a.raw_row, g.user_id from _quality_accounts as a join _quality_groupless as g using (raw_row)
        where g.type = 'identify' and a.account_id is null
        """
    )
    if con.execute("select count(*) from _quality_unidentified").fetchone()[0]:
        if kept:
            con.execute(_FIRST_SEEN_SQL.format(seen=history.FIRST_SEEN_ROWS))
        else:
            con.execute(_FIRST_SEEN_SQL.format(seen=_SEEN_IN_RAW), {"as_of": as_of})


def stage_batch(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    load_ids: list[int] | None = None,
    *,
    full_payload: bool = False,
    on_counts: Callable[[dict[str, int]], None] | None = None,
) -> int:
    """Stage the messages arrived by `as_of` and not yet validated; returns how many (scan.py reads them).

    Each staged row carries `body`, its properties (track) or traits (identify, group): all that the
    suites, the profile and the repeat check read. The whole payload is staged only when a suite names
    another root (`full_payload`), as it is several times the size. `on_counts` hears the batch's
    messages per event key first, before the payloads are read (run.py starts GX's import then).
    """
    source, params = _source(con)
    params["as_of"] = as_of
    load_filter = ""
    if load_ids is not None:
        load_filter, params["load_ids"] = "and list_contains($load_ids::bigint[], m.load_id)", load_ids
    pending = _PENDING.format(load_filter=load_filter)
    payload_column = "m.payload::varchar" if full_payload else "null::varchar"
    names.load_aliases(con)
    drop_staged(con)
    history.drop(con)
    try:
        con.execute(_COUNTS_SQL.format(source=source, pending=pending), params)
        con.execute(_NAMES_SQL)
        counts = {key: int(n) for key, n in con.execute(_KEY_COUNTS_SQL).fetchall()}
        total = sum(counts.values())
        if on_counts is not None:
            on_counts(counts)
        con.execute(_GROUPLESS_SQL.format(source=source, pending=pending), params)
        # A pass restricted to some files marks the others validated unread, batch or none: usable() then
        # leaves the kept history to be rebuilt.
        kept = history.usable(con, load_ids) if total or load_ids is not None else False
        if kept:  # the kept history plus the batch's share (history.py)
            history.stage(con, source, pending, params)
            con.execute(history.history_sql(), {"as_of": as_of})
        elif total:
            con.execute(_HISTORY_SQL, {"as_of": as_of, "names": names.signup_names(con)})
        else:  # an empty batch reads nothing from the history
            con.execute("create or replace temp table _quality_history "
                        "(type varchar, user_id varchar, group_id varchar, event_at timestamptz)")
        con.execute(_ACCOUNTS_SQL)
        _first_seen(con, as_of, kept and history.first_seen_is_kept(con, as_of))
        con.execute(_BATCH_SQL.format(batch=BATCH, source=source, pending=pending, payload_column=payload_column),
                    params)
        con.execute(_SIGNUPS_SQL.format(signups=SIGNUPS, batch=BATCH))
        con.execute(_STAGE_SQL.format(staged=STAGED, batch=BATCH, signups=SIGNUPS))
    except Exception:
        drop_staged(con)
        raise
    finally:
        for table in _SCRATCH:
            con.execute(f"drop table if exists {table}")
    return total


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop view if exists {STAGED}")
    for table in (BATCH, SIGNUPS):
        con.execute(f"drop table if exists {table}")


@contextmanager
def memory_limit(con: duckdb.DuckDBPyConnection, limit: str | None, restore: str | None = None) -> Iterator[None]:
    """Cap DuckDB's memory while a pass stages and scans its batch (it spills to disk past it), then restore.

    Without a cap DuckDB may use 80 % of RAM for the staged copy of a first load (10 GB RSS measured at
    5M messages); with it the staged rows and window sorts go to DuckDB's temp directory instead.
    `restore` is the connection's own cap (ONBOARDING_DUCKDB_MEMORY), set back as given: DuckDB shows a
    custom limit rounded to 0.1 GiB, so the shown value cannot be set back exactly.
    """
    if not limit:
        yield
        return
    before = con.execute("select current_setting('memory_limit')").fetchone()[0]
    con.execute(f"set memory_limit = '{_size(limit)}'")
    try:
        yield
    finally:
        if restore:
            con.execute(f"set memory_limit = '{_size(restore)}'")
        else:
            con.execute("reset memory_limit")  # exact when the caller had DuckDB's default
            if con.execute("select current_setting('memory_limit')").fetchone()[0] != before:
                con.execute(f"set memory_limit = '{_size(before)}'")


def _size(text: str) -> str:
    value = str(text).strip()
    if not value or any(c in value for c in "'\\;"):
        raise ValueError(f"not a DuckDB memory size: {text!r}")
    return value


def arrivals_by_day(
    con: duckdb.DuckDBPyConnection, as_of: datetime, days: int, batch_profile: Profile | None = None
) -> tuple[dict[str, list[int]], datetime | None]:
    """Per event key, message counts in the 24-hour windows ending at `as_of` (index 0 = the last day).

    Also returns the first arrival in the warehouse, so windows before history began are not read as zeros.

    Given the batch's profile (`scan.profile`, not yet stored), the counts come from the hourly profiles
    the pass keeps instead of the history: every validated message is counted once there, under the hour
    it arrived in, so the last `days` days of arrivals are the stored hours plus this batch's. A clock on
    the hour makes every window a whole number of hours but for its ends, which include the message
    arriving exactly at the window's end and exclude the one exactly at its start: those messages
    (arriving at `as_of - k days` to the microsecond) are read from `raw` and moved to their window, so
    the counts are the ones the history gives. Any other clock reads the history (`_arrivals_from_raw`).
    """
    boundaries = [as_of - timedelta(days=k) for k in range(days + 1)]
    if batch_profile is None or not _hour_bounds(con, boundaries):
        return _arrivals_from_raw(con, as_of, days), _first_arrival(con)
    counts = store.hourly_rows(con, boundaries[-1], as_of)
    for (hour, key), props in batch_profile.items():
        if boundaries[-1] <= hour <= as_of:
            counts[(hour, key)] = counts.get((hour, key), 0) + int(sum(props.get("", {}).values()))
    out: dict[str, list[int]] = {}
    for (hour, key), n in counts.items():
        index = 0 if hour >= as_of else (as_of - hour - timedelta(hours=1)) // timedelta(days=1)
        out.setdefault(key, [0] * days)[index] += n
    for key, k, n in _arrivals_at(con, boundaries[1:]):
        # counted under window k - 1 (its hour starts there); it belongs to window k, or to none past the last
        series = out.setdefault(key, [0] * days)
        series[k - 1] -= n
        if k < days:
            series[k] += n
    return out, _first_arrival(con)


def _hour_bounds(con: duckdb.DuckDBPyConnection, instants: list[datetime]) -> bool:
    """Whether every instant starts an hour as the profiles truncate it (DuckDB's session time zone)."""
    return bool(con.execute(
        "select bool_and(date_trunc('hour', t) = t) from unnest($t::timestamptz[]) as u(t)", {"t": instants}
    ).fetchone()[0])


def _arrivals_at(con: duckdb.DuckDBPyConnection, instants: list[datetime]) -> list[tuple[str, int, int]]:
    """(event key, k, messages) arriving exactly at `instants[k - 1]`, of the kinds the profiles count."""
    names.load_aliases(con)
    rows = con.execute(
        """
        with hits as (
            select type, event, received_at as arrived_at from raw.segment_messages
            where list_contains($t::timestamptz[], received_at) and type in ('track', 'identify', 'group')
            union all
            select type, event, event_at from raw.segment_messages
            where received_at is null and list_contains($t::timestamptz[], event_at)
              and type in ('track', 'identify', 'group')
        )
        select case when type = 'track' then 'track:' || quality_event_name(event) else type end, arrived_at,
               count(*)
        from hits group by all
        """,
        {"t": instants},
    ).fetchall()
    position = {t: k for k, t in enumerate(instants, start=1)}
    return [(key, position[at], int(n)) for key, at, n in rows if key is not None]


def _first_arrival(con: duckdb.DuckDBPyConnection) -> datetime | None:
    return con.execute("select min(coalesce(received_at, event_at)) from raw.segment_messages").fetchone()[0]


def _arrivals_from_raw(con: duckdb.DuckDBPyConnection, as_of: datetime, days: int) -> dict[str, list[int]]:
    names.load_aliases(con)
    rows = con.execute(
        """
        with counts as (  -- by the name as sent first: the name rule then runs once per distinct name
            select
                type, event,
                floor(epoch(?::timestamptz - coalesce(received_at, event_at)) / 86400)::bigint as day_index,
                count(*) as n
            from raw.segment_messages
            where coalesce(received_at, event_at) <= ?::timestamptz
              and coalesce(received_at, event_at) > ?::timestamptz - to_days(?)
              and type in ('track', 'identify', 'group')
            group by all
        )
        select
            case when type = 'track' then 'track:' || quality_event_name(event) else type end as event_key,
            day_index, sum(n)::bigint
        from counts
        group by all
        """,
        [as_of, as_of, as_of, days],
    ).fetchall()
    out: dict[str, list[int]] = {}
    for key, day_index, n in rows:
        series = out.setdefault(key, [0] * days)
        index = min(int(day_index), days - 1)
        series[index] += int(n)
    return out
