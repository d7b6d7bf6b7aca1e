"""Sending operations through the official `customerio` client (Track API).

We use `customerio.CustomerIO` for what it does well: the region's host, URL building, the
requests session with basic auth (site_id:api_key) and keep-alive, and its `batch()` method
for `/api/v2/batch` (present since 2.x). Two things in it do not fit a reverse-ETL sync, and
are changed in a small subclass rather than by calling HTTP ourselves:

1. `send_request` raises `CustomerIOException(f"{status}: {url} {data} {text}")` on any non-2xx.
   That message embeds the whole request body (customer e-mail addresses would end up in logs
   and the changelog) and drops the status code and the `Retry-After` header that a 429 must
   honour. `_SyncClient.send_request` returns the response instead; `Transport` classifies it.
2. Its session retries 500-504 inside urllib3 (3 times, 20 ms backoff). Those hidden retries
   would bypass our token bucket (the rate limit must count every request) and ignore jitter,
   so the adapter is remounted with retries off; `Transport` retries through the bucket.

`CUSTOMERIO_TRACK_HOST` (`host` or `host:port`) replaces the region's host; always HTTPS, with
certificates checked (tests point `REQUESTS_CA_BUNDLE` at their own CA).
v1 (`PUT /customers/{id}`, `POST /customers/{id}/events`) is only a fallback: used when the
v2 endpoint is missing (404/405) at the configured host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from customerio import CustomerIO, Regions
from customerio.client_base import TCPKeepAliveHTTPAdapter
from urllib3.util.retry import Retry

from reverse_etl.customerio.settings import CustomerIOSettings
from reverse_etl.ratelimit import TokenBucket
from reverse_etl.redact import scrub
from reverse_etl.retry import is_retryable_status, parse_retry_after

__all__ = ["Outcome", "Transport", "TransportStats", "build_client", "scrub"]


class _SyncClient(CustomerIO):
    """The official client with status-preserving responses and without hidden retries."""

    def send_request(self, method: str, url: str, data: Mapping[str, Any]) -> requests.Response:  # type: ignore[override]
        return self.http.request(method, url=url, json=self._sanitize(dict(data)), timeout=self.timeout)

    def _build_session(self) -> requests.Session:
        session = super()._build_session()  # user agent, basic auth (site_id, api_key)
        no_retry = Retry(total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False)
        session.mount("https://", TCPKeepAliveHTTPAdapter(max_retries=no_retry))
        return session


def build_client(settings: CustomerIOSettings) -> CustomerIO:
    region = Regions.EU if settings.region == "eu" else Regions.US
    host, port = None, None
    if settings.track_host:
        text = settings.track_host.strip().split("://")[-1].rstrip("/")
        if ":" in text:
            host, _, port_text = text.rpartition(":")
            port = int(port_text)
        else:
            host = text
    return _SyncClient(
        site_id=settings.site_id,
        api_key=settings.api_key,
        region=region,
        host=host,
        port=port,
        retries=0,
        timeout=settings.timeout_seconds,
    )


@dataclass
class Outcome:
    """What one HTTP exchange came to. status None = transport error (timeout, dropped connection)."""

    status: int | None
    retry_after: float | None = None
    errors: list[dict[str, Any]] | None = None  # v2 per-operation errors (batch_index, reason, ...)
    detail: str = ""
    request_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.errors


@dataclass
class TransportStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    bytes_sent: int = 0
    waited_seconds: float = 0.0


class Transport:
    """Rate-limited, retrying sender of one request at a time (a sync is sequential by design)."""

    def __init__(
        self,
        settings: CustomerIOSettings,
        *,
        bucket: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = build_client(settings)
        self.bucket = bucket or TokenBucket(settings.effective_rate)
        self.sleep = sleep
        self.stats = TransportStats()
        self.v2_available = True

    def close(self) -> None:
        self.client.close()

    def _exchange(self, send: Callable[[], requests.Response], size: int) -> Outcome:
        self.bucket.acquire()
        self.stats.requests += 1
        self.stats.bytes_sent += size
        try:
            response = send()
        except requests.RequestException as exc:  # timeouts, resets, TLS: never the body
            self.stats.transport_errors += 1
            return Outcome(None, detail=scrub(f"{type(exc).__name__}"), request_bytes=size)
        status = response.status_code
        outcome = Outcome(status, request_bytes=size)
        if status == 429:
            self.stats.rate_limited += 1
            outcome.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        elif status >= 500:
            self.stats.server_errors += 1
            outcome.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 207 or status == 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("errors"), list):
                outcome.errors = [e for e in body["errors"] if isinstance(e, dict)]
        if not 200 <= status < 300 or outcome.errors:
            outcome.detail = scrub(f"HTTP {status}: {response.text[:200]}")
        return outcome

    def with_retries(self, send: Callable[[], requests.Response], size: int) -> tuple[Outcome, int]:
        """Send until success, a non-retryable answer, or the per-request budget; returns (outcome, tries)."""
        policy = self.settings.retry
        attempt = 0
        while True:
            attempt += 1
            outcome = self._exchange(send, size)
            if outcome.status is not None and not is_retryable_status(outcome.status):
                return outcome, attempt
            if not policy.should_retry(attempt, outcome.status):
                return outcome, attempt
            delay = policy.delay(attempt, outcome.retry_after)
            self.stats.retries += 1
            if outcome.status == 429:
                self.bucket.pause(delay)  # the limit is shared: hold every request, not just this one
            else:
                self.sleep(delay)
                self.stats.waited_seconds += delay

    def send_batch(self, operations: Sequence[Mapping[str, Any]], size: int) -> tuple[Outcome, int]:
        ops = [dict(op) for op in operations]
        return self.with_retries(lambda: self.client.batch(ops), size)

    def send_v1(self, op: Mapping[str, Any], size: int) -> tuple[Outcome, int]:
        """One v2-shaped operation through the v1 endpoints (fallback)."""
        person_id = op["identifiers"]["id"]
        if op["action"] == "identify":
            attributes = dict(op.get("attributes") or {})
            return self.with_retries(lambda: self.client.identify(person_id, **attributes), size)
        if op["action"] == "event":
            return self.with_retries(
                lambda: self.client.track(
                    person_id,
                    op["name"],
                    data=op.get("attributes") or {},
                    id=op["id"],
                    timestamp=op["timestamp"],
                ),
                size,
            )
        raise ValueError(f"no v1 fallback for action {op['action']!r}")
