"""columns.table: Python values into Arrow through DuckDB, typed, in order, nulls kept."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from reverse_etl import columns


def test_columns_keep_their_types_order_and_nulls() -> None:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    table = columns.table(con, {"id": ("varchar", [f"k{i}" for i in range(3000)]),
                                "n": ("integer", [None if i % 7 == 0 else i for i in range(3000)]),
                                "x": ("double", [i / 2 for i in range(3000)]),
                                "ts": ("timestamptz", [at] * 3000)})
    assert [str(t) for t in table.schema.types] == ["string", "int32", "double", "timestamp[us, tz=UTC]"]
    con.register("t", table)
    assert con.execute("select id, n, x, ts from t limit 2").fetchall() == [("k0", None, 0.0, at), ("k1", 1, 0.5, at)]
    assert con.execute("select list(id) = ? from t", [[f"k{i}" for i in range(3000)]]).fetchall() == [(True,)]
    assert columns.table(con, {"id": ("varchar", [])}).num_rows == 0
    with pytest.raises(ValueError, match="different lengths"):
        columns.table(con, {"a": ("varchar", ["x"]), "b": ("varchar", [])})


def test_a_large_table_is_the_same_table_built_by_pyarrow() -> None:
    con = duckdb.connect()
    values = {"id": ("varchar", [None if i % 11 == 0 else f"k{i}" for i in range(columns.LARGE)]),
              "n": ("integer", [None if i % 7 == 0 else i for i in range(columns.LARGE)]),
              "b": ("bigint", [2**40 + i for i in range(columns.LARGE)]),
              "x": ("double", [i / 2 for i in range(columns.LARGE)])}
    large = columns.table(con, values)
    small = columns.table(con, {name: (t, v[:-1]) for name, (t, v) in values.items()})  # through DuckDB
    assert large.schema == small.schema
    assert large.slice(0, columns.LARGE - 1).equals(small)
    assert large.column("n").null_count == small.column("n").null_count + (1 if (columns.LARGE - 1) % 7 == 0 else 0)
