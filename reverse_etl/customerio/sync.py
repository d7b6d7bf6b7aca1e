"""One Customer.io sync run: diff -> outbox -> batches -> Track API (or the local outbox file).

Order of durability, which is what makes a killed run safe to resume:
1. plan: the diff's operations are written to ops.outbox (pending) before any request;
2. deliver: each v2 batch that Customer.io accepted is journaled (ops.sync_journal: its operations
   and the people it leaves in the snapshot) in one short transaction before the next batch goes
   out, and folded into ops.outbox (sent), ops.sync_snapshot and ops.sync_changelog every 10,000
   operations, at the end of the run, or first thing in the next run if this one was killed.
   A batch that succeeded is never sent again;
3. a batch that failed after its in-run retries counts one attempt on each of its rows, which
   stay pending for the next run, until `max_item_attempts`, when they are parked (alert).
A run killed between 1 and 2 resends at most the one batch in flight; every event in it carries
its deterministic id, so Customer.io drops the repeat, and an identify is idempotent.

The send gate (ops.send_gate) holds back everything of a blocked account, new or pending,
logged as `skipped_gate` with the failing check, until the check passes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from ulid import ULID

from reverse_etl import connection, runs
from reverse_etl.customerio.delivery import Deliverer, write_local
from reverse_etl.customerio.diff import CHANNEL
from reverse_etl.customerio.plan import plan
from reverse_etl.customerio.result import CustomerIOAuthError, SyncResult, change
from reverse_etl.customerio.settings import CustomerIOSettings
from reverse_etl.customerio.transport import Transport

__all__ = ["CustomerIOAuthError", "SyncResult", "sync_customerio"]


def sync_customerio(
    settings: CustomerIOSettings,
    *,
    as_of: datetime | None = None,
    run_id: str | None = None,
    warehouse_path: Path,
    memory_limit: str | None = None,
    outbox_directory: Path | None = None,
    transport: Transport | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncResult:
    """Run one sync: everything changed since the last delivery, nothing else, nothing twice."""
    run_id = run_id or str(ULID())
    mode = "api" if settings.has_credentials else "outbox"
    result = SyncResult(run_id=run_id, mode=mode)
    started_wall = clock()
    started = time.perf_counter()

    # One connection for the whole sync (one Dagster step): opening a DuckDB file costs tens of
    # milliseconds, per batch that would dominate a large sync. Each batch still commits on its own.
    with connection.connect(warehouse_path, memory_limit=memory_limit) as con:
        _run(
            con,
            settings,
            result,
            as_of=as_of,
            run_id=run_id,
            mode=mode,
            started_wall=started_wall,
            started=started,
            outbox_directory=outbox_directory or settings.outbox_dir,
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
        plan=lambda gate: plan(con, as_of=as_of, run_id=run_id, now=started_wall, gate=gate, result=result),
    )
    own_transport = transport is None and mode == "api"
    page_size = runs.page_size(mode)
    deliverable = runs.deliverable(
        con, CHANNEL, gate, run_id=run_id, clock=clock, result=result,
        hold=lambda item, reason: change(item, "skipped_gate", reason), page_size=page_size,
    )
    try:
        if mode == "outbox":
            deliverer = Deliverer(settings, None, run_id=run_id, con=con, clock=clock, result=result)
            while page := list(islice(deliverable, page_size)):
                result.outbox_file = write_local(
                    page, run_id=run_id, as_of=as_of, directory=outbox_directory
                )
                deliverer.record(deliverer.accepted(page, "outbox"), fold=True)
        else:
            transport = transport or Transport(settings)
            deliverer = Deliverer(settings, transport, run_id=run_id, con=con, clock=clock, result=result)
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
