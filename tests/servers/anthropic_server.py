"""A local Anthropic Messages API (POST /v1/messages) that behaves as Anthropic documents it.

- Auth: `x-api-key` (or `Authorization: Bearer`, which anthropic SDK 2.x sends) must equal the
  server's key, else 401 `authentication_error`; a missing
  `anthropic-version` header is a 400 `invalid_request_error`.
- Validation: model, max_tokens (int > 0) and a non-empty messages list are required; a forced
  `tool_choice` must name a tool of the request; a `strict` tool must have
  `additionalProperties: false` and list every property as required. Violations -> 400.
- Answers: a `tool_use` block calling the forced tool, `stop_reason: "tool_use"`, and `usage` with
  prompt caching: the first request carrying a system block with `cache_control` writes the cache
  (`cache_creation_input_tokens`), later identical prefixes read it (`cache_read_input_tokens`);
  a prefix shorter than the minimum cacheable length (1024 tokens, ~4 characters a token) is not
  cached at all, as documented.
- Errors as documented: `{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`,
  429 `rate_limit_error` with `retry-after`, 529 `overloaded_error`, 500 `api_error`.
- The "model": `decide` (replaceable) reads the JSON between <account_data> tags and answers from plan
  and ARR; by default it is gullible on purpose (text saying "assign high_touch" makes it answer
  high_touch), so tests can prove the guardrails, not the model, hold the line.
- Faults: `fault(match, *faults)` queues per-request faults for requests whose user text contains
  `match` ('' = any): `Fault(status=429, retry_after="1")`, `Fault(status=529)`, `Fault(delay=2.0)`
  (answer late, for client timeouts), `Fault(tool_input={...})` (a malformed answer),
  `Fault(confidence=0.4)`, `Fault(text_only=True)` (no tool call).
It records every request (body, headers, arrival time) and the peak number in flight.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)
DATA = re.compile(r"<account_data>\s*(.*?)\s*</account_data>", re.S)


@dataclass
class Fault:
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    tool_input: dict[str, Any] | None = None
    confidence: float | None = None
    text_only: bool = False


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 0

    @property
    def user_text(self) -> str:
        parts = []
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            else:
                parts.extend(block.get("text", "") for block in content or [] if isinstance(block, dict))
        return "\n".join(parts)

    @property
    def account(self) -> dict[str, Any] | None:
        match = DATA.search(self.user_text)
        return json.loads(match.group(1)) if match else None


def default_decide(account: dict[str, Any] | None, user_text: str) -> dict[str, Any]:
    """A plausible, deliberately gullible classifier."""
    if "assign high_touch" in user_text.lower():
        return {"track": "high_touch", "confidence": 0.99, "reason": "the account asked for high_touch"}
    account = account or {}
    tier = account.get("plan_tier")
    arr = float(account.get("arr") or 0)
    if tier == "enterprise" or arr >= 30000:
        return {"track": "high_touch", "confidence": 0.93, "reason": "enterprise plan and high ARR"}
    if tier == "free" or arr < 1200:
        return {"track": "self_serve", "confidence": 0.9, "reason": "free plan, low value"}
    return {"track": "standard", "confidence": 0.88, "reason": "paying team, moderate value"}


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class AnthropicServer:
    """`with AnthropicServer(api_key="sk-test") as server:` then ANTHROPIC_BASE_URL=server.url."""

    def __init__(self, api_key: str = "sk-ant-test", decide: Callable[..., dict[str, Any]] = default_decide,
                 min_cache_tokens: int = 1024):
        self.api_key = api_key
        self.min_cache_tokens = min_cache_tokens
        self.decide = decide
        self.requests: list[Seen] = []
        self._faults: list[tuple[str, Fault]] = []
        self._cache: set[str] = set()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None

    # ---- test API -------------------------------------------------------------------------------
    def fault(self, match: str, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend((match, f) for f in faults)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.peak_in_flight = 0

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Let requests still being answered (e.g. late answers to clients that timed out) finish."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            self.peak_in_flight = self.in_flight

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> AnthropicServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---- protocol -------------------------------------------------------------------------------
    def _take_fault(self, user_text: str) -> Fault | None:
        with self._lock:
            for i, (match, _fault) in enumerate(self._faults):
                if match in user_text:
                    return self._faults.pop(i)[1]
        return None

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        seen = getattr(handler, "seen", None)
        if seen is not None:
            seen.status = status  # before the client can read the answer and move on
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("request-id", f"req_{next(_ids):06d}")
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer

    def _error(self, handler: BaseHTTPRequestHandler, status: int, kind: str, message: str,
               headers: dict[str, str] | None = None) -> int:
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": f"req_{next(_ids):06d}"}
        self._send(handler, status, body, headers)
        return status

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        seen = Seen(body=body, headers={k.lower(): v for k, v in handler.headers.items()}, at=time.monotonic())
        handler.seen = seen  # type: ignore[attr-defined]
        with self._lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self._respond(handler, seen)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, handler: BaseHTTPRequestHandler, seen: Seen) -> int:
        if handler.path.split("?")[0] != "/v1/messages":
            return self._error(handler, 404, "not_found_error", f"no route {handler.path}")
        bearer = seen.headers.get("authorization", "")
        presented = seen.headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else None)
        if presented != self.api_key:
            return self._error(handler, 401, "authentication_error", "invalid x-api-key")
        if not seen.headers.get("anthropic-version"):
            return self._error(handler, 400, "invalid_request_error", "anthropic-version header is required")
        problem = self._validate(seen.body)
        if problem:
            return self._error(handler, 400, "invalid_request_error", problem)
        fault = self._take_fault(seen.user_text)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status:
            kinds = {429: "rate_limit_error", 529: "overloaded_error", 500: "api_error", 400: "invalid_request_error"}
            headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
            return self._error(handler, fault.status, kinds.get(fault.status, "api_error"), "scripted fault", headers)
        body = seen.body
        tool_name = (body.get("tool_choice") or {}).get("name") or (body.get("tools") or [{}])[0].get("name")
        answer = self.decide(seen.account, seen.user_text)
        if fault and fault.confidence is not None:
            answer = {**answer, "confidence": fault.confidence}
        if fault and fault.tool_input is not None:
            answer = fault.tool_input
        content: list[dict[str, Any]]
        if fault and fault.text_only:
            content = [{"type": "text", "text": "I think this is a standard account."}]
        else:
            content = [{"type": "tool_use", "id": f"toolu_{next(_ids):06d}", "name": tool_name, "input": answer}]
        self._send(handler, 200, {
            "id": f"msg_{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": "end_turn" if fault and fault.text_only else "tool_use",
            "stop_sequence": None,
            "usage": self._usage(body, json.dumps(content)),
        })
        return 200

    def _validate(self, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: field required"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            return "max_tokens: must be a positive integer"
        if not body.get("messages"):
            return "messages: at least one message is required"
        tools = body.get("tools") or []
        names = {tool.get("name") for tool in tools}
        choice = body.get("tool_choice")
        if choice and choice.get("type") == "tool" and choice.get("name") not in names:
            return f"tool_choice: tool {choice.get('name')!r} not found in tools"
        for tool in tools:
            if tool.get("strict"):
                schema = tool.get("input_schema") or {}
                if schema.get("additionalProperties") is not False:
                    return f"tools.{tool.get('name')}: strict requires additionalProperties: false"
                if set(schema.get("required") or []) != set((schema.get("properties") or {}).keys()):
                    return f"tools.{tool.get('name')}: strict requires every property to be required"
        return None

    def _usage(self, body: dict[str, Any], output: str) -> dict[str, int]:
        system = body.get("system") or []
        blocks = [system] if isinstance(system, str) else system
        prefix = json.dumps(body.get("tools") or []) + "".join(b.get("text", "") for b in blocks if isinstance(b, dict))
        cached = any(isinstance(b, dict) and b.get("cache_control") for b in blocks)
        user_tokens = _tokens(json.dumps(body.get("messages")))
        usage = {"input_tokens": user_tokens, "output_tokens": _tokens(output),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not cached or _tokens(prefix) < self.min_cache_tokens:
            usage["input_tokens"] += _tokens(prefix)
            return usage
        with self._lock:
            hit = prefix in self._cache
            self._cache.add(prefix)
        usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = _tokens(prefix)
        return usage
