"""The hourly cycle on a generated workspace agrees with what the generator planted, account by account."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from dagster_project.cli.cycle import run_cycle
from tests.cycle.conftest import CLOCKS, PLANTED, START, home, parse_time
from tests.cycle.oracle import expected_state

pytestmark = pytest.mark.slow


def test_every_line_is_loaded_counted_as_duplicate_or_quarantined(workspace):
    manifest = workspace.manifest
    # The hand-planted accounts' files are counted apart (ledger paths are relative to the landing dir).
    generated = "'/' || path not like '%/planted/%'"
    (messages,) = workspace.query(
        f"select count(*) from raw.segment_messages where load_id in (select load_id from raw.loaded_files "
        f"where {generated})")[0]
    assert messages == manifest["messages"]
    duplicates, quarantined, lines = workspace.query(
        f"select sum(duplicates), sum(quarantined), sum(lines_read) - sum(blank_lines) from raw.loaded_files "
        f"where {generated}"
    )[0]
    assert duplicates == manifest["duplicates_planted"]
    assert quarantined == sum(manifest["malformed_planted"].values())
    assert lines == manifest["lines_written"]
    reasons = dict(workspace.query("select reason, count(*) from raw.quarantine group by 1"))
    assert reasons == manifest["malformed_planted"]


def test_state_agrees_with_ground_truth_for_every_planted_account(workspace):
    as_of = CLOCKS[-1]
    rows = {r["account_id"]: r for r in workspace.dicts("select * from marts.customer_onboarding_state")}
    assert set(rows) == set(workspace.truth) | set(PLANTED), "every account that signed up has a state row"
    disagreements = []
    for account_id, truth in workspace.truth.items():
        row = rows[account_id]
        expected = expected_state(truth, row["track"], as_of)
        derived = {
            "primary_user_id": row["primary_user_id"],
            "signup_at": row["signup_at"],
            "activated_at": row["activated_at"],
            "lifecycle_stage": row["lifecycle_stage"],
            "current_step": row["current_step"],
            "stall_step": row["stall_step"],
            "recovery_attempts": row["recovery_attempts"],
            "suppression_reason": row["suppression_reason"],
        }
        planted = {
            "primary_user_id": truth["primary_user_id"],
            "signup_at": parse_time(truth["signup_at"]),
            "activated_at": expected.activated_at,
            "lifecycle_stage": expected.lifecycle_stage,
            "current_step": expected.current_step,
            "stall_step": expected.stall_step,
            "recovery_attempts": expected.recovery_attempts,
            "suppression_reason": expected.suppression_reason,
        }
        for key in planted:
            if derived[key] != planted[key]:
                disagreements.append(f"{account_id} ({truth['persona']}): {key} derived {derived[key]!r}, "
                                     f"planted {planted[key]!r}")
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(disagreements[:20])


def test_activated_at_is_the_event_time_of_the_last_activation_event(workspace):
    rows = workspace.dicts("select account_id, activated_at from marts.customer_onboarding_state")
    activated = [r for r in rows if r["activated_at"] is not None]
    assert len(activated) > 50
    for row in activated:
        if row["account_id"] in workspace.truth:
            assert row["activated_at"] == parse_time(workspace.truth[row["account_id"]]["activated_at"])


def test_an_account_activating_in_its_first_hour_gets_no_onboarding_email(workspace):
    emitted = workspace.query(
        "select kind, step, emitted_as_of from marts.onboarding_triggers where account_id = 'planted_instant' "
        "order by emitted_as_of, kind")
    first_cycle = [(kind, step) for kind, step, at in emitted if at == CLOCKS[0]]
    assert first_cycle == [("activated", None), ("handoff", "activation")]
    assert not [k for k, _, _ in emitted if k in ("step_due", "stalled", "recovery", "win_back")]


def test_a_late_arriving_activation_counts_at_its_own_time_once_it_lands(workspace):
    (activated_at,) = workspace.query(
        "select activated_at from marts.customer_onboarding_state where account_id = 'planted_late'")[0]
    assert activated_at == CLOCKS[1] - timedelta(hours=3)
    # The cycle at CLOCKS[1] could not know it yet: it nudged the current step; activation came later.
    emitted = dict(workspace.query(
        "select kind, min(emitted_as_of) from marts.onboarding_triggers where account_id = 'planted_late' group by 1"))
    assert emitted["activated"] == CLOCKS[2]
    assert emitted["step_due"] <= CLOCKS[1]


def test_nothing_is_emitted_for_an_account_after_it_cancelled(workspace):
    state = workspace.dicts(
        "select lifecycle_stage, suppression_reason from marts.customer_onboarding_state "
        "where account_id = 'planted_cancel'")[0]
    assert state == {"lifecycle_stage": "suppressed", "suppression_reason": "cancelled"}
    after = workspace.query(
        "select count(*) from marts.onboarding_triggers where account_id = 'planted_cancel' and emitted_as_of > ?",
        [START + timedelta(days=13)])[0][0]
    before = workspace.query(
        "select count(*) from marts.onboarding_triggers where account_id = 'planted_cancel'")[0][0]
    assert after == 0 and before > 0


def test_every_stage_and_every_persona_is_exercised(workspace):
    stages = {r[0] for r in workspace.query("select distinct lifecycle_stage from marts.customer_onboarding_state")}
    assert {"activated", "retention", "stalled", "recovery", "win_back", "suppressed"} <= stages
    reasons = {r[0] for r in workspace.query("select distinct suppression_reason from marts.customer_onboarding_state")}
    assert {"cancelled", "payment_failed", "unsubscribed"} <= reasons


def test_trigger_invariants_hold_over_the_whole_workspace(workspace):
    (total, distinct) = workspace.query("select count(*), count(distinct trigger_id) from marts.onboarding_triggers")[0]
    assert total == distinct > 0
    assert workspace.query(
        "select count(*) from (select account_id from marts.onboarding_triggers where kind = 'recovery' "
        "group by 1 having count(*) > 2 or max(attempt) > 2)"
    )[0][0] == 0
    # No nudge by a cycle that already knew of the activation; nothing while suppressed.
    late_nudges = workspace.query(
        """
        select count(*) from marts.onboarding_triggers t
        join intermediate.int_account_journeys_evaluated j using (account_id)
        where (t.kind in ('step_due', 'stalled', 'recovery', 'win_back') and j.activated_known_at <= t.emitted_as_of)
           or (j.is_account_suppressed and j.account_suppression_known_at <= t.emitted_as_of)
        """
    )[0][0]
    assert late_nudges == 0
    # Holdout and unsubscribed accounts never get nudges (the holdout's are recorded, decided 'holdout').
    assert workspace.query(
        """
        select count(*) from marts.onboarding_triggers t join marts.customer_onboarding_state s using (account_id)
        where t.kind in ('step_due', 'stalled', 'recovery', 'win_back') and t.send_decision = 'send'
          and (s.holdout or (s.unsubscribed_at is not null and s.unsubscribed_at <= t.decided_as_of))
        """
    )[0][0] == 0
    assert workspace.query(
        "select count(*) from marts.onboarding_triggers t join marts.customer_onboarding_state s using (account_id) "
        "where s.holdout and t.kind = 'stalled'")[0][0] == workspace.query(
        "select count(*) from marts.onboarding_triggers t join marts.customer_onboarding_state s using (account_id) "
        "where s.holdout and t.kind = 'stalled' and t.decision_reason = 'holdout'")[0][0]
    kinds = {r[0] for r in workspace.query("select distinct kind from marts.onboarding_triggers")}
    assert kinds == {"step_due", "stalled", "recovery", "win_back", "activated", "handoff"}


def test_the_same_clock_twice_changes_nothing(workspace):
    before_state = workspace.query("select * from marts.customer_onboarding_state order by account_id")
    before_triggers = workspace.query("select count(*) from marts.onboarding_triggers")[0][0]
    with home(workspace.root):
        again = run_cycle(CLOCKS[-1])
    assert again.summary["triggers_emitted"] == {}
    assert workspace.query("select * from marts.customer_onboarding_state order by account_id") == before_state
    assert workspace.query("select count(*) from marts.onboarding_triggers")[0][0] == before_triggers


def test_each_cycle_reports_what_it_did(workspace):
    first = workspace.results[0]
    assert first.summary["landing"]["messages"] == workspace.query("select count(*) from raw.segment_messages")[0][0]
    assert first.summary["accounts"] > 0
    text = workspace.results[-1].describe()
    assert "by track" in text and "activation within 14 days" in text


NUDGES = ("onboarding_step_due", "onboarding_stalled", "onboarding_recovery", "onboarding_win_back")


def _outbox_events(workspace) -> list[dict]:
    lines = (workspace.root / "outbox" / "customerio.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if row["operation"].get("action") == "event"]


def test_each_person_gets_at_most_one_nudge_per_cycle_the_one_that_fits_its_stage(workspace):
    """What actually went out (the outbox), cycle by cycle, against what dbt decided at that clock."""
    events = _outbox_events(workspace)
    per_cycle = Counter((e["operation"]["identifiers"]["id"], e["as_of"]) for e in events
                        if e["operation"]["name"] in NUDGES)
    assert per_cycle and max(per_cycle.values()) == 1
    # every event that went out is a trigger decided 'send' (the sync never picks another)
    decided = dict(workspace.query("select trigger_id, send_decision from marts.onboarding_triggers"))
    assert {decided[e["item_id"].removeprefix("event:")] for e in events} == {"send"}
    # each sent nudge fitted the account's lifecycle stage when it was decided
    fits = {"step_due": "onboarding", "stalled": "stalled", "recovery": "recovery", "win_back": "win_back"}
    sent = workspace.query(
        "select kind, lifecycle_stage from marts.onboarding_triggers "
        "where send_decision = 'send' and kind in ('step_due', 'stalled', 'recovery', 'win_back')")
    assert sent and all(stage == fits[kind] for kind, stage in sent)
    # a hand-off always names its owner (self-serve: the pooled digital-CS row)
    handoffs = [e for e in events if e["operation"]["name"] == "onboarding_handoff"]
    assert handoffs and all(e["operation"]["attributes"]["csm_owner"] for e in handoffs)
    owners = dict(workspace.query(
        "select track, count(*) filter (where csm_owner is null) from marts.customer_onboarding_state group by 1"))
    assert owners.get("self_serve") == 0


def test_go_live_adopts_the_history_and_the_summary_says_so(workspace):
    first = workspace.results[0].summary["decisions"]
    assert first["adopted_history"] is True and first["by_reason"].get("backfilled", 0) > 0
    sent, accounts = workspace.query(
        "select count(*), count(distinct account_id) from marts.onboarding_triggers where decided_as_of = ? "
        "and send_decision = 'send' and kind in ('step_due', 'stalled', 'recovery', 'win_back')", [CLOCKS[0]])[0]
    assert first["sent_nudges"] == sent == accounts > 0
    text = workspace.results[0].describe()
    assert "adopted the history" in text and "backfilled" in text and "superseded" in text and "paced" in text
    # backfilled triggers were due before the first clock and never went out
    backfilled = workspace.query(
        "select count(*), count(*) filter (where due_at > ?) from marts.onboarding_triggers "
        "where decision_reason = 'backfilled' and decided_as_of = ?", [CLOCKS[0], CLOCKS[0]])[0]
    assert backfilled[0] > 0 and backfilled[1] == 0
