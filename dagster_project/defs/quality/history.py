"""What a pass needs from the history, kept by the passes themselves: an hourly pass never scans `raw`.

To attribute its messages and find each account's signup, a pass reads from the history the `group`
calls, the signups (tracks whose name the name rule maps to `signup_completed`) and, for a user who never
called `group`, the first account seen with them. Scanning `raw` for them cost ~0.9 s per hour at 10M
messages, growing with the history. Each pass now adds its own batch's share to three small tables, in
the transaction that advances its watermarks, so they always hold exactly the validated messages':

- `ops.quality_history`: the group calls and signups, with their arrival (a replayed hour reads those
  arrived by its clock);
- `ops.quality_first_seen`: per user, the earliest message with a groupId (the earliest account, the
  smallest on a tie);
- `ops.quality_history_state`: the name rule they were kept under (the alias seed and the normalisation)
  and the latest clock whose batch they hold.

What a pass reads is then those tables plus its own batch (every message arrived by the clock is either
validated, so kept, or pending, so in the batch). They are rebuilt from `raw` in one scan when missing
(the first pass after an upgrade) or when the name rule changed; a pass restricted to some files
(`load_ids`) leaves them to be rebuilt, as it marks other files validated without reading them; and a
clock earlier than the latest kept (a replay) reads the first accounts seen from `raw`, as a per-user
earliest cannot be taken back to an earlier clock.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import duckdb

from dagster_project.defs.quality import names
from reverse_etl.connection import transaction

STATE = "ops.quality_history_state"
KEPT = "ops.quality_history"
FIRST_SEEN = "ops.quality_first_seen"
# The batch's share, staged by stage_batch and added by record() in the pass's final transaction. The
# tables' DDL is with the other quality tables (reverse_etl/ops_tables.py, QUALITY).
BATCH_KEPT = "_quality_batch_kept"
BATCH_FIRST_SEEN = "_quality_batch_first_seen"

# A kept row of `m` (a raw message; `n` its mapped name): a group call, or a signup.
_KEPT_ROW = "((m.type = 'group' and m.group_id is not null) or (m.type = 'track' and n.event = 'signup_completed'))"


def rule(con: duckdb.DuckDBPyConnection) -> str:
    """The name rule the kept signups depend on: the alias seed as loaded (names.load_aliases) and the
    normalisation's SQL."""
    aliases = con.execute(
        f"select coalesce(string_agg(alias || '=' || event_name, chr(10) order by alias), '') from {names.ALIASES}"
    ).fetchone()[0]
    return hashlib.sha256((names.normalise_sql("e") + "\n" + aliases).encode()).hexdigest()[:16]


def _state(con: duckdb.DuckDBPyConnection) -> tuple[str, datetime | None] | None:
    row = con.execute(f"select rule, through from {STATE}").fetchone()
    return (row[0], row[1]) if row else None


def usable(con: duckdb.DuckDBPyConnection, load_ids: list[int] | None) -> bool:
    """Whether this pass can read the kept history: after a rebuild when it is missing or was kept under
    another name rule. A pass restricted to some files cannot (and leaves it to be rebuilt)."""
    if load_ids is not None:
        con.execute(f"delete from {STATE}")
        return False
    current = rule(con)
    state = _state(con)
    if state is None or state[0] != current:
        rebuild(con, current)
    return True


def rebuild(con: duckdb.DuckDBPyConnection, current: str) -> None:
    """The kept history of every validated message (one that arrived by its file's watermark), from `raw`."""
    signups = names.signup_names(con)
    with transaction(con):
        con.execute(f"delete from {KEPT}")
        con.execute(f"delete from {FIRST_SEEN}")
        con.execute(f"delete from {STATE}")
        validated = """raw.segment_messages as m
            join ops.quality_load_watermarks as w on w.load_id = m.load_id
            where coalesce(m.received_at, m.event_at) <= w.validated_through"""
        con.execute(
            f"""
            insert into {KEPT}
            select m.type, m.user_id, m.group_id, m.event_at, coalesce(m.received_at, m.event_at)
            from {validated}
              and ((m.type = 'group' and m.group_id is not null)
                   or (m.type = 'track' and list_contains($signups::varchar[], m.event)))
            """,
            {"signups": signups},
        )
        con.execute(
            f"""
            insert into {FIRST_SEEN}
            select m.user_id, arg_min(m.group_id, (m.event_at, m.group_id)), min(m.event_at)
            from {validated} and m.group_id is not null and m.user_id is not null and m.event_at is not null
            group by m.user_id
            """
        )
        con.execute(
            f"insert into {STATE} select ?, max(validated_through) from ops.quality_load_watermarks", [current]
        )


