"""HubSpot settings: a plain value the caller builds (the Dagster resource, from the environment at run
time); this library reads no environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reverse_etl.retry import RetryPolicy

DEFAULT_API_URL = "https://api.hubapi.com"
# HubSpot's documented limits for private apps (developers.hubspot.com, "API usage guidelines"):
# 100 requests per rolling 10 seconds on Free/Starter (190 on Professional/Enterprise, 250 with the
# API limit increase), batch endpoints of at most 100 inputs, and the CRM search endpoints at five
# requests per second. The client starts at the lowest tier and adopts the limit the responses'
# X-HubSpot-RateLimit-Max / -Interval-Milliseconds headers announce.
STARTER_REQUESTS_PER_10S = 100
MAX_BATCH_INPUTS = 100
SEARCH_REQUESTS_PER_SECOND = 5


def paced_rate(limit: float, window_seconds: float, headroom: float) -> float:
    """Requests per second to pace at so no `window_seconds` window of the receiver sees over `limit`.

    Same reasoning as the Customer.io sync: evenly spaced sequential requests can still bunch by one
    when a request is delayed in transit, so keep 1.5 spacings of margin plus `headroom` for the
    receiver's own rounding.
    """
    paced = limit * headroom
    return (min(paced, limit - 1.5) if limit > 3 else paced) / window_seconds


@dataclass(frozen=True)
class HubSpotSettings:
    """Everything a sync needs. repr never shows the token."""

    access_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    requests_per_10s: float = STARTER_REQUESTS_PER_10S
    # Follow the limit HubSpot announces in X-HubSpot-RateLimit-* headers (its own recommendation),
    # so a Professional portal is not paced like a Starter one, and a shared portal is not overrun.
    adapt_to_headers: bool = True
    search_per_second: float = SEARCH_REQUESTS_PER_SECOND
    rate_headroom: float = 0.95
    batch_size: int = MAX_BATCH_INPUTS
    # A company not yet linked to an account is first looked for by its domain, so a record the
    # sales team created by hand is updated instead of duplicated.
    match_by_domain: bool = True
    timeout_seconds: float = 15.0
    max_item_attempts: int = 5
    circuit_breaker_batches: int = 3
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Where CRM changes go without a token: <outbox_dir>/hubspot.jsonl.
    outbox_dir: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_INPUTS:
            raise ValueError(f"HubSpot batch size must be 1..{MAX_BATCH_INPUTS}, got {self.batch_size}")
        if self.requests_per_10s <= 0 or self.search_per_second <= 0:
            raise ValueError("HubSpot rate limits must be positive")
        if not self.api_url.startswith(("http://", "https://")):
            raise ValueError(f"HUBSPOT_API_URL must start with http:// or https://, got {self.api_url!r}")

    @property
    def has_credentials(self) -> bool:
        return bool(self.access_token)

    @property
    def host(self) -> str:
        """The base URL as the official client's Configuration.host expects it (no trailing slash)."""
        return self.api_url.rstrip("/")
