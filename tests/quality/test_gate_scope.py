"""The gate in proportion to the damage, on real event shapes: Segment's server libraries (no
context.groupId), RudderStack's context.traits, Title Case and aliased names, tiny hourly batches.

Each test lands one planted file on top of the 14-day history and runs one quality pass."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from dagster_project.defs.quality.assets import check_results
from dagster_project.defs.quality.checks import UNATTRIBUTED_CHECK
from tests.quality import dq_events as ev
from tests.quality.conftest import HISTORY_DAYS, Workspace

DAY = HISTORY_DAYS
AS_OF = ev.day_start(DAY + 1)
PROJECT = "tracking_plan_project_created"
SIGNUP = "tracking_plan_signup_completed"


def groupless(m: dict) -> None:
    """As Segment's server libraries send a track: no context.groupId at all."""
    m.pop("context", None)


def stranger_track(n: int, event: str = "project_created", at=None, **props) -> dict:
    """A track from a user who never made a group call: it belongs to no account."""
    at = at or ev.day_start(DAY) + timedelta(hours=6)
    return {"messageId": f"stranger-{n}", "type": "track", "event": event, "userId": f"stranger_{n}",
            "timestamp": ev.iso(at), "receivedAt": ev.iso(at + timedelta(seconds=1)), "properties": props}


