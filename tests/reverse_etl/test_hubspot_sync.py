"""The HubSpot sync against the local CRM server, through the real hubspot-api-client.

Every assertion about delivery is measured on the receiving side: the records the server holds,
how many times each input was processed, and the requests it saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.defs.hubspot.resources import HubSpotResource
from reverse_etl.hubspot import HubSpotAuthError, HubSpotSettings, sync_hubspot
from reverse_etl.retry import RetryPolicy
from tests.servers.hubspot_server import HubSpotServer
from tests.servers.hubspot_warehouse import BASE, account, plant, plant_tasks, rows, task

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1, max_retry_after=2.0)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotServer]:
    with HubSpotServer(rate_limit=1000) as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
        yield srv


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def settings(**overrides: object) -> HubSpotSettings:
    values: dict[str, object] = {"retry": FAST_RETRY, "requests_per_10s": 1000}
    values.update(overrides)
    return HubSpotResource().settings(**values)


def test_first_sync_creates_each_company_contact_and_association_once(server: HubSpotServer, wh: Path) -> None:
    plant(wh, [account(i) for i in range(230)])
    result = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert result.status == "success" and result.sent == 690 and result.created == 460
    companies, contacts = server.companies_by_account(), server.contacts_by_email()
    assert len(companies) == 230 and all(len(ids) == 1 for ids in companies.values())
    assert len(contacts) == 230 and all(len(ids) == 1 for ids in contacts.values())
    company_of = {ids[0]: acct for acct, ids in companies.items()}
    contact_of = {ids[0]: email for email, ids in contacts.items()}
    assert {(contact_of[c], company_of[k]) for c, k in server.state.associations} == {
        (f"person{i}@company{i}.example.com", f"acct_{i:06d}") for i in range(230)
    }
    assert set(server.state.receipts.values()) == {1}  # nothing processed twice
    record = server.state.records["companies"][companies["acct_000003"][0]]
    assert record["onboarding_lifecycle_stage"] == "onboarding" and record["onboarding_csm_owner"] == "csm_ana"
    assert record["name"] == "Company 3" and record["domain"] == "company3.example.com"
    # batches within HubSpot's limit of 100 inputs: 230 rows -> 3 requests per kind
    batch_requests = [r for r in server.state.requests if "/batch/" in r.path and "properties" not in r.path]
    assert max(r.inputs for r in batch_requests) == 100 and len(batch_requests) == 9
    # the onboarding properties were created once, the account id as a unique property
    assert server.state.properties["companies"]["onboarding_account_id"]["hasUniqueValue"] is True
    assert result.properties_created == 18
    # the per-row log and the id map
    assert rows(wh, "select operation, result, count(*) from ops.sync_changelog group by all order by 1") == [
        ("association", "sent", 230), ("company", "sent", 230), ("contact", "sent", 230)]
    assert rows(wh, "select object_type, count(*) from ops.hubspot_objects where object_type <> 'properties' "
                    "group by 1 order by 1") == [
        ("company", 230), ("contact", 230)]


def test_an_unchanged_rerun_sends_nothing_and_a_change_sends_only_what_changed(
    server: HubSpotServer, wh: Path
) -> None:
    plant(wh, [account(i) for i in range(20)])
    sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    before = len(server.state.requests)
    again = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert (again.sent, again.requests, again.planned_changes) == (0, 0, 0)
    assert len(server.state.requests) == before

    moved = [account(i, lifecycle_stage="activated", activated_at=BASE) if i == 7 else account(i) for i in range(20)]
    plant(wh, moved)
    original = server.state.records["companies"]
    changed = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert changed.planned == {"company": 1, "contact": 1, "association": 0, "task": 0, "note": 0, "task_link": 0,
                               "note_link": 0}
    assert changed.sent == 2 and changed.created == 0 and changed.updated == 2
    company = original[server.companies_by_account()["acct_000007"][0]]
    assert company["onboarding_lifecycle_stage"] == "activated"
    assert company["onboarding_activated_at"] == "2026-11-02T09:00:00.000Z"
    payload = json.loads(rows(wh, "select payload::varchar from ops.outbox where item_id = 'company:acct_000007'")[0][0])
    assert set(payload["properties"]) == {"onboarding_account_id", "onboarding_lifecycle_stage",
                                          "onboarding_activated_at"}  # only what changed, plus identity
    assert len(server.companies_by_account()) == 20  # still one record per account


def test_a_company_the_sales_team_created_is_matched_by_domain_not_duplicated(
    server: HubSpotServer, wh: Path
) -> None:
    existing = server.add_company(name="ACME (typed by sales)", domain="company4.example.com", lifecyclestage="lead")
    claimed = server.add_company(name="Other", domain="company5.example.com", onboarding_account_id="acct_999999")
    plant(wh, [account(i) for i in range(8)])
    result = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert result.matched_by_domain == 1
    companies = server.companies_by_account()
    assert companies["acct_000004"] == [existing]  # linked, not created
    record = server.state.records["companies"][existing]
    assert record["onboarding_account_id"] == "acct_000004" and record["lifecyclestage"] == "lead"
    assert companies["acct_000005"] != [claimed]  # a record another account owns is never taken over
    assert rows(wh, "select matched_by from ops.hubspot_objects where key = 'acct_000004'") == [("domain",)]
    assert len(server.state.records["companies"]) == 9  # 2 existing + 7 created


def test_the_send_gate_holds_an_account_back_until_its_check_passes(server: HubSpotServer, wh: Path) -> None:
    plant(wh, [account(i) for i in range(6)], gate=[("acct_000002", "volume_anomaly", "spike")])
    first = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert first.skipped_gate == 3 and first.sent == 15
    assert "acct_000002" not in server.companies_by_account()
    assert rows(wh, "select count(*) from ops.sync_changelog where result = 'skipped_gate' "
                    "and error like 'volume_anomaly%'") == [(3,)]
    plant(wh, [account(i) for i in range(6)])
    second = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert second.sent == 3 and "acct_000002" in server.companies_by_account()


def test_an_invalid_row_is_parked_alone_and_the_rest_of_its_batch_is_delivered(
    server: HubSpotServer, wh: Path
) -> None:
    server.state.reject_values.add("Company 13")
    plant(wh, [account(i) for i in range(30)])
    result = sync_hubspot(settings(batch_size=10), as_of=BASE, warehouse_path=wh)
    assert result.invalid == 1 and result.parked_ids == ["company:acct_000013"]
    assert "acct_000013" not in server.companies_by_account() and len(server.companies_by_account()) == 29
    assert result.waiting == 1  # its association waits for a company that is not there
    assert rows(wh, "select status, last_error like '%Property values were not valid%' from ops.outbox "
                    "where item_id = 'company:acct_000013'") == [("parked", True)]


def test_a_refused_token_stops_the_run_and_keeps_everything_pending(server: HubSpotServer, wh: Path) -> None:
    plant(wh, [account(i) for i in range(5)])
    with pytest.raises(HubSpotAuthError, match="401"):
        sync_hubspot(settings(access_token="pat-wrong"), as_of=BASE, warehouse_path=wh)
    assert rows(wh, "select count(*) from ops.outbox where status = 'pending'") == [(15,)]
    assert rows(wh, "select status from ops.sync_runs") == [("failed",)]
    assert server.state.records["companies"] == {}


def test_without_a_token_the_operations_go_to_the_local_outbox_with_the_cycle_clock(
    tmp_path: Path, wh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
    plant(wh, [account(i) for i in range(4)])
    result = sync_hubspot(HubSpotResource().settings(), as_of=BASE, warehouse_path=wh)
    assert result.mode == "outbox" and result.sent == 12 and result.requests == 0
    lines = [json.loads(x) for x in (tmp_path / "home" / "outbox" / "hubspot.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {line["as_of"] for line in lines} == {BASE.isoformat()}
    company = next(x for x in lines if x["item_id"] == "company:acct_000001")
    assert company["endpoint"] == "/crm/v3/objects/companies/batch/upsert"
    assert company["input"]["idProperty"] == "onboarding_account_id" and company["input"]["id"] == "acct_000001"
    assert company["input"]["properties"]["onboarding_track"] == "standard"
    assert rows(wh, "select distinct result from ops.sync_changelog") == [("outbox",)]
    again = sync_hubspot(HubSpotResource().settings(), as_of=BASE, warehouse_path=wh)
    assert again.sent == 0  # the outbox mode diffs the same way


def test_the_server_refuses_batches_over_100_inputs_through_the_official_client(server: HubSpotServer) -> None:
    from hubspot.crm.companies import (
        BatchInputSimplePublicObjectBatchInputForCreate,
        SimplePublicObjectInputForCreate,
    )

    from reverse_etl.hubspot.transport import build_client

    client = build_client(settings())
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[SimplePublicObjectInputForCreate(properties={"name": f"c{i}"}, associations=[]) for i in range(101)])
    with pytest.raises(Exception) as refused:
        client.crm.companies.batch_api.create(body)
    assert refused.value.status == 400 and b"Batch input limit is 100" in refused.value.body.encode()
    assert server.state.records["companies"] == {}


def test_small_pages_folds_and_id_memory_change_nothing_but_memory(
    server: HubSpotServer, wh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverse_etl import journal, runs
    from reverse_etl.hubspot import sync as sync_module

    monkeypatch.setattr(runs, "PAGE_SIZE", 7)  # pages that end mid-batch and mid-kind
    monkeypatch.setattr(journal, "FOLD_EVERY", 15)  # a fold every other batch or so
    monkeypatch.setattr(sync_module, "KNOWN_IDS_HELD", 5)  # ids dropped from memory (after a fold) page by page
    plant(wh, [account(i) for i in range(45)])
    result = sync_hubspot(settings(batch_size=10), as_of=BASE, warehouse_path=wh)
    assert (result.status, result.sent, result.created, result.waiting) == ("success", 135, 90, 0)
    assert len(server.state.associations) == 45 and set(server.state.receipts.values()) == {1}
    assert rows(wh, "select count(*) from ops.sync_journal") == [(0,)]
    assert rows(wh, "select status, count(*) from ops.outbox group by 1") == [("sent", 135)]
    assert rows(wh, "select count(*), count(distinct entity_key) from ops.sync_snapshot") == [(135, 135)]
    assert rows(wh, "select result, count(*) from ops.sync_changelog group by 1") == [("sent", 135)]
    assert rows(wh, "select matched_by, count(*) from ops.hubspot_objects where object_type <> 'properties' "
                    "group by 1 order by 1") == [("email", 45), ("onboarding_account_id", 45)]
    again = sync_hubspot(settings(batch_size=10), as_of=BASE, warehouse_path=wh)
    assert (again.sent, again.requests, again.planned_changes) == (0, 0, 0)


def test_the_plan_queues_every_kind_in_one_write_and_in_parts_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle cycle's few hundred items of seven kinds are queued with one outbox write, not one per kind (each
    joins the channel's whole outbox); in parts of PLAN_CHUNK (a first sync) the rows and lines are the same;
    committed every PLAN_PART_ROWS (a go-live's millions of operations held uncommitted took the step to 5.8 GB)
    too, and a run killed between two committed parts is completed by the next run, nothing twice."""
    from reverse_etl import outbox, runs
    from reverse_etl.hubspot import sync as sync_module

    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    writes: list[int] = []
    commits: list[int] = []
    kill_at: list[int] = []
    real_enqueue, real_part = outbox.enqueue, runs.plan_part

    def counting(con, channel, items, **kwargs):  # type: ignore[no-untyped-def]
        items = list(items)
        if kill_at and len(writes) == kill_at[0]:
            kill_at.clear()
            raise KeyboardInterrupt("killed mid-plan")
        writes.append(len(items))
        return real_enqueue(con, channel, items, **kwargs)

    def part(con, queued):  # type: ignore[no-untyped-def]
        left = real_part(con, queued)
        if left == 0 and queued:
            commits.append(queued)
        return left

    monkeypatch.setattr(outbox, "enqueue", counting)
    monkeypatch.setattr(runs, "plan_part", part)
    seen: dict[str, tuple] = {}
    for name, chunk, part_rows, killed in (("whole", sync_module.PLAN_CHUNK, runs.PLAN_PART_ROWS, None),
                                           ("parts", 4, runs.PLAN_PART_ROWS, None), ("committed", 4, 8, None),
                                           ("killed", 4, 8, 3)):
        monkeypatch.setattr(sync_module, "PLAN_CHUNK", chunk)
        monkeypatch.setattr(runs, "PLAN_PART_ROWS", part_rows)
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / name))
        wh = tmp_path / name / "warehouse.duckdb"
        wh.parent.mkdir()
        plant(wh, [account(i) for i in range(6)] + [account(6, email="not-an-e-mail")])
        plant_tasks(wh, [task(i, "kickoff", 1) for i in range(3)])
        writes.clear()
        commits.clear()
        if killed:
            kill_at.append(killed)
            with pytest.raises(KeyboardInterrupt):
                sync_hubspot(HubSpotResource().settings(), as_of=BASE, warehouse_path=wh, run_id="run-0")
            assert len(commits) == 1 and rows(wh, "select count(*) from ops.outbox") == [(commits[0],)]  # one part kept
            writes.clear()
            commits.clear()
        result = sync_hubspot(HubSpotResource().settings(), as_of=BASE, warehouse_path=wh, run_id="run-1")
        lines = (tmp_path / name / "outbox" / "hubspot.jsonl").read_text().splitlines()
        seen[name] = (
            dict(result.planned), result.invalid, result.parked_ids, sorted(lines),
            rows(wh, "select item_id, kind, priority, payload::varchar, status, attempts, last_error "
                     "from ops.outbox order by item_id"),
            rows(wh, "select item_id, operation, result, error from ops.sync_changelog order by item_id, result"),
            rows(wh, "select entity_key, row_hash, payload::varchar from ops.sync_snapshot order by entity_key"),
        )
        assert sum(writes) == 7 + 7 + 7 + 3 + 3  # companies, contacts (one invalid), associations, tasks, links
        if name == "whole":
            assert writes == [27]
        else:
            assert len(writes) > 4
        # 27 operations: committed once at least 8 are queued (twice), the rest with the plan; else one transaction
        assert len(commits) == (2 if part_rows == 8 else 0) and all(c >= 8 for c in commits)
    assert seen["whole"] == seen["parts"] == seen["committed"] == seen["killed"]
    assert seen["whole"][1:3] == (1, ["contact:user_000006"]) and len(seen["whole"][3]) == 26
