"""What made a first pass cheaper says exactly what it said before (expectations/README.md, "What a pass costs").

The property profile groups bodies by shape (`json_structure`, `json_keys`) instead of taking every body
apart: here it is compared with `json_each` over every body, on bodies with every JSON type, nested and
empty values, odd keys and repeated keys.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb

from dagster_project.defs.quality import batch, scan

_VALUES = [
    '"x"',
    '""',
    '"  "',
    "1",
    "-5",
    "1.5",
    "1e400",
    "12345678901234567890",
    "123456789012345678901234567890",
    "true",
    "false",
    "null",
    "{}",
    "[]",
    '[1,"x"]',
    "[{}]",
    "[[]]",
    '{"a":1}',
    '{"a":1,"a":"x"}',
    '{"b":{"c":null}}',
    "[null]",
    "0",
    "-0.0",
]
_KEYS = [
    "a",
    "b",
    "plan_tier",
    "",
    "a.b",
    'q"uote',
    "back\\slash",
    "été",
    "\x00",
    "sp ace",
]  # written escaped


def _body(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.05:
        return rng.choice(['"text"', "[1,2]", "3", "null", "{}", "[]"])
    keys = rng.sample(_KEYS, rng.randint(1, 4))
    if rng.random() < 0.1:
        keys.append(rng.choice(keys))  # a property named twice
    return "{" + ",".join(f"{json.dumps(k)}:{rng.choice(_VALUES)}" for k in keys) + "}"


def _json_each_profile(con: duckdb.DuckDBPyConnection) -> dict:
    """The profile as the pass computed it before: `json_each` over every body."""
    out: dict = {}
    for hour, key, n in con.execute(
        f"select date_trunc('hour', arrived_at), event_key, count(*) from {batch.BATCH} "
        "where type in ('track', 'identify', 'group') group by all"
    ).fetchall():
        out.setdefault((hour, key), {})[""] = Counter({"rows": int(n)})
    for hour, key, prop, json_type, n in con.execute(
        f"""
        with bodies as (
            select date_trunc('hour', arrived_at) as hour, event_key, body
            from {batch.BATCH} where type in ('track', 'identify', 'group')
        )
        select hour, event_key, e.key, coalesce({scan._JSON_TYPE.format(t="e.type")}, 'null'), count(*)
        from bodies, json_each(bodies.body) as e
        where json_type(bodies.body) = 'OBJECT'
        group by all
        """
    ).fetchall():
        out.setdefault((hour, key), {}).setdefault(prop, Counter())[json_type] += int(n)
    return out


def test_the_profile_by_shape_is_the_profile_of_every_body() -> None:
    rng = random.Random(13)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    rows = []
    for _ in range(4000):
        kind = rng.choice(["track", "track", "identify", "group", "page"])
        body = None if kind == "page" or rng.random() < 0.03 else _body(rng)
        key = f"track:{rng.choice(['signup_completed', 'project_created'])}" if kind == "track" else kind
        rows.append((start + timedelta(minutes=rng.randint(0, 300)), key, kind, body))
    con = duckdb.connect()
    try:
        con.execute(
            f"create temp table {batch.BATCH} (arrived_at timestamptz, event_key varchar, type varchar, body json)"
        )
        con.executemany(f"insert into {batch.BATCH} values (?, ?, ?, ?)", rows)
        expected = _json_each_profile(con)
        assert scan.profile(con) == expected
        props = {p for hour_key in expected.values() for p in hour_key}
        assert {"", "a.b", 'q"uote', "\x00", "été"} <= props  # the odd keys did reach the profile
        assert any(sum(c.values()) > 0 and "object" in c for p in expected.values() for c in p.values())
        # without any property named twice the fallback is not read, and the result is the same
        con.execute(
            f"delete from {batch.BATCH} where len(json_keys(body)) <> len(list_distinct(json_keys(body)))"
        )
        assert scan.profile(con) == _json_each_profile(con)
    finally:
        con.close()
    assert json.loads('{"a":1,"a":"x"}') == {"a": "x"}  # what a repeated property is to Python (the last)
