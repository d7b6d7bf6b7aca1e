"""The Slack cycle against a local Slack Web API: routing, one alert per status change, the daily digest,
the send gate, retries, the outbox, and the no-token path. marts.csm_alerts is planted per cycle."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagster_project.lib import warehouse
from reverse_etl import outbox
from reverse_etl.retry import RetryPolicy
from reverse_etl.slack import post_data_quality_alert, run_slack_cycle
from reverse_etl.slack.drafts import template_for
from reverse_etl.slack.settings import SlackSettings
from reverse_etl.slack.transport import SlackTransport
from tests.reverse_etl.slack_support import alert_row, plant_alerts
from tests.servers.slack_server import SlackServer

TOKEN = "xoxb-test-token"
DAY = datetime(2026, 11, 10, tzinfo=UTC)
HOSTILE = "<!channel> Corp & <https://evil.example|free money>"

Opener = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(token=TOKEN, min_interval=0.1) as server:
        yield server


@pytest.fixture
def open_con(tmp_path: Path) -> Opener:
    path = tmp_path / "warehouse.duckdb"
    return lambda: warehouse.connect(path)


def settings_for(server: SlackServer, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "base_url": server.url,
        "digest_hour": 9,
        "per_channel_rate": 4.0,  # paced at 3.2/s; the test server allows 10/s per channel
        "anthropic_api_key": None,
    }
    values.update(overrides)
    return SlackSettings(**values)


def fast_transport(cfg: SlackSettings) -> SlackTransport:
    return SlackTransport(cfg.token, cfg.base_url, per_channel_rate=cfg.per_channel_rate,
                          policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))


def cycle(open_con: Opener, as_of: datetime, rows: list[dict[str, Any]], cfg: SlackSettings) -> dict[str, Any]:
    with open_con() as con:
        plant_alerts(con, rows)
    return run_slack_cycle(open_con, as_of, cfg, run_id=f"run-{as_of:%d%H}", transport=fast_transport(cfg))


def posts(server: SlackServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["method"] == "chat.postMessage"]


def text_of(payload: dict[str, Any]) -> str:
    parts = [payload.get("text") or ""]
    for block in payload.get("blocks") or []:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", []) + block.get("elements", [])]
    return "\n".join(parts)


def test_p0_in_real_time_rest_in_one_daily_digest_once_per_status_change(
    slack: SlackServer, open_con: Opener
) -> None:
    cfg = settings_for(slack)
    t8 = DAY + timedelta(hours=8)
    big = alert_row(1, t8, priority="P0", arr=60000.0, company_name=HOSTILE)
    high_touch = alert_row(2, t8, priority="P0", kind="high_touch_signup", arr=90000.0, track="high_touch",
                           csm_owner="csm_ana", csm_name="Ana Ribeiro", csm_slack_user_id="U01ANA0001",
                           csm_booking_url="https://cal.example.com/ana/priority")
    mid = alert_row(3, t8, priority="P1")
    small = alert_row(4, t8, priority="FYI", arr=2400.0, csm_owner="csm_dev", csm_name="Dev Patel",
                      csm_slack_user_id="U01DEV0004")

    # 08:00, before the digest hour: only the two P0s go out, to the alerts channel, mentioning their CSM.
    first = cycle(open_con, t8, [big, high_touch, mid, small], cfg)
    assert first["alerts_new"] == 4 and first["realtime_queued"] == 2 and first["ranking_stale"] is False
    assert first["digest"] == {"due": False, "posted": False}
    alerts = slack.messages("cs-alerts")
    assert len(alerts) == 2 and slack.messages("cs-digest") == []
    assert "<@U01CHL0003>" in text_of(alerts[0]) and "<@U01ANA0001>" in text_of(alerts[1])
    assert "<https://cal.example.com/ana/priority|priority booking link>" in text_of(alerts[1])
    assert "<!channel>" not in text_of(alerts[0]) and "&lt;!channel&gt; Corp &amp;" in text_of(alerts[0])

    # The same as-of again posts nothing.
    again = cycle(open_con, t8, [big, high_touch, mid, small], cfg)
    assert again["alerts_new"] == 0 and len(posts(slack)) == 2

    # A ranking left from an earlier clock (its dbt step failed) is flagged, and posts nothing new.
    stale = run_slack_cycle(open_con, t8 + timedelta(minutes=30), cfg, transport=fast_transport(cfg))
    assert stale["ranking_stale"] is True and stale["alerts_new"] == 0 and len(posts(slack)) == 2

    # 09:00: still stalled (same alert ids) -> no new P0; the digest goes out once with P1 and FYIs.
    t9 = DAY + timedelta(hours=9)
    newcomer = alert_row(5, t9, priority="FYI", arr=3000.0, alert_rank=5)
    second = cycle(open_con, t9, [big, high_touch, mid, small, newcomer], cfg)
    assert second["alerts_new"] == 1 and second["realtime_queued"] == 0
    assert second["digest"]["posted"] is True and second["digest"]["alerts_total"] == 3
    digests = slack.messages("cs-digest")
    assert len(digests) == 1
    body = text_of(digests[0])
    assert "2 P0 alerts went out in real time" in body
    # grouped by CSM, groups in order of their best alert, ranked within: Chloe (3, 5), then Dev (4)
    assert body.index("Company 3") < body.index("Company 5") < body.index("*Dev Patel*") < body.index("Company 4")
    assert "*Chloe Martin* <@U01CHL0003>" in body and "*Dev Patel* <@U01DEV0004>" in body  # grouped by CSM

    # 10:00 the same day: a new P1 waits for tomorrow's digest; nothing is posted.
    t10 = DAY + timedelta(hours=10)
    late = alert_row(6, t10, priority="P1", alert_rank=6)
    third = cycle(open_con, t10, [big, high_touch, mid, small, newcomer, late], cfg)
    assert third["alerts_new"] == 1 and third["digest"]["due"] is True and "item_id" not in third["digest"]
    assert len(posts(slack)) == 3

    # Next day 08:00: not yet. 09:00: a digest with only the new P1 (the others were announced).
    cycle(open_con, t8 + timedelta(days=1), [big, mid, small, late], cfg)
    assert len(slack.messages("cs-digest")) == 1
    nxt = cycle(open_con, t9 + timedelta(days=1), [big, mid, small, late], cfg)
    assert nxt["digest"]["posted"] is True and nxt["digest"]["alerts_total"] == 1
    digests = slack.messages("cs-digest")
    assert len(digests) == 2 and "Company 6" in text_of(digests[1]) and "Company 3" not in text_of(digests[1])
    assert "0 P0 alerts went out" in text_of(digests[1])
    assert len(posts(slack)) == 4  # 2 P0 + 2 digests, over six cycles
    assert all(r["result"] == "ok" for r in slack.requests)  # paced: never rate limited

    with open_con() as con:
        statuses = dict(con.execute("select alert_id, status from ops.slack_alerts").fetchall())
        drafts = con.execute("select alert_id, source from ops.slack_recovery_drafts order by 1").fetchall()
        days = con.execute("select digest_date, alerts_total from ops.slack_digests order by 1").fetchall()
    assert statuses == {"a0001": "realtime_queued", "a0002": "realtime_queued", "a0003": "digested",
                        "a0004": "digested", "a0005": "digested", "a0006": "digested"}
    # a draft per at-risk alert (not for the high-touch signup); no key -> the template
    assert drafts == [("a0001", "template"), ("a0003", "template"), ("a0004", "template"),
                      ("a0005", "template"), ("a0006", "template")]
    assert [d[1] for d in days] == [3, 1]


def test_status_change_that_resolves_before_the_digest_is_not_reported(
    slack: SlackServer, open_con: Opener
) -> None:
    cfg = settings_for(slack)
    stalled = alert_row(1, DAY + timedelta(hours=3), priority="P1")
    cycle(open_con, DAY + timedelta(hours=3), [stalled], cfg)
    recovered = alert_row(2, DAY + timedelta(hours=9), priority="FYI", kind="recovered", account_id="acct_1")
    result = cycle(open_con, DAY + timedelta(hours=9), [recovered], cfg)
    assert result["digest"]["superseded"] == 1 and result["digest"]["alerts_total"] == 1
    body = text_of(slack.messages("cs-digest")[0])
    assert "activated after a stall" in body and "stalled for" not in body


def test_gated_accounts_are_held_until_the_gate_opens(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack)
    t = DAY + timedelta(hours=8)
    rows = [alert_row(1, t, priority="P0"), alert_row(2, t, priority="P0")]
    with open_con() as con:
        warehouse.ensure_schema(con)
        con.execute("insert into ops.send_gate values ('acct_1', 'plan_tier_known', 'unknown plan_tier', ?)", [t])
    first = cycle(open_con, t, rows, cfg)
    assert first["gated"] == 1 and first["gated_reasons"] == ["plan_tier_known: unknown plan_tier"]
    assert len(slack.messages("cs-alerts")) == 1

    with open_con() as con:
        con.execute("delete from ops.send_gate")
        con.execute("insert into ops.send_gate values ('*', 'volume', 'signups dropped', ?)", [t])
    blocked = cycle(open_con, t + timedelta(hours=1), rows + [alert_row(3, t, priority="P0")], cfg)
    assert blocked["gated"] == 3 and blocked["alerts_new"] == 0 and len(posts(slack)) == 1

    with open_con() as con:
        con.execute("delete from ops.send_gate")
    opened = cycle(open_con, t + timedelta(hours=2), rows + [alert_row(3, t, priority="P0")], cfg)
    assert opened["alerts_new"] == 2 and len(slack.messages("cs-alerts")) == 3


def test_429_retry_after_is_honoured_and_5xx_retried(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack)
    slack.script(SlackServer.ratelimited(retry_after=1), SlackServer.server_error(503))
    result = cycle(open_con, DAY + timedelta(hours=8), [alert_row(1, DAY, priority="P0")], cfg)
    assert result["delivery"]["posted"] == 1 and result["delivery"]["rate_limited"] == 1
    assert [r["result"] for r in posts(slack)] == ["ratelimited", "fatal_error", "ok"]
    throttled, after = posts(slack)[0]["at"], posts(slack)[1]["at"]
    assert after - throttled >= 0.95  # waited Retry-After (server's clock) before trying again
    assert len(slack.messages("cs-alerts")) == 1


def test_failed_post_is_kept_and_delivered_once_next_run(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack)
    slack.script(*[SlackServer.server_error(500) for _ in range(3)])  # outlasts this run's 3 tries
    rows = [alert_row(1, DAY, priority="P0")]
    first = cycle(open_con, DAY + timedelta(hours=8), rows, cfg)
    assert first["delivery"]["posted"] == 0 and first["delivery"]["failed"] == 1
    with open_con() as con:
        [item] = outbox.pending(con, "slack")
    assert item.attempts == 1 and item.last_error == "fatal_error (HTTP 500)"

    second = cycle(open_con, DAY + timedelta(hours=9), rows, cfg)
    assert second["alerts_new"] == 0 and second["delivery"]["posted"] == 1
    assert len(slack.messages("cs-alerts")) == 1
    third = cycle(open_con, DAY + timedelta(hours=10), rows, cfg)
    assert third["delivery"]["posted"] == 0 and len(slack.messages("cs-alerts")) == 1


def test_bad_token_stops_delivery_without_losing_messages(slack: SlackServer, open_con: Opener) -> None:
    rows = [alert_row(1, DAY, priority="P0"), alert_row(2, DAY, priority="P0")]
    bad = cycle(open_con, DAY + timedelta(hours=8), rows, settings_for(slack, token="xoxb-wrong"))
    assert bad["delivery"]["auth_error"] == "invalid_auth" and len(posts(slack)) == 1
    with open_con() as con:
        assert [i.attempts for i in outbox.pending(con, "slack")] == [0, 0]
    good = cycle(open_con, DAY + timedelta(hours=9), rows, settings_for(slack))
    assert good["delivery"]["posted"] == 2 and len(slack.messages("cs-alerts")) == 2


def test_unknown_channel_retries_then_parks(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack, channel_alerts="#no-such-channel")
    rows = [alert_row(1, DAY, priority="P0")]
    for hour in range(outbox.DEFAULT_MAX_ATTEMPTS):
        cycle(open_con, DAY + timedelta(hours=hour), rows, cfg)
    with open_con() as con:
        [item] = outbox.parked(con, "slack")
    assert item.last_error == "channel_not_found" and item.attempts == outbox.DEFAULT_MAX_ATTEMPTS


def test_message_slack_would_reject_is_parked_at_once(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"line {i}"}} for i in range(51)]
    with open_con() as con:
        outbox.enqueue(con, "slack", [outbox.NewItem("too-big", "test", {"channel": "#cs-alerts", "text": "x",
                                                                          "blocks": blocks})])
    report = fast_transport(cfg).deliver(open_con)
    assert report.parked == ["too-big"] and posts(slack)[0]["result"] == "invalid_blocks"


def test_per_channel_pacing_keeps_under_one_message_per_second(open_con: Opener) -> None:
    with SlackServer(token=TOKEN, min_interval=1.0) as strict:
        cfg = settings_for(strict, per_channel_rate=1.0)
        rows = [alert_row(i, DAY, priority="P0") for i in range(1, 4)]
        with open_con() as con:
            plant_alerts(con, rows)
        result = run_slack_cycle(open_con, DAY + timedelta(hours=8), cfg)
        assert result["delivery"]["posted"] == 3 and result["delivery"]["rate_limited"] == 0
        stamps = [a.at for a in strict.accepted]
        assert all(b - a >= 1.0 for a, b in zip(stamps, stamps[1:], strict=False))


def test_no_token_writes_the_same_payloads_to_the_outbox_file(
    tmp_path: Path, open_con: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = SlackSettings(token=None, digest_hour=9, outbox_dir=tmp_path / "home" / "outbox")
    rows = [alert_row(1, DAY, priority="P0", company_name=HOSTILE), alert_row(2, DAY, priority="FYI")]
    with open_con() as con:
        plant_alerts(con, rows)
    result = run_slack_cycle(open_con, DAY + timedelta(hours=9), cfg)
    assert result["mode"] == "local outbox" and result["delivery"]["written_local"] == 2
    lines = [json.loads(x) for x in (tmp_path / "home" / "outbox" / "slack.jsonl").read_text().splitlines()]
    assert [x["item_id"] for x in lines] == ["alert:a0001", "digest:2026-11-10"]
    assert lines[0]["payload"]["channel"] == "#cs-alerts" and lines[1]["payload"]["channel"] == "#cs-digest"
    assert "<!channel>" not in json.dumps(lines)
    with open_con() as con:
        assert outbox.status_counts(con, "slack")["sent"] == 2
    again = run_slack_cycle(open_con, DAY + timedelta(hours=9), cfg)
    assert again["delivery"]["written_local"] == 0


def test_data_quality_alert_goes_to_the_data_channel_once(slack: SlackServer, tmp_path: Path) -> None:
    cfg = settings_for(slack)
    lines = ["signup_completed: plan_tier missing on 12% of rows", "unknown plan_tier '<!here> platinum'"]
    with warehouse.connect(tmp_path / "dq.duckdb") as con:
        first = post_data_quality_alert(con, DAY, "Tracking plan: signup_completed", lines, "failing",
                                        settings=cfg)
        second = post_data_quality_alert(con, DAY, "Tracking plan: signup_completed", lines, "failing",
                                         settings=cfg)
        recovered = post_data_quality_alert(con, DAY + timedelta(hours=1), "Tracking plan: signup_completed",
                                            ["plan_tier present again"], "recovered", settings=cfg)
    assert first["delivery"]["posted"] == 1 and second["queued"] == 0 and second["delivery"]["posted"] == 0
    assert recovered["delivery"]["posted"] == 1
    messages = slack.messages("data-alerts")
    assert len(messages) == 2
    assert "&lt;!here&gt; platinum" in text_of(messages[0]) and "<!here>" not in text_of(messages[0])
    assert "Recovered" in text_of(messages[1])


def test_a_burst_of_p0s_is_capped_and_the_rest_wait_for_the_digest(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack, max_realtime_per_cycle=2)
    rows = [alert_row(i, DAY, priority="P0") for i in range(1, 6)]
    first = cycle(open_con, DAY + timedelta(hours=8), rows, cfg)
    assert first["realtime_queued"] == 2 and first["realtime_overflow"] == 3
    assert [m["blocks"][-1]["elements"][0]["text"].split("`")[1] for m in slack.messages("cs-alerts")] == [
        "a0001", "a0002"]  # the top of the ranking
    digest = cycle(open_con, DAY + timedelta(hours=9), rows, cfg)
    assert digest["digest"]["alerts_total"] == 3
    body = text_of(slack.messages("cs-digest")[0])
    assert "`P0` *Company 3*" in body and "Company 1" not in body


def test_slack_unreachable_keeps_messages_for_the_next_run(slack: SlackServer, open_con: Opener) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    rows = [alert_row(1, DAY, priority="P0")]
    down = cycle(open_con, DAY + timedelta(hours=8), rows, settings_for(slack, base_url=dead_url))
    assert down["delivery"]["failed"] == 1 and down["delivery"]["errors"][0].startswith("alert:a0001: transport")
    up = cycle(open_con, DAY + timedelta(hours=9), rows, settings_for(slack))
    assert up["delivery"]["posted"] == 1 and len(slack.messages("cs-alerts")) == 1


def test_self_serve_changes_are_counted_not_listed(slack: SlackServer, open_con: Opener) -> None:
    cfg = settings_for(slack)
    t = DAY + timedelta(hours=9)
    rows = [alert_row(1, t, priority="P1"),
            alert_row(2, t, priority="FYI", route="none", track="self_serve", csm_owner=None, csm_name=None,
                      csm_slack_user_id=None, company_name="Self Serve Co")]
    result = cycle(open_con, t, rows, cfg)
    assert result["alerts_new"] == 2 and result["drafts"] == {"llm": 0, "template": 1}
    body = text_of(slack.messages("cs-digest")[0])
    assert "1 self-serve status changes handled by automation only" in body and "Self Serve Co" not in body
    with open_con() as con:
        assert con.execute("select status from ops.slack_alerts where alert_id = 'a0002'").fetchall() == [
            ("not_routed",)]


# -- exactly once across a crash ----------------------------------------------------------------------------

KILLED_CYCLE = """
import sys
from datetime import datetime
from dagster_project.lib import warehouse
from reverse_etl.retry import RetryPolicy
from reverse_etl.slack import run_slack_cycle
from reverse_etl.slack.settings import SlackSettings
from reverse_etl.slack.transport import SlackTransport
db, url, token, as_of = sys.argv[1:5]
cfg = SlackSettings(token=token, base_url=url, digest_hour=9, per_channel_rate=4.0)
transport = SlackTransport(token, url, per_channel_rate=4.0, policy=RetryPolicy(max_attempts=3, base_delay=0.01))
run_slack_cycle(lambda: warehouse.connect(db), datetime.fromisoformat(as_of), cfg, run_id="killed", transport=transport)
print("the cycle was not killed")
"""


def item_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["metadata"]["event_payload"]["item_id"] for m in messages]


def test_a_cycle_killed_right_after_slack_accepted_a_post_reposts_nothing_when_rerun(
    slack: SlackServer, tmp_path: Path, open_con: Opener
) -> None:
    import subprocess
    import sys

    cfg = settings_for(slack)
    as_of = DAY + timedelta(hours=8)
    rows = [alert_row(i, DAY, priority="P0") for i in (1, 2, 3)]
    with open_con() as con:
        plant_alerts(con, rows)
    killed = subprocess.Popen(
        [sys.executable, "-c", KILLED_CYCLE, str(tmp_path / "warehouse.duckdb"), slack.url, TOKEN, as_of.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    slack.accept_then("kill", killed.pid)  # Slack keeps the first message; the client dies before the answer
    out, err = killed.communicate(timeout=300)
    assert killed.returncode == -9, (out, err[-2000:])
    assert item_ids(slack.messages("cs-alerts")) == ["alert:a0001"]
    with open_con() as con:
        assert outbox.status_counts(con, "slack")["pending"] == 3  # the kill came before the record
        assert con.execute("select item_id, ts from ops.slack_posts").fetchall() == [("alert:a0001", None)]

    rerun = cycle(open_con, as_of, rows, cfg)
    assert rerun["alerts_new"] == 0  # remembered by the killed run's committed transaction
    delivery = rerun["delivery"]
    assert (delivery["found_in_history"], delivery["posted"], delivery["unverified"]) == (1, 2, 0)
    assert item_ids(slack.messages("cs-alerts")) == ["alert:a0001", "alert:a0002", "alert:a0003"]  # each once
    history = [r for r in slack.requests if r["method"] == "conversations.history"]
    assert len(history) == 1 and history[0]["channel"] == slack.channels["cs-alerts"]
    with open_con() as con:
        assert outbox.status_counts(con, "slack") == {"pending": 0, "sent": 3, "parked": 0}
        confirmed = dict(con.execute("select item_id, confirmed_by from ops.slack_posts").fetchall())
    assert confirmed == {"alert:a0001": "history", "alert:a0002": "response", "alert:a0003": "response"}
    again = cycle(open_con, as_of + timedelta(hours=1), rows, cfg)
    assert again["delivery"]["requests"] == 0 and len(slack.messages("cs-alerts")) == 3


def test_a_post_whose_answer_never_came_is_found_in_history_not_posted_twice(open_con: Opener) -> None:
    with SlackServer(token=TOKEN, min_interval=0.1, non_marketplace=True, history_interval=0.3) as slack:
        cfg = settings_for(slack)
        with open_con() as con:
            plant_alerts(con, [alert_row(1, DAY, priority="P0")])
        for n in range(40):  # a busy channel: two full 15-message pages newer than ours
            slack.post_as_someone_else("cs-alerts", f"chatter {n}", later=5 + n / 10)
        slack.accept_then("hang", 3.0)  # Slack posts it and answers only after the client gave up
        transport = SlackTransport(TOKEN, slack.url, per_channel_rate=4.0, timeout=1,
                                   policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
        result = run_slack_cycle(open_con, DAY + timedelta(hours=8), cfg, transport=transport)
        ours = [m for m in slack.messages("cs-alerts") if m.get("metadata")]
    assert result["delivery"]["found_in_history"] == 1 and result["delivery"]["posted"] == 0
    assert result["delivery"]["history_requests"] == 3  # 15 + 15 + (10 and ours)
    assert item_ids(ours) == ["alert:a0001"]
    with open_con() as con:
        assert outbox.status_counts(con, "slack")["sent"] == 1


def test_without_the_history_scope_an_unknown_outcome_is_posted_again_and_reported(open_con: Opener) -> None:
    with SlackServer(token=TOKEN, min_interval=0.1, scopes=("chat:write", "channels:read")) as slack:
        cfg = settings_for(slack)
        with open_con() as con:
            plant_alerts(con, [alert_row(1, DAY, priority="P0")])
        slack.accept_then("hang", 3.0)
        transport = SlackTransport(TOKEN, slack.url, per_channel_rate=4.0, timeout=1,
                                   policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
        result = run_slack_cycle(open_con, DAY + timedelta(hours=8), cfg, transport=transport)
        posted = item_ids(slack.messages("cs-alerts"))
    delivery = result["delivery"]
    assert delivery["unverified"] == 1 and delivery["posted"] == 1  # a duplicate rather than a lost alert
    assert posted == ["alert:a0001", "alert:a0001"]
    assert any("missing_scope" in e for e in delivery["errors"])


def test_the_local_slack_server_answers_history_and_metadata_as_slack_documents() -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    with SlackServer(token=TOKEN, min_interval=0.0, non_marketplace=True, history_interval=0.5) as slack:
        client = WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])
        meta = {"event_type": "onboarding_outbox_item", "event_payload": {"item_id": "x1"}}
        sent = client.chat_postMessage(channel="#data-alerts", text="hello", metadata=meta)
        bad = client.chat_postMessage(channel="#data-alerts", text="odd type",
                                      metadata={"event_type": "has.dots", "event_payload": {}})
        assert bad["response_metadata"]["warnings"] == ["invalid_metadata_schema"]  # posted, metadata ignored
        with pytest.raises(SlackApiError, match="invalid_metadata_format"):
            client.chat_postMessage(channel="#data-alerts", text="x", metadata={"event_type": "t"})
        with pytest.raises(SlackApiError, match="channel_not_found"):
            client.conversations_history(channel="#data-alerts")  # history takes the id, not the name
        channel = sent["channel"]
        time.sleep(0.6)  # every call counts against the method's rate limit, a refused one too
        plain = client.conversations_history(channel=channel, limit=500)
        assert [m.get("metadata") for m in plain["messages"]] == [None, None]  # only with include_all_metadata
        with pytest.raises(SlackApiError, match="ratelimited") as limited:
            client.conversations_history(channel=channel, include_all_metadata=True)  # within the minute
        assert int(limited.value.response.headers["Retry-After"]) >= 1
        time.sleep(0.6)
        full = client.conversations_history(channel=channel, include_all_metadata=True, limit=500)
        assert [m.get("metadata") for m in full["messages"]] == [None, meta]  # newest first
        for n in range(20):
            slack.post_as_someone_else("data-alerts", f"n{n}")
        time.sleep(0.6)
        page = client.conversations_history(channel=channel, limit=500)
        assert len(page["messages"]) == 15 and page["has_more"]  # the non-Marketplace page is 15 at most
        time.sleep(0.6)
        rest = client.conversations_history(channel=channel, cursor=page["response_metadata"]["next_cursor"])
        assert len(rest["messages"]) == 7 and not rest["has_more"]
    with SlackServer(token=TOKEN, scopes=("chat:write",)) as narrow:
        client = WebClient(token=TOKEN, base_url=narrow.url, retry_handlers=[])
        with pytest.raises(SlackApiError, match="missing_scope") as missing:
            client.conversations_history(channel=narrow.channels["cs-alerts"])
        assert missing.value.response["needed"] == "channels:history"


def test_a_cycle_reads_whole_only_the_alerts_it_has_not_seen(slack: SlackServer, open_con: Opener) -> None:
    """The ranking holds every open alert (42k at 100k accounts): each hour reads its ids, accounts, clock
    and cap narrowly, and whole only the alerts never announced, or those today's digest lists."""
    from reverse_etl.slack import state

    cfg = settings_for(slack)
    t8 = DAY + timedelta(hours=8)
    rows = [alert_row(i, t8, priority="P1", realtime_cap=3 if i == 2 else None) for i in (1, 2, 3)]
    cycle(open_con, t8, rows[:2], cfg)
    with open_con() as con:
        plant_alerts(con, rows)
        ranking = state.ranking(con)
        unseen = state.new_alert_keys(con)
        listed = state.alerts_by_id(con, ["a0003", "a0001", "gone"])
        narrow = state.alerts_by_id(con, ["a0002", "a0001"], only=("priority", "csm_name"))
    assert list(ranking.accounts) == ["a0001", "a0002", "a0003"] and ranking.accounts["a0003"] == "acct_3"
    assert ranking.realtime_cap == 3 and ranking.as_of == t8
    assert unseen == [{"alert_id": "a0003", "account_id": "acct_3", "kind": "stalled", "route": "digest",
                       "alert_rank": 3}]
    assert list(listed) == ["a0003", "a0001"] and listed["a0001"]["kind"] == "stalled"  # in the order asked
    assert listed["a0003"]["company_name"] == "Company 3"
    assert narrow == {"a0002": {"alert_id": "a0002", "priority": "P1", "csm_name": "Chloe Martin"},
                      "a0001": {"alert_id": "a0001", "priority": "P1", "csm_name": "Chloe Martin"}}


