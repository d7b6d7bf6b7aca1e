"""The per-row work of a pass, done by DuckDB on the staged batch (`batch.stage_batch`), not in Python.

A first load is millions of messages, most of them page views and product events no suite reads. Only
the rows of a suite reach Python, as pandas frames built by SQL (`suite_frame`: JSON extraction of just
the properties the suite names, the column convention of expectations/README.md) and handed to GX a chunk at a
time. The property profile, late arrivals and repeated events are SQL aggregates over the whole batch.

The SQL mirrors the Python reference in tests/quality/reference.py (tests/quality/test_chunked_batch.py
compares them on planted drift). Two documented differences, neither of which changes a status or a
count: a non-string property value reaches a suite's value column as its JSON text (`true`,
`{"name":"slack"}`) rather than Python's `str()` of it, so an alert quotes it as JSON; and two messages
are the same event when their top-level properties are equal as JSON text (key order ignored).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from dagster_project.defs.quality.batch import BATCH, STAGED
from dagster_project.defs.quality.merge import Profile
from dagster_project.defs.quality.suites import SuiteSpec

if TYPE_CHECKING:
    import pandas as pd

COMPARED_TYPES = ("track", "identify", "group")
_JSON_TYPE = """case {t}
    when 'VARCHAR' then 'string' when 'BOOLEAN' then 'boolean' when 'OBJECT' then 'object'
    when 'ARRAY' then 'array' when 'NULL' then null
    when 'BIGINT' then 'number' when 'UBIGINT' then 'number' when 'DOUBLE' then 'number'
    when 'HUGEINT' then 'number' else lower({t}) end"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _path(prop: str) -> str:
    return _literal('$."' + prop.replace('"', '\\"') + '"')


def default_root(message_type: str) -> str:
    return "properties" if message_type == "track" else "traits"


def needs_full_payload(specs: list[SuiteSpec]) -> bool:
    """Whether a suite reads another root than the staged `body` (then the whole payload is staged)."""
    return any(s.properties_root != default_root(s.message_type) for s in specs)


def _source(spec: SuiteSpec) -> str:
    if spec.properties_root == default_root(spec.message_type):
        return "body"
    return f"json_extract(payload::json, {_path(spec.properties_root)})"


