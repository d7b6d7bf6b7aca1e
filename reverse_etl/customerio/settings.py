"""Customer.io settings: a plain value the caller builds (the Dagster resource, from the environment at run
time); this library reads no environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reverse_etl.retry import RetryPolicy

REGIONS = ("us", "eu")


@dataclass(frozen=True)
class CustomerIOSettings:
    """Everything a sync needs. repr never shows the API key."""

    site_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    region: str = "us"
    track_host: str | None = None
    rate_per_second: float = 100.0
    # Run the bucket a little under the documented limit: the server counts by its own clock,
    # and network jitter can bunch evenly spaced requests together.
    rate_headroom: float = 0.95
    timeout_seconds: float = 10.0
    max_request_bytes: int = 500 * 1000
    max_item_attempts: int = 5
    # After this many consecutive batches that exhausted their retries, stop the run: the
    # service is down and the rest waits, untouched, for the next run.
    circuit_breaker_batches: int = 3
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Where operations go without credentials: <outbox_dir>/customerio.jsonl.
    outbox_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(f"CUSTOMERIO_REGION must be one of {REGIONS}, got {self.region!r}")
        if self.rate_per_second <= 0:
            raise ValueError("the Customer.io rate limit must be positive")

    @property
    def effective_rate(self) -> float:
        """Requests per second the client actually paces at.

        A sequential client whose requests are spaced 1/r apart can still have limit+1 of them land
        inside one second of the receiver's clock when one request is delayed in transit and the next
        leaves as soon as it is answered: only `limit - 1` spacings then separate `limit + 1` arrivals.
        Pacing at most `limit - 1.5` per second keeps a margin of 1.5 spacings for that case,
        whatever the latency; `rate_headroom` adds a margin for the receiver's own rounding.
        """
        limit = self.rate_per_second
        paced = limit * self.rate_headroom
        return min(paced, limit - 1.5) if limit > 3 else paced

    @property
    def has_credentials(self) -> bool:
        return bool(self.site_id and self.api_key)
