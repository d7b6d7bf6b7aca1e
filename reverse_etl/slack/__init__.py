"""Slack for the CS team: ranked real-time P0 alerts, one daily digest, AI-drafted recovery e-mails,
high-touch signup pings, and data-quality alerts. The ranking is dbt's (marts.csm_alerts); this package
routes, words, remembers (ops.slack_*) and delivers (ops.outbox, channel 'slack')."""

from reverse_etl.slack.data_quality import post_data_quality_alert
from reverse_etl.slack.settings import SlackSettings
from reverse_etl.slack.sync import run_slack_cycle

__all__ = ["SlackSettings", "post_data_quality_alert", "run_slack_cycle"]
