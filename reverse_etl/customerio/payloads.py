"""Pure builders for Track API v2 operations, kept inside the documented limits.

Customer.io rejects (or silently truncates) what exceeds its limits, and a rejected identify
means a campaign reads stale `lifecycle_stage`/`activated_at` and mails someone who already
activated. So every operation is shaped here, before it is queued:
- identifiers: the primary contact's userId, at most 150 bytes;
- attributes: at most 300 per person, names at most 150 bytes, values at most 1000 bytes
  (strings are cut on a UTF-8 boundary), timestamps as Unix seconds;
- events: name at most 100 bytes, a deterministic ULID `id` (a resend is a no-op), `timestamp`
  in Unix seconds; one operation at most 32 KB serialised.
Event `timestamp` is the cycle clock that decided to send the trigger (`decided_as_of`, else
`emitted_as_of`), not `due_at`:
Customer.io only lets events from the last 72 hours trigger campaigns, and a trigger the engine
decided this cycle is a "now" (its `due_at`, possibly days back when events arrived late, travels
as the `due_at` attribute). The same rule is a staleness guard: an event held back by the gate or
failing for more than three days is still recorded on the person, but no longer starts a campaign.
No I/O here: rows in, dicts out, so the limits are unit-tested without a server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from reverse_etl.ids import trigger_ulid

MAX_ATTRIBUTES = 300
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_VALUE_BYTES = 1000
MAX_EVENT_NAME_BYTES = 100
MAX_IDENTIFIER_BYTES = 150
MAX_OPERATION_BYTES = 32 * 1024

# Columns of marts.customerio_people that become person attributes, contract ones first so
# they survive if the attribute budget ever runs out. `as_of` is deliberately absent: it
# changes every cycle and would make every person look changed.
CONTRACT_ATTRIBUTES: tuple[str, ...] = (
    "account_id",
    "onboarding_track",
    "lifecycle_stage",
    "activated_at",
    "current_step",
    "csm_owner",
)
EXTRA_ATTRIBUTES: tuple[str, ...] = (
    "email",
    "company_name",
    "plan_tier",
    "signup_at",
    "recovery_attempts",
    "suppression_reason",
    "unsubscribed",
    "holdout",
)
NOT_ATTRIBUTES: frozenset[str] = frozenset({"person_id", "as_of"})
TIMESTAMP_ATTRIBUTES: frozenset[str] = frozenset({"activated_at", "signup_at", "created_at", "due_at"})

# Event data a trigger kind must carry (CONTRACT, "What goes out"), filled from the trigger row
# when the mart's payload lacks it.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "onboarding_step_due": ("track", "step"),
    "onboarding_activated": (),
    "onboarding_stalled": ("step",),
    "onboarding_recovery": ("attempt",),
    "onboarding_win_back": (),
    "onboarding_handoff": ("csm_owner",),
}


class InvalidOperation(ValueError):
    """An operation Customer.io would reject whatever we retry: park it, do not send it."""


@dataclass
class Shaped:
    """An operation plus what had to be changed to fit the limits (for the changelog)."""

    op: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def unix_seconds(value: Any) -> int | None:
    """datetime/date/ISO string/number -> Unix seconds (naive = UTC); None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a timestamp")
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if math.isnan(number):
            return None
        # Milliseconds slip in from JavaScript sources; Unix seconds stay below 1e11 until year 5138.
        return int(number / 1000) if abs(number) >= 1e11 else int(number)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if not text:
            return None
        try:
            return int(float(text))
        except ValueError:
            pass
        return unix_seconds(datetime.fromisoformat(text))
    raise TypeError(f"not a timestamp: {type(value).__name__}")


def _cut_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def _scalar(value: Any) -> Any:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, datetime | date):
        return unix_seconds(value)
    return value


def fit_value(name: str, value: Any, notes: list[str]) -> Any:
    """One attribute value within 1000 bytes; timestamps as Unix seconds."""
    if name in TIMESTAMP_ATTRIBUTES:
        return unix_seconds(value)
    value = _scalar(value)
    if isinstance(value, str):
        cut = _cut_utf8(value, MAX_VALUE_BYTES)
        if cut != value:
            notes.append(f"{name}: value cut to {MAX_VALUE_BYTES} bytes")
        return cut
    if isinstance(value, dict | list):
        encoded = json.dumps(value, default=str)
        if len(encoded.encode("utf-8")) > MAX_VALUE_BYTES:
            notes.append(f"{name}: structured value over {MAX_VALUE_BYTES} bytes dropped")
            return None
    return value


