"""The frame every reverse-ETL sync run shares: open the run, plan in transactions, walk the
pending outbox past the send gate, record each answer, count failures, close the run with its figures.

Customer.io and HubSpot differ in what they send and how; the order of durability around it is
the same (see outbox.py, journal.py and synclog.py), so it is written once, here: the figures every
run keeps (`SyncResult`, which each channel extends with what it plans and a `summary()`) and what
a channel's sender holds and how it records an answer (`Deliverer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa

from reverse_etl import journal, outbox
from reverse_etl.gate import Gate, read_gate
from reverse_etl.synclog import ChangeRow, ensure_sync_tables, finish_run, log_changes, start_run

PAGE_SIZE = 10_000
# Pages written to the local outbox file (no credentials): each page is one transaction (its file lines, then
# its journal appended and folded) and one page query (a sort of every pending key). At 100k accounts a
# first sync's 39 HubSpot pages of 10,000 spent ~5 s of CPU in their commits and ~2.5 s in their queries;
# pages of 25,000 cut ~3.5 s of that (Customer.io ~0.7 s) for ~135 MB more memory at most (50,000: ~0.5 s
# less again, ~340 MB more).
LOCAL_PAGE_SIZE = 25_000


def page_size(mode: str) -> int:
    """Items per page: LOCAL_PAGE_SIZE for the local outbox file (mode `outbox`), PAGE_SIZE for an API."""
    return LOCAL_PAGE_SIZE if mode == "outbox" else PAGE_SIZE


@dataclass
class SyncResult:
    """What one sync run did, the figures every channel keeps; a channel adds what it plans."""

    run_id: str
    mode: str  # 'api' | 'outbox'
    status: str = "success"  # 'success' | 'partial' | 'failed'
    sent: int = 0
    failed: int = 0
    parked: int = 0
    invalid: int = 0
    skipped_gate: int = 0
    pending_left: int = 0
    parked_left: int = 0  # the channel's operations parked in ops.outbox when the run closed (any run's)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    bytes_sent: int = 0
    diff_seconds: float = 0.0
    duration_seconds: float = 0.0
    gate_reasons: dict[str, int] = field(default_factory=dict)
    parked_ids: list[str] = field(default_factory=list)
    outbox_file: str | None = None
    error: str | None = None

    @property
    def planned_changes(self) -> int:
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        """The counters of ops.sync_runs (synclog.RUN_COUNTERS)."""
        return {
            "planned_changes": self.planned_changes,
            "sent": self.sent,
            "failed": self.failed,
            "parked": self.parked,
            "invalid": self.invalid,
            "skipped_gate": self.skipped_gate,
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "bytes_sent": self.bytes_sent,
        }

    def summary(self) -> dict[str, Any]:
        raise NotImplementedError


# A plan is committed every PLAN_PART_ROWS queued operations. Held in one transaction, DuckDB keeps every
# queued row in memory until the commit: a 1M-account go-live's 3.8M HubSpot operations took the step to
# 5.8 GB with DuckDB capped at 3 GB; committed in parts, 2.4 GB. Safe: a plan holds what changed since the
# last delivery (ops.sync_snapshot) or was never queued (Customer.io's triggers), so the parts a run killed
# mid-plan committed are right and stay pending, and the next run's plan adds the rest (queueing an
# unchanged payload again changes nothing).
PLAN_PART_ROWS = 100_000


def plan_part(con: Any, queued: int) -> int:
    """After queueing: commit the plan's part once it holds PLAN_PART_ROWS operations (`queued` since the
    last commit) and go on in a new transaction; returns the operations now uncommitted."""
    if queued < PLAN_PART_ROWS:
        return queued
    con.commit()
    con.begin()
    return 0


def open_run(con: Any, channel: str, run_id: str, *, as_of: datetime | None, mode: str, started_at: datetime,
             plan: Callable[[Gate], None], fold_also: Sequence[str] = ()) -> Gate:
    """Create the ops tables, fold what a killed run journaled, record the run as running, and write its
    plan in a transaction (parts of PLAN_PART_ROWS operations, `plan_part`)."""
    outbox.ensure_outbox(con)
    ensure_sync_tables(con)
    journal.fold(con, channel, also=fold_also)
    start_run(con, run_id, channel, as_of=as_of, mode=mode, started_at=started_at)
    gate = read_gate(con)
    con.begin()
    try:
        plan(gate)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return gate


def python_rows(batch: pa.RecordBatch, *, drop: Collection[str] = ()) -> list[dict[str, Any]]:
    """A diff's rows as dicts for the shapers, leaving out the columns in `drop`, each timestamp with a time zone
    as its naive UTC datetime: every shaper reads a naive timestamp as UTC (the same instant, the same text),
    and Arrow builds a zone-aware datetime at twice the cost (~0.5 s per 100k rows of two timestamps)."""
    names = [name for name in batch.schema.names if name not in drop]
    columns = []
    for name in names:
        column = batch.column(name)
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))  # Arrow keeps the UTC instant: a cast drops the zone
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=names).to_pylist()


def count_held(result: Any, held: Sequence[ChangeRow]) -> None:
    result.skipped_gate += len(held)
    for change in held:
        result.gate_reasons[change.error or "?"] = result.gate_reasons.get(change.error or "?", 0) + 1


def deliverable(con: Any, channel: str, gate: Gate, *, run_id: str, clock: Callable[[], datetime], result: Any,
                hold: Callable[[outbox.OutboxItem, str], ChangeRow], page_size: int | None = None,
                ) -> Iterator[outbox.OutboxItem]:
    """Pending items in outbox order, page by page (`PAGE_SIZE` unless given); a gated account's items stay
    pending, logged by `hold`."""
    for page in outbox.pending_pages(con, channel, page_size or PAGE_SIZE):
        held: list[ChangeRow] = []
        for item in page:
            reason = gate.reason(item.account_id)
            if reason:
                held.append(hold(item, reason))
            else:
                yield item
        count_held(result, held)
        log_changes(con, run_id, channel, held, now=clock())


def record_failures(con: Any, channel: str, failed: Sequence[tuple[outbox.OutboxItem, str]], *, now: datetime,
                    run_id: str, max_attempts: int, result: Any) -> list[tuple[outbox.OutboxItem, str, bool]]:
    """Count one attempt on each failed item (parking those at the limit): [(item, error, parked)]."""
    by_error: dict[str, list[outbox.OutboxItem]] = {}
    for item, error in failed:
        by_error.setdefault(error, []).append(item)
    out: list[tuple[outbox.OutboxItem, str, bool]] = []
    for error, items in by_error.items():
        parked = set(outbox.mark_failed(con, channel, [i.item_id for i in items], error, now=now, run_id=run_id,
                                        max_attempts=max_attempts))
        result.parked_ids.extend(sorted(parked))
        result.parked += len(parked)
        result.failed += len(items) - len(parked)
        out += [(i, error, i.item_id in parked) for i in items]
    return out


def close_run(con: Any, channel: str, run_id: str, result: Any, *, stats: Any | None, started: float,
              clock: Callable[[], datetime], fold_also: Sequence[str] = ()) -> None:
    """Fold the journal; the run's figures into ops.sync_runs; `partial` when anything failed, parked or stopped it."""
    journal.fold(con, channel, also=fold_also)
    if stats is not None:
        result.requests, result.retries = stats.requests, stats.retries
        result.rate_limited, result.bytes_sent = stats.rate_limited, stats.bytes_sent
    result.duration_seconds = time.perf_counter() - started
    counts = outbox.status_counts(con, channel)
    result.pending_left, result.parked_left = counts[outbox.PENDING], counts[outbox.PARKED]
    if result.status != "failed" and (result.failed or result.parked or result.error or result.invalid):
        result.status = "partial"
    finish_run(con, run_id, channel, status=result.status, counters=result.counters(),
               diff_seconds=result.diff_seconds, duration_seconds=result.duration_seconds,
               error=result.error, summary=result.summary(), finished_at=clock())


