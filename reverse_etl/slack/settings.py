"""Everything the Slack sync reads from the environment, gathered once per run (never at import)."""

from __future__ import annotations

from dataclasses import dataclass

from dagster_project.lib import config

AT_RISK_KINDS = frozenset({"stalled", "checkpoint_missed", "win_back"})
# Kinds that get a draft for the CSM: a recovery e-mail (at risk) or the kickoff briefing (reverse_etl/slack/drafts.py).
DRAFTED_KINDS = AT_RISK_KINDS | {"kickoff_booked"}


@dataclass(frozen=True)
class SlackSettings:
    token: str | None = None
    base_url: str = "https://slack.com/api/"
    channel_alerts: str = "#cs-alerts"
    channel_digest: str = "#cs-digest"
    channel_data: str = "#data-alerts"
    digest_hour: int = 9
    per_channel_rate: float = 1.0
    anthropic_api_key: str | None = None
    llm_model: str = config.DEFAULT_MODEL
    max_llm_drafts: int = 25
    digest_max_items: int = 50
    max_realtime_per_cycle: int = 10

    @classmethod
    def from_env(cls, **overrides: object) -> SlackSettings:
        """SLACK_BOT_TOKEN, SLACK_API_URL, SLACK_CHANNEL_*, ONBOARDING_DIGEST_HOUR, ANTHROPIC_API_KEY,
        ONBOARDING_LLM_MODEL, as the contract names them; keyword overrides win (tests, resources)."""
        values: dict[str, object] = {
            "token": config.env("SLACK_BOT_TOKEN"),
            "base_url": config.env("SLACK_API_URL", "https://slack.com/api/"),
            "channel_alerts": config.env("SLACK_CHANNEL_ALERTS", "#cs-alerts"),
            "channel_digest": config.env("SLACK_CHANNEL_DIGEST", "#cs-digest"),
            "channel_data": config.env("SLACK_CHANNEL_DATA", "#data-alerts"),
            "digest_hour": config.digest_hour(),
            "anthropic_api_key": config.env("ANTHROPIC_API_KEY"),
            "llm_model": config.llm_model(),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
