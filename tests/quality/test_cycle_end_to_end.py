"""The whole hourly cycle (Dagster, dbt, the syncs) on a small batch with one unattributable event: nobody
is gated (not everyone, as a '*' gate did, and not by a 1-in-4 share either), every send goes out, and the
data channel hears about the event that has no account. One cycle: a full dbt build is the cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.cli.cycle import run_cycle
from tests.support.events import Scenario

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
UNSET = ("ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR", "SLACK_BOT_TOKEN", "CUSTOMERIO_SITE_ID",
         "CUSTOMERIO_API_KEY", "HUBSPOT_ACCESS_TOKEN", "ANTHROPIC_API_KEY", "DAGSTER_HOME")


def query(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_one_unattributable_event_in_a_small_hour_gates_nobody_and_alerts_the_data_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path))
    monkeypatch.setenv("SLACK_CHANNEL_DATA", "#dq-e2e")
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    landing = tmp_path / "landing"
    events = Scenario("e2e")  # one small first batch: three signups, three project_created, one stranger
    users = {account: events.signup(account, T0 + timedelta(minutes=5 * i), plan_tier="pro", mrr=300)
             for i, account in enumerate(("acct_a", "acct_b", "acct_c"))}
    at = T0 + timedelta(minutes=30)
    events.track("acct_a", users["acct_a"], "project_created", at, project_id="p-a")
    events.track("acct_b", users["acct_b"], "project_created", at, project_id="p-b")
    groupless = events.track("acct_c", users["acct_c"], "Project Created", at + timedelta(minutes=1), project_id="p-c")
    groupless.pop("context")  # as Segment's server libraries send it: the user's group call names the account
    stranger = events.track("nobody", "never-grouped-user", "project_created", at + timedelta(minutes=2))
    stranger.pop("context")  # no groupId, no group call, not even its project_id: 1 of 4 project_created
    events.write(landing)
    result = run_cycle(T0 + timedelta(hours=1))

    assert query(tmp_path, "select count(*) from ops.send_gate") == [(0,)]  # not '*', not anyone
    assert query(tmp_path, "select count(*) from raw.segment_messages where message_id = '" + stranger["messageId"]
                 + "'") == [(1,)]  # kept in raw
    statuses = dict(query(tmp_path, "select check_name, status from ops.quality_check_status"))
    assert statuses["unattributed_events"] == "warn"
    assert {name for name, status in statuses.items() if status == "fail"} == set()
    # every Customer.io operation was sent (a gated account's would stay pending)
    assert query(tmp_path, "select count(*) from ops.outbox where channel = 'customerio' and status = 'pending'") == [(0,)]
    sent = {r[0] for r in query(tmp_path, "select account_id from ops.outbox where channel = 'customerio'")}
    assert {"acct_a", "acct_b", "acct_c"} <= sent
    assert (tmp_path / "outbox" / "customerio.jsonl").exists()
    data = [json.loads(line) for line in (tmp_path / "outbox" / "slack.jsonl").read_text().splitlines()]
    data = [d for d in data if d["payload"]["channel"] == "#dq-e2e"]
    assert len(data) == 1 and "belong to no account" in json.dumps(data[0]["payload"]["blocks"])
    assert data[0]["payload"]["metadata"]["event_payload"]["item_id"] == data[0]["item_id"]
    assert result.summary  # the cycle completed and summarised itself
