"""What one Customer.io sync run did: its result, and the changelog row of one operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reverse_etl import outbox, runs
from reverse_etl.synclog import ChangeRow


class CustomerIOAuthError(RuntimeError):
    """Customer.io refused the credentials (401/403): nothing more can be sent this run."""


@dataclass
class SyncResult(runs.SyncResult):
    planned_identifies: int = 0
    planned_events: int = 0
    not_primary_contact: int = 0

    @property
    def planned_changes(self) -> int:
        return self.planned_identifies + self.planned_events

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


def item_meta(item: outbox.OutboxItem) -> dict[str, Any]:
    op = item.payload.get("op") or {}
    return {
        "entity_key": (op.get("identifiers") or {}).get("id") or item.payload.get("person_id"),
        "event_name": op.get("name"),
        "event_id": op.get("id"),
    }


def change(
    item: outbox.OutboxItem, result: str, error: str | None = None, attempt: int | None = None
) -> ChangeRow:
    meta = item_meta(item)
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