class Deliverer:
    """What a channel's sender holds, and how it records an answer before the next request goes out.

    `record` writes one batch's outcome in one short transaction: the delivered operations as one
    append to the journal (folded into the ops tables every `journal.FOLD_EVERY` operations and at
    the end of the run), each failure as one attempt in ops.outbox (parked at the limit), each
    invalid operation parked. A channel says how an item becomes a changelog row (`change`) and what
    its own fold adds (`fold_also`).
    """

    channel: ClassVar[str]
    fold_also: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Any, transport: Any, *, con: Any, run_id: str, clock: Callable[[], datetime],
                 result: SyncResult) -> None:
        self.settings = settings
        self.transport = transport
        self.con = con
        self.run_id = run_id
        self.clock = clock
        self.result = result
        self.consecutive_failures = 0
        self._unfolded = 0

    def change(self, item: outbox.OutboxItem, result: str, error: str | None) -> ChangeRow:
        """The changelog row of an item that failed, was parked or was refused."""
        raise NotImplementedError

    def record(self, delivered: Sequence[journal.Delivered], failed: Sequence[tuple[outbox.OutboxItem, str]] = (),
               invalid: Sequence[tuple[outbox.OutboxItem, str]] = (), *, fold: bool = False) -> None:
        """`fold=True` (a page written to the local outbox file, thousands of operations at once): the journal is
        folded in the same transaction, one commit per page instead of an append and a fold committed apart; the
        journal rows then live and die in the transaction, and nothing else changes."""
        now, con = self.clock(), self.con
        con.begin()  # what the receiver accepted is on record before the next request
        try:
            journal.append(con, self.run_id, self.channel, delivered, now=now)
            if fold:
                journal.fold(con, self.channel, also=self.fold_also)
            counted = record_failures(con, self.channel, failed, now=now, run_id=self.run_id,
                                      max_attempts=self.settings.max_item_attempts, result=self.result)
            changes = [self.change(item, "parked" if parked else "failed", error) for item, error, parked in counted]
            for item, error in invalid:
                self.result.parked_ids.extend(outbox.mark_failed(con, self.channel, [item.item_id], f"invalid: {error}",
                                                                 now=now, run_id=self.run_id, park=True))
                self.result.invalid += 1
                changes.append(self.change(item, "invalid", error))
            log_changes(con, self.run_id, self.channel, changes, now=now)
            con.commit()
        except BaseException:
            con.rollback()  # leave the rows pending, as if this batch had never been answered
            raise
        self.result.sent += len(delivered)
        if fold:
            self._unfolded = 0
            return
        self._unfolded += len(delivered)
        if self._unfolded >= journal.FOLD_EVERY:
            self.fold()

    def fold(self) -> None:
        journal.fold(self.con, self.channel, also=self.fold_also)
        self._unfolded = 0
