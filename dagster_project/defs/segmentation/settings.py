"""Segmentation settings from the environment, read at call time (never at import)."""

from __future__ import annotations

from pathlib import Path

from dagster_project.lib import config


def _float(name: str, default: float) -> float:
    raw = config.env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = config.env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def api_key_present() -> bool:
    """The SDK reads ANTHROPIC_API_KEY itself; we only need to know whether the model is in play."""
    return config.env("ANTHROPIC_API_KEY") is not None


def min_confidence() -> float:
    """Below this the model's answer is not trusted: standard, track_source 'fallback'."""
    value = _float("ONBOARDING_SEGMENTATION_MIN_CONFIDENCE", 0.7)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"ONBOARDING_SEGMENTATION_MIN_CONFIDENCE must be within 0-1, got {value}")
    return value


def concurrency() -> int:
    """Requests in flight at once: bounded so one cycle never floods the API's rate limits."""
    return _int("ONBOARDING_SEGMENTATION_CONCURRENCY", 4, minimum=1)


def max_attempts() -> int:
    """Attempts per account per cycle (first call + retries on 429/529/5xx/timeouts)."""
    return _int("ONBOARDING_SEGMENTATION_MAX_ATTEMPTS", 4, minimum=1)


def max_retry_wait_seconds() -> float:
    """Ceiling on one wait, whatever retry-after says, so a cycle cannot hang for an hour."""
    return _float("ONBOARDING_SEGMENTATION_MAX_RETRY_WAIT", 60.0)


def timeout_seconds() -> float:
    return _float("ONBOARDING_SEGMENTATION_TIMEOUT", 30.0)


def max_accounts_per_run() -> int:
    """Cost cap per cycle: accounts beyond it keep the rules' track until a later cycle asks."""
    return _int("ONBOARDING_SEGMENTATION_MAX_PER_RUN", 500, minimum=0)


def max_error_cycles() -> int:
    """Cycles that may re-ask an account whose call failed (transport error), before the fallback sticks."""
    return _int("ONBOARDING_SEGMENTATION_MAX_ERROR_CYCLES", 3, minimum=1)


def price_override() -> tuple[float, float] | None:
    """ONBOARDING_LLM_PRICE_PER_MTOK="input,output" (USD per million tokens) overrides the built-in table."""
    raw = config.env("ONBOARDING_LLM_PRICE_PER_MTOK")
    if raw is None:
        return None
    try:
        input_price, output_price = (float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ValueError(f"ONBOARDING_LLM_PRICE_PER_MTOK must be 'input,output', got {raw!r}") from exc
    return input_price, output_price


def enrichment_path() -> Path:
    """A file or a folder of *.csv / *.parquet firmographics (default: <landing>/enrichment/)."""
    raw = config.env("ONBOARDING_ENRICHMENT_PATH")
    if raw is None:
        return config.landing_dir() / "enrichment"
    return Path(raw).expanduser().resolve()


def audit_dir() -> Path:
    return config.reports_dir() / "segmentation_audit"


def audit_sample_size() -> int:
    return _int("ONBOARDING_SEGMENTATION_AUDIT_SAMPLE", 50, minimum=1)


def audit_min_accuracy() -> float:
    return _float("ONBOARDING_SEGMENTATION_AUDIT_MIN_ACCURACY", 0.90)
