"""Alerts go out through the Slack module: once per status change, with a recovery notice, to
SLACK_CHANNEL_DATA on a local Slack Web API, or to the outbox file without a token."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.quality import dq_events as ev
from tests.quality.conftest import HISTORY_DAYS, Workspace
from tests.servers.slack_server import SlackServer

AS_OF = ev.day_start(HISTORY_DAYS + 1)
TOKEN = "xoxb-dq-test"


def broken_day(day: int, per_day: int = 30, first: int = 0) -> list[dict]:
    messages = ev.day_messages(day, per_day=per_day, first=first)
    ev.plant(messages, "signup_completed", 5, lambda m: m["properties"].update(plan_tier="platinum"))
    return messages


def test_alert_posts_once_per_status_change_with_recovery(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_HOME", str(ws.root))
    with SlackServer(token=TOKEN, min_interval=0.05) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        ws.land("day.jsonl", broken_day(HISTORY_DAYS))
        first = ws.cycle(deliver=True)
        assert first.delivery == {"handed_over": 1, "failed": 0}
        ws.land("later.jsonl", broken_day(HISTORY_DAYS + 1, per_day=20))
        ws.cycle(AS_OF + timedelta(days=1), deliver=True)  # still failing: nothing new to say
        ws.land("fixed.jsonl", ev.day_messages(HISTORY_DAYS + 1, per_day=20, first=20))
        ws.cycle(AS_OF + timedelta(days=1, hours=6), deliver=True)
        posted = slack.messages("#data-alerts")
    signup = [p for p in posted if "tracking_plan_signup_completed" in p["text"]]
    assert len(signup) == 2
    failing, recovered = (json.dumps(p["blocks"]) for p in signup)
    assert "platinum" in failing and "sends gated for 5 account(s)" in failing
    assert "passes again" in recovered and "10 gated account(s) released" in recovered
    assert ws.query("select count(*) from ops.quality_alerts where delivered_at is null") == [(0,)]


def test_without_a_token_alerts_go_to_the_outbox(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_HOME", str(ws.root))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_CHANNEL_DATA", "#dq-test")
    ws.land("day.jsonl", broken_day(HISTORY_DAYS))
    ws.cycle(deliver=True)
    ws.cycle(deliver=True)  # same clock again: no second copy
    lines = [json.loads(x) for x in (ws.root / "outbox" / "slack.jsonl").read_text().splitlines()]
    data = [x for x in lines if x["payload"]["channel"] == "#dq-test"]
    assert len(data) == 1
    assert "tracking_plan_signup_completed" in data[0]["payload"]["text"]
    # No customer e-mail address ever reaches an alert.
    assert "@example.com" not in json.dumps(data)
