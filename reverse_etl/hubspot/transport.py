"""Requests to HubSpot through the official `hubspot-api-client`, paced, retried, classified.

The client (`hubspot.HubSpot`) does the URL building, bearer auth, request models and response
models; three things are set differently for a reverse-ETL sync:
1. its urllib3 pools retry on their own when told to (`retry=`); they are given `Retry(0)`, so every
   try goes through our token bucket (HubSpot counts every request against the portal's limit,
   retries included) and honours `Retry-After`;
2. every call is a `*_with_http_info` call, so the `X-HubSpot-RateLimit-*` headers of each answer
   reach the bucket: HubSpot recommends pacing by them, and they tell a Professional portal
   (190 per 10 s) from a Starter one (100 per 10 s);
3. an `ApiException`'s text embeds the response body (values HubSpot echoes, often e-mail
   addresses): only the status, HubSpot's `category` and a scrubbed message are kept;
4. answers are read raw (`_preload_content=False`) and parsed with orjson into plain dicts: the
   generated response models parse two timestamps per record with dateutil (~2 ms each), which
   at 100k accounts would cost more CPU than the whole sync. Requests are still built from the
   client's models, so what goes out is checked by them.
The API objects are built once per sync (the client builds a new connection pool per access).
`HUBSPOT_API_URL` replaces the host (tests point it at a local server).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from reverse_etl.hubspot.settings import HubSpotSettings, paced_rate
from reverse_etl.ratelimit import TokenBucket
from reverse_etl.redact import scrub
from reverse_etl.retry import is_retryable_status, parse_retry_after

RATE_HEADERS = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Interval-Milliseconds")


@dataclass
class Outcome:
    """What one exchange came to. status None = transport error (timeout, dropped connection)."""

    status: int | None
    data: Any = None  # the parsed JSON answer (a dict)
    retry_after: float | None = None
    category: str | None = None
    policy: str | None = None  # 429s: TEN_SECONDLY_ROLLING, SECONDLY or DAILY
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class TransportStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    bytes_sent: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    announced_limit: str | None = None  # "190/10000ms", from the headers


def build_client(settings: HubSpotSettings) -> HubSpot:
    """The official client for one portal, with its own retries off."""
    no_retry = Retry(total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False)
    return HubSpot(access_token=settings.access_token, retry=no_retry, host=settings.host)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _body(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        loaded = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


class Transport:
    """Rate-limited, retrying sender of one request at a time (a sync is sequential by design)."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        bucket: TokenBucket | None = None,
        search_bucket: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = build_client(settings)
        crm = self.client.crm
        self.companies = crm.companies.batch_api
        self.company_search = crm.companies.search_api
        self.contacts = crm.contacts.batch_api
        self.tasks = crm.objects.tasks.batch_api
        self.notes = crm.objects.notes.batch_api
        self.associations = crm.associations.v4.batch_api
        self.properties = crm.properties.core_api
        self.property_batches = crm.properties.batch_api
        self.bucket = bucket or TokenBucket(
            paced_rate(settings.requests_per_10s, 10.0, settings.rate_headroom)
        )
        self.search_bucket = search_bucket or TokenBucket(
            paced_rate(settings.search_per_second, 1.0, settings.rate_headroom)
        )
        self.sleep = sleep
        self.stats = TransportStats()

    def close(self) -> None:
        for api in (self.companies, self.company_search, self.contacts, self.tasks, self.notes, self.associations,
                    self.properties, self.property_batches):
            api.api_client.rest_client.pool_manager.clear()

    def batch_api(self, kind: str) -> Any:
        """The batch API of an upserted object kind ('company', 'contact', 'task', 'note')."""
        return {"company": self.companies, "contact": self.contacts, "task": self.tasks, "note": self.notes}[kind]

    def _adapt(self, headers: Mapping[str, Any] | None) -> None:
        """Pace by the limit HubSpot announces (X-HubSpot-RateLimit-Max per -Interval-Milliseconds)."""
        limit, interval = (_header(headers, name) for name in RATE_HEADERS)
        if not (self.settings.adapt_to_headers and limit and interval):
            return
        try:
            max_requests, window = float(limit), float(interval) / 1000.0
        except ValueError:
            return
        if max_requests <= 0 or window <= 0:
            return
        self.stats.announced_limit = f"{int(max_requests)}/{int(window * 1000)}ms"
        rate = paced_rate(max_requests, window, self.settings.rate_headroom)
        if abs(rate - self.bucket.rate) > 1e-6:
            self.bucket.rate, self.bucket.limit = rate, max_requests / window
        remaining = _header(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            # Another app of the portal used the window up: wait one spacing before the next request.
            self.bucket.pause(window / max_requests)

    def _exchange(self, endpoint: str, send: Callable[[], Any], size: int, search: bool) -> Outcome:
        if search:
            self.search_bucket.acquire()
        self.bucket.acquire()
        self.stats.requests += 1
        self.stats.bytes_sent += size
        self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1
        try:
            response = send()  # a urllib3 response: the call is made with _preload_content=False
            try:
                raw = response.data
            finally:
                response.release_conn()
            status, headers = response.status, response.headers
            data = orjson.loads(raw) if raw else {}
        except urllib3.exceptions.HTTPError as exc:  # timeouts, resets: never the body
            self.stats.transport_errors += 1
            return Outcome(None, detail=type(exc).__name__)
        except orjson.JSONDecodeError:
            self.stats.transport_errors += 1
            return Outcome(None, detail="unreadable answer (not JSON)")
        except Exception as exc:  # noqa: BLE001 - the client's ApiException family, per API package
            status = getattr(exc, "status", None)
            if not isinstance(status, int) or status == 0:
                self.stats.transport_errors += 1
                return Outcome(None, detail=scrub(type(exc).__name__))
            headers = getattr(exc, "headers", None) or {}
            self._adapt(headers)
            body = _body(getattr(exc, "body", None))
            outcome = Outcome(
                status,
                category=body.get("category") or body.get("errorType"),
                policy=body.get("policyName"),
                detail=scrub(f"HTTP {status}: {body.get('category') or ''} {body.get('message') or ''}".strip()),
            )
            if status == 429:
                self.stats.rate_limited += 1
            elif status >= 500:
                self.stats.server_errors += 1
            if status == 429 or status >= 500:
                outcome.retry_after = parse_retry_after(_header(headers, "Retry-After"))
            return outcome
        self._adapt(headers)
        return Outcome(status, data=data)

    def call(self, endpoint: str, send: Callable[[], Any], *, size: int = 0, search: bool = False) -> Outcome:
        """Send until success, a non-retryable answer, a daily-limit 429, or the per-request budget."""
        policy = self.settings.retry
        attempt = 0
        while True:
            attempt += 1
            outcome = self._exchange(endpoint, send, size, search)
            if outcome.status is not None and not is_retryable_status(outcome.status):
                return outcome
            if outcome.policy == "DAILY" or not policy.should_retry(attempt, outcome.status):
                return outcome
            delay = policy.delay(attempt, outcome.retry_after)
            self.stats.retries += 1
            if outcome.status == 429:
                (self.search_bucket if search else self.bucket).pause(delay)  # hold every request
            else:
                self.sleep(delay)
