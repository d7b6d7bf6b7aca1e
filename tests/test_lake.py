"""The lake Spark reads (dagster_project/lib/lake.py): each landed message once, resumed after a crash,
and Spark's tables back as DuckDB views. DuckDB only: the Spark cycle itself is tests/spark/test_spark_cycle.py."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.lib import lake


def _land(con: duckdb.DuckDBPyConnection, load_id: int, messages: list[str]) -> None:
    con.execute("insert into raw.loaded_files values (?, ?)", [load_id, f"f{load_id}.jsonl"])
    for message in messages:
        con.execute("insert into raw.segment_messages values (?, ?)", [message, load_id])


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema raw; create schema ops")
    con.execute("create table raw.loaded_files (load_id bigint, path varchar)")
    con.execute("create table raw.segment_messages (message_id varchar, load_id bigint)")
    con.execute("create table ops.send_gate (account_id varchar)")
    return con


SOURCES = [("raw", "loaded_files"), ("raw", "segment_messages"), ("ops", "send_gate")]


def _lake_messages(root: Path) -> list[tuple[str, int]]:
    return duckdb.sql(
        f"select message_id, load_id from read_parquet('{root}/raw/segment_messages/*.parquet') order by all"
    ).fetchall()


def test_each_landing_is_written_once_and_the_small_sources_whole(con: duckdb.DuckDBPyConnection, tmp_path: Path):
    root = tmp_path / "lake"
    _land(con, 1, ["a", "b"])
    _land(con, 2, ["c"])
    assert lake.export_sources(con, SOURCES, root) == {"raw.loaded_files": 2, "raw.segment_messages": 3,
                                                       "ops.send_gate": 0}
    # Nothing new: no file rewritten, nothing appended.
    assert lake.export_sources(con, SOURCES, root)["raw.segment_messages"] == 0
    _land(con, 3, ["d", "e"])
    _land(con, 4, [])  # a file of duplicates only: a load id without messages
    con.execute("insert into ops.send_gate values ('acc_1')")
    assert lake.export_sources(con, SOURCES, root)["raw.segment_messages"] == 2
    assert lake.exported_loads(root / "raw" / "segment_messages") == [(1, 2), (3, 4)]
    assert _lake_messages(root) == [("a", 1), ("b", 1), ("c", 2), ("d", 3), ("e", 3)]
    assert duckdb.sql(f"select count(*) from read_parquet('{root}/ops/send_gate/*.parquet')").fetchall() == [(1,)]


def test_a_crash_mid_export_leaves_no_partial_file_and_the_next_export_resumes(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
):
    root = tmp_path / "lake"
    _land(con, 1, ["a"])
    lake.export_sources(con, SOURCES, root)
    _land(con, 2, ["b"])
    # A crash while writing: the half-written file keeps its temporary name, which readers never match.
    folder = root / "raw" / "segment_messages"
    (folder / ".loads-0000000002-0000000002.parquet.partial").write_bytes(b"PAR1 half")
    assert _lake_messages(root) == [("a", 1)]
    lake.export_sources(con, SOURCES, root)
    assert _lake_messages(root) == [("a", 1), ("b", 2)]
    assert sorted(p.name for p in folder.iterdir()) == [
        "loads-0000000001-0000000001.parquet", "loads-0000000002-0000000002.parquet"]


def test_a_lake_ahead_of_the_warehouse_is_written_again(con: duckdb.DuckDBPyConnection, tmp_path: Path):
    """A restored (older) DuckDB file: the lake would hold messages the warehouse does not; it starts again."""
    root = tmp_path / "lake"
    _land(con, 1, ["a"])
    _land(con, 2, ["b"])
    lake.export_sources(con, SOURCES, root)
    con.execute("delete from raw.segment_messages where load_id = 2; delete from raw.loaded_files where load_id = 2")
    lake.export_sources(con, SOURCES, root)
    assert _lake_messages(root) == [("a", 1)]


def test_spark_tables_become_views_of_the_same_name_replacing_duckdb_tables(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
):
    spark = tmp_path / "spark-warehouse"
    (spark / "marts.db" / "customer_onboarding_state").mkdir(parents=True)
    duckdb.sql(f"copy (select 'acc_1' as account_id, 2 as steps) to "
               f"'{spark / 'marts.db' / 'customer_onboarding_state' / 'part-00000.parquet'}' (format parquet)")
    con.execute("create schema marts; create table marts.customer_onboarding_state as select 'old' as account_id")
    # A Spark view has no files: nothing to read back, nothing replaced.
    assert lake.mirror_tables(con, [("marts", "customer_onboarding_state"), ("staging", "stg_x")], spark) == 1
    assert con.execute("select * from marts.customer_onboarding_state").fetchall() == [("acc_1", 2)]
    assert con.execute(
        "select table_type from information_schema.tables where table_name = 'customer_onboarding_state'"
    ).fetchall() == [("VIEW",)]
