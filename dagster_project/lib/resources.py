"""Dagster resources: configured from the environment at run time, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import duckdb

from dagster_project.lib import config, warehouse
from dagster_project.lib.settings import Env


class EnvBackedResource(dg.ConfigurableResource):
    """A ConfigurableResource whose empty fields fall back, at run time, to the variables of `ENV`."""

    ENV: ClassVar[dict[str, Env]] = {}

    def value(self, field: str) -> Any:
        """The field as configured, else its variable (or that variable's default)."""
        configured = getattr(self, field)
        if configured not in (None, ""):
            return configured
        return self.ENV[field].read()


class WarehouseResource(EnvBackedResource):
    """The DuckDB warehouse. `path` empty = ONBOARDING_WAREHOUSE, else $ONBOARDING_HOME/warehouse.duckdb.

    Hands out short-lived connections only: dbt opens the same file while it builds.
    """

    ENV: ClassVar[dict[str, Env]] = {"path": config.WAREHOUSE}

    path: str | None = None

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else config.warehouse_path()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.resolved_path(), read_only=read_only) as con:
            yield con
