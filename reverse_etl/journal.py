"""What a sync heard back, kept with one append per batch and folded into the ops tables in sets.

A batch the receiver accepted must be on record before the next request goes out, or a killed run
would send it again. Writing that record straight into ops.outbox, ops.sync_snapshot, ops.sync_changelog
(and HubSpot's ops.hubspot_objects) cost four statements per batch, each a join or an upsert against a
table that grows with the whole history: at 100k accounts that bookkeeping, not the rate limit, set
the pace. So each answered batch is one insert into the small `ops.sync_journal` (its changelog rows
plus the snapshot each delivered item leaves), committed before the next request; `fold` moves the
journal into the ops tables with one set-based statement per table, every `FOLD_EVERY` operations,
at the end of the run and, for a run that was killed, at the start of the next one (before it plans,
so a payload re-queued under the same id can never be taken for the one that was delivered).

Between a kill and the next run, an operation delivered but not yet folded is pending in ops.outbox
and `sent` in ops.sync_journal: `sent_count` counts both. Only delivered operations are journaled;
a failure counts its attempt in ops.outbox at once (rare, and it decides parking).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from reverse_etl import columns
from reverse_etl.connection import transaction
from reverse_etl.synclog import CHANGE_COLUMNS, ChangeRow, change_columns

# Operations journaled between folds: the journal stays this small, a fold is one pass per table.
FOLD_EVERY = 10_000


@dataclass(frozen=True)
class Delivered:
    """One accepted operation: its changelog row and, if it has one, the snapshot it leaves."""

    change: ChangeRow
    snapshot_key: str | None = None
    row_hash: str | None = None
    snapshot: Mapping[str, Any] | None = None


def append(con: duckdb.DuckDBPyConnection, run_id: str, channel: str, rows: Sequence[Delivered], *,
           now: datetime) -> int:
    """Record accepted operations (one insert, in the caller's transaction)."""
    if not rows:
        return 0
    values = change_columns([r.change for r in rows])
    values["snapshot_key"] = ("varchar", [r.snapshot_key for r in rows])
    values["row_hash"] = ("varchar", [r.row_hash for r in rows])
    values["snapshot"] = (
        "varchar", [None if r.snapshot is None else orjson.dumps(dict(r.snapshot)).decode() for r in rows]
    )
    con.register("_journal_rows", columns.table(con, values))
    try:
        con.execute(
            f"insert into ops.sync_journal select ?, ?, {CHANGE_COLUMNS}, ?, snapshot_key, row_hash, snapshot::json "
            "from _journal_rows",
            [run_id, channel, now.astimezone(UTC)],
        ).fetchall()
    finally:
        con.unregister("_journal_rows")
    return len(rows)


def fold(con: duckdb.DuckDBPyConnection, channel: str, *, also: Sequence[str] = ()) -> int:
    """Move the channel's journal into ops.outbox, ops.sync_snapshot and ops.sync_changelog, in one transaction
    (the caller's when one is open: it then commits or rolls back the append and the fold together).

    `also`: the channel's own statements over the same rows (each takes the channel as its one parameter),
    e.g. HubSpot's record ids. Returns the operations folded.
    """
    ((count,),) = con.execute("select count(*) from ops.sync_journal where channel = ?", [channel]).fetchall()
    if not count:
        return 0
    with transaction(con):
        con.execute(
            """
            update ops.outbox as o set status = 'sent', sent_at = j.recorded_at, updated_at = j.recorded_at,
                   attempts = o.attempts + 1, last_error = null, last_run_id = j.run_id
            from (select item_id, max(run_id) as run_id, max(recorded_at) as recorded_at
                  from ops.sync_journal where channel = ? group by item_id) as j
            where o.channel = ? and o.item_id = j.item_id and o.status = 'pending'
            """,
            [channel, channel],
        ).fetchall()
        # The snapshot of a key is replaced (delete, then insert), not updated in place: every column but the
        # key changes, and an in-place update of the wide `payload` column makes DuckDB's next checkpoint
        # rewrite that column for each row group it touched (outbox.enqueue says the same).
        con.execute(
            """
            delete from ops.sync_snapshot as s
            using (select distinct snapshot_key from ops.sync_journal where channel = ? and snapshot_key is not null) as j
            where s.channel = ? and s.entity_key = j.snapshot_key
            """,
            [channel, channel],
        ).fetchall()
        con.execute(
            """
            insert into ops.sync_snapshot
            select channel, snapshot_key, account_id, row_hash, snapshot, recorded_at, run_id
            from ops.sync_journal
            where channel = ? and snapshot_key is not null
            qualify row_number() over (partition by snapshot_key order by recorded_at desc) = 1
            """,
            [channel],
        ).fetchall()
        for statement in also:
            con.execute(statement, [channel]).fetchall()
        con.execute(
            f"insert into ops.sync_changelog select run_id, channel, {CHANGE_COLUMNS}, recorded_at "
            "from ops.sync_journal where channel = ? order by recorded_at",
            [channel],
        ).fetchall()
        con.execute("delete from ops.sync_journal where channel = ?", [channel]).fetchall()
    return int(count)


def sent_count(con: duckdb.DuckDBPyConnection, channel: str) -> int:
    """Operations of the channel on record as delivered: sent in ops.outbox, or journaled and not folded yet."""
    ((n,),) = con.execute(
        """
        select count(*) from ops.outbox o
        where o.channel = ? and (o.status = 'sent' or exists (
            select 1 from ops.sync_journal j where j.channel = o.channel and j.item_id = o.item_id))
        """,
        [channel],
    ).fetchall()
    return int(n)