def stage(con: duckdb.DuckDBPyConnection, source: str, pending: str, params: dict) -> None:
    """The batch's share of the kept history (`_quality_names` holds the batch's mapped names)."""
    con.execute(
        f"""
        create or replace temp table {BATCH_KEPT} as
        select m.type, m.user_id, m.group_id, m.event_at, coalesce(m.received_at, m.event_at) as arrived_at
        from {source} as m
        left join ops.quality_load_watermarks as w on w.load_id = m.load_id
        left join _quality_names as n on n.raw_event = m.event
        where {pending} and {_KEPT_ROW}
        """,
        params,
    )
    con.execute(
        f"""
        create or replace temp table {BATCH_FIRST_SEEN} as
        select m.user_id, arg_min(m.group_id, (m.event_at, m.group_id)) as group_id, min(m.event_at) as event_at
        from {source} as m
        left join ops.quality_load_watermarks as w on w.load_id = m.load_id
        where {pending} and m.group_id is not null and m.user_id is not null and m.event_at is not null
        group by m.user_id
        """,
        params,
    )


def history_sql() -> str:
    """The group calls and signups known by $as_of: the kept ones plus the batch's (`_quality_history`)."""
    return f"""
create or replace temp table _quality_history as
select type, user_id, group_id, event_at from {KEPT} where arrived_at <= $as_of
union all
select type, user_id, group_id, event_at from {BATCH_KEPT}
"""


def first_seen_is_kept(con: duckdb.DuckDBPyConnection, as_of: datetime) -> bool:
    """Whether every kept first account was seen by `as_of` (not a replay of an earlier hour)."""
    state = _state(con)
    return state is not None and (state[1] is None or state[1] <= as_of)


# The first accounts seen by the clock (when first_seen_is_kept): the kept ones plus the batch's.
FIRST_SEEN_ROWS = f"""(
    select user_id, group_id, event_at from {FIRST_SEEN}
    union all
    select user_id, group_id, event_at from {BATCH_FIRST_SEEN}
)"""


def record(con: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    """Add the staged batch's share (inside the pass's transaction, with its watermarks); nothing when
    the kept history is to be rebuilt (no state) or no batch was staged."""
    staged = con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = ?", [BATCH_KEPT]
    ).fetchone()[0]
    if not staged or _state(con) is None:
        drop(con)
        return
    con.execute(f"insert into {KEPT} select * from {BATCH_KEPT}")
    # One row per user (no key: DuckDB's index made the first build's commit cost seconds): a user's
    # row is replaced when the batch saw them earlier, added when it saw them first.
    con.execute(
        f"""
        delete from {FIRST_SEEN} as f using {BATCH_FIRST_SEEN} as b
        where f.user_id = b.user_id and (b.event_at, b.group_id) < (f.event_at, f.group_id)
        """
    )
    con.execute(f"insert into {FIRST_SEEN} select b.* from {BATCH_FIRST_SEEN} as b anti join {FIRST_SEEN} using (user_id)")
    con.execute(f"update {STATE} set through = greatest(coalesce(through, ?::timestamptz), ?::timestamptz)",
                [as_of, as_of])
    drop(con)


def drop(con: duckdb.DuckDBPyConnection) -> None:
    for table in (BATCH_KEPT, BATCH_FIRST_SEEN):
        con.execute(f"drop table if exists {table}")
