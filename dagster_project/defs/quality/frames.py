"""Turn messages into the pandas frames the suites validate, and into property profiles (pure functions).

Only the columns a suite names are built (see expectations/README.md for the column convention), so a
suite that names a property the batch never carries still gets an all-null column and fails loudly,
rather than GX erroring on a missing column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from dagster_project.defs.quality.batch import Message
from dagster_project.defs.quality.suites import SuiteSpec, event_key

PROFILED_TYPES = ("track", "identify", "group")


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


def merge_profiles(
    into: dict[tuple[datetime, str], dict[str, dict[str, int]]],
    hourly: dict[tuple[datetime, str], dict[str, Counter[str]]],
    after: datetime,
) -> dict[tuple[datetime, str], dict[str, dict[str, int]]]:
    """Add the hours after `after` of a batch profile to an hourly profile read from the warehouse."""
    floor = after.replace(minute=0, second=0, microsecond=0)
    for (hour, key), props in hourly.items():
        if hour <= floor:
            continue
        target = into.setdefault((hour, key), {})
        for prop, types in props.items():
            bucket = target.setdefault(prop, {})
            for json_type, n in types.items():
                bucket[json_type] = bucket.get(json_type, 0) + n
    return into
