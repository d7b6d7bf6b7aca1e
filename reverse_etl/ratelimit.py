"""A token bucket that keeps outgoing requests under a service's documented rate.

Customer.io's Track API allows about 100 requests per second per workspace and Slack's
chat.postMessage about one message per second per channel; exceeding them earns 429s that
cost more time than waiting would. The bucket is shared by every request of a sync, including
retries (retries that bypass the limiter are how rate storms start).

`capacity` is the burst size. The default of 1 spaces requests evenly (1/rate apart), so no
one-second window ever sees more than `rate` requests; `headroom` (< 1) keeps a margin under
the limit for clock and network jitter, since the receiver counts by its own clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Float refills land a hair short of a whole token (0.9999999...); waiting 1e-17 s more would
# not move a clock, so anything this close to the goal counts as reached.
_EPSILON = 1e-9


class TokenBucket:
    """Blocking token bucket; thread-safe. `acquire()` returns the seconds it waited."""

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        headroom: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 token, got {capacity}")
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom}")
        self.limit = float(rate)
        self.rate = float(rate) * headroom
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = threading.Lock()
        self.acquired = 0
        self.waited_seconds = 0.0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._stamp = now

    def acquire(self, tokens: float = 1.0) -> float:
        """Wait until `tokens` are available, take them, and return how long we waited."""
        if tokens > self.capacity:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.capacity}")
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                if self._tokens >= tokens - _EPSILON:
                    self._tokens -= tokens
                    self.acquired += 1
                    self.waited_seconds += waited
                    return waited
                delay = (tokens - self._tokens) / self.rate
                self._sleep(delay)
                waited += delay

    def pause(self, seconds: float) -> None:
        """Empty the bucket and hold it for `seconds` (a 429's Retry-After applies to everyone)."""
        if seconds <= 0:
            return
        with self._lock:
            self._refill(self._clock())
            # Negative tokens: the next acquire waits `seconds` longer than it otherwise would.
            self._tokens = min(self._tokens, 0.0) - seconds * self.rate
