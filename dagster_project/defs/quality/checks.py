"""From findings to check statuses, gate rows and alerts (pure: no warehouse, no GX, no Slack).

A check's status is `pass`, `warn` or `fail` (`fail` = a critical expectation failed: the check gates
sends). A check with nothing new to look at keeps its previous status, so a quiet hour neither releases
a gate nor fires a false recovery. One alert per status change, including the recovery notice.

The gate is in proportion to the damage: a failing critical expectation gates exactly the accounts of
its failing rows. A failing row that belongs to no account gates nobody (there is nobody to protect)
and is reported instead. A share threshold (`mostly`) trips only on at least `min_count` failing rows
(`ONBOARDING_QUALITY_MIN_COUNT`, or the expectation's `meta.min_count`), so one odd event in a
three-event hour is not "33 % failing".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagster_project.defs.quality.drift import DriftFinding
from dagster_project.defs.quality.validate import ExpectationOutcome

DRIFT_CHECKS = ("schema_drift", "volume_anomaly", "late_arrivals", "duplicate_burst")
UNATTRIBUTED_CHECK = "unattributed_events"
DEFAULT_MIN_COUNT = 3
SLACK_SECTION_LIMIT = 2900


def suite_check_name(suite: str) -> str:
    return f"tracking_plan_{suite}"


@dataclass
class CheckOutcome:
    name: str
    status: str
    summary: str
    carried: bool = False
    rows: int = 0
    gate: dict[str, str] = field(default_factory=dict)
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    findings: list[DriftFinding] = field(default_factory=list)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success]


RULE_WORDS = {
    "expect_column_values_to_not_be_null": "missing",
    "expect_column_values_to_be_in_set": "not an allowed value",
    "expect_column_values_to_be_between": "out of range",
    "expect_column_values_to_match_regex": "malformed",
}


def describe(e: ExpectationOutcome) -> str:
    """A one-line account of a failing expectation, with no customer-typed values in it."""
    rule = RULE_WORDS.get(e.expectation_type, e.expectation_type.removeprefix("expect_column_values_to_"))
    text = f"{e.suite}: {e.column} {rule} on {e.unexpected_count} of {e.element_count} rows ({e.unexpected_percent:.1f}%"
    text += f", threshold {100 * (1 - e.mostly):.0f}%)" if e.mostly < 1 else ")"
    if e.unattributed:
        text += f"; {e.unattributed} of them belong to no account"
    if e.error:
        text += f" [error: {e.error[:120]}]"
    return text


def apply_min_count(outcomes: list[ExpectationOutcome], default: int) -> list[ExpectationOutcome]:
    """A share threshold needs at least `min_count` failing rows to fail (over the whole batch, merged).

    Only expectations with a share threshold (`mostly` < 1) are relaxed: a rule without one (an unknown
    plan_tier) fails on a single row, as its suite says.
    """
    for e in outcomes:
        floor = e.min_count if e.min_count is not None else default
        if not e.success and not e.error and e.mostly < 1 and e.unexpected_count < floor:
            e.success = True
            e.under_min_count = True
    return outcomes


def suite_outcome(name: str, rows: int, outcomes: list[ExpectationOutcome], previous: str | None) -> CheckOutcome:
    if rows == 0:
        return CheckOutcome(name, previous or "pass", "no new rows: status carried over", carried=True)
    failed = [e for e in outcomes if not e.success]
    blocking = [e for e in failed if e.blocking]
    warnings = [e for e in failed if e.severity == "warning"]
    gate: dict[str, str] = {}
    for e in blocking:
        reason = describe(e)
        for account in e.affected_accounts:  # rows without an account gate nobody
            gate.setdefault(account, reason)
    if blocking:
        status = "fail"
        summary = "; ".join(describe(e) for e in blocking)
    elif warnings:
        status = "warn"
        summary = "; ".join(describe(e) for e in warnings)
    else:
        status = "pass"
        summary = f"{len(outcomes)} expectations passed on {rows} new rows"
    return CheckOutcome(name, status, summary, rows=rows, gate=gate, expectations=outcomes)


def drift_outcome(
    name: str, findings: list[DriftFinding], evaluated: bool, previous: str | None, rows: int = 0
) -> CheckOutcome:
    """`rows`: what the check looked at this cycle (shown as `new_rows` in Dagster)."""
    if not evaluated:
        return CheckOutcome(name, previous or "pass", "nothing new to compare: status carried over", carried=True)
    if findings:
        return CheckOutcome(name, "warn", "; ".join(f.message for f in findings), rows=rows, findings=findings)
    return CheckOutcome(name, "pass", "no drift", rows=rows)


def unattributed_outcome(
    checked: int, unattributed: int, samples: list[str], by_event: dict[str, int], previous: str | None
) -> CheckOutcome:
    """Track and page messages that belong to no account: an alert to the data channel, never a gate.

    Such a message has no groupId and its user made no `group` call at or before it. It stays in raw, is
    never sent, and cannot gate anyone: there is no account whose sends it could corrupt.
    """
    if not checked:
        return CheckOutcome(UNATTRIBUTED_CHECK, previous or "pass", "no new track or page messages: status carried over",
                            carried=True)
    if not unattributed:
        return CheckOutcome(UNATTRIBUTED_CHECK, "pass", f"all {checked} new track/page messages belong to an account",
                            rows=checked)
    events = ", ".join(f"{k} {n}" for k, n in sorted(by_event.items(), key=lambda kv: (-kv[1], kv[0]))[:10])
    message = (f"{unattributed} of {checked} new track/page messages belong to no account (no groupId and no group "
               f"call by their user at or before them): kept in raw, never sent, nobody gated ({events})")
    finding = DriftFinding(UNATTRIBUTED_CHECK, "all", "no_account", message, unattributed,
                           share=unattributed / checked, samples=samples[:10])
    return CheckOutcome(UNATTRIBUTED_CHECK, "warn", message, rows=checked, findings=[finding])


def escape_slack(text: str) -> str:
    """Slack mrkdwn control characters, so nothing in a message can ping, link or format."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_for(check: CheckOutcome, previous: str, as_of: datetime, channel: str, released: int = 0) -> dict[str, Any]:
    """One status change as the Slack module's arguments: a title, plain lines (it escapes them), a status."""
    if check.status == "pass":
        title = f"{check.name} passes again (was {previous})"
        lines = [f"{released} gated account(s) released." if released else "No account was gated by this check."]
    elif check.status == "fail":
        title = (f"{check.name} failing: sends gated for {len(check.gate)} account(s)" if check.gate
                 else f"{check.name} failing: the failing rows belong to no account, nobody gated")
        lines = [describe(e) for e in check.failed if e.blocking]
        lines += [f"(warning) {describe(e)}" for e in check.failed if not e.blocking]
    else:
        title = f"{check.name}: warning (alert only, sends continue)"
        lines = [describe(e) for e in check.failed] + [f.message for f in check.findings]
    samples = [m for e in check.failed for m in e.sample_message_ids][:5] or [
        m for f in check.findings for m in f.samples
    ][:5]
    if samples and check.status != "pass":
        lines.append("Sample messageIds: " + ", ".join(samples))
    values = sorted({v for e in check.failed for v in e.unexpected_values})[:10]
    if values and check.status != "pass":
        lines.append("Unexpected values: " + ", ".join(values))
    alert_id = hashlib.sha256(f"{check.name}|{as_of.isoformat()}|{check.status}".encode()).hexdigest()[:32]
    text = escape_slack(title + "\n" + "\n".join(lines))
    return {
        "alert_id": alert_id,
        "check_name": check.name,
        "as_of": as_of,
        "previous_status": previous,
        "status": check.status,
        "channel": channel,
        "title": title,
        "lines": lines,
        "text": text[:SLACK_SECTION_LIMIT],
    }


def release_alert(check_names: list[str], as_of: datetime, channel: str) -> dict[str, Any]:
    """The notice that a gate an earlier version closed for every account ('*') is open again."""
    title = "send gate reopened for every account"
    lines = [f"{', '.join(check_names)} had gated every account because failing rows had no account.",
             "Rows without an account now gate nobody; only the accounts of failing rows are gated."]
    alert_id = hashlib.sha256(f"release_everyone|{as_of.isoformat()}|{','.join(check_names)}".encode()).hexdigest()[:32]
    return {
        "alert_id": alert_id, "check_name": "send_gate", "as_of": as_of, "previous_status": "fail",
        "status": "pass", "channel": channel, "title": title, "lines": lines,
        "text": escape_slack(title + "\n" + "\n".join(lines))[:SLACK_SECTION_LIMIT],
    }


def status_changes(checks: list[CheckOutcome], previous: dict[str, str]) -> list[tuple[CheckOutcome, str]]:
    """Checks whose status differs from the stored one (an unknown check counts as having passed)."""
    return [(c, previous.get(c.name, "pass")) for c in checks if not c.carried and c.status != previous.get(c.name, "pass")]
