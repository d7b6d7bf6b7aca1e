"""Python values into an Arrow table for DuckDB to read, built by DuckDB rather than by pyarrow.

`pa.array(python_list)` probes for pandas (pyarrow's shim imports it to ask whether the list is a pandas
object) and pays its import, ~0.3 s, in the first sync of every hourly cycle, which otherwise imports no
pandas. DuckDB turns list parameters into columns without it: one `unnest` per column, zipped in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

# Column -> (DuckDB type, values); every column the same length.
Columns = Mapping[str, tuple[str, Sequence[Any]]]


def table(con: duckdb.DuckDBPyConnection, columns: Columns) -> pa.Table:
    """The columns as an Arrow table (for `con.register`), with the given DuckDB types, rows in order."""
    lengths = {len(values) for _, values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    select = ", ".join(f'unnest(?::{sql_type}[]) as "{name}"' for name, (sql_type, _) in columns.items())
    return con.sql(f"select {select}", params=[list(values) for _, values in columns.values()]).to_arrow_table()
