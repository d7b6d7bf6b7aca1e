"""Planted drift on one new day after 14 clean days: each is caught, the gate closes for what it
corrupts and only that, one alert per status change, and clean data passes without noise."""

from __future__ import annotations

from datetime import timedelta

from tests.quality import dq_events as ev
from tests.quality.conftest import HISTORY_DAYS, Workspace

DAY = HISTORY_DAYS
AS_OF = ev.day_start(DAY + 1)
SIGNUP = "tracking_plan_signup_completed"


def not_passing(run) -> dict[str, str]:
    return {c.name: c.status for c in run.checks if c.status != "pass"}


def test_clean_history_passes_without_noise(history) -> None:
    _, run = history
    assert not_passing(run) == {}
    assert run.alerts == []
    assert run.gated_accounts == 0
    assert run.batch_rows > 2000


def test_clean_day_passes_and_a_rerun_repeats_nothing(ws: Workspace) -> None:
    ws.land("day.jsonl", ev.day_messages(DAY))
    run = ws.cycle()
    assert not_passing(run) == {}
    assert run.alerts == [] and ws.alerts() == []
    assert ws.gate() == set()
    assert run.report_path and "No account is gated" in run.report_path.read_text()

    again = ws.cycle()
    assert again.batch_rows == 0
    assert all(c.carried for c in again.checks if c.name.startswith("tracking_plan_"))
    assert ws.alerts() == []


