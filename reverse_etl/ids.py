"""Deterministic ULIDs for outgoing messages, so a resend is recognisably the same message.

Customer.io de-duplicates events by their `id` (a ULID), and Slack retries are matched by the
same key: if an id were random, a run killed after the request but before the warehouse noted
success would send a second, different event on resume. Deriving the id from what the message
*means* (the trigger id) and *when it was due* makes every resend a no-op at the receiver.

Layout: 48-bit big-endian millisecond timestamp of `due_at` (so ids still sort by time, as
ULIDs should) + the first 80 bits of sha256(key).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ulid import ULID

_MAX_MS = (1 << 48) - 1


def deterministic_ulid(key: str, at: datetime) -> str:
    """The ULID (26-char Crockford base32) for `key`, timestamped at `at` (naive = UTC)."""
    if not key:
        raise ValueError("a deterministic ULID needs a non-empty key")
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"timestamp {at.isoformat()} does not fit a ULID")
    entropy = hashlib.sha256(key.encode("utf-8")).digest()[:10]
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + entropy))


def trigger_ulid(trigger_id: str, due_at: datetime) -> str:
    """The event id Customer.io sees for one row of marts.onboarding_triggers."""
    return deterministic_ulid(trigger_id, due_at)
