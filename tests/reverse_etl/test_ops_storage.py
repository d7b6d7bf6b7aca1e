"""How the syncs write ops.outbox and ops.sync_snapshot: a changed row is replaced, never updated in place.

An in-place update of a wide column (the JSON `payload`) makes DuckDB's next checkpoint (every sync's
connection checkpoints as it closes) re-compress that column for the whole row group: ~0.5-0.9 s per
touched row group at 20k-100k accounts, which was most of an idle hour's Customer.io and HubSpot steps.
A replaced row (delete, then insert) leaves the stored segments as they are. These tests pin that
mechanism through DuckDB's storage layout, and that the outbox and snapshot mean exactly what they did.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from reverse_etl import connection, journal, outbox
from reverse_etl.synclog import ChangeRow, ensure_sync_tables

T0 = datetime(2026, 10, 1, 2, tzinfo=UTC)
ROWS = 3_000  # enough for several compressed segments of payloads


def _payload_segments(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """Where the stored payload column lives (block ids change when a checkpoint rewrites it)."""
    return con.execute(
        "select row_group_id, segment_id, block_id, block_offset from pragma_storage_info(?) "
        "where column_name = 'payload' and segment_type <> 'VALIDITY' order by all",
        [table],
    ).fetchall()


def _item(i: int, version: int = 1) -> outbox.NewItem:
    return outbox.NewItem(f"identify:user_{i:06d}", "identify",
                          {"op": {"id": f"user_{i:06d}", "stage": f"stage-{version}", "filler": "x" * 200}},
                          f"acct_{i:06d}", 0)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("set TimeZone = 'UTC'")
    yield connection
    connection.close()


def test_a_changed_payload_replaces_its_row_and_leaves_the_stored_payloads_alone(con) -> None:
    assert outbox.enqueue(con, "customerio", [_item(i) for i in range(ROWS)], now=T0, run_id="r1") == ROWS
    outbox.mark_sent(con, "customerio", [f"identify:user_{i:06d}" for i in range(ROWS)], now=T0, run_id="r1")
    con.execute("checkpoint")
    stored = _payload_segments(con, "ops.outbox")
    first = dict(con.execute("select item_id, enqueued_at from ops.outbox").fetchall())

    later = T0 + timedelta(hours=1)
    changed = [_item(i, version=2) for i in (5, 1_500, 2_999)]
    assert outbox.enqueue(con, "customerio", changed + [_item(7)], now=later, run_id="r2") == 3
    con.execute("checkpoint")
    kept = [s for s in _payload_segments(con, "ops.outbox") if s in stored]
    assert kept == stored  # the old code updated the payloads in place: the checkpoint rewrote them all

    rows = {r[0]: r[1:] for r in con.execute(
        "select item_id, status, attempts, payload->>'$.op.stage', enqueued_at, updated_at, last_run_id, sent_at "
        "from ops.outbox").fetchall()}
    assert len(rows) == ROWS
    for item in changed:  # pending again, fresh attempts, new payload, first queued when it was
        assert rows[item.item_id] == ("pending", 0, "stage-2", first[item.item_id], later, "r2", None)
    assert rows["identify:user_000007"][:3] == ("sent", 1, "stage-1")  # same payload: untouched
    assert rows["identify:user_000007"][4] == T0


def test_enqueue_counts_what_became_pending(con) -> None:
    assert outbox.enqueue(con, "slack", [_item(1), _item(2)], now=T0) == 2
    # 1 is pending already: replacing its payload makes nothing newly pending; 3 is new
    assert outbox.enqueue(con, "slack", [_item(1, 2), _item(2), _item(3)], now=T0) == 1
    outbox.mark_sent(con, "slack", ["identify:user_000001"], now=T0)
    assert outbox.enqueue(con, "slack", [_item(1, 3), _item(1, 3)], now=T0) == 1  # sent -> pending again
    assert outbox.status_counts(con, "slack") == {"pending": 3, "sent": 0, "parked": 0}


def test_enqueue_inside_the_callers_transaction_leaves_it_to_the_caller(con) -> None:
    outbox.enqueue(con, "customerio", [_item(1)], now=T0)
    con.begin()
    outbox.enqueue(con, "customerio", [_item(1, 2), _item(2)], now=T0)
    con.rollback()  # the plan's transaction rolled back: nothing of it stays
    assert con.execute("select item_id, payload->>'$.op.stage' from ops.outbox").fetchall() == [
        ("identify:user_000001", "stage-1")]
    assert not connection.in_transaction(con)
    outbox.enqueue(con, "customerio", [_item(1, 2)], now=T0)  # on its own: its own transaction, committed
    assert not connection.in_transaction(con)
    assert con.execute("select payload->>'$.op.stage' from ops.outbox").fetchall() == [("stage-2",)]


def test_the_fold_replaces_a_snapshot_and_leaves_the_stored_payloads_alone(con) -> None:
    ensure_sync_tables(con)
    outbox.ensure_outbox(con)

    def deliver(keys: range | list[int], version: int, at: datetime, run_id: str) -> None:
        rows = [journal.Delivered(ChangeRow(f"identify:user_{i:06d}", "identify", "sent", f"acct_{i:06d}",
                                            f"user_{i:06d}"),
                                  snapshot_key=f"user_{i:06d}", row_hash=f"h{version}-{i}",
                                  snapshot={"stage": f"stage-{version}", "filler": "y" * 200})
                for i in keys]
        journal.append(con, run_id, "customerio", rows, now=at)
        assert journal.fold(con, "customerio") == len(rows)

    deliver(range(ROWS), 1, T0, "r1")
    con.execute("checkpoint")
    stored = _payload_segments(con, "ops.sync_snapshot")

    later = T0 + timedelta(hours=1)
    deliver([4, 2_000], 2, later, "r2")
    con.execute("checkpoint")
    assert [s for s in _payload_segments(con, "ops.sync_snapshot") if s in stored] == stored

    snapshot = {r[0]: r[1:] for r in con.execute(
        "select entity_key, account_id, row_hash, payload->>'$.stage', synced_at, run_id from ops.sync_snapshot "
        "where channel = 'customerio'").fetchall()}
    assert len(snapshot) == ROWS
    assert snapshot["user_000004"] == ("acct_000004", "h2-4", "stage-2", later, "r2")
    assert snapshot["user_000005"] == ("acct_000005", "h1-5", "stage-1", T0, "r1")
    assert con.execute("select count(*) from ops.sync_changelog").fetchone() == (ROWS + 2,)


def test_an_item_replaced_twice_in_one_transaction_is_its_last_payload(con) -> None:
    con.begin()  # as a run's plan: chunk after chunk in one transaction
    assert outbox.enqueue(con, "hubspot", [_item(1)], now=T0) == 1
    assert outbox.enqueue(con, "hubspot", [_item(1, 2)], now=T0 + timedelta(minutes=1)) == 0
    assert outbox.enqueue(con, "hubspot", [_item(1, 3)], now=T0 + timedelta(minutes=2)) == 0
    con.commit()
    assert con.execute("select payload->>'$.op.stage', enqueued_at, status from ops.outbox").fetchall() == [
        ("stage-3", T0, "pending")]


def test_pages_follow_the_outbox_order_once_each_and_skip_what_left_pending_meanwhile(con) -> None:
    """`pending_pages` takes the order once: pages in `pending`'s order (priority, then oldest), no item twice,
    none of another channel, and an item sent (or parked) after the order was taken is not handed out."""
    low = [outbox.NewItem(f"t:{i}", "task", {"i": i}, f"acct_{i}", priority=5) for i in range(5)]
    outbox.enqueue(con, "hubspot", low, now=T0)
    outbox.enqueue(con, "hubspot", [_item(i) for i in range(6)], now=T0 + timedelta(minutes=1))
    outbox.enqueue(con, "hubspot", [_item(9)], now=T0 - timedelta(minutes=1))
    outbox.enqueue(con, "customerio", [_item(i) for i in range(3)], now=T0)
    outbox.mark_sent(con, "hubspot", ["identify:user_000003"], now=T0)
    expected = [i.item_id for i in outbox.pending(con, "hubspot")]
    assert expected[0] == "identify:user_000009" and expected[-5:] == [f"t:{i}" for i in range(5)]

    seen: list[list[str]] = []
    for page in outbox.pending_pages(con, "hubspot", 3):
        seen.append([i.item_id for i in page])
        if len(seen) == 1:  # sent by another page's delivery before its own page is read
            outbox.mark_sent(con, "hubspot", ["t:1"], now=T0)
    assert [len(p) for p in seen] == [3, 3, 2, 2]  # 11 pending when the order was taken; t:1 was in the third page
    assert sum(seen, []) == [i for i in expected if i != "t:1"]
    assert con.execute("select count(*) from duckdb_tables() where table_name like '_outbox_order_%'").fetchone()[0] == 0


def test_a_writer_checkpoints_on_its_own_only_past_the_threshold(tmp_path: Path) -> None:
    """A sync's page commits must not each checkpoint the outbox (DuckDB's default threshold is 16 MB):
    a writer's WAL grows to CHECKPOINT_THRESHOLD first, and closing the connection still checkpoints."""
    path = tmp_path / "w.duckdb"
    with connection.connect(path) as con:
        assert con.execute("select current_setting('checkpoint_threshold')").fetchone()[0] == "244.1 MiB"  # 256MB
        con.execute("create table t as select range as i, repeat('x', 200) as s from range(200000)")
        for page in range(4):  # four commits of ~10 MB each, as a sync's pages
            con.execute("update t set s = repeat('y', 200) where i // 50000 = ?", [page])
        assert (tmp_path / "w.duckdb.wal").stat().st_size > 16 << 20  # past DuckDB's default, not checkpointed
    assert not (tmp_path / "w.duckdb.wal").exists()