def suite_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Staged messages per event key."""
    return {k: int(n) for k, n in con.execute(f"select event_key, count(*) from {BATCH} group by all").fetchall()}


# A suite of more than one chunk, its staged rows in arrival order (`order_suite`).
ORDERED = "_quality_suite_ordered"
_ARRIVAL_ORDER = "arrived_at, message_id, staged_row"


def order_suite(con: duckdb.DuckDBPyConnection, spec: SuiteSpec) -> None:
    """Sort a suite's staged rows into arrival order once, for `suite_frame(..., ordered=True)` to read a
    chunk as a range of rows. Each chunk of a first load's suite took the top `start + size` rows of the
    whole suite (`limit ... offset`): a suite of k chunks sorted k times, quadratic in the backlog."""
    con.execute(f"create or replace temp table {ORDERED} as select * from {STAGED} where event_key = ? "
                f"order by {_ARRIVAL_ORDER}", [spec.key])


def drop_ordered(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop table if exists {ORDERED}")


def suite_frame(
    con: duckdb.DuckDBPyConnection, spec: SuiteSpec, as_of: datetime, start: int, size: int, *, ordered: bool = False
) -> pd.DataFrame:
    """Rows `start` .. `start + size - 1` (arrival order) of the suite's event, as `frames.build_frame` builds them;
    `ordered`: read from the suite's rows `order_suite` sorted (a chunk is then a range of rows).

    Arrival order is (arrived_at, message_id), then the staged row: the same rows in the same order
    whatever the chunk size (test_chunked_batch.py).
    """
    # One parse of each body for all the suite's properties (a list of paths), then one value per property.
    paths = ", ".join(_path(prop) for prop in spec.properties)
    values = "".join(f", _values[{i + 1}] as _p{i}" for i in range(len(spec.properties)))
    columns = []
    for i, prop in enumerate(spec.properties):
        t = f"json_type(_p{i})"
        text = f"json_extract_string(_p{i}, '$')"
        columns += [
            f"""case when {t} = 'VARCHAR' then (case when regexp_full_match({text}, '\\s*') then null else {text} end)
                     when {t} = 'NULL' then null else _p{i}::varchar end as {_ident(prop)}""",
            f"{_JSON_TYPE.format(t=t)} as {_ident(prop + '__type')}",
            f"""case when {t} in ('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT') then try_cast({text} as double)
                end as {_ident(prop + '__number')}""",
        ]
    chunk = (f"select * from {ORDERED} where rowid >= ? and rowid < ?" if ordered
             else f"select * from {STAGED} where event_key = ? order by {_ARRIVAL_ORDER} limit ? offset ?")
    sql = f"""
        select message_id, account_id, user_id,
            (epoch_us(event_at) - epoch_us(?::timestamptz)) / 1e6 as future_skew_seconds,
            (epoch_us(signup_at) - epoch_us(event_at)) / 1e6 as seconds_before_account_signup
            {''.join(', ' + c for c in columns)}
        from (
            select *{values} from (
                select *{f', json_extract({_source(spec)}, [{paths}]) as _values' if paths else ''}
                from ({chunk})
            )
        )
        order by {_ARRIVAL_ORDER}
    """
    import pandas as pd  # only when a suite has rows: the code location and an idle pass never load it

    frame = con.execute(sql, [as_of, start, start + size] if ordered else [as_of, spec.key, size, start]).df()
    for name in frame.columns:
        if name in ("future_skew_seconds", "seconds_before_account_signup") or name.endswith("__number"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def profile(con: duckdb.DuckDBPyConnection) -> Profile:
    """{(arrival hour, event_key): {property: Counter(json_type)}}, property '' counting the rows.

    One pass over the batch groups its bodies by shape: `json_structure` (each top-level property with
    its type) and `json_keys` (the properties as written, repeats included), each computed once per
    distinct body of an event and hour. Only the distinct shapes (tens per event and hour) are then taken
    apart into properties, instead of every body: the same counts as `json_each` over every body, for
    about half its cost at 10 M messages. A body that names a property twice (the structure merges the
    two) is read with `json_each` itself, as before.
    """
    con.execute(
        f"""
        create or replace temp table _quality_shapes as
        with bodies as (  -- equal bodies once: most product events repeat a few property values
            select date_trunc('hour', arrived_at) as hour, event_key, body, count(*) as n
            from {BATCH} where type in ('track', 'identify', 'group')
            group by all
        )
        select hour, event_key, json_structure(body)::varchar as shape, json_keys(body) as props, sum(n)::bigint as n
        from bodies group by all
        """
    )
    try:
        out: Profile = {}
        for hour, key, n in con.execute("select hour, event_key, sum(n)::bigint from _quality_shapes group by all").fetchall():
            out.setdefault((hour, key), {})[""] = Counter({"rows": int(n)})
        # A body with properties is an object; its structure holds each property once, with its JSON type
        # (an object without properties is 'JSON': no property of it is counted either way).
        types = con.execute(
            f"""
            with parts as (
                select hour, event_key, e.key, e.value, n
                from _quality_shapes, json_each(_quality_shapes.shape) as e
                where len(props) > 0 and len(props) = len(list_distinct(props))
            ),
            typed as (
                select hour, event_key, key, n, case
                    when json_type(value) in ('OBJECT', 'ARRAY') then json_type(value)
                    when value->>'$' = 'JSON' then 'OBJECT'  -- {{}}: the structure of an empty object
                    else value->>'$' end as t
                from parts
            )
            select hour, event_key, key, coalesce({_JSON_TYPE.format(t='t')}, 'null') as json_type, sum(n)::bigint
            from typed group by all
            """
        ).fetchall()
        if con.execute("select count(*) from _quality_shapes where len(props) <> len(list_distinct(props))").fetchone()[0]:
            types += con.execute(
                f"""
                with bodies as (
                    select date_trunc('hour', arrived_at) as hour, event_key, body
                    from {BATCH}
                    where type in ('track', 'identify', 'group') and len(json_keys(body)) <> len(list_distinct(json_keys(body)))
                )
                select hour, event_key, e.key, coalesce({_JSON_TYPE.format(t='e.type')}, 'null') as json_type, count(*)
                from bodies, json_each(bodies.body) as e
                where json_type(bodies.body) = 'OBJECT'
                group by all
                """
            ).fetchall()
    finally:
        con.execute("drop table if exists _quality_shapes")
    for hour, key, prop, json_type, n in types:
        out.setdefault((hour, key), {}).setdefault(prop, Counter())[json_type] += int(n)
    return out


def late(con: duckdb.DuckDBPyConnection, after: timedelta, samples: int = 10) -> tuple[int, list[str]]:
    """Messages that reached the server more than `after` past their own timestamp, and the first ones' ids."""
    micros = int(after / timedelta(microseconds=1))
    where = f"received_at is not null and epoch_us(received_at) - epoch_us(event_at) > {micros}"
    count = int(con.execute(f"select count(*) from {BATCH} where {where}").fetchone()[0])
    first = [r[0] for r in con.execute(
        f"select message_id from {BATCH} where {where} order by arrived_at, message_id limit {int(samples)}"
    ).fetchall()]
    return count, first


