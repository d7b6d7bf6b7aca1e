"""Delivery of queued Slack messages: the real slack_sdk WebClient, paced, retried, or the local outbox.

- Pacing: Slack allows about one chat.postMessage per second per channel; a token bucket per channel keeps
  us under it, and a 429's Retry-After pauses that channel's bucket (waiting less only earns more 429s).
- Retries within a run: 429, 5xx and transport errors (reverse_etl.retry policy). A message still failing
  stays pending in ops.outbox and is retried next run; one Slack can never accept (invalid_blocks,
  msg_too_long) is parked at once; bad credentials stop the run without burning the messages' attempts.
- Exactly once across a crash. chat.postMessage has no idempotency key, so every message carries its
  outbox id in Slack's message `metadata` (`event_type` onboarding_outbox_item, `event_payload.item_id`),
  and ops.slack_posts records each request before it is sent (state.begin_attempt) and its `ts` once the
  answer is recorded. When an outcome is unknown (the run was killed after Slack accepted, a timeout, a
  5xx), the item is looked for in the channel's recent history (conversations.history with
  include_all_metadata, a narrow window around the attempt, paged, 429-aware) before it is posted again;
  found = marked sent, nothing re-posted. If the history cannot be read (no channels:history scope, not a
  member), the message is posted again and the run reports `unverified`: a duplicate beats a lost alert.
- No SLACK_BOT_TOKEN: the same payloads go to $ONBOARDING_HOME/outbox/slack.jsonl and are marked sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from reverse_etl import outbox
from reverse_etl.ratelimit import TokenBucket
from reverse_etl.retry import RetryPolicy, parse_retry_after
from reverse_etl.slack import state
from reverse_etl.slack.state import CHANNEL

ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

METADATA_EVENT_TYPE = "onboarding_outbox_item"
HISTORY_PAGE = 15  # the page size every tier accepts (non-Marketplace apps: at most 15)
HISTORY_MARGIN = 120.0  # seconds either side of an attempt: clock skew between this machine and Slack
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")

AUTH_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired", "missing_scope",
     "not_allowed_token_type", "no_permission"}
)
PERMANENT_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
     "too_many_attachments", "invalid_arg_name", "invalid_form_data", "invalid_json", "json_not_object",
     "invalid_metadata_format"}
)


def with_metadata(item_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The chat.postMessage arguments with the outbox id in Slack's message metadata (how a lost answer is
    found again in the channel's history)."""
    return {**payload, "metadata": {"event_type": METADATA_EVENT_TYPE,
                                    "event_payload": {"item_id": item_id, "kind": kind}}}


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
    found_in_history: int = 0  # outcome was unknown, Slack had it: marked sent, not posted again
    unverified: int = 0  # outcome was unknown and the history could not be read: posted again
    history_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "found_in_history": self.found_in_history,
            "unverified": self.unverified,
            "history_requests": self.history_requests,
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
        outbox_dir: Path | None = None,
    ) -> None:
        self.token = token or None
        # Without a token, messages are written to <outbox_dir>/slack.jsonl instead.
        self.outbox_dir = outbox_dir
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

    def _call(self, method: str, bucket: TokenBucket, report: DeliveryReport, **kwargs: Any) -> Outcome:
        """One Web API method with in-run retries of 429 (after Retry-After), 5xx and transport errors."""
        from slack_sdk.errors import SlackApiError

        attempt = 0
        while True:
            attempt += 1
            bucket.acquire()
            report.requests += 1
            retry_after: float | None = None
            try:
                response = getattr(self.client(), method)(**kwargs)
                return Outcome(True, data=dict(response.data) if isinstance(response.data, dict) else {})
            except SlackApiError as exc:
                response = exc.response
                status = int(getattr(response, "status_code", 0) or 0)
                data = response.data if isinstance(response.data, dict) else {}
                code = str(data.get("error") or "") or f"http_{status}"
                if status == 429 or code == "ratelimited":
                    report.rate_limited += 1
                    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
                    value = headers.get("retry-after")
                    retry_after = parse_retry_after(value[0] if isinstance(value, list) else value)
                    retry_after = 1.0 if retry_after is None else min(retry_after, self.policy.max_retry_after)
                    bucket.pause(retry_after)
                    outcome, status = Outcome(False, code), 429
                elif code in AUTH_ERRORS:
                    return Outcome(False, code)
                elif code in PERMANENT_ERRORS:
                    return Outcome(False, code, permanent=True)
                elif status < 500:
                    return Outcome(False, code)  # channel_not_found & co: retried next run, parked after max
                else:  # Slack failed on its side: it may or may not have acted on the request
                    outcome = Outcome(False, f"{code} (HTTP {status})", unknown=True)
            except Exception as exc:  # noqa: BLE001 - transport error (refused, reset, timeout)
                status = None
                refused = _refused(exc)
                outcome = Outcome(False, f"transport: {type(exc).__name__}", unknown=not refused)
            if not self.policy.should_retry(attempt, status):
                return outcome
            if outcome.unknown and method == "chat_postMessage":
                return outcome  # never re-post blind: the caller looks in the history first
            if retry_after is None:
                self._sleep(self.policy.delay(attempt))

    def post(self, payload: dict[str, Any], report: DeliveryReport) -> Outcome:
        """One chat.postMessage (429 retried here); an unknown outcome is returned to `_deliver_one`."""
        channel = str(payload.get("channel"))
        outcome = self._call("chat_postMessage", self._bucket(channel), report, **payload)
        if outcome.ok:
            outcome.channel_id, outcome.ts = outcome.data.get("channel"), outcome.data.get("ts")
        return outcome

    def channel_id(self, channel: str, known: dict[str, str], report: DeliveryReport) -> str | None:
        """Slack's id for a channel named in a payload (history needs the id): as given, learnt from an
        earlier answer, or from conversations.list."""
        name = channel.lstrip("#")
        if CHANNEL_ID.fullmatch(name):
            return name
        if channel in known:
            return known[channel]
        cursor: str | None = None
        while True:
            outcome = self._call("conversations_list", self._bucket("conversations.list"), report,
                                 types="public_channel,private_channel", exclude_archived=True, limit=200,
                                 cursor=cursor)
            if not outcome.ok:
                report.errors.append(f"conversations.list: {outcome.error}")
                return None
            for entry in outcome.data.get("channels") or []:
                if entry.get("name") == name:
                    known[channel] = str(entry["id"])
                    return known[channel]
            cursor = (outcome.data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    def find_in_history(
        self, channel_id: str, wanted: dict[str, datetime], report: DeliveryReport
    ) -> dict[str, str] | None:
        """{item_id: ts} of the wanted items Slack has in the channel; None if the history cannot be read.

        The window is the attempts' own (plus the request timeout and a clock-skew margin), newest first,
        in pages of HISTORY_PAGE, stopping as soon as every wanted id is found.
        """
        starts = [t.timestamp() for t in wanted.values()]
        window = {"oldest": f"{min(starts) - HISTORY_MARGIN:.6f}",
                  "latest": f"{max(starts) + self.timeout + HISTORY_MARGIN:.6f}"}
        found: dict[str, str] = {}
        cursor: str | None = None
        while True:
            report.history_requests += 1
            outcome = self._call("conversations_history", self._bucket("conversations.history"), report,
                                 channel=channel_id, inclusive=True, include_all_metadata=True, limit=HISTORY_PAGE,
                                 cursor=cursor, **window)
            if not outcome.ok:
                report.errors.append(f"conversations.history {channel_id}: {outcome.error}")
                return None
            for message in outcome.data.get("messages") or []:
                meta = message.get("metadata") or {}
                item_id = (meta.get("event_payload") or {}).get("item_id")
                if meta.get("event_type") == METADATA_EVENT_TYPE and item_id in wanted:
                    found[item_id] = str(message.get("ts"))
            cursor = (outcome.data.get("response_metadata") or {}).get("next_cursor") or None
            if len(found) == len(wanted) or not outcome.data.get("has_more") or not cursor:
                return found

    def deliver(self, open_con: ConnectionFactory, *, run_id: str | None = None,
                limit: int | None = None, only: Sequence[str] | None = None) -> DeliveryReport:
        """Deliver pending Slack items (by priority, then oldest first); `only` restricts to those ids."""
        report = DeliveryReport()
        with open_con() as con:
            state.ensure_slack_tables(con)
            items = outbox.pending(con, CHANNEL, limit=limit)
            if only is not None:
                wanted = set(only)
                items = [i for i in items if i.item_id in wanted]
            unknown = state.unknown_outcomes(con, [i.item_id for i in items])
            known = state.known_channel_ids(con)
        if not items:
            return report
        if self.token is None:
            records = [
                {"item_id": i.item_id, "kind": i.kind, "account_id": i.account_id,
                 "method": "chat.postMessage", "payload": with_metadata(i.item_id, i.kind, i.payload)}
                for i in items
            ]
            outbox.write_local(CHANNEL, records, self.outbox_dir)
            with open_con() as con:
                outbox.mark_sent(con, CHANNEL, [i.item_id for i in items], run_id=run_id)
            report.written_local = len(items)
            return report
        # A previous run sent these and never heard back: does Slack have them?
        by_channel: dict[str, dict[str, datetime]] = {}
        for item_id, (channel, started) in unknown.items():
            by_channel.setdefault(channel, {})[item_id] = started
        settled: set[str] = set()
        for channel, wanted in by_channel.items():
            found = self._look_up(channel, wanted, known, report)
            if found is None:
                report.unverified += len(wanted)
                continue
            with open_con() as con:
                for item_id, ts in found.items():
                    self._record_sent(con, item_id, channel, known.get(channel), ts, "history", run_id)
            report.found_in_history += len(found)
            settled |= set(found)
        for item in items:
            if item.item_id in settled:
                continue
            if not self._deliver_one(open_con, item, known, report, run_id):
                break  # bad credentials: stop without burning the other messages' attempts
        return report

    def _look_up(
        self, channel: str, wanted: dict[str, datetime], known: dict[str, str], report: DeliveryReport
    ) -> dict[str, str] | None:
        channel_id = self.channel_id(channel, known, report)
        return None if channel_id is None else self.find_in_history(channel_id, wanted, report)

    def _record_sent(
        self, con: duckdb.DuckDBPyConnection, item_id: str, channel: str, channel_id: str | None, ts: str | None,
        how: str, run_id: str | None,
    ) -> None:
        con.execute("begin transaction")
        try:
            outbox.mark_sent(con, CHANNEL, [item_id], run_id=run_id)
            state.record_posted(con, item_id, channel, channel_id, ts, how, datetime.now(UTC))
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def _deliver_one(
        self, open_con: ConnectionFactory, item: outbox.OutboxItem, known: dict[str, str], report: DeliveryReport,
        run_id: str | None,
    ) -> bool:
        """Post one item, recording the attempt first; an unknown outcome is checked in the history before any
        retry. Returns False when delivery must stop (bad credentials)."""
        payload = with_metadata(item.item_id, item.kind, dict(item.payload))
        channel = str(payload.get("channel"))
        for attempt in range(1, self.policy.max_attempts + 1):
            with open_con() as con:
                state.begin_attempt(con, item.item_id, channel, datetime.now(UTC))
            outcome = self.post(payload, report)
            if outcome.ok:
                if outcome.channel_id:
                    known[channel] = outcome.channel_id
                with open_con() as con:
                    self._record_sent(con, item.item_id, channel, outcome.channel_id, outcome.ts, "response", run_id)
                report.posted += 1
                return True
            if outcome.unknown and attempt < self.policy.max_attempts:
                found = self._look_up(channel, {item.item_id: datetime.now(UTC)}, known, report)
                if found:
                    with open_con() as con:
                        self._record_sent(con, item.item_id, channel, known.get(channel), found[item.item_id],
                                          "history", run_id)
                    report.found_in_history += 1
                    return True
                if found is None:
                    report.unverified += 1
                self._sleep(self.policy.delay(attempt))
                continue
            break
        with open_con() as con:
            if not outcome.unknown:
                state.clear_attempt(con, item.item_id)  # Slack said no: nothing to look for next run
            if outcome.error in AUTH_ERRORS:
                report.auth_error = outcome.error
                report.errors.append(f"{item.item_id}: {outcome.error}")
                return False
            report.failed += 1
            report.errors.append(f"{item.item_id}: {outcome.error}")
            report.parked += outbox.mark_failed(
                con, CHANNEL, [item.item_id], str(outcome.error), run_id=run_id, park=outcome.permanent
            )
        return True


@dataclass
class Outcome:
    """What one Web API call came to. `unknown`: Slack may have acted on it (5xx, timeout, reset)."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    unknown: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    channel_id: str | None = None
    ts: str | None = None


def _refused(exc: BaseException) -> bool:
    """A connection that was never made cannot have posted anything."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or isinstance(getattr(seen, "reason", None), ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