def test_missing_plan_tier_gates_only_those_accounts_and_alerts_once(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    broken = ev.plant(day, "signup_completed", 6, lambda m: m["properties"].pop("plan_tier"))
    ws.land("day.jsonl", day)
    run = ws.cycle()
    assert run.check(SIGNUP).status == "fail"
    assert ws.gate() == set(broken)
    failed = run.check(SIGNUP).failed
    assert [(e.column, e.unexpected_count, e.element_count) for e in failed] == [("plan_tier", 6, 30)]
    assert failed[0].sample_message_ids[0] == f"m-{broken[0]}-0"
    assert [a[:3] for a in ws.alerts(SIGNUP)] == [(SIGNUP, "pass", "fail")]
    page = run.report_path.read_text()
    assert "FAILED" in page and f"m-{broken[0]}-0" in page and broken[0] in page  # gate table names the account
    assert "@example.com" not in page
    # Nothing else is noisy: the other events of the same accounts are fine.
    assert {n for n, s in not_passing(run).items() if s == "fail"} == {SIGNUP}

    # Still broken an hour later: more accounts gated, the first keep their blocked_since, no new alert.
    later = ev.day_messages(DAY + 1, per_day=10)
    more = ev.plant(later, "signup_completed", 3, lambda m: m["properties"].pop("plan_tier"))
    ws.land("later.jsonl", later)
    second = ws.cycle(AS_OF + timedelta(days=1))
    assert second.check(SIGNUP).status == "fail"
    assert ws.gate(SIGNUP) == set(broken) | set(more)
    since = dict(ws.query("select account_id, blocked_since from ops.send_gate"))
    assert since[broken[0]] == AS_OF and since[more[0]] == AS_OF + timedelta(days=1)
    assert len(ws.alerts(SIGNUP)) == 1

    # Fixed: the check passes, the gate opens, one recovery notice.
    ws.land("fixed.jsonl", ev.day_messages(DAY + 1, per_day=10, first=10))
    third = ws.cycle(AS_OF + timedelta(days=1, hours=12))
    assert third.check(SIGNUP).status == "pass"
    assert ws.gate() == set()
    alerts = ws.alerts(SIGNUP)
    assert [a[1:3] for a in alerts] == [("pass", "fail"), ("fail", "pass")]
    assert "9 gated account(s) released" in alerts[-1][4]


def test_missing_below_threshold_does_not_gate(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    ev.plant(day, "signup_completed", 1, lambda m: m["properties"].pop("source"))  # 1 of 30 = 3.3 % < 5 %
    ws.land("day.jsonl", day)
    run = ws.cycle()
    assert run.check(SIGNUP).status == "pass"
    assert ws.gate() == set() and ws.alerts() == []


def test_unknown_plan_tier_gates_those_accounts(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    broken = ev.plant(day, "signup_completed", 2, lambda m: m["properties"].update(plan_tier="platinum"))
    ws.land("day.jsonl", day)
    run = ws.cycle()
    assert run.check(SIGNUP).status == "fail"
    assert ws.gate() == set(broken)
    (alert,) = ws.alerts(SIGNUP)
    assert "platinum" in alert[4] and "plan_tier not an allowed value on 2 of 30 rows" in alert[4]


def test_type_change_fails_its_suite_and_shows_as_schema_drift(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    broken = ev.plant(day, "integration_connected", 15, lambda m: m["properties"].update(integration={"name": "slack"}))
    ws.land("day.jsonl", day)
    run = ws.cycle()
    assert run.check("tracking_plan_integration_connected").status == "fail"
    assert ws.gate() == set(broken)
    drift = run.check("schema_drift")
    assert drift.status == "warn"
    assert [f.kind for f in drift.findings] == ["type_change:integration"]
    assert {a[0] for a in ws.alerts()} == {"tracking_plan_integration_connected", "schema_drift"}


def test_events_from_the_future_gate_those_accounts(ws: Workspace) -> None:
    day = ev.day_messages(DAY)

    def skew(m: dict) -> None:  # the client clock runs two days ahead; the server received it on time
        m["timestamp"] = ev.iso(AS_OF + timedelta(days=2))

    broken = ev.plant(day, "teammate_invited", 3, skew)
    ws.land("day.jsonl", day)
    run = ws.cycle()
    check = run.check("tracking_plan_teammate_invited")
    assert check.status == "fail"
    assert [(e.column, e.unexpected_count) for e in check.failed] == [("future_skew_seconds", 3)]
    assert ws.gate() == set(broken)


def test_volume_drop_alerts_without_gating(ws: Workspace) -> None:
    ws.land("day.jsonl", ev.day_messages(DAY, per_day=8))
    run = ws.cycle()
    volume = run.check("volume_anomaly")
    assert volume.status == "warn"
    assert "track:signup_completed" in {f.key for f in volume.findings if f.kind == "drop"}
    assert {n for n, s in not_passing(run).items()} == {"volume_anomaly"}
    assert ws.gate() == set()
    assert [a[0] for a in ws.alerts()] == ["volume_anomaly"]


def test_duplicate_burst_alerts_without_gating(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    ws.land("day.jsonl", day)
    ws.land("replayed.jsonl", day[:80] + ev.resend_under_new_ids(day, 30))
    run = ws.cycle()
    dup = run.check("duplicate_burst")
    assert dup.status == "warn"
    assert {f.kind for f in dup.findings} == {"repeated_message_id", "same_event_new_id"}
    assert ws.gate() == set()
    assert "tracking_plan_signup_completed" not in not_passing(run)


def test_late_arrivals_alert(ws: Workspace) -> None:
    day = ev.day_messages(DAY)
    for m in day[::3]:
        m["receivedAt"] = ev.iso(ev.day_start(DAY) + timedelta(hours=23))
    ws.land("day.jsonl", day)
    run = ws.cycle()
    assert run.check("late_arrivals").status == "warn"
    assert ws.gate() == set()


def test_event_before_the_account_existed_warns_without_gating(ws: Workspace) -> None:
    day = ev.day_messages(DAY)

    def backdate(m: dict) -> None:  # a project "created" two days before its account signed up
        m["timestamp"] = ev.iso(ev.day_start(DAY) - timedelta(days=2))

    ev.plant(day, "project_created", 2, backdate)
    ws.land("day.jsonl", day)
    run = ws.cycle()
    check = run.check("tracking_plan_project_created")
    assert check.status == "warn"
    assert [(e.column, e.unexpected_count) for e in check.failed] == [("seconds_before_account_signup", 2)]
    assert ws.gate() == set()
