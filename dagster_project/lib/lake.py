"""The warehouse on Spark: dbt's sources as parquet files Spark reads, and Spark's tables back as DuckDB views.

With `ONBOARDING_ENGINE=spark` the dbt steps build on Spark, while the Python steps (landing, the
data-quality pass, the AI segmentation, the syncs, the summary and the report) keep their one warehouse
interface, the DuckDB file:

- **Sources out** (`export_sources`, before each dbt step): every dbt source table is written as parquet
  under the lake (`ONBOARDING_LAKE_DIR`, one folder per table: `<lake>/<schema>/<table>/`, the layout
  `register_parquet_sources` registers in Spark's catalog). `raw.segment_messages` is append-only: each
  landing's rows are written once, as one file named after its load ids (`loads-<first>-<last>.parquet`),
  so the lake holds each landed message exactly once, as the landing committed it (once per file, once per
  messageId, quarantined lines apart). A file is written under a temporary name and renamed when
  complete, so a crash mid-export leaves nothing half-written, and the next step exports what is missing.
  The other sources (the ledger, firmographics, the `ops` tables dbt reads) are small and written whole.
- **Tables back** (`mirror_tables`, after each dbt step): each table dbt built on Spark becomes a DuckDB
  view over its parquet files (`<spark warehouse>/<schema>.db/<table>/`), under the same schema and
  name, so every reader of `intermediate.*` and `marts.*` works unchanged.

The local Spark session (`ONBOARDING_SPARK_METHOD=session`) keeps its tables under
`ONBOARDING_SPARK_WAREHOUSE_DIR`. A cluster keeps them in its own storage: the lake and the Spark
warehouse are then URIs DuckDB reads through its httpfs extension (README, "Running on Spark").
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from dagster_project.lib import config
from dagster_project.lib.settings import Env

LAKE_DIR = Env("ONBOARDING_LAKE_DIR", None, "`spark` engine: where dbt's sources are written as parquet for Spark",
               shown_default="`$ONBOARDING_HOME/lake`")
SPARK_WAREHOUSE_DIR = Env("ONBOARDING_SPARK_WAREHOUSE_DIR", None,
                          "`spark` engine, `session` method: Spark's tables (parquet) and its local metastore",
                          shown_default="`$ONBOARDING_HOME/spark-warehouse`")

# The one append-only source; a file holds the messages of the load ids in its name.
MESSAGES = ("raw", "segment_messages")
_LOADS_FILE = re.compile(r"^loads-(\d+)-(\d+)\.parquet$")


def on_spark() -> bool:
    return config.engine() == "spark"


def lake_dir() -> Path:
    return Path(LAKE_DIR.read() or str(config.home() / "lake")).expanduser().resolve()


def spark_warehouse_dir() -> Path:
    return Path(SPARK_WAREHOUSE_DIR.read() or str(config.home() / "spark-warehouse")).expanduser().resolve()


def dbt_sources(manifest_path: Path) -> list[tuple[str, str]]:
    """(schema, table) of every source the dbt project declares."""
    manifest = json.loads(manifest_path.read_text())
    return sorted({(s["schema"], s["identifier"]) for s in manifest["sources"].values()})


def exported_loads(folder: Path) -> list[tuple[int, int]]:
    """The load-id ranges already in the lake, from the files' names."""
    if not folder.exists():
        return []
    return sorted((int(m[1]), int(m[2])) for p in folder.iterdir() if (m := _LOADS_FILE.match(p.name)))


def export_sources(con: duckdb.DuckDBPyConnection, sources: Iterable[tuple[str, str]], lake: Path) -> dict[str, int]:
    """Write dbt's sources where Spark reads them; returns rows written per table (messages: new only)."""
    written: dict[str, int] = {}
    for schema, table in sources:
        folder = lake / schema / table
        folder.mkdir(parents=True, exist_ok=True)
        if (schema, table) == MESSAGES:
            written[f"{schema}.{table}"] = _export_new_loads(con, folder)
        else:
            rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            _copy(con, f'select * from "{schema}"."{table}"', folder / "part-0.parquet")
            written[f"{schema}.{table}"] = int(rows)
    return written


def _export_new_loads(con: duckdb.DuckDBPyConnection, folder: Path) -> int:
    done = exported_loads(folder)
    last_landed = con.execute("select coalesce(max(load_id), 0) from raw.loaded_files").fetchall()[0][0]
    last_exported = max((hi for _, hi in done), default=0)
    if last_exported > last_landed:
        # The lake is ahead of this warehouse (a restored or replaced DuckDB file): start it again.
        for p in folder.iterdir():
            p.unlink()
        last_exported = 0
    if last_landed <= last_exported:
        return 0
    first, last = last_exported + 1, int(last_landed)
    query = f"select * from raw.segment_messages where load_id between {first} and {last}"
    rows = con.execute(f"select count(*) from ({query})").fetchall()[0][0]
    _copy(con, query, folder / f"loads-{first:010d}-{last:010d}.parquet")
    return int(rows)


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    """One parquet file, complete or absent: written aside, then renamed over the old one."""
    partial = path.with_name(f".{path.name}.partial")
    con.execute(f"copy ({query}) to '{partial}' (format parquet)")
    os.replace(partial, path)


def mirror_tables(con: duckdb.DuckDBPyConnection, relations: Iterable[tuple[str, str]], spark_dir: Path) -> int:
    """Each (schema, name) Spark wrote as parquet becomes a DuckDB view of that name; returns how many."""
    mirrored = 0
    for schema, name in relations:
        files = spark_dir / f"{schema}.db" / name
        if not any(files.glob("*.parquet")):
            continue  # a view on Spark, or an empty table: nothing to read back
        con.execute(f'create schema if not exists "{schema}"')
        kind = con.execute(
            "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
        if kind and kind[0][0] == "BASE TABLE":
            con.execute(f'drop table "{schema}"."{name}"')
        con.execute(
            f'create or replace view "{schema}"."{name}" as select * from read_parquet(\'{files}/*.parquet\')'
        )
        mirrored += 1
    return mirrored
