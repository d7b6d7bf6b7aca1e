"""Delivery of queued Slack messages: the real slack_sdk WebClient, paced, retried, or the local outbox.

- Pacing: Slack allows about one chat.postMessage per second per channel; a token bucket per channel keeps
  us under it, and a 429's Retry-After pauses that channel's bucket (waiting less only earns more 429s).
- Retries within a run: 429, 5xx and transport errors (reverse_etl.retry policy). A message still failing
  stays pending in ops.outbox and is retried next run; one Slack can never accept (invalid_blocks,
  msg_too_long) is parked at once; bad credentials stop the run without burning the messages' attempts.
- No SLACK_BOT_TOKEN: the same payloads go to $ONBOARDING_HOME/outbox/slack.jsonl and are marked sent.
Results are written after each message with a short connection, so a crash re-sends at most one message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from reverse_etl import outbox
from reverse_etl.ratelimit import TokenBucket
from reverse_etl.retry import RetryPolicy, parse_retry_after
from reverse_etl.slack.state import CHANNEL

ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

AUTH_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "missing_scope",
     "not_allowed_token_type", "no_permission"}
)
PERMANENT_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
     "too_many_attachments", "invalid_arg_name", "invalid_form_data", "invalid_json", "json_not_object"}
)


@contextmanager
def borrowed(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Use a caller's open connection as a factory result without closing it."""
    yield con


@dataclass
class DeliveryReport:
    posted: int = 0
    written_local: int = 0
    failed: int = 0
    parked: list[str] = field(default_factory=list)
    requests: int = 0
    rate_limited: int = 0
    auth_error: str | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "written_local": self.written_local,
            "failed": self.failed,
            "parked": len(self.parked),
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "auth_error": self.auth_error,
            "errors": self.errors[:10],
        }


class SlackTransport:
    """Posts pending 'slack' outbox items with chat.postMessage (or writes them locally without a token)."""

    def __init__(
        self,
        token: str | None,
        base_url: str = "https://slack.com/api/",
        *,
        per_channel_rate: float = 1.0,
        policy: RetryPolicy | None = None,
        timeout: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token or None
        self.base_url = base_url
        self.per_channel_rate = per_channel_rate
        self.policy = policy or RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, max_retry_after=60.0)
        self.timeout = timeout
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._client: Any = None

    def _bucket(self, channel: str) -> TokenBucket:
        if channel not in self._buckets:
            self._buckets[channel] = TokenBucket(self.per_channel_rate, headroom=0.8, sleep=self._sleep)
        return self._buckets[channel]

    def client(self) -> Any:
        if self._client is None:
            from slack_sdk import WebClient

            # No SDK-level retry handlers: retries are ours, paced by the same per-channel bucket.
            self._client = WebClient(token=self.token, base_url=self.base_url, timeout=self.timeout,
                                     retry_handlers=[])
        return self._client

    def post(self, payload: dict[str, Any], report: DeliveryReport) -> tuple[bool, str | None, bool]:
        """One message with in-run retries: (delivered, error code, permanent)."""
        from slack_sdk.errors import SlackApiError

        channel = str(payload.get("channel"))
        bucket = self._bucket(channel)
        attempt = 0
        while True:
            attempt += 1
            bucket.acquire()
            report.requests += 1
            status: int | None
            retry_after: float | None = None
            try:
                self.client().chat_postMessage(**payload)
                return True, None, False
            except SlackApiError as exc:
                response = exc.response
                status = int(getattr(response, "status_code", 0) or 0)
                code = str((response.data or {}).get("error") if isinstance(response.data, dict) else "") or (
                    f"http_{status}"
                )
                if status == 429 or code == "ratelimited":
                    report.rate_limited += 1
                    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
                    value = headers.get("retry-after")
                    retry_after = parse_retry_after(value[0] if isinstance(value, list) else value)
                    retry_after = 1.0 if retry_after is None else retry_after
                    bucket.pause(retry_after)
                    status = 429
                elif code in AUTH_ERRORS:
                    return False, code, False
                elif code in PERMANENT_ERRORS:
                    return False, code, True
                elif status < 500:
                    return False, code, False  # channel_not_found & co: retried next run, parked after max
                if status >= 400:
                    code = f"{code} (HTTP {status})"
            except Exception as exc:  # noqa: BLE001 - transport error (refused, reset, timeout)
                status = None
                code = f"transport: {type(exc).__name__}"
            if not self.policy.should_retry(attempt, status):
                return False, code, False
            if retry_after is None:
                self._sleep(self.policy.delay(attempt))

    def deliver(self, open_con: ConnectionFactory, *, run_id: str | None = None,
                limit: int | None = None, only: Sequence[str] | None = None) -> DeliveryReport:
        """Deliver pending Slack items (by priority, then oldest first); `only` restricts to those ids."""
        report = DeliveryReport()
        with open_con() as con:
            items = outbox.pending(con, CHANNEL, limit=limit)
        if only is not None:
            wanted = set(only)
            items = [i for i in items if i.item_id in wanted]
        if not items:
            return report
        if self.token is None:
            records = [
                {"item_id": i.item_id, "kind": i.kind, "account_id": i.account_id,
                 "method": "chat.postMessage", "payload": i.payload}
                for i in items
            ]
            outbox.write_local(CHANNEL, records)
            with open_con() as con:
                outbox.mark_sent(con, CHANNEL, [i.item_id for i in items], run_id=run_id)
            report.written_local = len(items)
            return report
        for item in items:
            ok, error, permanent = self.post(dict(item.payload), report)
            with open_con() as con:
                if ok:
                    outbox.mark_sent(con, CHANNEL, [item.item_id], run_id=run_id)
                    report.posted += 1
                    continue
                if error in AUTH_ERRORS:
                    report.auth_error = error
                    report.errors.append(f"{item.item_id}: {error}")
                    break
                report.failed += 1
                report.errors.append(f"{item.item_id}: {error}")
                report.parked += outbox.mark_failed(
                    con, CHANNEL, [item.item_id], str(error), run_id=run_id, park=permanent
                )
        return report
