"""Every DuckDB connection of a cycle, and dbt's, run under one memory cap (ONBOARDING_DUCKDB_MEMORY).

Without it DuckDB takes up to 80% of the machine: a first load of 30 days at 100k accounts peaked at
9.8 GiB; with the 3GB default it stays near 3 GiB and spills to disk (README, "Performance").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.lib import config, warehouse

ROOT = Path(__file__).resolve().parents[1]


def _limit(path: Path) -> str:
    with warehouse.connect(path) as con:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]


def test_connections_take_the_configured_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_DUCKDB_MEMORY", "1GB")
    assert _limit(tmp_path / "w.duckdb") == "953.6 MiB"  # DuckDB shows 1 GB in MiB
    monkeypatch.delenv("ONBOARDING_DUCKDB_MEMORY")
    assert _limit(tmp_path / "w.duckdb") == "2.7 GiB"  # the 3GB default


def test_a_bad_size_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_DUCKDB_MEMORY", "lots")
    with pytest.raises(ValueError, match=r"^not a DuckDB memory size: 'lots' \(e\.g\. 3GB\)$"):
        _limit(tmp_path / "w.duckdb")


def test_dbt_reads_the_same_variable_with_the_same_default() -> None:
    profile = yaml.safe_load((ROOT / "dbt_project" / "profiles.yml").read_text())
    setting = profile["onboarding"]["outputs"]["duckdb"]["settings"]["memory_limit"]
    assert config.DUCKDB_MEMORY.variable in setting and f"'{config.DUCKDB_MEMORY.default}'" in setting
