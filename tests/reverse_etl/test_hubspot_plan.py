"""The 30-day plan's tasks and the kickoff briefing's note in HubSpot, through the real hubspot-api-client.

Measured on the local CRM server: one task record per plan milestone (by onboarding_task_id) with its
due date, one note per briefing, each associated to the account's company; storms and lost answers do
not create a second record; an unchanged rerun sends nothing; a milestone done updates its task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reverse_etl.hubspot import HubSpotSettings, sync_hubspot
from reverse_etl.retry import RetryPolicy
from tests.servers.hubspot_server import Fault, HubSpotServer
from tests.servers.hubspot_warehouse import BASE, account, plant, plant_briefing, plant_tasks, rows, task

PATIENT = RetryPolicy(max_attempts=8, base_delay=0.02, max_delay=0.1, max_retry_after=2.0)
MILESTONES = (("kickoff", 1), ("first_project", 3), ("team_invited", 7), ("thirty_day_review", 30))


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotServer]:
    with HubSpotServer(rate_limit=1000) as srv:
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
        yield srv


def settings(server: HubSpotServer, **overrides: object) -> HubSpotSettings:
    return HubSpotSettings(access_token=server.state.token, api_url=server.url, retry=PATIENT, requests_per_10s=1000,
                           **overrides)  # type: ignore[arg-type]


def plan(accounts: range) -> list[dict]:
    return [task(i, key, day) for i in accounts for key, day in MILESTONES]


def company_of(server: HubSpotServer) -> dict[str, str]:
    return {ids[0]: acct for acct, ids in server.companies_by_account().items()}


def test_plan_tasks_are_created_once_with_due_dates_and_associated_to_the_company(
    server: HubSpotServer, tmp_path: Path
) -> None:
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, [account(i) for i in range(30)])
    plant_tasks(wh, plan(range(30)))  # 120 tasks: two batches of at most 100
    first = sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh)
    assert first.status == "success" and first.planned["task"] == 120 and first.planned["task_link"] == 120
    by_task = server.records_by("tasks", "onboarding_task_id")
    assert len(by_task) == 120 and all(len(ids) == 1 for ids in by_task.values())
    record = server.state.records["tasks"][by_task["acct_000004:first_project"][0]]
    assert record["hs_timestamp"] == "2026-11-05T09:00:00.000Z"  # BASE + 3 days, the milestone's due date
    assert (record["hs_task_status"], record["hs_task_type"]) == ("NOT_STARTED", "TODO")
    assert record["hs_task_subject"] == "Milestone first_project"
    # every task associated to its own account's company
    companies = company_of(server)
    linked = {(t, companies.get(c)) for t, c in server.state.associations if t in server.state.records["tasks"]}
    assert {(server.state.records["tasks"][t]["onboarding_task_id"], acct) for t, acct in linked} == {
        (row["task_id"], row["account_id"]) for row in plan(range(30))
    }
    assert server.state.properties["tasks"]["onboarding_task_id"]["hasUniqueValue"] is True
    task_batches = [r for r in server.state.requests if "/tasks/batch/upsert" in r.path]
    assert [r.inputs for r in task_batches] == [100, 20]

    before = len(server.state.requests)
    again = sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh)
    assert (again.sent, again.requests, again.planned_changes) == (0, 0, 0)
    assert len(server.state.requests) == before

    # a milestone done: its task is updated (status only, plus identity), never created again
    plant_tasks(wh, [dict(r, task_status="COMPLETED") if r["task_id"] == "acct_000004:first_project" else r
                     for r in plan(range(30))])
    done = sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh)
    assert (done.planned["task"], done.planned["task_link"], done.created, done.updated) == (1, 0, 0, 1)
    assert server.state.records["tasks"][by_task["acct_000004:first_project"][0]]["hs_task_status"] == "COMPLETED"
    assert len(server.records_by("tasks", "onboarding_task_id")) == 120
    payload = json.loads(rows(wh, "select payload::varchar from ops.outbox "
                                  "where item_id = 'task:acct_000004:first_project'")[0][0])
    assert set(payload["properties"]) == {"onboarding_task_id", "hs_task_status"}


def test_storms_and_lost_answers_never_create_a_task_twice(server: HubSpotServer, tmp_path: Path) -> None:
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, [account(i) for i in range(10)])
    plant_tasks(wh, [])
    sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh)  # companies and contacts first
    plant_tasks(wh, plan(range(10)) + [task(3, "extra", 12)])
    # 2 task property requests pass, then the task upsert's answer is lost after processing, then 5xx
    server.script(Fault("none"), Fault("none"), Fault("drop_after"), Fault("503"), Fault("429", retry_after="1"),
                  Fault("500"))
    result = sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh)
    assert (result.status, result.error) == ("success", None) and result.retries >= 3
    by_task = server.records_by("tasks", "onboarding_task_id")
    assert len(by_task) == 41 and all(len(ids) == 1 for ids in by_task.values())
    assert max(server.state.receipts[f"tasks:{key}"] for key in by_task) == 2  # resent once: an upsert


def test_the_kickoff_briefing_becomes_one_escaped_note_on_the_company(server: HubSpotServer, tmp_path: Path) -> None:
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, [account(i) for i in range(3)])
    plant_tasks(wh, [])
    plant_briefing(wh, 0, "Kickoff briefing: Acme <b>", "Use case: <script>x</script>\nDone so far: nothing yet.")
    result = sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh)
    assert result.planned["note"] == 1 and result.planned["note_link"] == 1
    notes = server.records_by("notes", "onboarding_note_id")
    assert list(notes) == ["kickoff:acct_000000"]
    body = server.state.records["notes"][notes["kickoff:acct_000000"][0]]["hs_note_body"]
    assert "<script>" not in body and "&lt;script&gt;" in body and "<br>Done so far" in body
    assert (notes["kickoff:acct_000000"][0], server.companies_by_account()["acct_000000"][0]) in server.state.associations
    assert sync_hubspot(settings(server), as_of=BASE, warehouse_path=wh).requests == 0
