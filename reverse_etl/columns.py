"""Python values into an Arrow table for DuckDB to read, without importing pandas for a small one.

`pa.array(python_list)` probes for pandas (pyarrow's shim imports it to ask whether the list is a pandas
object) and pays its import, ~0.3 s, in the first sync of every hourly cycle, which otherwise imports no
pandas. DuckDB turns list parameters into columns without it: one `unnest` per column, zipped in order.
But DuckDB binds a list parameter value by value (~2.9 s for a first sync's 380,996 journal rows, where
pyarrow takes ~0.1 s): a table of LARGE rows or more, whose types pyarrow maps exactly, is built by
pyarrow, and the pandas import is then a small part of the work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

# Column -> (DuckDB type, values); every column the same length.
Columns = Mapping[str, tuple[str, Sequence[Any]]]
LARGE = 5_000
# The DuckDB types pyarrow builds the same column for (not timestamps: a naive datetime's zone differs).
_ARROW = {"varchar": pa.string(), "integer": pa.int32(), "bigint": pa.int64(), "double": pa.float64()}


def table(con: duckdb.DuckDBPyConnection, columns: Columns) -> pa.Table:
    """The columns as an Arrow table (for `con.register`), with the given DuckDB types, rows in order."""
    lengths = {len(values) for _, values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    if lengths and max(lengths) >= LARGE and all(sql_type in _ARROW for sql_type, _ in columns.values()):
        return pa.table({name: pa.array(values, _ARROW[sql_type]) for name, (sql_type, values) in columns.items()})
    select = ", ".join(f'unnest(?::{sql_type}[]) as "{name}"' for name, (sql_type, _) in columns.items())
    return con.sql(f"select {select}", params=[list(values) for _, values in columns.values()]).to_arrow_table()
