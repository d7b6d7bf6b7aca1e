"""A local Slack Web API (chat.postMessage, auth.test) that behaves as Slack documents it.

- Auth: `Authorization: Bearer <token>` (or a `token` form field); none -> `not_authed`, wrong ->
  `invalid_auth` (HTTP 200, `ok: false`, like Slack).
- chat.postMessage: unknown channel -> `channel_not_found`; neither text nor blocks -> `no_text`;
  more than 50 blocks, a section text over 3000 characters or a header over 150 -> `invalid_blocks`;
  top-level text over 40000 characters -> `msg_too_long`.
- Rate limit: about one message per second per channel; faster -> HTTP 429, `Retry-After` (seconds),
  `{"ok": false, "error": "ratelimited"}`. The interval is configurable to keep tests fast.
- Scripted faults: `script(...)` queues responses (500s, 429 storms) served before normal handling.
It records every request and every accepted message with its own clock, so tests assert on what Slack saw.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_TEXT = 40000


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
    ) -> None:
        self.token = token
        self.channels = {name: f"C{i:08d}" for i, name in enumerate(channels, start=1)}
        self.min_interval = min_interval
        self.accepted: list[Accepted] = []
        self.requests: list[dict[str, Any]] = []
        self._scripted: list[Scripted] = []
        self._last_post: dict[str, float] = {}
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

    @staticmethod
    def ratelimited(retry_after: int = 1) -> Scripted:
        return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    @staticmethod
    def server_error(status: int = 500) -> Scripted:
        return Scripted(status, {"ok": False, "error": "fatal_error"})

    def messages(self, channel: str) -> list[dict[str, Any]]:
        key = channel.lstrip("#")
        return [a.payload for a in self.accepted if a.channel == key]

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
            if self._scripted:
                reply = self._scripted.pop(0)
                record["result"] = reply.body.get("error") or reply.status
                return reply
            if not token:
                return self._done(record, Scripted(200, {"ok": False, "error": "not_authed"}))
            if token != self.token:
                return self._done(record, Scripted(200, {"ok": False, "error": "invalid_auth"}))
            if method == "auth.test":
                return self._done(record, Scripted(200, {"ok": True, "user_id": "UBOT", "team_id": "T1"}))
            if method != "chat.postMessage":
                return self._done(record, Scripted(200, {"ok": False, "error": "unknown_method"}))
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
            self._last_post[channel] = now
            ts = f"{time.time():.6f}"
            self.accepted.append(Accepted(channel, dict(body, blocks=blocks), now, ts))
            return self._done(
                record,
                Scripted(
                    200,
                    {
                        "ok": True,
                        "channel": self.channels[channel],
                        "ts": ts,
                        "message": {"text": text, "blocks": blocks},
                    },
                ),
            )

    @staticmethod
    def _done(record: dict[str, Any], reply: Scripted) -> Scripted:
        record["result"] = reply.body.get("error") or "ok"
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1].split("?")[0]
                reply = server._handle(method, {k.lower(): v for k, v in self.headers.items()}, body)
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
