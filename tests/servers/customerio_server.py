"""A local HTTPS stand-in for Customer.io's Track API, behaving as its documentation says.

Endpoints: v1 `PUT /api/v1/customers/{id}`, `POST /api/v1/customers/{id}/events`,
`DELETE /api/v1/customers/{id}`, `POST /api/v1/customers/{id}/suppress|unsuppress`;
v2 `POST /api/v2/batch` and `POST /api/v2/entity`.
Rules: basic auth `site_id:api_key` (else 401); request body over 500 KB -> 413; one operation
over 32 KB, more than 300 attributes, a value over 1000 bytes, an event name over 100 bytes or a
blank/long identifier -> that operation is rejected (v2 batch: 207 with `errors[].batch_index`
when others were accepted, 400 when none were); over `rate_limit` requests in the last second -> 429
with Retry-After. Events are de-duplicated by their `id` (a repeat is accepted and ignored).

Faults for the tests, injected per request or per time window: 429 storms, 500/503, slow answers,
and dropped connections (before or after the request is processed), plus `hold_after(n)` which
stalls every request after the n-th (so a test can kill the client at a known point).
Everything is recorded with the server's own timestamps (`time.monotonic()`), so tests measure
the request rate and exactly-once delivery from the receiving side.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import trustme

MAX_REQUEST_BYTES = 500 * 1000
MAX_OPERATION_BYTES = 32 * 1024
MAX_ATTRIBUTES = 300
MAX_VALUE_BYTES = 1000
MAX_EVENT_NAME_BYTES = 100
MAX_IDENTIFIER_BYTES = 150


@dataclass
class Received:
    at: float  # server monotonic clock when the request arrived
    method: str
    path: str
    status: int
    body_bytes: int
    operations: int


@dataclass
class Fault:
    """What to do to one request instead of (or around) serving it."""

    kind: str  # '429' | '500' | '502' | '503' | '504' | 'slow' | 'drop_before' | 'drop_after' | 'none'
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass
class State:
    site_id: str
    api_key: str
    rate_limit: int | None = 100
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # accepted, by event id
    event_receipts: list[str] = field(default_factory=list)  # every event id processed, repeats too
    identify_receipts: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    forbidden_calls: list[str] = field(default_factory=list)  # suppress / delete: must stay empty
    script: list[Fault] = field(default_factory=list)  # consumed one per request
    storm_until: float = 0.0
    storm_fault: Fault | None = None
    storm_after_requests: int | None = None
    storm_seconds: float = 0.0
    hold_after: int | None = None
    hold_release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    v2_enabled: bool = True
    reject_people: set[str] = field(default_factory=set)  # ids whose operations fail validation
    lock: threading.Lock = field(default_factory=threading.Lock)


class CustomerIOServer:
    """Start with `with CustomerIOServer(tmp_path) as server:`; `server.host` is `127.0.0.1:port`."""

    def __init__(
        self,
        directory: Path,
        *,
        site_id: str = "site-test",
        api_key: str = "key-test",
        rate_limit: int | None = 100,
    ) -> None:
        self.state = State(site_id=site_id, api_key=api_key, rate_limit=rate_limit)
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = directory / "customerio-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CustomerIOServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.hold_release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def env(self) -> dict[str, str]:
        """Environment for a client subprocess pointed at this server."""
        return {
            "CUSTOMERIO_SITE_ID": self.state.site_id,
            "CUSTOMERIO_API_KEY": self.state.api_key,
            "CUSTOMERIO_TRACK_HOST": self.host,
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }

    # -- fault injection --
    def script(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.script.extend(faults)

    def storm(self, fault: Fault, *, seconds: float, after_requests: int = 0) -> None:
        """Answer every request with `fault` for `seconds`, starting at request `after_requests`+1."""
        with self.state.lock:
            self.state.storm_fault = fault
            self.state.storm_after_requests = after_requests
            self.state.storm_seconds = seconds
            self.state.storm_until = 0.0

    def hold_after(self, n: int) -> None:
        self.state.hold_after = n

    # -- measurements --
    def max_requests_in_window(self, window: float = 1.0) -> int:
        stamps = sorted(r.at for r in self.state.requests)
        best, start = 0, 0
        for end, stamp in enumerate(stamps):
            while stamp - stamps[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def event_receipt_counts(self) -> Counter[str]:
        return Counter(self.state.event_receipts)


class _Handler(BaseHTTPRequestHandler):
    state: State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        return

    # -- plumbing --
    def _reply(
        self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return decoded == f"{self.state.site_id}:{self.state.api_key}"

    def _record(self, at: float, status: int, size: int, operations: int = 0) -> None:
        with self.state.lock:
            self.state.requests.append(Received(at, self.command, self.path, status, size, operations))

    def _fault(self, at: float) -> Fault | None:
        state = self.state
        with state.lock:
            served = len(state.requests)
            if state.storm_fault is not None and state.storm_after_requests is not None:
                if state.storm_until == 0.0 and served >= state.storm_after_requests:
                    state.storm_until = at + state.storm_seconds
                if state.storm_until and at < state.storm_until:
                    return state.storm_fault
            if state.script:
                return state.script.pop(0)
        return None

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        at = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.state
        if state.hold_after is not None:
            with state.lock:
                arrived = len(state.requests)
            if arrived >= state.hold_after:
                state.held.set()
                state.hold_release.wait(timeout=60)
                self._drop()  # the client was killed while waiting; nothing was processed
                return
        if not self._authorized():
            self._record(at, 401, length)
            self._reply(401, {"meta": {"error": "Unauthorized request"}})
            return
        fault = self._fault(at)
        if fault is not None and fault.kind in ("429", "500", "502", "503", "504"):
            status = int(fault.kind)
            self._record(at, status, length)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._reply(status, {"meta": {"error": "injected"}}, headers)
            return
        if fault is not None and fault.kind == "drop_before":
            self._record(at, 0, length)
            self._drop()
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if state.rate_limit is not None:
            with state.lock:
                recent = sum(1 for r in state.requests if at - r.at < 1.0)
            if recent >= state.rate_limit:
                self._record(at, 429, length)
                self._reply(429, {"meta": {"error": "rate limited"}}, {"Retry-After": "1"})
                return
        if length > MAX_REQUEST_BYTES:
            self._record(at, 413, length)
            self._reply(413, {"meta": {"error": "request too large"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._record(at, 400, length)
            self._reply(400, {"meta": {"error": "invalid JSON"}})
            return
        status, reply, operations = self._route(body)
        self._record(at, status, length, operations)
        if fault is not None and fault.kind == "drop_after":
            self._drop()  # processed, but the client never hears so
            return
        self._reply(status, reply)

    # -- the API --
    def _route(self, body: Any) -> tuple[int, dict[str, Any], int]:
        path = self.path.split("?")[0]
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["api", "v2"]:
            if not self.state.v2_enabled:
                return 404, {"meta": {"error": "not found"}}, 0
            if parts[2:] == ["batch"] and self.command == "POST":
                ops = body.get("batch") if isinstance(body, dict) else None
                if not isinstance(ops, list) or not ops:
                    return 400, {"meta": {"error": "batch must be a non-empty array"}}, 0
                errors = []
                for index, op in enumerate(ops):
                    problem = self._apply_v2(op)
                    if problem:
                        errors.append(
                            {
                                "batch_index": index,
                                "reason": "invalid",
                                "field": problem[0],
                                "message": problem[1],
                            }
                        )
                if errors and len(errors) == len(ops):
                    return 400, {"errors": errors}, len(ops)
                if errors:
                    return 207, {"errors": errors}, len(ops)
                return 200, {}, len(ops)
            if parts[2:] == ["entity"] and self.command == "POST":
                problem = self._apply_v2(body)
                if problem:
                    return (
                        400,
                        {"errors": [{"reason": "invalid", "field": problem[0], "message": problem[1]}]},
                        1,
                    )
                return 200, {}, 1
            return 404, {"meta": {"error": "not found"}}, 0
        if parts[:3] == ["api", "v1", "customers"] and len(parts) >= 4:
            person_id = parts[3]
            rest = parts[4:]
            if rest in (["suppress"], ["unsuppress"]) or self.command == "DELETE":
                with self.state.lock:
                    self.state.forbidden_calls.append(f"{self.command} {'/'.join(rest) or 'customer'}")
                return 200, {}, 1
            if not rest and self.command == "PUT":
                problem = self._identify(person_id, body if isinstance(body, dict) else {})
                return (400, {"meta": {"error": problem[1]}}, 1) if problem else (200, {}, 1)
            if rest == ["events"] and self.command == "POST":
                data = body if isinstance(body, dict) else {}
                problem = self._event(
                    person_id, data.get("name"), data.get("id"), data.get("timestamp"), data.get("data") or {}
                )
                return (400, {"meta": {"error": problem[1]}}, 1) if problem else (200, {}, 1)
        return 404, {"meta": {"error": "not found"}}, 0

    def _apply_v2(self, op: Any) -> tuple[str, str] | None:
        if not isinstance(op, dict) or op.get("type") != "person":
            return ("type", "only person operations are expected here")
        if len(json.dumps(op).encode()) > MAX_OPERATION_BYTES:
            return ("operation", "operation larger than 32KB")
        identifiers = op.get("identifiers") or {}
        person_id = identifiers.get("id")
        action = op.get("action")
        if action == "identify":
            return self._identify(person_id, op.get("attributes") or {})
        if action == "event":
            return self._event(
                person_id, op.get("name"), op.get("id"), op.get("timestamp"), op.get("attributes") or {}
            )
        if action in ("suppress", "delete"):
            with self.state.lock:
                self.state.forbidden_calls.append(str(action))
            return None
        return ("action", f"unsupported action {action!r}")

    def _person_problem(self, person_id: Any) -> tuple[str, str] | None:
        if not isinstance(person_id, str) or not person_id.strip():
            return ("identifiers", "blank id")
        if person_id in self.state.reject_people:
            return ("identifiers", "rejected by the test")
        if len(person_id.encode()) > MAX_IDENTIFIER_BYTES:
            return ("identifiers", "id longer than 150 bytes")
        return None

    def _identify(self, person_id: Any, attributes: dict[str, Any]) -> tuple[str, str] | None:
        problem = self._person_problem(person_id)
        if problem:
            return problem
        if len(attributes) > MAX_ATTRIBUTES:
            return ("attributes", "more than 300 attributes")
        for name, value in attributes.items():
            if len(json.dumps(value).encode()) > MAX_VALUE_BYTES + 2:
                return ("attributes", f"value of {name} longer than 1000 bytes")
            if (
                name in ("created_at", "activated_at", "signup_at")
                and value is not None
                and not isinstance(value, int)
            ):
                return ("attributes", f"{name} must be Unix seconds")
        with self.state.lock:
            self.state.people.setdefault(person_id, {}).update(attributes)
            self.state.identify_receipts.append(person_id)
        return None

    def _event(
        self, person_id: Any, name: Any, event_id: Any, timestamp: Any, data: dict[str, Any]
    ) -> tuple[str, str] | None:
        problem = self._person_problem(person_id)
        if problem:
            return problem
        if not isinstance(name, str) or not name or len(name.encode()) > MAX_EVENT_NAME_BYTES:
            return ("name", "event name blank or longer than 100 bytes")
        if timestamp is not None and not isinstance(timestamp, int):
            return ("timestamp", "timestamp must be Unix seconds")
        with self.state.lock:
            key = (
                event_id
                if isinstance(event_id, str) and event_id
                else f"anon-{len(self.state.event_receipts)}"
            )
            self.state.event_receipts.append(key)
            if key not in self.state.events:  # de-duplication by id: a repeat is a no-op
                self.state.events[key] = {
                    "person_id": person_id,
                    "name": name,
                    "timestamp": timestamp,
                    "data": data,
                }
        return None