def test_an_offline_cycle_shares_one_connection_and_leaves_what_separate_ones_leave(tmp_path: Path) -> None:
    """No token and no LLM: the whole cycle runs on one connection (each close checkpoints the 2 GB warehouse)
    and leaves the same rows and outbox lines as a cycle that opens one per step; a cycle that waits on the
    network (a token, or a drafter that may call a model) still opens one per step."""
    rows = [alert_row(1, DAY, priority="P0", company_name=HOSTILE), alert_row(2, DAY, priority="FYI"),
            alert_row(3, DAY, priority="P1", kind="stalled")]
    opened: dict[str, int] = {}
    states: dict[str, Any] = {}

    def counting(path: Path, name: str) -> Opener:
        def open_con() -> AbstractContextManager[duckdb.DuckDBPyConnection]:
            opened[name] = opened.get(name, 0) + 1
            return warehouse.connect(path)
        return open_con

    def template(alert: Any, _settings: SlackSettings) -> Any:
        return template_for(alert, error="ANTHROPIC_API_KEY not set")  # what the default drafter gives offline

    for name, drafter in (("shared", None), ("separate", template)):
        home = tmp_path / name
        cfg = SlackSettings(token=None, digest_hour=9, outbox_dir=home / "outbox")
        with warehouse.connect(home / "warehouse.duckdb") as con:
            plant_alerts(con, rows)
        opened[name] = 0
        for hour in (9, 10):
            run_slack_cycle(counting(home / "warehouse.duckdb", name), DAY + timedelta(hours=hour), cfg,
                            run_id=f"run-{hour}", drafter=drafter)
        states[name] = left_behind(home)
    assert opened["shared"] == 2 and opened["separate"] > 2 * 3
    assert states["shared"] == states["separate"] and states["shared"]["lines"].count("\n") == 2


