"""Dagster resources: configured from the environment at run time, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.lib import config, warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. `path` empty = ONBOARDING_WAREHOUSE, else $ONBOARDING_HOME/warehouse.duckdb.

    Hands out short-lived connections only: dbt opens the same file while it builds.
    """

    path: str | None = None

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else config.warehouse_path()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.resolved_path(), read_only=read_only) as con:
            yield con
