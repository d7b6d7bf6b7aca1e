"""The Python reference of the data-quality pass, used only by tests: the SQL that production runs
(dagster_project/defs/quality/scan.py) is checked against it on the same staged batch.

Staged rows become `Message` objects; frames, property profiles, late arrivals and re-sent events are
computed from them in plain Python. Production never imports this module.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import orjson
import pandas as pd

from dagster_project.defs.quality.batch import STAGED
from dagster_project.defs.quality.drift import (
    DEFAULTS,
    DriftFinding,
    DriftThresholds,
    duplicate_findings,
    late_findings,
)
from dagster_project.defs.quality.suites import SuiteSpec, event_key

PROFILED_TYPES = ("track", "identify", "group")


@dataclass(frozen=True)
class Message:
    """One landed message, as the suites and the drift checks see it."""

    message_id: str
    type: str
    event: str | None
    user_id: str | None
    account_id: str | None
    event_at: datetime
    received_at: datetime | None
    arrived_at: datetime
    load_id: int
    account_signup_at: datetime | None
    payload: dict

    def body(self, root: str) -> dict:
        value = self.payload.get(root)
        return value if isinstance(value, dict) else {}


def fetch_chunk(con: duckdb.DuckDBPyConnection, start: int, size: int) -> list[Message]:
    """Staged messages `start` .. `start + size - 1` in arrival order, as Python objects (the reference path)."""
    rows = con.execute(
        f"""
        select message_id, type, event, user_id, account_id, event_at, received_at, arrived_at, load_id,
               signup_at, payload, body::varchar
        from {STAGED} order by arrived_at, message_id limit ? offset ?
        """,
        [size, start],
    ).fetchall()
    return [
        Message(
            message_id=r[0], type=r[1], event=r[2], user_id=r[3], account_id=r[4], event_at=r[5],
            received_at=r[6], arrived_at=r[7], load_id=int(r[8]), account_signup_at=r[9],
            # the staged body (traits already merged with context.traits) stands in for the default root
            payload={**(_parse(r[10]) if r[10] is not None else {}),
                     "properties" if r[1] == "track" else "traits": _parse_any(r[11])},
        )
        for r in rows
    ]


def json_type(value: object) -> str | None:
    """The JSON type name of a decoded value; None for null (absent and null are the same to a suite)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _scalar(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, dict | list):
        return str(value)
    return value


def messages_for(spec: SuiteSpec, messages: Iterable[Message]) -> list[Message]:
    return [m for m in messages if m.type == spec.message_type and (spec.event is None or m.event == spec.event)]


def build_frame(spec: SuiteSpec, messages: list[Message], as_of: datetime) -> pd.DataFrame:
    """One row per message of the suite's kind; columns as named in expectations/README.md."""
    columns: dict[str, list[object]] = {
        "message_id": [m.message_id for m in messages],
        "account_id": [m.account_id for m in messages],
        "user_id": [m.user_id for m in messages],
        "future_skew_seconds": [(m.event_at - as_of).total_seconds() for m in messages],
        "seconds_before_account_signup": [
            (m.account_signup_at - m.event_at).total_seconds() if m.account_signup_at else None for m in messages
        ],
    }
    bodies = [m.body(spec.properties_root) for m in messages]
    for prop in spec.properties:
        values = [b.get(prop) for b in bodies]
        columns[prop] = [_scalar(v) for v in values]
        columns[f"{prop}__type"] = [json_type(v) for v in values]
        columns[f"{prop}__number"] = [
            float(v) if json_type(v) == "number" else None for v in values
        ]
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    for name in ("future_skew_seconds", "seconds_before_account_signup"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for prop in spec.properties:
        frame[f"{prop}__number"] = pd.to_numeric(frame[f"{prop}__number"], errors="coerce").astype("float64")
    return frame


def profile(messages: Iterable[Message]) -> dict[tuple[datetime, str], dict[str, Counter[str]]]:
    """{(arrival hour, event_key): {property: Counter(json_type)}}, property '' counting the rows."""
    out: dict[tuple[datetime, str], dict[str, Counter[str]]] = {}
    for m in messages:
        if m.type not in PROFILED_TYPES:
            continue
        hour = m.arrived_at.replace(minute=0, second=0, microsecond=0)
        props = out.setdefault((hour, event_key(m.type, m.event)), {})
        props.setdefault("", Counter())["rows"] += 1
        root = "properties" if m.type == "track" else "traits"
        for name, value in m.body(root).items():
            props.setdefault(name, Counter())[json_type(value) or "null"] += 1
    return out


def is_late(m: Message, t: DriftThresholds = DEFAULTS) -> bool:
    return m.received_at is not None and m.received_at - m.event_at > t.late_after


def late_share(messages: list[Message], t: DriftThresholds = DEFAULTS) -> tuple[float, list[Message]]:
    late = [m for m in messages if is_late(m, t)]
    return (len(late) / len(messages) if messages else 0.0), late


def late_arrivals(messages: list[Message], t: DriftThresholds = DEFAULTS) -> list[DriftFinding]:
    """Late data counts at its own time, so a late-heavy batch rewrites history the syncs already acted on."""
    _, late = late_share(messages, t)
    return late_findings(len(messages), len(late), [m.message_id for m in late[:10]], t)


def _fingerprint(m: Message) -> bytes:
    root = "properties" if m.type == "track" else "traits"
    return orjson.dumps(
        [m.type, m.event, m.user_id, m.account_id, m.event_at.isoformat(), m.body(root)], option=orjson.OPT_SORT_KEYS
    )


def fingerprint(m: Message) -> bytes | None:
    """A 16-byte digest of what makes two messages the same event; None for kinds that are not compared."""
    if m.type not in ("track", "identify", "group"):
        return None
    return hashlib.blake2b(_fingerprint(m), digest_size=16).digest()


def duplicate_bursts(
    messages: Iterable[Message], lines_read: int, loader_duplicates: int, t: DriftThresholds = DEFAULTS
) -> list[DriftFinding]:
    """Re-sent messages: the loader drops repeated messageIds; the same event under new ids gets through."""
    seen: set[bytes] = set()
    repeats: list[str] = []
    total = 0
    for m in messages:
        fp = fingerprint(m)
        if fp is None:
            continue
        total += 1
        if fp in seen:
            repeats.append(m.message_id)
        else:
            seen.add(fp)
    return duplicate_findings(lines_read, loader_duplicates, total, len(repeats), repeats[:10], t)


def _parse_any(text: str | None) -> object:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _parse(text: str) -> dict:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
