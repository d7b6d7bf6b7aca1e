"""The workspace's paths and the cycle's clock, from the environment at call time, never at import.

The variables here are the workspace's own (where it lives, where dbt writes, how the CLI talks);
each integration's variables are declared by its resource (dagster_project/defs/<domain>/resources.py).
All of them are `Env` declarations (lib/settings.py), listed in the README's configuration table
(see ../shared/CONTRACT.md, "Configuration").
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dagster_project.lib.settings import Env

DEFAULT_MODEL = "claude-sonnet-5-5"

HOME = Env("ONBOARDING_HOME", "./data", "root for the embedded default: `warehouse.duckdb`, `landing/`, `outbox/`, `reports/`")
WAREHOUSE = Env("ONBOARDING_WAREHOUSE", None, "the DuckDB file (dbt's profile reads the same variable)",
                shown_default="`$ONBOARDING_HOME/warehouse.duckdb`")
LANDING_DIR = Env("ONBOARDING_LANDING_DIR", None, "where event files land", shown_default="`$ONBOARDING_HOME/landing`")
# dbt's profile reads the same variable (dbt_project/profiles.yml, the same default): one cap for every DuckDB
# connection of a cycle, so a first load of a long history spills to disk instead of growing with it.
DUCKDB_MEMORY = Env("ONBOARDING_DUCKDB_MEMORY", "3GB",
                    "DuckDB's memory limit for the cycle's connections and dbt's builds (it spills to disk past it)")
DBT_TARGET = Env("ONBOARDING_DBT_TARGET", None, "dbt's target folder (tests use their own)",
                 shown_default="`dbt_project/target`")
DEBUG = Env("ONBOARDING_DEBUG", None,
            "set: the CLI raises with a traceback, and a cycle's dbt and Dagster output goes to the terminal instead of its log")
# dbt's profile reads the same variable (dbt_project/profiles.yml): one variable chooses the engine of every dbt call.
ENGINE = Env("ONBOARDING_ENGINE", "duckdb", "the engine dbt builds on: `duckdb` or `spark` (README, \"Running on Spark\")")
PROGRESS = Env("ONBOARDING_PROGRESS", "1", "`0` = `onboarding run` reports no step progress on stderr")


def home() -> Path:
    return Path(HOME.read()).expanduser().resolve()


def warehouse_path() -> Path:
    return Path(WAREHOUSE.read() or str(home() / "warehouse.duckdb")).expanduser().resolve()


def landing_dir() -> Path:
    return Path(LANDING_DIR.read() or str(home() / "landing")).expanduser().resolve()


def outbox_dir() -> Path:
    return home() / "outbox"


def reports_dir() -> Path:
    return home() / "reports"


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def dbt_project_dir() -> Path:
    return project_root() / "dbt_project"


def engine() -> str:
    """`duckdb` (the default) or `spark`; anything else is a one-line error."""
    value = (ENGINE.read() or "duckdb").strip().lower()
    if value not in ("duckdb", "spark"):
        raise ValueError(f"ONBOARDING_ENGINE={value!r}: expected `duckdb` or `spark`")
    return value


def dbt_target_dir() -> Path:
    """dbt's target/ folder; a separate one per warehouse lets test sessions and `dagster dev` coexist.
    Spark's manifest differs from DuckDB's (configs per engine): it is prepared in `<target>/spark`."""
    base = Path(DBT_TARGET.read() or str(dbt_project_dir() / "target")).expanduser().resolve()
    return base / "spark" if engine() == "spark" else base


def parse_as_of(value: str | None) -> datetime:
    """The clock of one cycle: an ISO timestamp (naive = UTC), default now; always UTC, to the second."""
    if value is None or value == "":
        return datetime.now(UTC).replace(microsecond=0)
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 time: {value!r} (expected e.g. 2026-11-01T09:00:00Z)") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
