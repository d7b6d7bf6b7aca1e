"""Planning: the diff of the marts becomes pending operations in ops.outbox, before any request.

Changed people become identify operations, new triggers event operations (payloads.py shapes them); an
account behind the send gate is logged `skipped_gate` and not queued; an operation that can never be
sent (invalid) is parked at once. Rows are shaped and queued per chunk: memory stays flat however many
people changed. Written in the run's planning transaction, committed in parts (runs.open_run, runs.plan_part).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from reverse_etl import connection, outbox, runs
from reverse_etl.customerio import payloads
from reverse_etl.customerio.diff import CHANNEL, Gate, changed_people, new_triggers
from reverse_etl.customerio.result import SyncResult
from reverse_etl.synclog import ChangeRow, log_changes

IDENTIFY_PRIORITY = 0
EVENT_PRIORITY = 1
# Rows shaped per chunk: memory stays flat however many people changed.
PLAN_CHUNK = 10_000


def plan(
    con: Any, *, as_of: datetime | None, run_id: str, now: datetime, gate: Gate, result: SyncResult
) -> None:
    """Diff the marts, queue what changed (gated accounts excepted), park what can never be sent."""
    started = time.perf_counter()
    # Side by side (the people's hash of every row takes a core); they read only what is committed, and the
    # plan's transaction has written nothing yet.
    diffs = connection.concurrently(con, {"people": changed_people,
                                          "triggers": lambda cursor: new_triggers(cursor, as_of)})
    people = diffs["people"]
    triggers, result.not_primary_contact = diffs["triggers"]
    result.diff_seconds = time.perf_counter() - started
    uncommitted = 0
    # A person's `as_of` (it moves every cycle) is never an attribute: it is not even read.
    for table, shape, unread in ((people, shape_people, ("as_of",)), (triggers, shape_triggers, ())):
        if table is None:
            continue
        for chunk in table.to_batches(max_chunksize=PLAN_CHUNK):
            queued, invalid, held = shape(runs.python_rows(chunk, drop=unread), gate, result)
            queue(con, queued, invalid, held, run_id=run_id, now=now, result=result)
            uncommitted = runs.plan_part(con, uncommitted + len(queued) + len(invalid))


Shaped = tuple[list[outbox.NewItem], list[tuple[outbox.NewItem, str]], list[ChangeRow]]


def shape_people(people: list[dict[str, Any]], gate: Gate, result: SyncResult) -> Shaped:
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


def shape_triggers(triggers: list[dict[str, Any]], gate: Gate, result: SyncResult) -> Shaped:
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


def queue(
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
