"""From findings to check statuses, gate rows and alerts (pure: no warehouse, no GX, no Slack).

A check's status is `pass`, `warn` or `fail` (`fail` = a critical expectation failed: the check gates
sends). A check with nothing new to look at keeps its previous status, so a quiet hour neither releases
a gate nor fires a false recovery. One alert per status change, including the recovery notice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagster_project.quality.drift import DriftFinding
from dagster_project.quality.validate import UNNARROWED, ExpectationOutcome

DRIFT_CHECKS = ("schema_drift", "volume_anomaly", "late_arrivals", "duplicate_burst")
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
    if e.error:
        text += f" [error: {e.error[:120]}]"
    return text


def suite_outcome(name: str, rows: int, outcomes: list[ExpectationOutcome], previous: str | None) -> CheckOutcome:
    if rows == 0:
        return CheckOutcome(name, previous or "pass", "no new rows: status carried over", carried=True)
    failed = [e for e in outcomes if not e.success]
    blocking = [e for e in failed if e.blocking]
    warnings = [e for e in failed if e.severity == "warning"]
    gate: dict[str, str] = {}
    for e in blocking:
        reason = describe(e)
        for account in e.affected_accounts or {UNNARROWED: e.unexpected_count}:
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


def drift_outcome(name: str, findings: list[DriftFinding], evaluated: bool, previous: str | None) -> CheckOutcome:
    if not evaluated:
        return CheckOutcome(name, previous or "pass", "nothing new to compare: status carried over", carried=True)
    if findings:
        return CheckOutcome(name, "warn", "; ".join(f.message for f in findings), findings=findings)
    return CheckOutcome(name, "pass", "no drift")


def escape_slack(text: str) -> str:
    """Slack mrkdwn control characters, so nothing in a message can ping, link or format."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_for(check: CheckOutcome, previous: str, as_of: datetime, channel: str, released: int = 0) -> dict[str, Any]:
    """One status change as the Slack module's arguments: a title, plain lines (it escapes them), a status."""
    if check.status == "pass":
        title = f"{check.name} passes again (was {previous})"
        lines = [f"{released} gated account(s) released." if released else "No account was gated by this check."]
    elif check.status == "fail":
        gated = "all accounts" if UNNARROWED in check.gate else f"{len(check.gate)} account(s)"
        title = f"{check.name} failing: sends gated for {gated}"
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


def status_changes(checks: list[CheckOutcome], previous: dict[str, str]) -> list[tuple[CheckOutcome, str]]:
    """Checks whose status differs from the stored one (an unknown check counts as having passed)."""
    return [(c, previous.get(c.name, "pass")) for c in checks if not c.carried and c.status != previous.get(c.name, "pass")]
