"""Everything the Slack sync needs, as a plain value the caller builds (the Dagster resource, from the
environment at run time); this library reads no environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    # The model for drafts; None = templates only (the resource always names one).
    llm_model: str | None = None
    max_llm_drafts: int = 25
    digest_max_items: int = 50
    max_realtime_per_cycle: int = 10
    # Where messages go without a token: <outbox_dir>/slack.jsonl.
    outbox_dir: Path | None = None
