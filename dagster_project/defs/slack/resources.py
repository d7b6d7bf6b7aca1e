"""The Slack integration's settings: one resource, the only place its variables are named."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from dagster_project.defs.segmentation.settings import ANTHROPIC_API_KEY, LLM_MODEL
from dagster_project.lib import config
from dagster_project.lib.resources import EnvBackedResource
from dagster_project.lib.settings import Env
from reverse_etl.slack import SlackSettings

# Data-quality alerts go to this channel from the quality pass too (defs/quality/run.py).
CHANNEL_DATA = Env("SLACK_CHANNEL_DATA", "#data-alerts", "data-quality alerts")


def parse_digest_hour(raw: str | int) -> int:
    try:
        hour = int(raw)
    except ValueError as exc:
        raise ValueError(f"ONBOARDING_DIGEST_HOUR must be an hour 0-23, got {raw!r}") from exc
    if not 0 <= hour <= 23:
        raise ValueError(f"ONBOARDING_DIGEST_HOUR must be an hour 0-23, got {hour}")
    return hour


class SlackResource(EnvBackedResource):
    """Slack and draft settings, read at run time. No token = the local outbox
    ($ONBOARDING_HOME/outbox/slack.jsonl)."""

    ENV: ClassVar[dict[str, Env]] = {
        "bot_token": Env("SLACK_BOT_TOKEN", None, "unset = write Slack messages to the local outbox instead of posting"),
        "api_url": Env("SLACK_API_URL", "https://slack.com/api/", "base URL for slack_sdk's WebClient"),
        "channel_alerts": Env("SLACK_CHANNEL_ALERTS", "#cs-alerts", "real-time CSM alerts (P0)"),
        "channel_digest": Env("SLACK_CHANNEL_DIGEST", "#cs-digest", "the daily digest"),
        "channel_data": CHANNEL_DATA,
        "digest_hour": Env("ONBOARDING_DIGEST_HOUR", "9",
                           "hour (UTC, of the as-of clock) from which the daily digest goes out"),
        "anthropic_api_key": ANTHROPIC_API_KEY,
        "llm_model": LLM_MODEL,
    }

    bot_token: str | None = None
    api_url: str | None = None
    channel_alerts: str | None = None
    channel_digest: str | None = None
    channel_data: str | None = None
    digest_hour: int | None = None
    anthropic_api_key: str | None = None
    llm_model: str | None = None
    per_channel_rate: float = 1.0
    max_llm_drafts: int = 25
    digest_max_items: int = 50
    max_realtime_per_cycle: int = 10

    def settings(self, **overrides: Any) -> SlackSettings:
        """The library's settings for one Slack cycle; keyword overrides win (tests)."""
        hour = self.digest_hour if self.digest_hour is not None else parse_digest_hour(self.value("digest_hour"))
        base = SlackSettings(
            token=self.value("bot_token"),
            base_url=self.value("api_url"),
            channel_alerts=self.value("channel_alerts"),
            channel_digest=self.value("channel_digest"),
            channel_data=self.value("channel_data"),
            digest_hour=hour,
            per_channel_rate=self.per_channel_rate,
            anthropic_api_key=self.value("anthropic_api_key"),
            llm_model=self.value("llm_model"),
            max_llm_drafts=self.max_llm_drafts,
            digest_max_items=self.digest_max_items,
            max_realtime_per_cycle=self.max_realtime_per_cycle,
            outbox_dir=config.outbox_dir(),
        )
        return replace(base, **overrides) if overrides else base
