"""Settings read from the environment at call time, never at import.

Every path and credential the project uses is named here once, so the CLI, the Dagster
resources, the reverse-ETL package and the tests agree on what a variable means
(see ../shared/CONTRACT.md, "Configuration").
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_MODEL = "claude-sonnet-5-5"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def home() -> Path:
    return Path(_env("ONBOARDING_HOME", "./data")).expanduser().resolve()


def warehouse_path() -> Path:
    return Path(_env("ONBOARDING_WAREHOUSE", str(home() / "warehouse.duckdb"))).expanduser().resolve()


def landing_dir() -> Path:
    return Path(_env("ONBOARDING_LANDING_DIR", str(home() / "landing"))).expanduser().resolve()


def outbox_dir() -> Path:
    return home() / "outbox"


def reports_dir() -> Path:
    return home() / "reports"


def llm_model() -> str:
    return _env("ONBOARDING_LLM_MODEL", DEFAULT_MODEL)


def digest_hour() -> int:
    raw = _env("ONBOARDING_DIGEST_HOUR", "9")
    try:
        hour = int(raw)
    except ValueError as exc:
        raise ValueError(f"ONBOARDING_DIGEST_HOUR must be an hour 0-23, got {raw!r}") from exc
    if not 0 <= hour <= 23:
        raise ValueError(f"ONBOARDING_DIGEST_HOUR must be an hour 0-23, got {hour}")
    return hour


def env(name: str, default: str | None = None) -> str | None:
    """Public accessor for the less common variables (credentials, hosts, channels)."""
    return _env(name, default)


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def dbt_project_dir() -> Path:
    return project_root() / "dbt_project"


def dbt_target_dir() -> Path:
    """dbt's target/ folder; a separate one per warehouse lets test sessions and `dagster dev` coexist."""
    return Path(_env("ONBOARDING_DBT_TARGET", str(dbt_project_dir() / "target"))).expanduser().resolve()


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