def person_attributes(row: Mapping[str, Any]) -> Shaped:
    """Attributes of one marts.customerio_people row, within the identify limits."""
    notes: list[str] = []
    ordered = [c for c in CONTRACT_ATTRIBUTES if c in row] + [c for c in EXTRA_ATTRIBUTES if c in row]
    # Columns starting with '_' are the sync's own bookkeeping (e.g. `_row_hash`), never attributes.
    ordered += sorted(
        c for c in row if c not in ordered and c not in NOT_ATTRIBUTES and not c.startswith("_")
    )
    attributes: dict[str, Any] = {}
    for name in ordered:
        if len(name.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES:
            notes.append("an attribute name over 150 bytes dropped")
            continue
        if len(attributes) >= MAX_ATTRIBUTES - 1:  # one slot kept for created_at
            notes.append(f"attributes beyond {MAX_ATTRIBUTES} dropped")
            break
        attributes[name] = fit_value(name, row[name], notes)
    if "signup_at" in row and row["signup_at"] is not None:
        attributes["created_at"] = unix_seconds(row["signup_at"])
    # Opt-outs travel as the attribute Customer.io honours; suppress (which deletes) is never used.
    if "unsubscribed" in attributes:
        attributes["unsubscribed"] = bool(attributes["unsubscribed"])
    return Shaped(attributes, notes)


def _identifier(person_id: Any) -> str:
    text = "" if person_id is None else str(person_id)
    if not text.strip():
        raise InvalidOperation("blank person id")
    if len(text.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise InvalidOperation(f"person id over {MAX_IDENTIFIER_BYTES} bytes")
    return text


def identify_op(row: Mapping[str, Any]) -> Shaped:
    """v2 `person`/`identify` operation for one primary contact."""
    shaped = person_attributes(row)
    op = {
        "type": "person",
        "identifiers": {"id": _identifier(row.get("person_id"))},
        "action": "identify",
        "attributes": shaped.op,
    }
    check_size(op)
    return Shaped(op, shaped.notes)


def _as_dict(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if isinstance(payload, str | bytes):
        loaded = json.loads(payload) if payload else {}
        return dict(loaded) if isinstance(loaded, dict) else {}
    return dict(payload)


def event_op(trigger: Mapping[str, Any], csm_owner: str | None = None) -> Shaped:
    """v2 `person`/`event` operation for one row of marts.onboarding_triggers."""
    notes: list[str] = []
    name = str(trigger.get("event_name") or "")
    if not name or len(name.encode("utf-8")) > MAX_EVENT_NAME_BYTES:
        raise InvalidOperation(f"event name blank or over {MAX_EVENT_NAME_BYTES} bytes")
    due_at = trigger.get("due_at")
    if due_at is None:
        raise InvalidOperation("trigger without due_at")
    trigger_id = str(trigger.get("trigger_id") or "")
    if not trigger_id:
        raise InvalidOperation("trigger without trigger_id")
    data = _as_dict(trigger.get("payload"))
    for key in EVENT_FIELDS.get(name, ()):
        if data.get(key) is None:
            data[key] = csm_owner if key == "csm_owner" else trigger.get(key)
    data.setdefault("account_id", trigger.get("account_id"))
    data.setdefault("due_at", due_at)
    data = {k: fit_value(k, v, notes) for k, v in data.items() if len(k.encode("utf-8")) <= 150}
    due = due_at if isinstance(due_at, datetime) else datetime.fromtimestamp(unix_seconds(due_at), UTC)
    op = {
        "type": "person",
        "identifiers": {"id": _identifier(trigger.get("person_id"))},
        "action": "event",
        "name": name,
        "id": trigger_ulid(trigger_id, due),
        "timestamp": unix_seconds(trigger.get("decided_as_of") or trigger.get("emitted_as_of") or due_at),
        "attributes": data,
    }
    check_size(op)
    return Shaped(op, notes)


def op_size(op: Mapping[str, Any]) -> int:
    """Bytes of the operation as the client serialises it (requests: json.dumps, default separators)."""
    return len(json.dumps(op, allow_nan=False).encode("utf-8"))


# The client's serialisation of an operation (ASCII escapes, `, ` and `: `) is at most this many times
# orjson's compact UTF-8 bytes: one byte written raw by orjson (DEL, say) is at most a 6-byte `\u007f`
# (a 2-byte character 3x, a 4-byte one a 12-byte surrogate pair, a separator 2x, a float's exponent 1.25x).
_CLIENT_BYTES_PER_ORJSON_BYTE = 6


def check_size(op: Mapping[str, Any]) -> int | None:
    """Raise InvalidOperation over the 32 KB limit. Returns the exact size, or None when orjson's far cheaper
    bound already shows the operation fits (planning 100k operations spent ~2 s of CPU in `json.dumps`)."""
    try:
        bound = _CLIENT_BYTES_PER_ORJSON_BYTE * len(orjson.dumps(op))
    except (TypeError, orjson.JSONEncodeError):
        bound = MAX_OPERATION_BYTES + 1  # what orjson cannot write, the exact measure decides
    if bound <= MAX_OPERATION_BYTES:
        return None
    size = op_size(op)
    if size > MAX_OPERATION_BYTES:
        raise InvalidOperation(f"operation of {size} bytes is over the {MAX_OPERATION_BYTES}-byte limit")
    return size