def test_groupless_tracks_belong_to_their_users_group_and_gate_exactly_the_failing_accounts(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    for m in ev.events(day, "project_created") + ev.events(day, "teammate_invited"):
        groupless(m)  # every one of them: resolved through the user's group call two seconds after signup
    failing = [m for m in ev.events(day, "project_created")][:4]
    for m in failing:
        m["properties"].pop("project_id")
    failing_accounts = {ev.account_id(DAY, int(m["userId"][-3:])) for m in failing}
    strangers = [stranger_track(i) for i in range(3)]  # no project_id either, and no account
    ws.land("day.jsonl", day + strangers)
    run = ws.cycle()

    check = run.check(PROJECT)
    assert check.status == "fail"
    (missing,) = [e for e in check.failed if e.column == "project_id"]
    assert (missing.unexpected_count, missing.element_count, missing.unattributed) == (7, 33, 3)
    assert ws.gate() == failing_accounts  # exactly the four accounts, resolved through their group calls
    # the groupless teammate_invited rows found their accounts: nothing is missing there
    assert run.check("tracking_plan_teammate_invited").status == "pass"
    unattributed = run.check(UNATTRIBUTED_CHECK)
    assert unattributed.status == "warn" and run.unattributed == 3
    assert unattributed.findings[0].samples == ["stranger-0", "stranger-1", "stranger-2"]


def test_the_latest_group_call_at_or_before_the_event_wins(ws: Workspace) -> None:
    t0 = ev.day_start(DAY) + timedelta(hours=1)
    user = "usr_mover"

    def msg(n: int, kind: str, at, **fields) -> dict:
        return {"messageId": f"mover-{n}", "type": kind, "userId": user, "timestamp": ev.iso(at),
                "receivedAt": ev.iso(at + timedelta(seconds=1)), **fields}

    messages = [
        msg(1, "group", t0, groupId="acc_first", traits={"name": "First"}),
        msg(2, "track", t0 + timedelta(hours=1), event="project_created", properties={}),  # -> acc_first
        msg(3, "group", t0 + timedelta(hours=2), groupId="acc_second", traits={"name": "Second"}),
        msg(4, "track", t0 + timedelta(hours=3), event="teammate_invited", properties={}),  # -> acc_second
        msg(5, "track", t0 + timedelta(hours=4), event="teammate_invited", properties={}),
        msg(6, "track", t0 + timedelta(hours=5), event="teammate_invited", properties={}),
    ]
    ws.land("day.jsonl", ev.day_messages(DAY) + messages)
    run = ws.cycle()
    assert run.check(PROJECT).status == "pass"  # 1 missing project_id of 31 is under the minimum count of 3
    assert ws.gate("tracking_plan_teammate_invited") == {"acc_second"}  # 3 missing invitee_email, all after the move
    assert run.unattributed == 0


def test_one_unattributable_event_in_a_three_event_hour_gates_nobody_and_alerts_the_data_channel(
    ws: Workspace,
) -> None:
    ws.land("day.jsonl", ev.day_messages(DAY))
    ws.cycle()
    assert ws.gate() == set()
    hour = AS_OF + timedelta(hours=1)
    known = ev.account_messages(DAY, 3, prefix="late")
    batch = [
        dict(known[3], timestamp=ev.iso(hour - timedelta(minutes=30)), receivedAt=ev.iso(hour - timedelta(minutes=29))),
        dict(known[4], timestamp=ev.iso(hour - timedelta(minutes=20)), receivedAt=ev.iso(hour - timedelta(minutes=19))),
        stranger_track(9, at=hour - timedelta(minutes=10)),  # no groupId, no group call, no project_id either
    ]
    batch[2]["properties"] = {}
    ws.land("hour.jsonl", batch)
    run = ws.cycle(hour)
    assert run.batch_rows == 3
    assert ws.gate() == set()  # not '*', and not a share of 1 in 2 project_created rows either
    assert {c.name: c.status for c in run.checks if c.status == "fail"} == {}
    (alert,) = ws.alerts()
    assert alert[0] == UNATTRIBUTED_CHECK and alert[2] == "warn"
    assert "1 of 3 new track/page messages belong to no account" in alert[3] + alert[4]
    assert "nobody gated" in alert[4]


def test_share_thresholds_need_the_minimum_count(ws: Workspace, history, monkeypatch: pytest.MonkeyPatch) -> None:
    day = ev.day_messages(DAY, per_day=3)
    broken = ev.plant(day, "signup_completed", 2, lambda m: m["properties"].pop("source"))  # 2 of 3 = 67 %
    ws.land("day.jsonl", day)
    run = ws.cycle()
    (source,) = [e for e in run.check(SIGNUP).expectations if e.column == "source" and "null" in e.expectation_type]
    assert source.unexpected_count == 2 and source.success and source.under_min_count
    assert ws.gate() == set()
    assert "passed (under the minimum count)" in run.report_path.read_text()

    (ws.root / "strict").mkdir()
    other = Workspace(ws.root / "strict", history[0])
    other.land("day.jsonl", day)
    monkeypatch.setenv("ONBOARDING_QUALITY_MIN_COUNT", "2")
    strict = other.cycle()
    assert strict.check(SIGNUP).status == "fail"
    assert other.gate() == set(broken)


def test_a_gate_an_earlier_version_closed_for_everyone_opens_on_the_next_cycle(ws: Workspace) -> None:
    ws.land("day.jsonl", ev.day_messages(DAY))
    ws.cycle()
    ws.query("insert into ops.send_gate values ('*', ?, 'project_id missing', ?)", [PROJECT, AS_OF])
    ws.query("insert into ops.send_gate values ('*', 'operator_stop', 'maintenance', ?)", [AS_OF])
    ws.query("update ops.quality_check_status set status = 'fail' where check_name = ?", [PROJECT])
    run = ws.cycle(AS_OF + timedelta(hours=1))  # no new data at all
    assert run.batch_rows == 0 and run.released_everyone == 1
    assert ws.query("select account_id, check_name from ops.send_gate") == [("*", "operator_stop")]
    (alert,) = ws.alerts("send_gate")
    assert "reopened for every account" in alert[3] and PROJECT in alert[4]


def test_title_case_and_aliased_names_are_validated_by_the_event_suite(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    signups = ev.events(day, "signup_completed")
    for m in signups[:10]:
        m["event"] = "Signup Completed"
    for m in signups[10:20]:
        m["event"] = "Account Created"  # an alias of seeds/event_aliases.csv
    for m in signups[:3] + signups[10:12]:
        m["properties"]["plan_tier"] = "platinum"
    broken = {m["context"]["groupId"] for m in signups[:3] + signups[10:12]}
    projects = ev.events(day, "project_created")
    for m in projects:
        m["event"] = "project-created"
    ws.land("day.jsonl", day)
    run = ws.cycle()
    check = run.check(SIGNUP)
    assert check.status == "fail" and check.rows == 30  # all thirty, whatever they were called
    assert ws.gate() == broken
    assert run.check(PROJECT).rows == 30
    # no "new event" drift for names that normalise to a known one
    assert not [f for f in run.check("schema_drift").findings if f.kind == "new_event"]


def test_identify_traits_fall_back_to_context_traits_field_by_field(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    identifies = [m for m in day if m["type"] == "identify"]
    for m in identifies[:10]:  # RudderStack: traits in context.traits only
        m["context"] = {"traits": m.pop("traits")}
    for m in identifies[10:15]:  # traits without e-mail, the e-mail in context.traits
        m["context"] = {"traits": {"email": m["traits"].pop("email")}}
        m["traits"]["email"] = None
    ws.land("day.jsonl", day)
    run = ws.cycle()
    assert run.check("tracking_plan_identify").status == "pass"
    assert ws.gate() == set()


def test_check_metadata_counts_the_rows_each_check_looked_at(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    ws.land("day.jsonl", day)
    ws.land("replayed.jsonl", copy.deepcopy(day[:10]))
    run = ws.cycle()
    counted = {r.check_name: r.metadata["new_rows"].value for r in check_results(run) if "new_rows" in r.metadata}
    tracked = sum(1 for m in day if m["type"] in ("track", "identify", "group"))
    assert counted["schema_drift"] == tracked and counted["duplicate_burst"] == tracked
    assert counted["late_arrivals"] == len(day) and counted["volume_anomaly"] >= tracked
    assert counted[UNATTRIBUTED_CHECK] == sum(1 for m in day if m["type"] == "track")
    assert counted[SIGNUP] == 30


def test_an_empty_batch_never_imports_great_expectations(ws: Workspace) -> None:
    import os
    import subprocess
    import sys

    script = (
        "import sys\nfrom datetime import datetime\nfrom dagster_project.lib import warehouse\n"
        "import dagster_project.definitions\n"
        "from dagster_project.defs.quality.run import run_quality\n"
        "assert not [m for m in sys.modules if m.startswith('great_expectations')], 'imported with the definitions'\n"
        "with warehouse.connect(sys.argv[1]) as con:\n"
        "    run = run_quality(con, datetime.fromisoformat(sys.argv[2]), reports_dir=None, deliver=False)\n"
        "print(run.batch_rows, run.timings['gx_startup_seconds'],"
        " any(m.startswith('great_expectations') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(ws.db), (AS_OF + timedelta(hours=1)).isoformat()],
                          capture_output=True, text=True, timeout=300, env={**os.environ,
                                                                            "ONBOARDING_HOME": str(ws.root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "0.0", "False"]
