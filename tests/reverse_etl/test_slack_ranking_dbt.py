"""The real dbt model marts.csm_alerts, built from planted shared-interface marts, feeding the real Slack
cycle: the model's columns are what the sync reads, and status changes are announced once across cycles."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagster_project.lib import config, warehouse
from dagster_project.lib.dbt import dbt_executable
from reverse_etl.slack import SlackSettings, run_slack_cycle
from tests.reverse_etl.slack_support import (
    STATE_COLUMNS,
    TRIGGER_COLUMNS,
    create_table,
    state_row,
)
from tests.servers.slack_server import SlackServer

T9 = datetime(2026, 11, 10, 9, tzinfo=UTC)
STEP_COLUMNS = {"account_id": "varchar", "track": "varchar", "step_order": "integer", "step_key": "varchar",
                "goal_event": "varchar", "is_done": "boolean"}
HOSTILE = "<!channel> Corp"
EMPTY_INPUTS = {
    "intermediate.int_account_events_aggregated": {"account_id": "varchar", "event_name": "varchar",
                                                    "first_at": "timestamptz"},
    "intermediate.int_accounts_content_personalised": {"account_id": "varchar", "use_case_stated": "varchar",
                                                        "use_case": "varchar", "library_url": "varchar"},
    "intermediate.int_recovery_offers_chosen": {"account_id": "varchar", "attempt": "bigint", "track": "varchar",
                                                "stall_point": "varchar", "offer": "varchar",
                                                "offer_detail": "varchar", "trial_extension_days": "integer"},
    "marts.onboarding_plan_tasks": {"account_id": "varchar", "milestone_key": "varchar", "milestone": "varchar",
                                    "due_at": "timestamptz", "status": "varchar"},
}


def build_alerts(path: Path, target: Path, as_of: datetime) -> None:
    env = dict(os.environ, ONBOARDING_WAREHOUSE=str(path), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    cmd = [
        # csm_alerts reads the sync log through its staging views (the ops tables ensure_schema creates).
        dbt_executable(), "build", "--select", "csm_alerts csm_roster sequence_steps suppression_events "
        "stg_sync_log__sync_changelog stg_sync_log__sync_runs",
        # The planted warehouse holds only what csm_alerts reads; its unit tests (whose fixtures need every
        # input relation to exist) run in the unit-test session, not here.
        "--exclude-resource-type", "unit_test",
        "--vars", json.dumps({"as_of": config.iso(as_of)}),
        "--project-dir", str(config.dbt_project_dir()), "--profiles-dir", str(config.dbt_project_dir()),
        "--target-path", str(target),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


def plant(con: duckdb.DuckDBPyConnection, as_of: datetime, big_recovered: bool) -> None:
    def stalled(account: str, arr: float, hours: float, **values: Any) -> dict[str, Any]:
        return state_row(account, as_of, arr=arr, mrr=arr / 12, lifecycle_stage="stalled",
                         stall_step="invite_teammate", stalled_since=as_of - timedelta(hours=hours),
                         hours_stalled=hours, signup_at=as_of - timedelta(days=5), **values)

    big = (
        state_row("big", as_of, arr=60000.0, lifecycle_stage="activated", current_step=None, steps_completed=3,
                  activated_at=as_of - timedelta(minutes=30), signup_at=as_of - timedelta(days=5),
                  company_name=HOSTILE)
        if big_recovered
        else stalled("big", 60000.0, 72, company_name=HOSTILE)
    )
    rows = [
        big,
        stalled("mid", 12000.0, 50, steps_completed=2),
        stalled("small", 2400.0, 170, csm_owner="csm_dev"),
        state_row("whale", as_of, arr=120000.0, track="high_touch", current_step="csm_intro", steps_completed=0,
                  steps_total=4, signup_at=as_of - timedelta(hours=2), csm_owner="csm_ana"),
        state_row("fine", as_of, arr=90000.0, lifecycle_stage="activated", current_step=None, steps_completed=3,
                  activated_at=as_of - timedelta(hours=3), signup_at=as_of - timedelta(days=2)),
    ]
    create_table(con, "marts.customer_onboarding_state", STATE_COLUMNS, rows)
    triggers = [
        {"trigger_id": "t-big-stall", "account_id": "big", "person_id": "user_big", "kind": "stalled",
         "event_name": "onboarding_stalled", "track": "standard", "step": "invite_teammate", "attempt": 0,
         "due_at": T9 - timedelta(hours=24), "emitted_as_of": T9 - timedelta(hours=24),
         "payload": '{"step": "invite_teammate"}'},
    ]
    create_table(con, "marts.onboarding_triggers", TRIGGER_COLUMNS, triggers)
    # The steps each account did: `mid` connected its integration before inviting anyone (a later step first).
    done = {"big": {"welcome_first_project"}, "mid": {"welcome_first_project", "connect_integration"},
            "small": {"welcome_first_project"}}
    steps = [
        {"account_id": account, "track": "standard", "step_order": order, "step_key": key,
         "goal_event": goal, "is_done": key in done.get(account, set())}
        for account in ("big", "mid", "small")
        for order, key, goal in ((1, "welcome_first_project", "project_created"),
                                 (2, "invite_teammate", "teammate_invited"),
                                 (3, "connect_integration", "integration_connected"))
    ]
    create_table(con, "intermediate.int_account_steps_evaluated", STEP_COLUMNS, steps)
    # The kickoff briefing's inputs (events, content, offers, the 30-day plan): none is planted, so the
    # alerts here carry no briefing facts, no offer and an empty plan.
    for relation, columns in EMPTY_INPUTS.items():
        create_table(con, relation, columns, [])
    # What the Customer.io sync actually delivered: the stall, in the cycle a day earlier; an event held
    # by the gate was never sent and must not be listed.
    warehouse.ensure_schema(con)
    con.execute("delete from ops.sync_changelog")
    con.execute("delete from ops.sync_runs")
    con.execute(
        "insert into ops.sync_runs (run_id, channel, as_of, started_at, status) values (?, 'customerio', ?, ?, 'success')",
        ["run-1", T9 - timedelta(hours=24), datetime.now(UTC)],
    )
    for item, result in (("event:t-big-stall", "outbox"), ("event:t-big-held", "skipped_gate")):
        con.execute(
            "insert into ops.sync_changelog (run_id, channel, item_id, account_id, operation, event_name, result, "
            "recorded_at) values ('run-1', 'customerio', ?, 'big', 'event', 'onboarding_stalled', ?, ?)",
            [item, result, datetime.now(UTC)],
        )


@pytest.mark.slow  # two dbt builds: ~25 s idle, more on a busy machine
def test_model_ranks_and_sync_announces_each_change_once(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with SlackServer(token="xoxb-t", min_interval=0.1) as slack:
        cfg = SlackSettings(token="xoxb-t", base_url=slack.url, digest_hour=9, per_channel_rate=4.0)

        with warehouse.connect(path) as con:
            plant(con, T9, big_recovered=False)
        build_alerts(path, tmp_path / "target", T9)
        with warehouse.connect(path) as con:
            ranked = con.execute(
                "select account_id, kind, priority, alert_rank from marts.csm_alerts order by alert_rank"
            ).fetchall()
        assert ranked == [
            ("whale", "high_touch_signup", "P0", 1),
            ("big", "stalled", "P0", 2),
            ("mid", "stalled", "P1", 3),
            ("small", "stalled", "FYI", 4),
        ]
        first = run_slack_cycle(lambda: warehouse.connect(path), T9, cfg)
        assert first["realtime_queued"] == 2 and first["digest"]["posted"] is True
        alerts = slack.messages("cs-alerts")
        assert len(alerts) == 2
        assert "<@U01ANA0001>" in json.dumps(alerts[0]) and "cal.example.com/ana/priority|" in json.dumps(alerts[0])
        big_alert = json.dumps(alerts[1])
        assert "&lt;!channel&gt; Corp" in big_alert and "<!channel>" not in big_alert
        # what automation sent, at the clock of the cycle that sent it; not what the gate held back
        assert "Automation already sent (1):" in big_alert
        assert "onboarding_stalled invite_teammate (2026-11-09 09:00)" in big_alert
        # Did / Not yet list the steps steps_completed counts, whatever order they were done in
        with warehouse.connect(path) as con:
            progress = {r[0]: r[1:] for r in con.execute(
                "select account_id, steps_done, steps_todo, steps_completed, steps_done_titles, realtime_cap "
                "from marts.csm_alerts").fetchall()}
        assert progress["mid"][:2] == (["welcome_first_project", "connect_integration"], ["invite_teammate"])
        assert progress["mid"][3] == ["create your first project", "connect an integration"]
        assert all(len(done) == completed for done, _, completed, _, _ in
                   (progress[a] for a in ("big", "mid", "small")))
        assert {cap for *_, cap in progress.values()} == {10}  # var alert_max_realtime_per_cycle
        digest = json.dumps(slack.messages("cs-digest")[0])
        assert digest.index("Company mid") < digest.index("Company small")

        # An hour later: big activated after its stall -> one 'recovered' row, held for tomorrow's digest;
        # the others are still stalled -> nothing new is posted.
        t10 = T9 + timedelta(hours=1)
        with warehouse.connect(path) as con:
            plant(con, t10, big_recovered=True)
        build_alerts(path, tmp_path / "target", t10)
        second = run_slack_cycle(lambda: warehouse.connect(path), t10, cfg)
        assert second["alerts_new"] == 1 and second["realtime_queued"] == 0
        assert len(slack.requests) == 3
        with warehouse.connect(path) as con:
            recovered = con.execute(
                "select priority, status from ops.slack_alerts where kind = 'recovered'"
            ).fetchall()
        assert recovered == [("P1", "digest_pending")]
