"""The enrichment file the user drops in: CSV or Parquet, documented schema, the newest file wins."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.segmentation.enrichment import EnrichmentFileError, load_firmographics
from dagster_project.lib import warehouse

HEADER = "account_id,domain,employees,industry,country,funding_stage,tech_stack,founded_year,annual_revenue_usd\n"


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        yield connection


def rows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in con.execute(
            "select account_id, employees, funding_stage, tech_stack, annual_revenue_usd from raw.firmographics"
        ).fetchall()
    }


def test_no_file_gives_an_empty_table(con, tmp_path: Path) -> None:
    result = load_firmographics(con, tmp_path / "enrichment")
    assert result.files == [] and rows(con) == {}


def test_csv_is_typed_and_reloaded_only_when_it_changes(con, tmp_path: Path) -> None:
    folder = tmp_path / "enrichment"
    folder.mkdir()
    (folder / "firmographics.csv").write_text(
        HEADER
        + "acc_1,cedar.io,40,software,US,series_a,aws;dbt,2019,5000000\n"
        + "acc_2,tiny.co,not-a-number,media,GB,seed,,2023,\n"
        + ",orphan.io,5,media,GB,seed,,2023,1\n"
    )
    first = load_firmographics(con, folder)
    assert first.loaded and first.rows == 2 and first.rejected == 1
    assert rows(con) == {"acc_1": (40, "series_a", "aws;dbt", 5000000.0), "acc_2": (None, "seed", None, None)}
    assert not load_firmographics(con, folder).loaded  # same files: nothing to do


def test_parquet_and_csv_together_the_newest_file_wins(con, tmp_path: Path) -> None:
    folder = tmp_path / "enrichment"
    folder.mkdir()
    old = folder / "a_old.csv"
    old.write_text(HEADER + "acc_1,cedar.io,40,software,US,series_a,aws,2019,5000000\n")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    con.execute(
        f"copy (select 'acc_1' as account_id, 55 as employees, 'series_b' as funding_stage, "
        f"'acc_3' as extra_column) to '{folder / 'b_new.parquet'}' (format parquet)"
    )
    load_firmographics(con, folder)
    assert rows(con) == {"acc_1": (55, "series_b", None, None)}


def test_a_file_without_account_id_is_refused_with_its_name(con, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,employees\nacc_1,4\n")
    with pytest.raises(EnrichmentFileError, match="bad.csv has no account_id"):
        load_firmographics(con, bad)
