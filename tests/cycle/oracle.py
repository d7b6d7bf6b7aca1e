"""An independent reading of the journey rules, in Python, over the generator's ground truth.

The dbt models are the product; this is the second opinion the end-to-end tests compare them
with, account by account. It reads the same analyst-editable inputs (the steps seed and the
dbt vars) so that a rule change in dbt that is not reflected here shows up as a disagreement.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

DBT = Path(__file__).resolve().parents[2] / "dbt_project"
VARS = yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]
ACTIVATION = VARS["activation_events"]
LIFTED = set(VARS["lifted_by_plan_change"])


def steps_by_track() -> dict[str, list[dict[str, str]]]:
    with (DBT / "seeds" / "sequence_steps.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    tracks: dict[str, list[dict[str, str]]] = {}
    for row in sorted(rows, key=lambda r: int(r["step_order"])):
        tracks.setdefault(row["track"], []).append(row)
    return tracks


STEPS = steps_by_track()


def _t(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class Expected:
    lifecycle_stage: str
    activated_at: datetime | None
    current_step: str | None
    stall_step: str | None
    recovery_attempts: int
    suppression_reason: str | None


def expected_state(truth: dict[str, str], track: str, as_of: datetime) -> Expected:
    signup = _t(truth["signup_at"])
    firsts = {event: _t(truth.get(f"{event}_at", "")) for event in
              ("kickoff_booked", "project_created", "teammate_invited", "integration_connected", "report_shared")}
    firsts = {k: v for k, v in firsts.items() if v is not None and v <= as_of}
    activated = max(firsts[e] for e in ACTIVATION) if all(e in firsts for e in ACTIVATION) else None

    # The first step of the track whose goal is not done, and when it was reached.
    current, reached, prior = None, signup, [signup]
    for step in STEPS[track]:
        goal = step["goal_event"]
        if not goal:
            continue
        if goal not in firsts:
            current, reached = step, max(prior)
            break
        prior.append(firsts[goal])
    wait = timedelta(hours=int(current["wait_hours"] or VARS["stall_window_hours"])) if current else None
    stalled = activated is None and current is not None and reached + wait <= as_of

    reason, suppressed_at = truth["suppression_reason"] or None, _t(truth["suppressed_at"])
    upgraded = _t(truth["upgraded_at"])
    if reason and (suppressed_at is None or suppressed_at > as_of):
        reason = None
    if reason in LIFTED and upgraded and suppressed_at and suppressed_at < upgraded <= as_of:
        reason = None
    unsubscribed = _t(truth["unsubscribed_at"])

    checkpoint = signup + timedelta(days=VARS["checkpoint_day"])
    window = timedelta(days=VARS["recovery_window_days"])
    ended = min([t for t in (activated, suppressed_at if reason else None) if t is not None], default=None)
    attempts = 0
    for n in range(VARS["max_recovery_attempts"]):
        at = checkpoint + n * window
        if at <= as_of and (ended is None or at < ended):
            attempts += 1
    win_back_due = checkpoint + VARS["max_recovery_attempts"] * window
    win_back = win_back_due <= as_of and (ended is None or ended > win_back_due)

    if reason:
        stage = "suppressed"
    elif activated is not None:
        retention_from = max(activated, signup + timedelta(days=VARS["handoff_days"][0]))
        stage = "retention" if as_of >= retention_from else "activated"
    elif win_back:
        stage = "win_back"
    elif attempts:
        stage = "recovery"
    elif stalled:
        stage = "stalled"
    else:
        stage = "onboarding"
    return Expected(
        lifecycle_stage=stage,
        activated_at=activated,
        current_step=None if activated else (current["step_key"] if current else None),
        stall_step=current["step_key"] if stalled else None,
        recovery_attempts=attempts,
        suppression_reason=reason or ("unsubscribed" if unsubscribed and unsubscribed <= as_of else None),
    )
