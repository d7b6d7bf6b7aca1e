"""Hand queued data-quality alerts to the Slack module (reverse_etl.slack), which owns wording and delivery.

`ops.quality_alerts` is written in the same transaction as the status change, so an alert is never lost
and never duplicated; delivery happens after the commit. Once the Slack module has accepted an alert into
its durable outbox (it posts, or writes $ONBOARDING_HOME/outbox/slack.jsonl without a token, and retries
itself), the row is marked handed over. An alert the Slack module raised on stays pending and is handed
over again next cycle: its item id derives from the alert's own clock, so the outbox keeps one copy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb

from dagster_project.defs.quality import store

log = logging.getLogger(__name__)

Poster = Callable[..., dict[str, Any]]


def _default_poster() -> Poster:
    """Slack's data-quality alert with the Slack resource's settings, read from the environment now."""
    from functools import partial

    from dagster_project.defs.slack.resources import SlackResource
    from reverse_etl.slack.data_quality import post_data_quality_alert

    return partial(post_data_quality_alert, settings=SlackResource().settings())


def deliver_pending(con: duckdb.DuckDBPyConnection, now: datetime, post: Poster | None = None) -> dict[str, int]:
    """Hand every pending alert to Slack; returns {'handed_over': n, 'failed': n}."""
    poster = post or _default_poster()
    counts = {"handed_over": 0, "failed": 0}
    for alert in store.pending_alerts(con):
        try:
            result = poster(con, alert["as_of"], alert["title"], alert["lines"], alert["status"])
        except Exception as exc:  # a Slack outage must not fail the data-quality check
            log.warning("data-quality alert %s not handed to Slack: %s", alert["alert_id"], exc)
            counts["failed"] += 1
            continue
        store.mark_delivered(con, alert["alert_id"], now, json.dumps(result, default=str)[:2000])
        counts["handed_over"] += 1
    return counts
