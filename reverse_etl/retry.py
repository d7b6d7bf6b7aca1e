"""When to retry a request, and how long to wait first.

Shared by the Customer.io and Slack syncs. The rules, as both services document them:
- 429 carries `Retry-After` (seconds, or an HTTP date); waiting less only earns another 429.
- 408, 500, 502, 503, 504 and transport errors (timeouts, dropped connections) are transient:
  retry with exponential backoff and full jitter, so many clients do not retry in lock-step.
- Anything else 4xx (400 bad payload, 401 bad credentials, 413 too large) will fail the same
  way again: do not retry the request as is.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/garbled."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if seconds != seconds or seconds < 0:  # NaN or negative
            return None
        return seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(attempt-1))]; attempt >= 1."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling * rng()


@dataclass(frozen=True)
class RetryPolicy:
    """Per-request retry budget within one run (the outbox carries failures across runs)."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def should_retry(self, attempt: int, status: int | None) -> bool:
        """`attempt` is the number of tries made so far; status None means a transport error."""
        if attempt >= self.max_attempts:
            return False
        return status is None or is_retryable_status(status)

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before try `attempt + 1`: Retry-After when given (capped), else backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return backoff_delay(attempt, base=self.base_delay, cap=self.max_delay, rng=rng)
