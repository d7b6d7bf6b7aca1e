"""A local stand-in for HubSpot's CRM v3/v4 API, behaving as its documentation says.

Endpoints: `GET /crm/v3/properties/{objectType}`, `POST /crm/v3/properties/{objectType}/batch/create`,
`POST /crm/v3/objects/{companies|contacts|tasks|notes}/batch/{create|update|upsert}`,
`POST /crm/v3/objects/{companies|contacts}/search` (EQ and IN filters, `limit` <= 200, `after`),
`POST /crm/v4/associations/{from}/{to}/batch/associate/default`.
Rules: `Authorization: Bearer <token>` (else 401 INVALID_AUTHENTICATION); more than 100 inputs in a
batch -> 400 VALIDATION_ERROR; a property that does not exist, a non-numeric value of a number
property or an unreadable datetime -> 400 VALIDATION_ERROR for the whole batch (as HubSpot does);
upsert only by a property with unique values (or `email` for contacts); more than `rate_limit`
requests in a rolling 10 seconds -> 429 TEN_SECONDLY_ROLLING with Retry-After; search over 5 per second
-> 429 SECONDLY. Every answer carries X-HubSpot-RateLimit-Max / -Remaining / -Interval-Milliseconds.
Faults for the tests, per request or per time window: 429 storms, 5xx, dropped connections (before
or after processing), `hold_after(n)` (stalls every request after the n-th so a test can kill the
client), `daily_limit_after(n)` (429 DAILY). Everything is recorded with the server's own clock,
and every input processed is counted per record key, so tests measure exactly-once from this side.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_INPUTS = 100
MAX_SEARCH_LIMIT = 200
SEARCH_PER_SECOND = 5
WINDOW_SECONDS = 10.0
INDEXED = ("onboarding_account_id", "email", "domain", "onboarding_task_id", "onboarding_note_id")

# The standard properties the tests' records use; the onboarding ones must be created by the client.
STANDARD = {
    "companies": {"name": "string", "domain": "string", "hs_object_id": "number"},
    "contacts": {"email": "string", "firstname": "string", "lastname": "string", "jobtitle": "string",
                 "hs_object_id": "number"},
    # Activities: the plan's tasks and the briefing's note (hs_timestamp is their required date).
    "tasks": {"hs_task_subject": "string", "hs_task_body": "string", "hs_timestamp": "datetime",
              "hs_task_status": "enumeration", "hs_task_priority": "enumeration", "hs_task_type": "enumeration",
              "hs_object_id": "number"},
    "notes": {"hs_note_body": "string", "hs_timestamp": "datetime", "hs_object_id": "number"},
}
GROUPS = {"companies": "companyinformation", "contacts": "contactinformation", "tasks": "taskinformation",
          "notes": "noteinformation"}
# Enumeration options HubSpot documents for the task properties the sync sets.
OPTIONS = {
    "hs_task_status": {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"},
    "hs_task_priority": {"NONE", "LOW", "MEDIUM", "HIGH"},
    "hs_task_type": {"TODO", "CALL", "EMAIL"},
}


@dataclass
class Received:
    at: float
    method: str
    path: str
    status: int
    inputs: int


@dataclass
class Fault:
    kind: str  # '429' | '500' | '502' | '503' | '504' | 'drop_before' | 'drop_after' | 'none' (serve normally)
    retry_after: str | None = None


@dataclass
class State:
    token: str
    rate_limit: int
    properties: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: {k: {} for k in STANDARD})
    associations: set[tuple[str, str]] = field(default_factory=set)  # (contact id, company id)
    receipts: Counter[str] = field(default_factory=Counter)  # "companies:<key>" per input processed
    created: Counter[str] = field(default_factory=Counter)  # records created per object type
    requests: list[Received] = field(default_factory=list)
    script: list[Fault] = field(default_factory=list)
    storm_fault: Fault | None = None
    storm_after: int = 0
    storm_seconds: float = 0.0
    storm_until: float = 0.0
    hold_after: int | None = None
    hold_release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    daily_after: int | None = None
    reject_values: set[str] = field(default_factory=set)  # property values that fail validation
    ids: itertools.count = field(default_factory=lambda: itertools.count(1001))
    # (object type, property) -> lower-cased value -> record ids: lookups stay O(1) at 100k records
    index: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HubSpotServer:
    """`with HubSpotServer() as server:`; point the client at `server.url` with `server.token`."""

    def __init__(self, *, token: str = "pat-test-token", rate_limit: int = 100) -> None:
        self.state = State(token=token, rate_limit=rate_limit)
        for object_type, names in STANDARD.items():
            self.state.properties[object_type] = {
                name: _property(object_type, name, kind) for name, kind in names.items()
            }
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubSpotServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.hold_release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def env(self) -> dict[str, str]:
        return {"HUBSPOT_ACCESS_TOKEN": self.state.token, "HUBSPOT_API_URL": self.url}

    # -- set-up and faults --
    def add_company(self, **properties: str) -> str:
        """A record that exists before the sync (a salesperson typed it in)."""
        with self.state.lock:
            return _create(self.state, "companies", {k: str(v) for k, v in properties.items()})

    def script(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.script.extend(faults)

    def storm(self, fault: Fault, *, seconds: float, after_requests: int = 0) -> None:
        with self.state.lock:
            self.state.storm_fault, self.state.storm_after = fault, after_requests
            self.state.storm_seconds, self.state.storm_until = seconds, 0.0

    def hold_after(self, n: int) -> None:
        self.state.hold_after = n

    # -- measurements --
    def max_requests_in_window(self, window: float = WINDOW_SECONDS, path_part: str = "") -> int:
        stamps = sorted(r.at for r in self.state.requests if path_part in r.path)
        best, start = 0, 0
        for end, stamp in enumerate(stamps):
            while stamp - stamps[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def companies_by_account(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for record_id, values in self.state.records["companies"].items():
            if values.get("onboarding_account_id"):
                out.setdefault(values["onboarding_account_id"], []).append(record_id)
        return out

    def records_by(self, object_type: str, name: str) -> dict[str, list[str]]:
        """property value -> ids of the records holding it (two ids = created twice)."""
        by: dict[str, list[str]] = {}
        for record_id, values in self.state.records[object_type].items():
            if values.get(name):
                by.setdefault(values[name], []).append(record_id)
        return by

    def contacts_by_email(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for record_id, values in self.state.records["contacts"].items():
            out.setdefault(values.get("email", ""), []).append(record_id)
        return out


def _property(object_type: str, name: str, kind: str, unique: bool = False) -> dict[str, Any]:
    return {
        "name": name, "label": name, "type": kind, "fieldType": "number" if kind == "number" else "text",
        "description": "", "groupName": GROUPS[object_type], "options": [], "hasUniqueValue": unique,
        "createdAt": _now(), "updatedAt": _now(),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _create(state: State, object_type: str, values: dict[str, Any]) -> str:
    record_id = str(next(state.ids))
    state.records[object_type][record_id] = {"hs_object_id": record_id}
    _set(state, object_type, record_id, values)
    state.created[object_type] += 1
    return record_id


def _set(state: State, object_type: str, record_id: str, changes: dict[str, Any]) -> None:
    """Apply property changes to a record ("" clears), keeping the lookup index current."""
    values = state.records[object_type][record_id]
    for name, value in changes.items():
        text = "" if value is None else str(value)
        if name == "email":
            text = text.lower()
        if name in INDEXED and values.get(name):
            state.index.get((object_type, name), {}).get(values[name].lower(), set()).discard(record_id)
        if text == "":
            values.pop(name, None)
        else:
            values[name] = text
            if name in INDEXED:
                state.index.setdefault((object_type, name), {}).setdefault(text.lower(), set()).add(record_id)


def _error(status: int, category: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"status": "error", "message": message, "category": category,
                    "correlationId": "00000000-0000-0000-0000-000000000000", **extra}


def _record(object_type: str, record_id: str, values: dict[str, str], new: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record_id, "properties": dict(values), "createdAt": _now(), "updatedAt": _now(),
                           "archived": False}
    if new is not None:
        out["new"] = new
    return out


def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return body


class _Handler(BaseHTTPRequestHandler):
    state: State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        return

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, at: float, status: int, inputs: int = 0) -> None:
        with self.state.lock:
            self.state.requests.append(Received(at, self.command, self.path, status, inputs))

    def _rate_headers(self, at: float) -> dict[str, str]:
        with self.state.lock:
            recent = sum(1 for r in self.state.requests if at - r.at < WINDOW_SECONDS and r.status != 429
                         and "/search" not in r.path)
        return {
            "X-HubSpot-RateLimit-Max": str(self.state.rate_limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.state.rate_limit - recent - 1)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
        }

    def _fault(self, at: float) -> Fault | None:
        state = self.state
        with state.lock:
            if state.storm_fault is not None:
                if state.storm_until == 0.0 and len(state.requests) >= state.storm_after:
                    state.storm_until = at + state.storm_seconds
                if state.storm_until and at < state.storm_until:
                    return state.storm_fault
            if state.script:
                return state.script.pop(0)
        return None

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
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
                self._drop()  # the client was killed while waiting: nothing processed
                return
        if self.headers.get("Authorization", "") != f"Bearer {state.token}":
            self._log(at, 401)
            self._reply(*_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found."))
            return
        headers = self._rate_headers(at)
        fault = self._fault(at)
        if fault is not None and fault.kind.isdigit():
            status = int(fault.kind)
            self._log(at, status)
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = _error(status, "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR", "injected",
                          policyName="TEN_SECONDLY_ROLLING")[1] if status == 429 else _error(
                status, "INTERNAL_ERROR", "injected")[1]
            self._reply(status, body, {**headers, **extra})
            return
        if fault is not None and fault.kind == "drop_before":
            self._log(at, 0)
            self._drop()
            return
        limited = self._limited(at)
        if limited:
            self._log(at, 429)
            self._reply(429, limited[1], {**headers, "Retry-After": "1"})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._log(at, 400)
            self._reply(*_error(400, "VALIDATION_ERROR", "Invalid input JSON"), headers)
            return
        with state.lock:
            status, reply, inputs = self._route(body)
        self._log(at, status, inputs)
        if fault is not None and fault.kind == "drop_after":
            self._drop()  # processed, but the client never hears so
            return
        self._reply(status, reply, headers)

    def _limited(self, at: float) -> tuple[int, dict[str, Any]] | None:
        state = self.state
        with state.lock:
            served = [r for r in state.requests if r.status != 429]
            if state.daily_after is not None and len(served) >= state.daily_after:
                return _error(429, "RATE_LIMITS", "You have reached your daily limit.", policyName="DAILY")
            if "/search" in self.path:
                searches = sum(1 for r in served if "/search" in r.path and at - r.at < 1.0)
                if searches >= SEARCH_PER_SECOND:
                    return _error(429, "RATE_LIMITS", "You have reached your secondly limit.", policyName="SECONDLY")
            recent = sum(1 for r in served if at - r.at < WINDOW_SECONDS)
            if recent >= state.rate_limit:
                return _error(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.",
                              policyName="TEN_SECONDLY_ROLLING")
        return None

    # -- the API (called with the state lock held) --
    def _route(self, body: Any) -> tuple[int, dict[str, Any], int]:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) >= 4:
            return self._properties(parts[3], parts[4:], body)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 5 and parts[3] in self.state.records:
            object_type = parts[3]
            inputs = body.get("inputs") if isinstance(body, dict) else None
            if parts[4] == "search":
                return (*self._search(object_type, body), 0)
            if parts[4] != "batch" or len(parts) != 6 or not isinstance(inputs, list) or not inputs:
                return (*_error(400, "VALIDATION_ERROR", "inputs must be a non-empty array"), 0)
            if len(inputs) > MAX_INPUTS:
                return (*_error(400, "VALIDATION_ERROR", f"Batch input limit is {MAX_INPUTS}; got {len(inputs)}"),
                        len(inputs))
            problem = self._invalid(object_type, inputs)
            if problem:
                return (*_error(400, "VALIDATION_ERROR", problem), len(inputs))
            handler = {"create": self._create, "update": self._update, "upsert": self._upsert}.get(parts[5])
            if handler is None:
                return (*_error(404, "OBJECT_NOT_FOUND", "unknown endpoint"), 0)
            return (*handler(object_type, inputs), len(inputs))
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "associate", "default"]:
            inputs = body.get("inputs") if isinstance(body, dict) else None
            if not isinstance(inputs, list) or not inputs:
                return (*_error(400, "VALIDATION_ERROR", "inputs must be a non-empty array"), 0)
            if len(inputs) > MAX_INPUTS:
                return (*_error(400, "VALIDATION_ERROR", f"Batch input limit is {MAX_INPUTS}; got {len(inputs)}"),
                        len(inputs))
            return (*self._associate(parts[3], parts[4], inputs), len(inputs))
        return (*_error(404, "OBJECT_NOT_FOUND", "unknown endpoint"), 0)

    def _properties(self, object_type: str, rest: list[str], body: Any) -> tuple[int, dict[str, Any], int]:
        known = self.state.properties.get(object_type)
        if known is None:
            return (*_error(404, "OBJECT_NOT_FOUND", "unknown object type"), 0)
        if not rest and self.command == "GET":
            return 200, {"results": list(known.values())}, 0
        if rest == ["batch", "create"] and self.command == "POST":
            results = []
            for spec in body.get("inputs") or []:
                if spec.get("type") not in ("string", "number", "date", "datetime", "enumeration", "bool"):
                    return (*_error(400, "VALIDATION_ERROR", "invalid property type"), 0)
                prop = _property(object_type, spec["name"], spec["type"], bool(spec.get("hasUniqueValue")))
                known[spec["name"]] = prop
                results.append(prop)
            return 201, _batch(results), len(results)
        return (*_error(404, "OBJECT_NOT_FOUND", "unknown endpoint"), 0)

    def _invalid(self, object_type: str, inputs: list[Any]) -> str | None:
        known = self.state.properties[object_type]
        for index, item in enumerate(inputs):
            for name, value in (item.get("properties") or {}).items():
                prop = known.get(name)
                if prop is None:
                    return f'Property values were not valid: "{name}" does not exist (PROPERTY_DOESNT_EXIST, input {index})'
                text = "" if value is None else str(value)
                if text in self.state.reject_values or (text and name in OPTIONS and text not in OPTIONS[name]):
                    return f"Property values were not valid: {name} (INVALID_OPTION, input {index})"
                if text and prop["type"] == "number":
                    try:
                        float(text)
                    except ValueError:
                        return f"Property values were not valid: {name} is not a number (input {index})"
                if text and prop["type"] == "datetime":
                    try:
                        float(text) if text.isdigit() else datetime.fromisoformat(text.replace("Z", "+00:00"))
                    except ValueError:
                        return f"Property values were not valid: {name} is not a datetime (input {index})"
        return None

    def _find(self, object_type: str, name: str, value: str) -> str | None:
        ids = self.state.index.get((object_type, name), {}).get(value.lower())
        return min(ids, key=int) if ids else None

    def _create(self, object_type: str, inputs: list[Any]) -> tuple[int, dict[str, Any]]:
        results = []
        for item in inputs:
            record_id = _create(self.state, object_type, dict(item.get("properties") or {}))
            self.state.receipts[f"{object_type}:create:{record_id}"] += 1
            results.append(_record(object_type, record_id, self.state.records[object_type][record_id]))
        return 201, _batch(results)

    def _update(self, object_type: str, inputs: list[Any]) -> tuple[int, dict[str, Any]]:
        results, errors = [], []
        for item in inputs:
            record_id = str(item.get("id") or "")
            values = self.state.records[object_type].get(record_id)
            if values is None:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"no record {record_id}",
                               "context": {"ids": [record_id]}, "links": {}, "errors": []})
                continue
            _set(self.state, object_type, record_id, item.get("properties") or {})
            self.state.receipts[f"{object_type}:{record_id}"] += 1
            results.append(_record(object_type, record_id, values))
        if errors and not results:
            return _error(404, "OBJECT_NOT_FOUND", "no record found", errors=errors)
        return (207 if errors else 200), _batch(results, errors)

    def _upsert(self, object_type: str, inputs: list[Any]) -> tuple[int, dict[str, Any]]:
        results = []
        for item in inputs:
            id_property = item.get("idProperty") or "hs_object_id"
            prop = self.state.properties[object_type].get(id_property)
            by_email = object_type == "contacts" and id_property == "email"
            if prop is None or not (prop.get("hasUniqueValue") or by_email):
                return _error(400, "VALIDATION_ERROR", f"{id_property} is not a unique identifier property")
            key = str(item.get("id") or "")
            if not key:
                return _error(400, "VALIDATION_ERROR", "upsert input without id")
        for item in inputs:
            id_property, key = item["idProperty"], str(item["id"])
            record_id = self._find(object_type, id_property, key)
            new = record_id is None
            if new:
                record_id = _create(self.state, object_type, {id_property: key.lower() if id_property == "email" else key})
            _set(self.state, object_type, record_id, item.get("properties") or {})
            values = self.state.records[object_type][record_id]
            self.state.receipts[f"{object_type}:{key}"] += 1
            results.append(_record(object_type, record_id, values, new=new))
        return 200, _batch(results)

    def _search(self, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
        limit = int(body.get("limit") or 10)
        if limit > MAX_SEARCH_LIMIT:
            return _error(400, "VALIDATION_ERROR", f"limit must be <= {MAX_SEARCH_LIMIT}")
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 25:
            return _error(400, "VALIDATION_ERROR", "too many filters")

        def matches(values: dict[str, str]) -> bool:
            if not groups:
                return True
            for group in groups:
                ok = True
                for flt in group.get("filters") or []:
                    value = values.get(flt.get("propertyName"), "")
                    if flt.get("operator") == "EQ":
                        ok &= value.lower() == str(flt.get("value", "")).lower()
                    elif flt.get("operator") == "IN":
                        if len(flt.get("values") or []) > 100:
                            return False
                        ok &= value.lower() in {str(v).lower() for v in flt.get("values") or []}
                    else:
                        ok = False
                if ok:
                    return True
            return False

        records = self.state.records[object_type]
        candidates: Any = records.items()
        single = groups[0].get("filters") if len(groups) == 1 else None
        if single and len(single) == 1 and single[0].get("propertyName") in INDEXED:
            flt = single[0]
            wanted_values = flt.get("values") if flt.get("operator") == "IN" else [flt.get("value", "")]
            lookup = self.state.index.get((object_type, flt["propertyName"]), {})
            hits = set().union(*(lookup.get(str(v).lower(), set()) for v in wanted_values or []))
            candidates = ((i, records[i]) for i in hits)
        found = sorted((int(i), v) for i, v in candidates if matches(v))
        start = int(body.get("after") or 0)
        page = found[start:start + limit]
        wanted = body.get("properties") or []
        results = [_record(object_type, str(i), {k: v[k] for k in wanted if k in v} if wanted else v)
                   for i, v in page]
        reply: dict[str, Any] = {"total": len(found), "results": results}
        if start + limit < len(found):
            reply["paging"] = {"next": {"after": str(start + limit)}}
        return 200, reply

    def _associate(self, from_type: str, to_type: str, inputs: list[Any]) -> tuple[int, dict[str, Any]]:
        records = self.state.records
        results, errors = [], []
        for item in inputs:
            source, target = str(item["from"]["id"]), str(item["to"]["id"])
            if source not in records.get(from_type, {}) or target not in records.get(to_type, {}):
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "record not found",
                               "context": {}, "links": {}, "errors": []})
                continue
            self.state.associations.add((source, target))
            self.state.receipts[f"association:{source}->{target}"] += 1
            results.append({"from": {"id": source}, "to": {"id": target},
                            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}})
        status = 207 if errors else 200
        return status, _batch(results, errors)
