"""One Customer.io sync run: diff -> outbox -> batches -> Track API (or the local outbox file).

Order of durability, which is what makes a killed run safe to resume:
1. plan: the diff's operations are written to ops.outbox (pending) before any request;
2. deliver: each v2 batch that Customer.io accepted is marked sent, its people written to
   ops.sync_snapshot and its operations to ops.sync_changelog, in one short transaction,
   before the next batch goes out. A batch that succeeded is never sent again;
3. a batch that failed after its in-run retries counts one attempt on each of its rows, which
   stay pending for the next run, until `max_item_attempts`, when they are parked (alert).
A run killed between 1 and 2 resends at most the one batch in flight; every event in it carries
its deterministic id, so Customer.io drops the repeat, and an identify is idempotent.

The send gate (ops.send_gate) holds back everything of a blocked account, new or pending,
logged as `skipped_gate` with the failing check, until the check passes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from ulid import ULID

from dagster_project.lib import warehouse
from reverse_etl import outbox, runs
from reverse_etl.customerio import payloads
from reverse_etl.customerio.batching import pack
from reverse_etl.customerio.diff import CHANNEL, Gate, changed_people, new_triggers
from reverse_etl.customerio.settings import CustomerIOSettings
from reverse_etl.customerio.transport import Outcome, Transport, scrub
from reverse_etl.synclog import (
    ChangeRow,
    log_changes,
    upsert_snapshot,
)

IDENTIFY_PRIORITY = 0
EVENT_PRIORITY = 1
# Rows shaped, and outbox items read, per chunk: memory stays flat however many people changed.
PLAN_CHUNK = 10_000
PAGE_SIZE = 10_000


class CustomerIOAuthError(RuntimeError):
    """Customer.io refused the credentials (401/403): nothing more can be sent this run."""


@dataclass
class SyncResult:
    run_id: str
    mode: str  # 'api' | 'outbox'
    status: str = "success"  # 'success' | 'partial' | 'failed'
    planned_identifies: int = 0
    planned_events: int = 0
    sent: int = 0
    failed: int = 0
    parked: int = 0
    invalid: int = 0
    skipped_gate: int = 0
    not_primary_contact: int = 0
    pending_left: int = 0
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
        return self.planned_identifies + self.planned_events

    def counters(self) -> dict[str, int]:
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
        return {
            "mode": self.mode,
            "status": self.status,
            "planned_identifies": self.planned_identifies,
            "planned_events": self.planned_events,
            "not_primary_contact": self.not_primary_contact,
            "pending_left": self.pending_left,
            "gate_reasons": self.gate_reasons,
            "parked_ids": self.parked_ids[:50],
            "outbox_file": self.outbox_file,
        }


def _item_meta(item: outbox.OutboxItem) -> dict[str, Any]:
    op = item.payload.get("op") or {}
    return {
        "entity_key": (op.get("identifiers") or {}).get("id") or item.payload.get("person_id"),
        "event_name": op.get("name"),
        "event_id": op.get("id"),
    }


def _change(
    item: outbox.OutboxItem, result: str, error: str | None = None, attempt: int | None = None
) -> ChangeRow:
    meta = _item_meta(item)
    return ChangeRow(
        item_id=item.item_id,
        operation=item.kind,
        result=result,
        account_id=item.account_id,
        entity_key=meta["entity_key"],
        event_name=meta["event_name"],
        event_id=meta["event_id"],
        error=error,
        attempt=attempt,
    )


def _plan(
    con: Any, *, as_of: datetime | None, run_id: str, now: datetime, gate: Gate, result: SyncResult
) -> None:
    """Diff the marts, queue what changed (gated accounts excepted), park what can never be sent."""
    started = time.perf_counter()
    people = changed_people(con)
    triggers, result.not_primary_contact = new_triggers(con, as_of)
    result.diff_seconds = time.perf_counter() - started
    for table, shape in ((people, _shape_people), (triggers, _shape_triggers)):
        if table is None:
            continue
        for chunk in table.to_batches(max_chunksize=PLAN_CHUNK):
            queued, invalid, held = shape(chunk.to_pylist(), gate, result)
            _queue(con, queued, invalid, held, run_id=run_id, now=now, result=result)


Shaped = tuple[list[outbox.NewItem], list[tuple[outbox.NewItem, str]], list[ChangeRow]]


def _shape_people(people: list[dict[str, Any]], gate: Gate, result: SyncResult) -> Shaped:
    queued: list[outbox.NewItem] = []
    invalid: list[tuple[outbox.NewItem, str]] = []
    held: list[ChangeRow] = []
    for row in people:
        person_id = str(row["person_id"])
        account_id = row.get("account_id")
        item_id = f"identify:{person_id}"
        reason = gate.reason(account_id)
        if reason:
            held.append(ChangeRow(item_id, "identify", "skipped_gate", account_id, person_id, error=reason))
            continue
        try:
            shaped = payloads.identify_op(row)
        except payloads.InvalidOperation as exc:
            bad = outbox.NewItem(
                item_id,
                "identify",
                {"invalid": str(exc), "person_id": person_id, "row_hash": row["_row_hash"]},
                account_id,
                IDENTIFY_PRIORITY,
            )
            invalid.append((bad, str(exc)))
            continue
        payload = {"op": shaped.op, "row_hash": row["_row_hash"], "notes": shaped.notes}
        queued.append(outbox.NewItem(item_id, "identify", payload, account_id, IDENTIFY_PRIORITY))
        result.planned_identifies += 1
    return queued, invalid, held


def _shape_triggers(triggers: list[dict[str, Any]], gate: Gate, result: SyncResult) -> Shaped:
    queued: list[outbox.NewItem] = []
    invalid: list[tuple[outbox.NewItem, str]] = []
    held: list[ChangeRow] = []
    for row in triggers:
        account_id = row.get("account_id")
        item_id = f"event:{row['trigger_id']}"
        reason = gate.reason(account_id)
        if reason:
            held.append(
                ChangeRow(
                    item_id,
                    "event",
                    "skipped_gate",
                    account_id,
                    row.get("person_id"),
                    event_name=row.get("event_name"),
                    error=reason,
                )
            )
            continue
        try:
            shaped = payloads.event_op(row, csm_owner=row.get("_csm_owner"))
        except payloads.InvalidOperation as exc:
            bad = outbox.NewItem(
                item_id,
                "event",
                {"invalid": str(exc), "person_id": row.get("person_id")},
                account_id,
                EVENT_PRIORITY,
            )
            invalid.append((bad, str(exc)))
            continue
        queued.append(
            outbox.NewItem(
                item_id, "event", {"op": shaped.op, "notes": shaped.notes}, account_id, EVENT_PRIORITY
            )
        )
        result.planned_events += 1
    return queued, invalid, held


def _queue(
    con: Any,
    queued: list[outbox.NewItem],
    invalid: list[tuple[outbox.NewItem, str]],
    held: list[ChangeRow],
    *,
    run_id: str,
    now: datetime,
    result: SyncResult,
) -> None:
    """Write one chunk of the plan: queue the good, park the invalid, log the gated."""
    outbox.enqueue(con, CHANNEL, queued + [bad for bad, _ in invalid], now=now, run_id=run_id)
    for bad, error in invalid:
        newly = outbox.mark_failed(
            con, CHANNEL, [bad.item_id], f"invalid: {error}", now=now, run_id=run_id, park=True
        )
        if newly:
            result.invalid += 1
            result.parked_ids.extend(newly)
            log_changes(
                con,
                run_id,
                CHANNEL,
                [
                    ChangeRow(
                        bad.item_id,
                        bad.kind,
                        "invalid",
                        bad.account_id,
                        bad.payload.get("person_id"),
                        error=error,
                    )
                ],
                now=now,
            )
    result.skipped_gate += len(held)
    for change in held:
        result.gate_reasons[change.error or "?"] = result.gate_reasons.get(change.error or "?", 0) + 1
    log_changes(con, run_id, CHANNEL, held, now=now)


class _Deliverer:
    """Sends pending items batch by batch and records each result as it happens."""

    def __init__(
        self,
        settings: CustomerIOSettings,
        transport: Transport | None,
        *,
        run_id: str,
        con: Any,
        clock: Callable[[], datetime],
        result: SyncResult,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.run_id = run_id
        self.con = con
        self.clock = clock
        self.result = result
        self.consecutive_failures = 0

    def record(
        self,
        sent: Sequence[outbox.OutboxItem],
        failed: Sequence[tuple[outbox.OutboxItem, str]],
        invalid: Sequence[tuple[outbox.OutboxItem, str]] = (),
        result_label: str = "sent",
    ) -> None:
        now = self.clock()
        con = self.con
        # One short transaction per batch: what Customer.io accepted is on record before the next request.
        con.begin()
        try:
            changes: list[ChangeRow] = []
            if sent:
                outbox.mark_sent(con, CHANNEL, [i.item_id for i in sent], now=now, run_id=self.run_id)
                upsert_snapshot(
                    con,
                    self.run_id,
                    CHANNEL,
                    [
                        (
                            str(_item_meta(i)["entity_key"]),
                            i.account_id,
                            i.payload["row_hash"],
                            i.payload["op"]["attributes"],
                        )
                        for i in sent
                        if i.kind == "identify"
                    ],
                    now=now,
                )
                changes += [_change(i, result_label, attempt=i.attempts + 1) for i in sent]
            counted = runs.record_failures(
                con, CHANNEL, failed, now=now, run_id=self.run_id,
                max_attempts=self.settings.max_item_attempts, result=self.result,
            )
            changes += [
                _change(i, "parked" if parked else "failed", error, i.attempts + 1) for i, error, parked in counted
            ]
            for item, error in invalid:
                parked = outbox.mark_failed(
                    con, CHANNEL, [item.item_id], f"invalid: {error}", now=now, run_id=self.run_id, park=True
                )
                self.result.parked_ids.extend(parked)
                self.result.invalid += 1
                changes.append(_change(item, "invalid", error, item.attempts + 1))
            log_changes(con, self.run_id, CHANNEL, changes, now=now)
            con.commit()
        except BaseException:
            con.rollback()  # leave the rows pending, as if this batch had never been answered
            raise
        self.result.sent += len(sent)

    def deliver(self, items: Iterable[outbox.OutboxItem]) -> None:
        """Pack a (lazy) stream of items into requests and send them, until done or the breaker trips."""
        sized = ((item, payloads.op_size(item.payload["op"])) for item in items)
        # pack() groups (item, size) pairs; keep the pairs so sizes are computed once
        for batch in pack(((pair, pair[1]) for pair in sized), max_bytes=self.settings.max_request_bytes):
            if self.consecutive_failures >= self.settings.circuit_breaker_batches:
                self.result.error = (
                    f"stopped after {self.consecutive_failures} batches failed in a row; "
                    "the rest stays pending for the next run"
                )
                return
            self.send([item for item, _ in batch], [size for _, size in batch])

    def send(self, batch: list[outbox.OutboxItem], sizes: list[int]) -> None:
        if not self.transport.v2_available:
            for item, size in zip(batch, sizes, strict=True):
                self._send_v1(item, size)
            return
        size = sum(sizes) + len('{"batch": []}') + 2 * max(0, len(batch) - 1)
        outcome, _tries = self.transport.send_batch([i.payload["op"] for i in batch], size)
        self._settle(batch, sizes, outcome)

    def _send_v1(self, item: outbox.OutboxItem, size: int) -> None:
        outcome, _tries = self.transport.send_v1(item.payload["op"], size)
        if outcome.ok:
            self.consecutive_failures = 0
            self.record([item], [])
        elif outcome.status in (401, 403):
            raise CustomerIOAuthError(f"Customer.io refused the credentials (HTTP {outcome.status})")
        elif outcome.status is not None and 400 <= outcome.status < 500 and outcome.status != 429:
            self.record([], [], [(item, outcome.detail)])
        else:
            self.consecutive_failures += 1
            self.record([], [(item, outcome.detail or "no response")])

    def _settle(self, batch: list[outbox.OutboxItem], sizes: list[int], outcome: Outcome) -> None:
        status = outcome.status
        if outcome.ok:
            self.consecutive_failures = 0
            self.record(batch, [])
            return
        if status in (401, 403):
            raise CustomerIOAuthError(f"Customer.io refused the credentials (HTTP {status})")
        if status in (404, 405):
            # No v2 at this host: fall back to v1, one operation per request, for the rest of the run.
            self.transport.v2_available = False
            self.send(batch, sizes)
            return
        if status is not None and 200 <= status < 300 and outcome.errors:
            # 207 multi-status: the operations named in `errors` were rejected, the rest accepted.
            bad = self._indexed_errors(batch, outcome)
            self.consecutive_failures = 0
            self.record(
                [i for i in batch if i.item_id not in bad],
                [],
                [(i, bad[i.item_id]) for i in batch if i.item_id in bad],
            )
            return
        if status in (400, 413):
            bad = self._indexed_errors(batch, outcome) if outcome.errors else {}
            if bad:
                # Nothing was accepted: park the rejected operations, resend the others.
                self.record([], [], [(i, bad[i.item_id]) for i in batch if i.item_id in bad])
                rest = [(i, s) for i, s in zip(batch, sizes, strict=True) if i.item_id not in bad]
                if rest:
                    self.send([i for i, _ in rest], [s for _, s in rest])
                return
            if len(batch) > 1:
                middle = len(batch) // 2  # find the offender by halving; the rest goes through
                self.send(batch[:middle], sizes[:middle])
                self.send(batch[middle:], sizes[middle:])
                return
            self.record([], [], [(batch[0], outcome.detail)])
            return
        # 429/5xx/transport errors that outlived the in-run retries, or another 4xx.
        self.consecutive_failures += 1
        self.record([], [(i, outcome.detail or "no response") for i in batch])

    @staticmethod
    def _indexed_errors(batch: list[outbox.OutboxItem], outcome: Outcome) -> dict[str, str]:
        bad: dict[str, str] = {}
        for error in outcome.errors or []:
            index = error.get("batch_index")
            if isinstance(index, int) and 0 <= index < len(batch):
                text = scrub(
                    f"{error.get('reason', 'rejected')}: {error.get('field', '')} {error.get('message', '')}"
                )
                bad[batch[index].item_id] = text.strip()
        return bad


def _write_local(
    items: Sequence[outbox.OutboxItem], *, run_id: str, as_of: datetime | None, directory: Path | None
) -> str:
    """No credentials: the operations that would have gone out, one JSON line each."""
    stamp = as_of.astimezone(UTC).isoformat() if as_of else None
    path, _ = outbox.write_local(
        CHANNEL,
        (
            {
                "run_id": run_id,
                "as_of": stamp,
                "item_id": i.item_id,
                "endpoint": "/api/v2/batch",
                "operation": i.payload["op"],
            }
            for i in items
        ),
        directory,
    )
    return str(path)


def sync_customerio(
    settings: CustomerIOSettings | None = None,
    *,
    as_of: datetime | None = None,
    run_id: str | None = None,
    warehouse_path: Path | None = None,
    outbox_directory: Path | None = None,
    transport: Transport | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncResult:
    """Run one sync: everything changed since the last delivery, nothing else, nothing twice."""
    settings = settings or CustomerIOSettings.from_env()
    run_id = run_id or str(ULID())
    mode = "api" if settings.has_credentials else "outbox"
    result = SyncResult(run_id=run_id, mode=mode)
    started_wall = clock()
    started = time.perf_counter()

    # One connection for the whole sync (one Dagster step): opening a DuckDB file costs tens of
    # milliseconds, per batch that would dominate a large sync. Each batch still commits on its own.
    with warehouse.connect(warehouse_path) as con:
        _run(
            con,
            settings,
            result,
            as_of=as_of,
            run_id=run_id,
            mode=mode,
            started_wall=started_wall,
            started=started,
            outbox_directory=outbox_directory,
            transport=transport,
            clock=clock,
        )
    return result


def _run(
    con: Any,
    settings: CustomerIOSettings,
    result: SyncResult,
    *,
    as_of: datetime | None,
    run_id: str,
    mode: str,
    started_wall: datetime,
    started: float,
    outbox_directory: Path | None,
    transport: Transport | None,
    clock: Callable[[], datetime],
) -> None:
    gate = runs.open_run(
        con, CHANNEL, run_id, as_of=as_of, mode=mode, started_at=started_wall,
        plan=lambda gate: _plan(con, as_of=as_of, run_id=run_id, now=started_wall, gate=gate, result=result),
    )
    own_transport = transport is None and mode == "api"
    deliverable = runs.deliverable(
        con, CHANNEL, gate, run_id=run_id, clock=clock, result=result,
        hold=lambda item, reason: _change(item, "skipped_gate", reason),
    )
    try:
        if mode == "outbox":
            deliverer = _Deliverer(settings, None, run_id=run_id, con=con, clock=clock, result=result)
            while page := list(islice(deliverable, PAGE_SIZE)):
                result.outbox_file = _write_local(
                    page, run_id=run_id, as_of=as_of, directory=outbox_directory
                )
                deliverer.record(page, [], result_label="outbox")
        else:
            transport = transport or Transport(settings)
            deliverer = _Deliverer(settings, transport, run_id=run_id, con=con, clock=clock, result=result)
            deliverer.deliver(deliverable)
    except CustomerIOAuthError as exc:
        result.error = str(exc)
        result.status = "failed"
        raise
    finally:
        if own_transport and transport is not None:
            transport.close()
        runs.close_run(
            con, CHANNEL, run_id, result, stats=transport.stats if transport is not None else None,
            started=started, clock=clock,
        )