def repeated_events(con: duckdb.DuckDBPyConnection, samples: int = 10) -> tuple[int, int, list[str]]:
    """(comparable messages, those repeating an earlier one in arrival order, the first repeats' ids).

    Same event = same kind, event, user, account, timestamp and top-level properties (key order ignored).
    The properties are compared only among messages that already agree on the rest (a hash of it shared
    by more than one message), so a batch without repeats canonicalises no body.
    """
    head = "hash(type, event, user_id, account_id, event_at)"
    canonical = """case when json_type(body) = 'OBJECT'
        then list_sort(map_entries(json_transform(body, '"MAP(VARCHAR, JSON)"')))::varchar
        else body::varchar end"""
    try:
        con.execute(
            f"""
            create or replace temp table _quality_repeats as
            with heads as (
                select {head} as head from {BATCH} where type in {COMPARED_TYPES}
                group by all having count(*) > 1
            ),
            candidates as (
                select arrived_at, message_id, type, event, user_id, account_id, event_at, {canonical} as canonical
                from {BATCH}
                where type in {COMPARED_TYPES} and {head} in (select head from heads)
            )
            select arrived_at, message_id from (
                select arrived_at, message_id,
                       row_number() over (
                           partition by type, event, user_id, account_id, event_at, canonical
                           order by arrived_at, message_id
                       ) as k
                from candidates
            ) where k > 1
            """
        )
        total = int(con.execute(f"select count(*) from {BATCH} where type in {COMPARED_TYPES}").fetchone()[0])
        repeats = int(con.execute("select count(*) from _quality_repeats").fetchone()[0])
        first = [r[0] for r in con.execute(
            f"select message_id from _quality_repeats order by arrived_at, message_id limit {int(samples)}"
        ).fetchall()]
    finally:
        con.execute("drop table if exists _quality_repeats")
    return total, repeats, first


def unattributed(con: duckdb.DuckDBPyConnection, samples: int = 10) -> tuple[int, int, list[str], dict[str, int]]:
    """(track/page messages, those with no account, the first ones' ids, count per event) of the batch."""
    where = "type in ('track', 'page')"
    checked, missing = con.execute(
        f"select count(*), count(*) filter (where account_id is null) from {BATCH} where {where}"
    ).fetchone()
    first = [r[0] for r in con.execute(
        f"select message_id from {BATCH} where {where} and account_id is null "
        f"order by arrived_at, message_id limit {int(samples)}"
    ).fetchall()]
    by_event = dict(con.execute(
        f"select coalesce(event, type), count(*) from {BATCH} where {where} and account_id is null group by all"
    ).fetchall())
    return int(checked), int(missing), first, {str(k): int(v) for k, v in by_event.items()}
