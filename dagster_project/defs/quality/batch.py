"""Read the batch to validate from DuckDB: messages that arrived by the cycle clock and were not validated.

A message arrives at `coalesce(received_at, event_at)` (when Segment's server saw it). It is validated in
the first cycle whose clock is at or after its arrival, whatever file it came in: live, that is the cycle
that landed it; in a replay over files landed in bulk, it is the cycle of its own hour. A client whose
clock runs ahead is therefore seen at arrival, and flagged as an event from the future.

The batch is staged once in a DuckDB temp table (`_quality_staged`: each message's properties/traits,
its account and the account's signup, numbered by arrival within each event), so a first load of millions
of messages is never held in Python: `scan.py` reads suite frames and aggregates from it in SQL. DuckDB
keeps the staged rows and spills them to its temp directory past `memory_limit`. The Python reference
the SQL is tested against (staged rows as `Message` objects) lives with the tests:
tests/quality/reference.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import duckdb

from dagster_project.defs.quality import names

_BATCH_SQL = """
create or replace temp table _quality_batch as
select
    m.message_id, m.type, m.event as raw_event, m.user_id, m.group_id, m.event_at, m.received_at, m.load_id,
    coalesce(m.received_at, m.event_at) as arrived_at,
    case
        when m.type = 'track' then m.payload -> '$.properties'
        -- traits field by field: `traits` first, then `context.traits` (RudderStack, analytics.js)
        when json_type(m.payload -> '$.context.traits') = 'OBJECT' then json_merge_patch(
            m.payload -> '$.context.traits', json_merge_patch('{{}}'::json, coalesce(m.payload -> '$.traits', '{{}}'::json))
        )
        else m.payload -> '$.traits'
    end as body,
    {payload_column} as payload
from raw.segment_messages as m
left join ops.quality_load_watermarks as w on w.load_id = m.load_id
where coalesce(m.received_at, m.event_at) <= ?::timestamptz
  and (w.validated_through is null or coalesce(m.received_at, m.event_at) > w.validated_through)
  {load_filter}
"""

# Event names (names.py) once per distinct name, not once per message; accounts per the shared rule: a
# track or page without a groupId belongs to its user's latest `group` call at or before it (ASOF join),
# an identify to the user's latest group call known by the clock (else the first account seen with them).
_RESOLVE_SQL = """
with names as (
    select raw_event, quality_event_name(raw_event) as event
    from (select distinct raw_event from _quality_batch where raw_event is not null)
),
group_calls as (
    select user_id, group_id, event_at
    from raw.segment_messages
    where type = 'group' and group_id is not null and coalesce(received_at, event_at) <= ?::timestamptz
      and user_id in (select user_id from _quality_batch where group_id is null)
),
identified as (
    select user_id,
           coalesce(arg_max(group_id, event_at) filter (where type = 'group'), arg_min(group_id, event_at)) as account_id
    from raw.segment_messages
    where user_id in (select user_id from _quality_batch where type = 'identify' and group_id is null)
      and group_id is not null and coalesce(received_at, event_at) <= ?::timestamptz
    group by user_id
)
select b.* exclude (raw_event), n.event,
       case
           when b.group_id is not null then b.group_id
           when b.type in ('track', 'page') then g.group_id
           when b.type = 'identify' then i.account_id
       end as account_id
from _quality_batch as b
left join names as n on n.raw_event = b.raw_event
asof left join group_calls as g on g.user_id = b.user_id and b.event_at >= g.event_at
left join identified as i on b.type = 'identify' and i.user_id = b.user_id
"""

# The first signup_completed of each account in the batch, whether it carried the groupId or was
# attributed through its user's group call (same rule as above), among messages known by the clock.
_ENRICH_SQL = """
with batch_accounts as (
    select distinct account_id from _quality_resolved where account_id is not null
),
members as (
    select distinct user_id from raw.segment_messages
    where type = 'group' and group_id in (select account_id from batch_accounts)
      and coalesce(received_at, event_at) <= ?::timestamptz
),
candidates as (
    select user_id, group_id, event, event_at from raw.segment_messages
    where type = 'track' and coalesce(received_at, event_at) <= ?::timestamptz
      and (group_id in (select account_id from batch_accounts)
           or (group_id is null and user_id in (select user_id from members)))
),
member_groups as (
    select user_id, group_id, event_at from raw.segment_messages
    where type = 'group' and group_id is not null and coalesce(received_at, event_at) <= ?::timestamptz
      and user_id in (select user_id from members)
),
signups as (
    select coalesce(c.group_id, g.group_id) as account_id, min(c.event_at) as signup_at
    from (select * from candidates where quality_event_name(event) = 'signup_completed') as c
    asof left join member_groups as g on g.user_id = c.user_id and c.event_at >= g.event_at
    group by all
)
select
    case when b.type = 'track' then 'track:' || b.event else b.type end as event_key,
    (row_number() over (
        partition by case when b.type = 'track' then 'track:' || b.event else b.type end
        order by b.arrived_at, b.message_id
    ) - 1)::bigint as key_ordinal,
    b.message_id, b.type, b.event, b.user_id, b.account_id,
    b.event_at, b.received_at, b.arrived_at, b.load_id, s.signup_at, b.body, b.payload
from _quality_resolved as b
left join signups as s on s.account_id = b.account_id
"""


STAGED = "_quality_staged"


def stage_batch(
    con: duckdb.DuckDBPyConnection, as_of: datetime, load_ids: list[int] | None = None, *, full_payload: bool = False
) -> int:
    """Stage the messages arrived by `as_of` and not yet validated; returns how many (scan.py reads them).

    Each staged row carries `body`, its properties (track) or traits (identify, group): all that the
    suites, the profile and the repeat check read. The whole payload is staged only when a suite names
    another root (`full_payload`), as it is several times the size.
    """
    load_filter = "and list_contains(?, m.load_id)" if load_ids is not None else ""
    params: list = [as_of] + ([load_ids] if load_ids is not None else [])
    payload_column = "m.payload::varchar" if full_payload else "null::varchar"
    names.load_aliases(con)
    con.execute(_BATCH_SQL.format(load_filter=load_filter, payload_column=payload_column), params)
    try:
        con.execute(f"create or replace temp table _quality_resolved as {_RESOLVE_SQL}", [as_of, as_of])
        con.execute("drop table if exists _quality_batch")
        con.execute(f"create or replace temp table {STAGED} as {_ENRICH_SQL}", [as_of, as_of, as_of])
    finally:
        con.execute("drop table if exists _quality_batch")
        con.execute("drop table if exists _quality_resolved")
    return int(con.execute(f"select count(*) from {STAGED}").fetchone()[0])


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop table if exists {STAGED}")


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
    con: duckdb.DuckDBPyConnection, as_of: datetime, days: int
) -> tuple[dict[str, list[int]], datetime | None]:
    """Per event key, message counts in the 24-hour windows ending at `as_of` (index 0 = the last day).

    Also returns the first arrival in the warehouse, so windows before history began are not read as zeros.
    """
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
    first = con.execute("select min(coalesce(received_at, event_at)) from raw.segment_messages").fetchone()[0]
    return out, first
