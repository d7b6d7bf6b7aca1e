"""A local Slack Web API (chat.postMessage, conversations.history/list, auth.test) that behaves as Slack
documents it (docs.slack.dev/reference/methods/...).

- Auth: `Authorization: Bearer <token>` (or a `token` form field); none -> `not_authed`, wrong ->
  `invalid_auth` (HTTP 200, `ok: false`, like Slack). Each method needs its scope (`chat:write`,
  `channels:history`, `channels:read`); a token without it -> `missing_scope` with `needed`/`provided`.
- chat.postMessage: unknown channel -> `channel_not_found`; neither text nor blocks -> `no_text`;
  more than 50 blocks, a section text over 3000 characters or a header over 150 -> `invalid_blocks`;
  top-level text over 40000 characters -> `msg_too_long`. `metadata` must be an object with
  `event_type` and an object `event_payload` (else `invalid_metadata_format`); an `event_type` with
  characters other than letters, digits, `_` and `-` is ignored with the warning `invalid_metadata_schema`.
- conversations.history (GET): `channel` is a conversation ID (a name -> `channel_not_found`), the bot
  must be a member (`not_in_channel`); messages newest first between `oldest` and `latest` (`inclusive`),
  `limit` (default 100, max 999; the non-Marketplace tier: 15 and 15), cursor pagination with `has_more`
  and `response_metadata.next_cursor`; a message's `metadata` only with `include_all_metadata`.
- conversations.list (GET): channels with id, name, is_member, cursor pagination.
- Rate limits: about one message per second per channel for chat.postMessage; conversations.history
  Tier 3 (~50 per minute) or, for the non-Marketplace tier, one per minute; faster -> HTTP 429,
  `Retry-After` (seconds), `{"ok": false, "error": "ratelimited"}`. Intervals are configurable for speed.
- Scripted faults: `script(...)` queues responses (500s, 429 storms) served before normal handling of
  the method they name (chat.postMessage unless said). `accept_then(...)`: the next accepted post is
  followed by a fault (the client killed, or no answer before its timeout): Slack has the message, the
  client never hears so.
It records every request and every accepted message with its own clock, so tests assert on what Slack saw.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_TEXT = 40000
ALL_SCOPES = ("chat:write", "channels:history", "groups:history", "channels:read", "groups:read")
NEEDED = {"chat.postMessage": "chat:write", "conversations.history": "channels:history",
          "conversations.list": "channels:read"}
EVENT_TYPE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Accepted:
    channel: str
    payload: dict[str, Any]
    at: float
    ts: str


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = "chat.postMessage"  # the method this fault answers (None: any)
    hang: float = 0.0  # seconds to wait before answering (longer than the client's timeout = no answer)


def block_errors(blocks: Any) -> list[str]:
    """What Slack's block validation would reject (the subset of Block Kit rules we build against)."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    errors = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(text) > MAX_SECTION_TEXT:
                errors.append(
                    f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:/blocks/{i}/text]"
                )
            if not text and not block.get("fields"):
                errors.append(f"section needs text or fields [json-pointer:/blocks/{i}]")
            for j, f in enumerate(block.get("fields") or []):
                if len(f.get("text", "")) > 2000:
                    errors.append(f"field too long [json-pointer:/blocks/{i}/fields/{j}]")
        elif kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or len(text.get("text", "")) > MAX_HEADER_TEXT:
                errors.append(f"invalid header [json-pointer:/blocks/{i}/text]")
        elif kind == "context":
            if not 1 <= len(block.get("elements") or []) <= 10:
                errors.append(f"context needs 1-10 elements [json-pointer:/blocks/{i}]")
        elif kind not in ("divider", "actions", "image", "rich_text"):
            errors.append(f"unsupported type {kind!r} [json-pointer:/blocks/{i}]")
    return errors


