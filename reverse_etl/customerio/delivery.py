"""Delivery: pending operations packed into Track API requests, and what each HTTP answer means.

transport.py makes the exchange (pacing, in-request retries honouring Retry-After, v2 batch or v1);
this module holds the status policy beside it, per answer: 2xx sent (207: the named operations parked,
the rest sent), 401/403 stop the run, 404/405 fall back to v1, 400/413 park the offender (found by
halving when Customer.io does not name it), anything else after the retries counts one failed attempt
per row (parked at `max_item_attempts`); three such batches in a row trip the breaker. Each batch's
result is recorded in one short transaction before the next request (runs.Deliverer: the delivered
operations are one append to ops.sync_journal, see journal.py). Without credentials, the same
operations go to the local outbox file instead (`write_local`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from reverse_etl import journal, outbox, runs
from reverse_etl.customerio import payloads
from reverse_etl.customerio.batching import pack
from reverse_etl.customerio.diff import CHANNEL
from reverse_etl.customerio.result import CustomerIOAuthError, change, item_meta
from reverse_etl.customerio.transport import Outcome, Transport, scrub
from reverse_etl.synclog import ChangeRow


class Deliverer(runs.Deliverer):
    """Sends pending items batch by batch and records each result as it happens."""

    channel = CHANNEL
    transport: Transport

    def change(self, item: outbox.OutboxItem, result: str, error: str | None) -> ChangeRow:
        return change(item, result, error, item.attempts + 1)

    @staticmethod
    def accepted(items: Sequence[outbox.OutboxItem], label: str = "sent") -> list[journal.Delivered]:
        """Delivered operations; an identify leaves the person's attributes as the snapshot the next diff reads."""
        return [
            journal.Delivered(
                change(i, label, attempt=i.attempts + 1),
                *((str(item_meta(i)["entity_key"]), i.payload["row_hash"], i.payload["op"]["attributes"])
                  if i.kind == "identify" else ()),
            )
            for i in items
        ]

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
            self.record(self.accepted([item]))
        elif outcome.status in (401, 403):
            raise CustomerIOAuthError(f"Customer.io refused the credentials (HTTP {outcome.status})")
        elif outcome.status is not None and 400 <= outcome.status < 500 and outcome.status != 429:
            self.record([], invalid=[(item, outcome.detail)])
        else:
            self.consecutive_failures += 1
            self.record([], [(item, outcome.detail or "no response")])

    def _settle(self, batch: list[outbox.OutboxItem], sizes: list[int], outcome: Outcome) -> None:
        status = outcome.status
        if outcome.ok:
            self.consecutive_failures = 0
            self.record(self.accepted(batch))
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
                self.accepted([i for i in batch if i.item_id not in bad]),
                invalid=[(i, bad[i.item_id]) for i in batch if i.item_id in bad],
            )
            return
        if status in (400, 413):
            bad = self._indexed_errors(batch, outcome) if outcome.errors else {}
            if bad:
                # Nothing was accepted: park the rejected operations, resend the others.
                self.record([], invalid=[(i, bad[i.item_id]) for i in batch if i.item_id in bad])
                rest = [(i, s) for i, s in zip(batch, sizes, strict=True) if i.item_id not in bad]
                if rest:
                    self.send([i for i, _ in rest], [s for _, s in rest])
                return
            if len(batch) > 1:
                middle = len(batch) // 2  # find the offender by halving; the rest goes through
                self.send(batch[:middle], sizes[:middle])
                self.send(batch[middle:], sizes[middle:])
                return
            self.record([], invalid=[(batch[0], outcome.detail)])
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


def write_local(
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
