"""Events from the official Segment and RudderStack Python libraries, landed as their batch API
received them, drive the journey: groupless tracks through the group call, Title Case and aliased
names, identify traits in context.traits."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from dagster_project.lib import config
from tests.cycle.conftest import home
from tests.landing.capture_server import CaptureServer

AS_OF = datetime(2026, 10, 5, 12, tzinfo=UTC)
SIGNUP = AS_OF - timedelta(days=2)
STEPS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "sequence_steps.csv"
COMPANY = {"plan_tier": "pro", "mrr": 900, "employees": 40, "industry": "software", "country": "DE"}


def _send_segment(url: str) -> None:
    """Segment's server library: traits in `traits`, no context.groupId on tracks, Title Case names."""
    client = SegmentClient("seg-key", host=url, sync_mode=True, max_retries=0)
    client.identify("seg_user", {"email": "seg.user@example.com", "name": "Seg User"}, timestamp=SIGNUP)
    client.group("seg_user", "acct_seg", {"name": "Segment Co", **COMPANY}, timestamp=SIGNUP)
    client.track("seg_user", "Signup Completed", {"plan_tier": "pro", "source": "organic"},
                 timestamp=SIGNUP + timedelta(minutes=1))
    client.track("seg_user", "Project Created", {"project_id": "p1"}, timestamp=SIGNUP + timedelta(hours=2))
    # A user who never joined an account: kept in raw, counted, attributed to nobody.
    client.track("stray_user", "Project Created", {"project_id": "p9"}, timestamp=SIGNUP + timedelta(hours=3))
    client.flush()


def _send_rudderstack(url: str) -> None:
    """RudderStack's library: identify traits only in context.traits; an analyst alias for signup."""
    client = RudderClient("rudder-key", host=url, sync_mode=True, max_retries=0)
    client.identify("rud_user", {"email": "rud.user@example.com", "name": "Rud User"}, timestamp=SIGNUP)
    client.group("rud_user", "acct_rud", {"name": "Rudder Co", **COMPANY}, timestamp=SIGNUP)
    client.track("rud_user", "Account Created", {"plan_tier": "pro", "source": "ads"},
                 timestamp=SIGNUP + timedelta(minutes=5))
    client.flush()


def _step_after(track: str, goal: str) -> str:
    with STEPS.open() as handle:
        steps = sorted((r for r in csv.DictReader(handle) if r["track"] == track), key=lambda r: int(r["step_order"]))
    index = next(i for i, r in enumerate(steps) if r["goal_event"] == goal)
    return steps[index + 1]["step_key"]


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory):
    from dagster_project.cli.cycle import run_cycle

    root = tmp_path_factory.mktemp("real_clients")
    with CaptureServer("seg-key") as segment, CaptureServer("rudder-key") as rudder:
        _send_segment(segment.url)
        _send_rudderstack(rudder.url)
    assert not segment.rejected and not rudder.rejected
    segment.write_landing(root / "landing" / "segment", "batch")
    rudder.write_landing(root / "landing" / "rudderstack", "batch")
    with home(root):
        result = run_cycle(AS_OF)
    return root, result, segment.messages() + rudder.messages()


def _query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_the_libraries_send_what_the_issue_describes(cycle):
    """The premise: no context.groupId from either library, RudderStack's traits in context only."""
    _, _, messages = cycle
    tracks = [m for m in messages if m["type"] == "track"]
    assert tracks and all("groupId" not in m.get("context", {}) for m in tracks)
    rud_identify = next(m for m in messages if m["type"] == "identify" and m["userId"] == "rud_user")
    assert "email" not in rud_identify.get("traits", {}) and rud_identify["context"]["traits"]["email"]


def test_raw_keeps_every_message_and_field_as_sent(cycle):
    root, result, messages = cycle
    assert result.summary["landing"]["messages"] == len(messages)
    assert result.summary["landing"]["quarantined"] == 0
    landed = dict(_query(root, "select message_id, payload::varchar from raw.segment_messages"))
    for message in messages:
        assert json.loads(landed[message["messageId"]]) == message
    # raw keeps the names as sent.
    names = {r[0] for r in _query(root, "select event from raw.segment_messages where type = 'track'")}
    assert names == {"Signup Completed", "Project Created", "Account Created"}


def test_a_groupless_track_moves_the_account_its_user_joined(cycle):
    root, _, _ = cycle
    rows = _query(root, "select track, current_step, steps_completed from marts.customer_onboarding_state "
                        "where account_id = 'acct_seg'")
    assert rows, "the Title Case signup must create the account's onboarding state"
    track, current_step, completed = rows[0]
    assert current_step == _step_after(track, "project_created")
    assert completed >= 1


def test_title_case_and_aliased_signups_appear_in_the_state(cycle):
    root, _, _ = cycle
    accounts = {r[0] for r in _query(root, "select account_id from marts.customer_onboarding_state")}
    assert accounts == {"acct_seg", "acct_rud"}
    primary = dict(_query(root, "select account_id, primary_user_id from marts.customer_onboarding_state"))
    assert primary == {"acct_seg": "seg_user", "acct_rud": "rud_user"}


def test_the_context_traits_email_reaches_the_customerio_person(cycle):
    root, _, _ = cycle
    # The feed the Customer.io sync sends from: RudderStack's context.traits e-mail is there.
    feed = dict(_query(root, "select person_id, email from marts.customerio_people"))
    assert feed == {"rud_user": "rud.user@example.com", "seg_user": "seg.user@example.com"}
    with home(root):
        lines = config.outbox_dir() / "customerio.jsonl"
    people = {}
    for line in lines.read_text().splitlines():
        op = json.loads(line)["operation"]
        if op.get("type") == "person" and op.get("action") == "identify":
            people[op["identifiers"]["id"]] = op["attributes"]
    assert people["rud_user"]["email"] == "rud.user@example.com"
    assert people["rud_user"]["account_id"] == "acct_rud"
    assert people["seg_user"]["email"] == "seg.user@example.com"
    assert "stray_user" not in people


def test_the_user_who_joined_no_account_is_counted_not_attributed(cycle):
    root, result, _ = cycle
    assert result.summary["landing"]["unattributed"] == 1
    stray = _query(root, "select user_id from intermediate.int_events_unattributed")
    assert stray == [("stray_user",)]
    assert "1 unattributed" in result.describe()