class SlackServer:
    """Start with `with SlackServer(token=...) as slack:`; `slack.url` is the base URL for WebClient."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        channels: tuple[str, ...] = ("cs-alerts", "cs-digest", "data-alerts"),
        min_interval: float = 1.0,
        *,
        scopes: tuple[str, ...] = ALL_SCOPES,
        history_interval: float = 60 / 50,
        non_marketplace: bool = False,
        not_member: tuple[str, ...] = (),
    ) -> None:
        self.token = token
        self.channels = {name: f"C{i:08d}" for i, name in enumerate(channels, start=1)}
        self.min_interval = min_interval
        self.scopes = scopes
        # Tier 3 (~50/min, limit <= 999) or the non-Marketplace tier (1/min, limit <= 15)
        self.history_interval = 60.0 if non_marketplace and history_interval == 60 / 50 else history_interval
        self.history_max = 15 if non_marketplace else 999
        self.history_default = 15 if non_marketplace else 100
        self.not_member = set(not_member)
        self.accepted: list[Accepted] = []
        self.requests: list[dict[str, Any]] = []
        self._scripted: list[Scripted] = []
        self._after_accept: list[tuple[str, Any]] = []
        self._last_post: dict[str, float] = {}
        self._last_history: float | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def __enter__(self) -> SlackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *responses: Scripted) -> None:
        with self._lock:
            self._scripted.extend(responses)

    def accept_then(self, fault: str, value: Any) -> None:
        """After the next accepted post: `("kill", pid)` SIGKILLs the client before it hears back;
        `("hang", seconds)` answers only after that long (past the client's timeout)."""
        with self._lock:
            self._after_accept.append((fault, value))

    @staticmethod
    def ratelimited(retry_after: int = 1) -> Scripted:
        return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    @staticmethod
    def server_error(status: int = 500) -> Scripted:
        return Scripted(status, {"ok": False, "error": "fatal_error"})

    def messages(self, channel: str) -> list[dict[str, Any]]:
        key = channel.lstrip("#")
        return [a.payload for a in self.accepted if a.channel == key]

    def post_as_someone_else(
        self, channel: str, text: str, metadata: dict[str, Any] | None = None, later: float = 0.0
    ) -> str:
        """A message by another user or app in the channel (history holds more than ours), `later` seconds
        from now (to crowd the history after a message of ours)."""
        ts = f"{time.time() + later:.6f}"
        with self._lock:
            body = {"channel": channel, "text": text, "user": "UOTHER"}
            if metadata:
                body["metadata"] = metadata
            self.accepted.append(Accepted(channel.lstrip("#"), body, time.monotonic(), ts))
        return ts

    # -- request handling -------------------------------------------------------------------------------

    def _resolve(self, channel: Any) -> str | None:
        if not isinstance(channel, str):
            return None
        name = channel.lstrip("#")
        if name in self.channels:
            return name
        for key, cid in self.channels.items():
            if cid == channel:
                return key
        return None

    def _handle(self, method: str, headers: dict[str, str], body: dict[str, Any]) -> Scripted:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else body.get("token")
        now = time.monotonic()
        record: dict[str, Any] = {"method": method, "at": now, "channel": body.get("channel")}
        with self._lock:
            self.requests.append(record)
            for i, reply in enumerate(self._scripted):
                if reply.method in (None, method):
                    del self._scripted[i]
                    record["result"] = reply.body.get("error") or reply.status
                    return reply
            if not token:
                return self._done(record, Scripted(200, {"ok": False, "error": "not_authed"}))
            if token != self.token:
                return self._done(record, Scripted(200, {"ok": False, "error": "invalid_auth"}))
            if method == "auth.test":
                return self._done(record, Scripted(200, {"ok": True, "user_id": "UBOT", "team_id": "T1"}))
            needed = NEEDED.get(method)
            if needed is None:
                return self._done(record, Scripted(200, {"ok": False, "error": "unknown_method"}))
            if needed not in self.scopes:
                return self._done(record, Scripted(200, {"ok": False, "error": "missing_scope", "needed": needed,
                                                         "provided": ",".join(self.scopes)}))
            if method == "conversations.history":
                return self._done(record, self._history(body, now))
            if method == "conversations.list":
                return self._done(record, self._list(body))
            return self._post(record, body, now)

    def _post(self, record: dict[str, Any], body: dict[str, Any], now: float) -> Scripted:
        channel = self._resolve(body.get("channel"))
        if channel is None:
            return self._done(record, Scripted(200, {"ok": False, "error": "channel_not_found"}))
        last = self._last_post.get(channel)
        if last is not None and now - last < self.min_interval:
            wait = max(1, math.ceil(self.min_interval - (now - last)))
            return self._done(
                record, Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})
            )
        text, blocks = body.get("text"), body.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            return self._done(record, Scripted(200, {"ok": False, "error": "no_text"}))
        if text and len(text) > MAX_TEXT:
            return self._done(record, Scripted(200, {"ok": False, "error": "msg_too_long"}))
        if blocks is not None:
            errors = block_errors(blocks)
            if errors:
                return self._done(
                    record, Scripted(200, {"ok": False, "error": "invalid_blocks", "errors": errors})
                )
        metadata, warnings = body.get("metadata"), []
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return self._done(record, Scripted(200, {"ok": False, "error": "invalid_metadata_format"}))
        if metadata is not None:
            if not isinstance(metadata, dict) or not isinstance(metadata.get("event_payload"), dict) \
                    or not isinstance(metadata.get("event_type"), str):
                return self._done(record, Scripted(200, {"ok": False, "error": "invalid_metadata_format"}))
            if not EVENT_TYPE.fullmatch(metadata["event_type"]):
                metadata, warnings = None, ["invalid_metadata_schema"]  # ignored, the message still posts
        self._last_post[channel] = now
        ts = f"{time.time():.6f}"
        stored = dict(body, blocks=blocks)
        stored.pop("metadata", None)
        if metadata is not None:
            stored["metadata"] = metadata
        self.accepted.append(Accepted(channel, stored, now, ts))
        reply = {"ok": True, "channel": self.channels[channel], "ts": ts, "message": {"text": text, "blocks": blocks}}
        if warnings:
            reply["warning"] = ",".join(warnings)
            reply["response_metadata"] = {"warnings": warnings}
        done = self._done(record, Scripted(200, reply))
        if self._after_accept:
            fault, value = self._after_accept.pop(0)
            record["after_accept"] = fault
            if fault == "kill":
                os.kill(int(value), signal.SIGKILL)
            elif fault == "hang":
                done.hang = float(value)
        return done

    def _history(self, body: dict[str, Any], now: float) -> Scripted:
        if self._last_history is not None and now - self._last_history < self.history_interval:
            wait = max(1, math.ceil(self.history_interval - (now - self._last_history)))
            return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}, method=None)
        self._last_history = now
        channel_id = body.get("channel")
        names = {cid: name for name, cid in self.channels.items()}
        if channel_id not in names:
            return Scripted(200, {"ok": False, "error": "channel_not_found"})
        name = names[channel_id]
        if name in self.not_member:
            return Scripted(200, {"ok": False, "error": "not_in_channel"})
        try:
            limit = int(body.get("limit") or self.history_default)
        except ValueError:
            return Scripted(200, {"ok": False, "error": "invalid_limit"})
        limit = max(1, min(limit, self.history_max))
        oldest = float(body.get("oldest") or 0)
        latest = float(body.get("latest") or time.time() + 1)
        inclusive = str(body.get("inclusive", "")).lower() in ("1", "true")
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")

        def inside(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        newest_first = sorted((a for a in self.accepted if a.channel == name and inside(float(a.ts))),
                              key=lambda a: float(a.ts), reverse=True)
        start = 0
        if body.get("cursor"):
            start = int(base64.b64decode(str(body["cursor"])).decode().removeprefix("offset:"))
        page = newest_first[start:start + limit]
        messages = []
        for a in page:
            message = {"type": "message", "ts": a.ts, "text": a.payload.get("text"),
                       "user": a.payload.get("user", "UBOT")}
            if a.payload.get("user") is None:
                message["bot_id"] = "B0BOT"
            if with_metadata and a.payload.get("metadata"):
                message["metadata"] = a.payload["metadata"]
            messages.append(message)
        more = start + limit < len(newest_first)
        cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return Scripted(200, {"ok": True, "messages": messages, "has_more": more, "pin_count": 0,
                              "response_metadata": {"next_cursor": cursor}})

    def _list(self, body: dict[str, Any]) -> Scripted:
        items = [{"id": cid, "name": name, "is_channel": True, "is_private": False, "is_archived": False,
                  "is_member": name not in self.not_member} for name, cid in self.channels.items()]
        limit = max(1, min(int(body.get("limit") or 100), 1000))
        start = int(base64.b64decode(str(body["cursor"])).decode().removeprefix("offset:")) if body.get("cursor") else 0
        more = start + limit < len(items)
        cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return Scripted(200, {"ok": True, "channels": items[start:start + limit],
                              "response_metadata": {"next_cursor": cursor}})

    @staticmethod
    def _done(record: dict[str, Any], reply: Scripted) -> Scripted:
        record["result"] = reply.body.get("error") or "ok"
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                query = urlsplit(self.path).query
                self._answer({k: v[0] for k, v in parse_qs(query).items()})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                query = urlsplit(self.path).query
                self._answer({**{k: v[0] for k, v in parse_qs(query).items()}, **body})

            def _answer(self, body: dict[str, Any]) -> None:
                method = urlsplit(self.path).path.rsplit("/", 1)[-1]
                reply = server._handle(method, {k.lower(): v for k, v in self.headers.items()}, body)
                if reply.hang:
                    time.sleep(reply.hang)
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
