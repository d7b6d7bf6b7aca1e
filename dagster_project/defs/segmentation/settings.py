"""Segmentation settings: each variable declared once (an `Env`), read at call time (never at import).

The Anthropic integration's two shared variables (the key, the model) are declared here too; the Slack
drafts read the same declarations (defs/slack/resources.py), and SegmentationModelResource lists the
ones behind its fields.
"""

from __future__ import annotations

from pathlib import Path

from dagster_project.lib import config
from dagster_project.lib.settings import Env

ANTHROPIC_API_KEY = Env("ANTHROPIC_API_KEY", None,
                        "unset = rules-based segmentation and template drafts (the result says so)")
LLM_MODEL = Env("ONBOARDING_LLM_MODEL", config.DEFAULT_MODEL, "model for segmentation and recovery drafts",
                shown_default="a current Claude model id (`" + config.DEFAULT_MODEL + "`)")
MIN_CONFIDENCE = Env("ONBOARDING_SEGMENTATION_MIN_CONFIDENCE", "0.7",
                     "below this the model's answer is not trusted: standard track, `track_source` fallback")
CONCURRENCY = Env("ONBOARDING_SEGMENTATION_CONCURRENCY", "4", "segmentation requests in flight at once")
MAX_ATTEMPTS = Env("ONBOARDING_SEGMENTATION_MAX_ATTEMPTS", "4",
                   "attempts per account per cycle (first call + retries on 429/529/5xx/timeouts)")
MAX_RETRY_WAIT = Env("ONBOARDING_SEGMENTATION_MAX_RETRY_WAIT", "60", "ceiling on one retry wait, seconds")
TIMEOUT = Env("ONBOARDING_SEGMENTATION_TIMEOUT", "30", "seconds per segmentation request")
MAX_PER_RUN = Env("ONBOARDING_SEGMENTATION_MAX_PER_RUN", "500",
                  "cost cap: accounts asked per cycle (the rest keep the rules' track until a later cycle)")
MAX_ERROR_CYCLES = Env("ONBOARDING_SEGMENTATION_MAX_ERROR_CYCLES", "3",
                       "cycles that may re-ask an account whose call failed, before the fallback sticks")
PRICE_PER_MTOK = Env("ONBOARDING_LLM_PRICE_PER_MTOK", None,
                     "`input,output` USD per million tokens; unset = the built-in price table")
ENRICHMENT_PATH = Env("ONBOARDING_ENRICHMENT_PATH", None, "firmographics file or folder (*.csv, *.parquet)",
                      shown_default="`$ONBOARDING_LANDING_DIR/enrichment/`")
AUDIT_SAMPLE = Env("ONBOARDING_SEGMENTATION_AUDIT_SAMPLE", "50", "accounts sampled by the monthly accuracy audit")
AUDIT_MIN_ACCURACY = Env("ONBOARDING_SEGMENTATION_AUDIT_MIN_ACCURACY", "0.90",
                         "the audit's accuracy below which the segmentation accuracy check fails")


def _float(env: Env) -> float:
    raw = env.read()
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{env.variable} must be a number, got {raw!r}") from exc


def _int(env: Env, minimum: int = 0) -> int:
    raw = env.read()
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{env.variable} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{env.variable} must be >= {minimum}, got {value}")
    return value


def api_key_present() -> bool:
    """The SDK reads ANTHROPIC_API_KEY itself; we only need to know whether the model is in play."""
    return ANTHROPIC_API_KEY.is_set()


def min_confidence() -> float:
    """Below this the model's answer is not trusted: standard, track_source 'fallback'."""
    value = _float(MIN_CONFIDENCE)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"ONBOARDING_SEGMENTATION_MIN_CONFIDENCE must be within 0-1, got {value}")
    return value


def concurrency() -> int:
    """Requests in flight at once: bounded so one cycle never floods the API's rate limits."""
    return _int(CONCURRENCY, minimum=1)


def max_attempts() -> int:
    """Attempts per account per cycle (first call + retries on 429/529/5xx/timeouts)."""
    return _int(MAX_ATTEMPTS, minimum=1)


def max_retry_wait_seconds() -> float:
    """Ceiling on one wait, whatever retry-after says, so a cycle cannot hang for an hour."""
    return _float(MAX_RETRY_WAIT)


def timeout_seconds() -> float:
    return _float(TIMEOUT)


def max_accounts_per_run() -> int:
    """Cost cap per cycle: accounts beyond it keep the rules' track until a later cycle asks."""
    return _int(MAX_PER_RUN, minimum=0)


def max_error_cycles() -> int:
    """Cycles that may re-ask an account whose call failed (transport error), before the fallback sticks."""
    return _int(MAX_ERROR_CYCLES, minimum=1)


def price_override() -> tuple[float, float] | None:
    """ONBOARDING_LLM_PRICE_PER_MTOK="input,output" (USD per million tokens) overrides the built-in table."""
    raw = PRICE_PER_MTOK.read()
    if raw is None:
        return None
    try:
        input_price, output_price = (float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ValueError(f"ONBOARDING_LLM_PRICE_PER_MTOK must be 'input,output', got {raw!r}") from exc
    return input_price, output_price


def enrichment_path() -> Path:
    """A file or a folder of *.csv / *.parquet firmographics (default: <landing>/enrichment/)."""
    raw = ENRICHMENT_PATH.read()
    if raw is None:
        return config.landing_dir() / "enrichment"
    return Path(raw).expanduser().resolve()


def audit_dir() -> Path:
    return config.reports_dir() / "segmentation_audit"


def audit_sample_size() -> int:
    return _int(AUDIT_SAMPLE, minimum=1)


def audit_min_accuracy() -> float:
    return _float(AUDIT_MIN_ACCURACY)
