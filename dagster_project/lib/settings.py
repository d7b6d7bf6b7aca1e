"""Every environment variable the project reads, declared once as an `Env`: its name, default and meaning.

Read at run time (`Env.read()`, the one place that looks at `os.environ`), never at import. Resources
list the variables behind their fields in `ENV` (lib/resources.py, `EnvBackedResource`): a field left
empty in the Definitions falls back, when a run asks for it, to its variable, then to the default.
Optional credentials stay optional that way: an unset token means "write to the local outbox", which a
required `dg.EnvVar` field could not express (Dagster refuses a run whose `EnvVar` is unset).
The README's configuration table is checked against these declarations (tests/test_configuration_table.py).

No dagster import here: the CLI reads ONBOARDING_HOME before it takes the workspace lock, and a refused
second cycle must answer in well under a second.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class Env(NamedTuple):
    """An environment variable: its name, its default (None = unset) and what it means.

    `shown_default` is the default as the README states it when it is derived, not a literal
    (`$ONBOARDING_HOME/warehouse.duckdb`).
    """

    variable: str
    default: str | None
    meaning: str
    shown_default: str | None = None

    def read(self) -> str | None:
        """The variable's value now (empty counts as unset), else the default."""
        raw = os.environ.get(self.variable)
        return raw if raw not in (None, "") else self.default

    def is_set(self) -> bool:
        return os.environ.get(self.variable) not in (None, "")

    def documented_default(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        return "unset" if self.default is None else f"`{self.default}`"
