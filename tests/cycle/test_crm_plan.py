"""End to end on the generated workspace: a high-touch account from its kickoff booking to its 30-day
plan's tasks (and its kickoff briefing) in the CRM outbox; the personalised content, tags and recovery
offers in the Customer.io outbox. Every cycle ran without tokens, so what would have been sent is on file.
"""

from __future__ import annotations

import json
from datetime import UTC

from reverse_etl.hubspot import properties as props


def _outbox(workspace, name: str) -> list[dict]:
    path = workspace.root / "outbox" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_high_touch_kickoff_becomes_its_plan_tasks_in_the_crm_outbox_once(workspace):
    kickoffs = workspace.dicts(
        """
        select s.account_id, min(e.first_at) as kickoff_at from marts.customer_onboarding_state s
        join intermediate.int_account_events_aggregated e
          on e.account_id = s.account_id and e.event_name = 'kickoff_booked'
        where s.track = 'high_touch' and s.lifecycle_stage <> 'suppressed'
          and s.account_id not in (select account_id from ops.send_gate)
        group by 1 order by 1
        """
    )
    assert kickoffs, "the generated data books high-touch kickoffs"
    followed = kickoffs[0]["account_id"]
    tasks = workspace.dicts("select * from marts.crm_plan_tasks where account_id = ? order by due_at", [followed])
    milestones = workspace.query("select count(*) from intermediate.onboarding_plan_milestones "
                                 "where track = 'high_touch' and use_case = '*'")[0][0]
    assert len(tasks) >= milestones > 0
    assert all(t["due_at"] > kickoffs[0]["kickoff_at"] for t in tasks)  # the plan starts at the kickoff

    lines = _outbox(workspace, "hubspot")
    task_lines = [x for x in lines if x["object"] == "task"]
    first_of = {}
    for line in task_lines:
        first_of.setdefault(line["input"]["id"], line)
    for task in tasks:
        first = first_of[task["task_id"]]  # created by upsert on its unique id ...
        assert first["input"]["idProperty"] == props.TASK_ID_PROPERTY
        assert first["endpoint"] == "/crm/v3/objects/tasks/batch/upsert"
        assert first["input"]["properties"]["hs_timestamp"] == _iso(task["due_at"])
        assert first["input"]["properties"]["hs_task_subject"] == task["subject"]
    # ... and linked to the account's company exactly once
    links = [x for x in lines if x["object"] == "task_link" and x["input"]["to"]["id"] == followed]
    assert sorted(x["input"]["from"]["id"] for x in links) == sorted(t["task_id"] for t in tasks)
    # every task line of the whole workspace is either its creation or a change of it: never a second record
    per_task = {}
    for line in task_lines:
        per_task.setdefault(line["input"]["id"], []).append(line["as_of"])
    assert all(len(set(clocks)) == len(clocks) for clocks in per_task.values())  # at most once per cycle
    every = {r[0] for r in workspace.query("select task_id from marts.crm_plan_tasks")}
    assert set(per_task) >= every - {r[0] for r in workspace.query(
        "select substr(item_id, 6) from ops.outbox where channel = 'hubspot' and kind = 'task' and status <> 'sent'")}
    tracks = {r[0] for r in workspace.query("select distinct p.track from marts.crm_plan_tasks c "
                                            "join marts.onboarding_plan_tasks p using (task_id)")}
    assert tracks == {"high_touch"}  # var crm_plan_tracks


def test_each_kickoff_briefing_reaches_slack_and_the_crm_as_one_note(workspace):
    briefings = workspace.dicts("select account_id, source, subject from ops.slack_recovery_drafts "
                                "where kind = 'kickoff_booked'")
    assert briefings and {b["source"] for b in briefings} == {"template"}  # no ANTHROPIC_API_KEY in the tests
    lines = _outbox(workspace, "hubspot")
    notes = [x for x in lines if x["object"] == "note"]
    assert sorted(x["input"]["id"] for x in notes) == sorted(props.note_id(b["account_id"]) for b in briefings)
    assert all("Kickoff briefing" in x["input"]["properties"]["hs_note_body"] for x in notes)
    linked = {x["input"]["to"]["id"] for x in lines if x["object"] == "note_link"}
    assert linked == {b["account_id"] for b in briefings}
    slack = [json.loads(line) for line in (workspace.root / "outbox" / "slack.jsonl").read_text().splitlines()]
    posted = json.dumps(slack)
    assert "Kickoff briefing (template draft, also filed in the CRM as a note)" in posted


def test_customerio_gets_the_library_url_tags_and_the_recovery_offer(workspace):
    people = {p["person_id"]: p for p in workspace.dicts("select * from marts.customerio_people")}
    lines = _outbox(workspace, "customerio")
    latest: dict[str, dict] = {}
    for line in lines:
        op = line["operation"]
        if op.get("type") == "person" and op.get("action") == "identify":
            latest.setdefault(op["identifiers"]["id"], {}).update(op["attributes"])
    assert latest
    for person_id, attributes in latest.items():
        if person_id in people and "library_url" in attributes:
            row = people[person_id]
            assert attributes["library_url"] == row["library_url"]
            assert attributes["tag_community"] == row["tag_community"]
    self_serve = [p for p in people.values() if p["onboarding_track"] == "self_serve"]
    assert self_serve and all(p["tag_community"] and p["tag_newsletter"] for p in self_serve)
    assert all(not p["tag_community"] for p in people.values() if p["onboarding_track"] != "self_serve")
    recoveries = [line["operation"] for line in lines if line["operation"].get("name") == "onboarding_recovery"]
    assert recoveries and all(r["attributes"]["offer"] in ("call", "resource", "trial_extension") for r in recoveries)
