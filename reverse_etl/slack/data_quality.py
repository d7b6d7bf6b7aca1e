"""Data-quality alerts to SLACK_CHANNEL_DATA, through the same outbox and transport as the CSM alerts.

The data-quality checks decide WHEN to alert (one alert per status change, with a recovery notice: they
keep the status per check); this module only words and delivers. Check output can quote raw event values
(an unknown plan_tier, a property name), which customers or engineers typed, so every line is escaped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from reverse_etl import outbox
from reverse_etl.slack.blocks import context, header, section
from reverse_etl.slack.escape import clip, escape, redact_emails
from reverse_etl.slack.settings import SlackSettings
from reverse_etl.slack.state import CHANNEL
from reverse_etl.slack.transport import SlackTransport, borrowed

STATUS_STYLE = {
    "failing": (":red_circle:", "Failing"),
    "fail": (":red_circle:", "Failing"),
    "blocking": (":red_circle:", "Blocking sends"),
    "warning": (":large_yellow_circle:", "Warning"),
    "warn": (":large_yellow_circle:", "Warning"),
    "recovered": (":large_green_circle:", "Recovered"),
    "pass": (":large_green_circle:", "Recovered"),
}
MAX_LINES = 30


def data_quality_payload(
    as_of: datetime, title: str, lines: Sequence[str], status: str, channel: str
) -> dict[str, Any]:
    """chat.postMessage arguments: header, the lines packed into sections (never split), the clock."""
    emoji, label = STATUS_STYLE.get(status.lower(), (":grey_question:", status))
    shown = [f"• {escape(redact_emails(clip(line, 500)))}" for line in list(lines)[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"…and {len(lines) - MAX_LINES} more lines (see the data-quality report).")
    blocks: list[dict[str, Any]] = [header(f"{label}: {clip(title, 120)}")]
    current = ""
    for line in shown or ["(no details)"]:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > 3000:
            blocks.append(section(current))
            current = line
        else:
            current = candidate
    blocks.append(section(current))
    blocks.append(context(f"{emoji} {escape(label)} · as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"))
    return {
        "channel": channel,
        "text": f"Data quality {label.lower()}: {escape(clip(title, 200))}",
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def post_data_quality_alert(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    title: str,
    lines: Sequence[str],
    status: str,
    *,
    settings: SlackSettings,
    transport: SlackTransport | None = None,
) -> dict[str, Any]:
    """Queue one data-quality message for SLACK_CHANNEL_DATA and deliver it now.

    Only this message is delivered here (the CSM alerts go out in the Slack step of the cycle); if Slack
    is down it stays in the outbox and that step, or the next call, retries it.

    `status`: 'failing' | 'blocking' | 'warning' | 'recovered' (also 'fail'/'warn'/'pass').
    Idempotent per (title, status, lines, as_of): calling twice in one cycle posts once.
    Without a token the message goes to <settings.outbox_dir>/slack.jsonl.
    Uses the caller's open connection; returns {'item_id', 'queued', 'delivery': {...}}.
    """
    cfg = settings
    payload = data_quality_payload(as_of, title, lines, status, cfg.channel_data)
    key = "|".join([title, status, as_of.astimezone(UTC).isoformat(), *map(str, lines)])
    item_id = "dq:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    queued = outbox.enqueue(con, CHANNEL, [outbox.NewItem(item_id=item_id, kind="data_quality", payload=payload)],
                            now=as_of)
    sender = transport or SlackTransport(cfg.token, cfg.base_url, per_channel_rate=cfg.per_channel_rate,
                                       outbox_dir=cfg.outbox_dir)
    report = sender.deliver(lambda: borrowed(con), only=[item_id])
    return {"item_id": item_id, "queued": queued, "delivery": report.as_dict()}
