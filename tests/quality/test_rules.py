"""Pure rules: suite files, drift thresholds, status changes and alert wording (no warehouse, no GX)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.defs.quality import drift
from dagster_project.defs.quality.checks import (
    alert_for,
    apply_min_count,
    drift_outcome,
    escape_slack,
    status_changes,
    suite_outcome,
)
from dagster_project.defs.quality.suites import expectations_dir, load_suites, parse_suite, suite_names
from dagster_project.defs.quality.validate import ExpectationOutcome

CONTRACT_EVENTS = {
    "signup_completed": {"plan_tier", "source"},
    "project_created": {"project_id"},
    "teammate_invited": {"invitee_email"},
    "integration_connected": {"integration"},
    "report_shared": {"report_id"},
    "plan_changed": {"from_tier", "to_tier", "mrr"},
    "subscription_cancelled": {"reason"},
    "payment_failed": {"amount"},
    "trial_expired": set(),
    "account_deleted": set(),
    "email_unsubscribed": set(),
    "kickoff_booked": {"csm_id"},
}
NOW = datetime(2026, 10, 15, tzinfo=UTC)


def test_one_suite_per_contract_event_plus_identify_and_group_requiring_the_contract_properties() -> None:
    suites = {s.name: s for s in load_suites()}
    assert set(suites) == set(CONTRACT_EVENTS) | {"identify", "group"}
    for event, required in CONTRACT_EVENTS.items():
        blocking_not_null = {
            e["kwargs"]["column"] for e in suites[event].raw["expectations"]
            if e["type"] == "expect_column_values_to_not_be_null" and e["severity"] == "critical"
        }
        assert required <= blocking_not_null, event
    tiers = [e for e in suites["signup_completed"].raw["expectations"]
             if e["kwargs"]["column"] == "plan_tier" and e["type"] == "expect_column_values_to_be_in_set"]
    assert tiers[0]["kwargs"]["value_set"] == ["free", "starter", "pro", "enterprise"]
    assert tiers[0]["severity"] == "critical" and "mostly" not in tiers[0]["kwargs"]


def test_a_suite_file_with_an_unknown_severity_is_refused_with_its_name(tmp_path) -> None:
    raw = json.loads((expectations_dir() / "signup_completed.json").read_text())
    raw["expectations"][0]["severity"] = "blocking"
    with pytest.raises(ValueError, match="bad.json: expectation 0 has severity 'blocking'"):
        parse_suite(raw, "bad.json")


def _outcome(severity: str, success: bool, accounts: dict[str, int]) -> ExpectationOutcome:
    return ExpectationOutcome("signup_completed", "expect_column_values_to_not_be_null", "plan_tier", severity, "",
                              success, 30, sum(accounts.values()), 10.0, 0.95, ["m1"], accounts)


def test_only_critical_failures_gate_and_a_quiet_hour_keeps_the_status() -> None:
    fail = suite_outcome("c", 30, [_outcome("critical", False, {"a1": 1, "a2": 2}), _outcome("warning", False, {"a3": 1})], "pass")
    assert fail.status == "fail" and set(fail.gate) == {"a1", "a2"}
    warn = suite_outcome("c", 30, [_outcome("warning", False, {"a3": 1})], "pass")
    assert warn.status == "warn" and warn.gate == {}
    quiet = suite_outcome("c", 0, [], "fail")
    assert quiet.carried and quiet.status == "fail"
    assert status_changes([fail, warn, quiet], {"c": "fail"}) == [(warn, "fail")]


def test_alert_text_is_escaped_and_states_the_gate() -> None:
    check = suite_outcome("tracking_plan_x", 30, [_outcome("critical", False, {"a1": 2, "a2": 1})], "pass")
    alert = alert_for(check, "pass", NOW, "#data-alerts")
    assert "sends gated for 2 account(s)" in alert["title"]
    nobody = _outcome("critical", False, {})
    nobody.unexpected_count, nobody.unattributed = 4, 4
    orphan = suite_outcome("tracking_plan_x", 30, [nobody], "pass")
    assert orphan.status == "fail" and orphan.gate == {}  # rows without an account gate nobody, never '*'
    text = alert_for(orphan, "pass", NOW, "#data-alerts")
    assert "belong to no account, nobody gated" in text["title"] and "4 of them belong to no account" in text["text"]
    assert escape_slack("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    again = alert_for(check, "pass", NOW, "#data-alerts")
    assert again["alert_id"] == alert["alert_id"]


def test_schema_drift_new_vanished_and_type_change() -> None:
    baseline = {"track:x": {"": {"rows": 100}, "a": {"string": 100}, "b": {"number": 100}, "rare": {"string": 30}}}
    h1, h2 = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    recent = {
        (h1, "track:x"): {"": {"rows": 4}, "a": {"string": 4}, "b": {"number": 4}},
        (h2, "track:x"): {"": {"rows": 10}, "b": {"string": 10}, "c": {"string": 10}},
    }
    kinds = sorted(f.kind for f in drift.schema_drift(recent, baseline))
    # `rare` (30 % of rows) missing from 14 rows is a 0.7 % chance: not drift. `a` (100 %) gone for 10 rows is.
    assert kinds == ["new_property:c", "type_change:b", "vanished_property:a"]
    assert drift.schema_drift(recent, {}) == []  # no baseline yet: nothing to compare with
    # `a` came back in the newest hour: no longer vanished, however many rows lacked it before.
    recent[(NOW, "track:x")] = {"": {"rows": 1}, "a": {"string": 1}}
    assert "vanished_property:a" not in {f.kind for f in drift.schema_drift(recent, baseline)}


def _series(per_day: list[int]) -> dict[str, list[int]]:
    return {"track:signup_completed": per_day}


def test_volume_drop_against_the_same_window_in_earlier_weeks() -> None:
    first = NOW - timedelta(days=30)
    weekly = [100] * 29
    weekly[0] = 60
    (finding,) = drift.volume_anomalies(_series(weekly), first, NOW)
    assert finding.kind == "drop" and round(finding.share, 2) == -0.40
    # A weekend dip that the same weekday last week also had is not an anomaly.
    weekend = [100] * 29
    for d in (0, 7, 14, 21, 28):
        weekend[d] = 40
    assert drift.volume_anomalies(_series(weekend), first, NOW) == []
    # Too little history (two days): no verdict rather than a false alarm.
    assert drift.volume_anomalies(_series(weekly), NOW - timedelta(days=2), NOW) == []
    # An 8 % dip at this volume is within Poisson noise: not flagged.
    small = [100] * 29
    small[0] = 92
    assert drift.volume_anomalies(_series(small), first, NOW) == []


def test_a_share_threshold_trips_only_on_the_minimum_count() -> None:
    one_odd = _outcome("critical", False, {"a1": 1})  # 1 of 3 = 33 %, mostly 0.95
    strict_rule = _outcome("critical", False, {"a2": 1})
    strict_rule.mostly = 1.0  # no share threshold: one row fails it
    own_floor = _outcome("critical", False, {"a3": 1})
    own_floor.min_count = 1  # the suite's meta.min_count wins over the setting
    apply_min_count([one_odd, strict_rule, own_floor], 3)
    assert (one_odd.success, one_odd.under_min_count) == (True, True)
    assert strict_rule.success is False and own_floor.success is False
    assert drift.duplicate_findings(5, 1, 5, 1, ["m1"]) == []  # 1 of 5 repeated: 20 %, but one message
    assert len(drift.duplicate_findings(5, 3, 5, 0, [])) == 1


def test_drift_outcome_carries_over_when_nothing_was_evaluated() -> None:
    assert drift_outcome("late_arrivals", [], False, "warn").status == "warn"
    assert drift_outcome("late_arrivals", [], True, "warn").status == "pass"


def test_the_checks_are_named_from_the_suite_files_without_reading_them() -> None:
    """The code location names the checks from the file names (it reads no suite on load): each suite is
    named as its file, and a misnamed one is refused when the pass loads the suites."""
    assert [s.name for s in load_suites()] == suite_names()