def left_behind(home: Path, *, context: bool = False) -> dict[str, Any]:
    """What Slack cycles left in a workspace: the ops tables (clock columns aside) and the outbox file's lines."""
    with warehouse.connect(home / "warehouse.duckdb") as con:
        states = {
            table: sorted(map(repr, con.execute(
                f"select * {'exclude (' + ', '.join(skip) + ')' if skip else ''} from ops.{table}").fetchall()))
            for table, skip in (("outbox", ["updated_at", "sent_at"]),
                                ("slack_alerts", [] if context else ["context"]),
                                ("slack_recovery_drafts", ["created_as_of"]),
                                ("slack_digests", ["created_at"]), ("slack_runs", ["started_at", "summary"]))
        }
    return states | {"lines": (home / "outbox" / "slack.jsonl").read_text()}


def test_a_go_live_reads_its_alerts_whole_a_page_at_a_time_and_leaves_what_one_page_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A go-live finds every open alert new (416k at 1M accounts: read whole at once, they took the step to
    7.8 GB). They are read whole, drafted and remembered ALERT_PAGE at a time, the digest reads whole only what
    it lists, and the cycle leaves the same rows, drafts, digest and outbox lines as with one page."""
    from reverse_etl.slack import state, sync
    from reverse_etl.slack.drafts import Draft

    rows = [alert_row(1, DAY, priority="P0"), alert_row(2, DAY, priority="P0", kind="checkpoint_missed"),
            alert_row(3, DAY, priority="P0"), alert_row(4, DAY, priority="FYI", kind="high_touch_signup"),
            alert_row(5, DAY, priority="P1", csm_name="Dev Patel"), alert_row(6, DAY, priority="P1"),
            alert_row(7, DAY, priority="FYI", kind="recovered"), alert_row(8, DAY, priority="P1", route="none"),
            alert_row(9, DAY, priority="P1", kind="kickoff_booked", realtime_cap=1)]
    drafted: list[str] = []

    def llm(alert: Any, _settings: SlackSettings) -> Draft:
        drafted.append(alert["alert_id"])
        return Draft(subject=f"for {alert['company_name']}", body="b", source="llm", model="m")

    whole_reads: list[int] = []
    by_id = state.alerts_by_id

    def recording(con: Any, ids: Any, only: Any = None) -> Any:
        if only is None:
            whole_reads.append(len(ids))
        return by_id(con, ids, only)

    monkeypatch.setattr(state, "alerts_by_id", recording)
    states, summaries = {}, {}
    for page in (2, sync.ALERT_PAGE):
        monkeypatch.setattr(sync, "ALERT_PAGE", page)
        home = tmp_path / f"page-{page}"
        cfg = SlackSettings(token=None, digest_hour=9, digest_max_items=2, max_llm_drafts=2,
                            outbox_dir=home / "outbox")
        with warehouse.connect(home / "warehouse.duckdb") as con:
            plant_alerts(con, rows)
        drafted.clear()
        whole_reads.clear()
        summaries[page] = run_slack_cycle(lambda home=home: warehouse.connect(home / "warehouse.duckdb"),
                                          DAY + timedelta(hours=9), cfg, run_id="go-live", drafter=llm)
        states[page] = left_behind(home, context=True)
        assert drafted == ["a0001", "a0002"]  # the LLM budget goes to the top of the ranking, across pages
        # whole: the LLM's top two, then the pages, then the two the digest lists; never all nine at once
        assert whole_reads == ([2, 2, 2, 2, 2, 1, 2] if page == 2 else [2, 9, 2])
    assert states[2] == states[sync.ALERT_PAGE]
    one = summaries[sync.ALERT_PAGE]
    assert {k: one[k] for k in ("alerts_new", "realtime_queued", "realtime_overflow", "drafts")} == {
        "alerts_new": 9, "realtime_queued": 1, "realtime_overflow": 2, "drafts": {"llm": 2, "template": 4}}
    assert {k: summaries[2][k] for k in ("alerts_new", "realtime_queued", "realtime_overflow", "drafts")} == {
        k: one[k] for k in ("alerts_new", "realtime_queued", "realtime_overflow", "drafts")}
    assert one["digest"]["alerts_total"] == 7 and one["digest"]["alerts_shown"] == 2  # 8 is route none
    digest = json.loads(states[2]["lines"].splitlines()[-1])["payload"]
    overflow = digest["blocks"][-1]["elements"][0]["text"]  # the two P0s over the cap are listed; the rest summed up
    assert "3 more P1 accounts (Chloe Martin: 2, Dev Patel: 1); 2 more FYI accounts (Chloe Martin: 2)" in overflow
