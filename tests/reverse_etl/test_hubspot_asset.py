"""The Dagster side of the HubSpot sync: wiring in the code location, UI metadata, parked check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.hubspot.assets import HUBSPOT_SYNC, PARKED_CHECK, HubSpotResource, hubspot_sync
from dagster_project.lib.clock import AS_OF_TAG
from dagster_project.lib.resources import WarehouseResource
from tests.servers.hubspot_server import HubSpotServer
from tests.servers.hubspot_warehouse import BASE, account, plant, rows


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotServer]:
    with HubSpotServer(rate_limit=1000) as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
        monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
        yield srv


def test_definitions_wire_the_sync_after_its_mart_and_before_the_summary() -> None:
    from dagster_project.definitions import SYNC_ASSETS, defs

    graph = defs.resolve_asset_graph()
    # after its marts, and after the Slack alerts whose kickoff briefings it files as notes
    assert graph.get(HUBSPOT_SYNC).parent_keys == {
        dg.AssetKey(["marts", "crm_accounts"]), dg.AssetKey(["marts", "crm_plan_tasks"]), dg.AssetKey(["slack_alerts"])}
    assert dg.AssetKey(["marts", "customer_onboarding_state"]) in graph.get(
        dg.AssetKey(["marts", "crm_accounts"])).parent_keys
    assert HUBSPOT_SYNC in graph.get(dg.AssetKey(["ops", "cycle_summary"])).parent_keys
    assert hubspot_sync in SYNC_ASSETS
    assert dg.AssetCheckKey(HUBSPOT_SYNC, PARKED_CHECK) in graph.asset_check_keys
    assert HUBSPOT_SYNC in defs.resolve_job_def("onboarding_hourly").asset_layer.selected_asset_keys


def _materialize(wh: Path, resource: HubSpotResource | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [hubspot_sync],
        resources={"hubspot": resource or HubSpotResource(requests_per_10s=1000),
                   "warehouse": WarehouseResource(path=str(wh))},
        tags={AS_OF_TAG: "2026-11-02T09:00:00Z"},
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    event = result.get_asset_materialization_events()[0]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_asset_reports_what_it_sent_held_and_parked(server: HubSpotServer, tmp_path: Path) -> None:
    wh = tmp_path / "warehouse.duckdb"
    server.state.reject_values.add("Company 1")
    plant(wh, [account(i) for i in range(5)], gate=[("acct_000002", "events_schema", "bad events")])
    result = _materialize(wh)
    assert result.success
    meta = _metadata(result)
    assert (meta["mode"], meta["created"], meta["skipped_by_gate"], meta["parked_this_run"]) == ("api", 7, 3, 1)
    assert meta["gate_reasons"] == {"events_schema: bad events": 3} and meta["waiting_associations"] == 1
    assert meta["as_of"] == "2026-11-02T09:00:00Z"
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == PARKED_CHECK and not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    alerts = (tmp_path / "home" / "outbox" / "slack.jsonl").read_text().splitlines()
    assert len(alerts) == 1 and "HubSpot: 1 operations parked" in alerts[0] and "company:acct_000001" in alerts[0]
    assert rows(wh, "select as_of from ops.sync_runs where channel = 'hubspot'")[0][0] == BASE


def test_asset_fails_clearly_on_a_refused_token(server: HubSpotServer, tmp_path: Path) -> None:
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, [account(1)])
    result = _materialize(wh, HubSpotResource(access_token="pat-wrong"))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "refused the access token (HTTP 401)" in failure.step_failure_data.user_failure_data.description


def test_the_parked_alert_names_at_most_twenty_operations_and_counts_the_rest() -> None:
    from dagster_project.defs.slack.sync_outcome import ALERT_LISTS_AT_MOST, parked_alert_lines

    ids = [f"company:acct_{i:06d}" for i in range(ALERT_LISTS_AT_MOST + 5)]
    lines = parked_alert_lines("hubspot", ids, {ids[0]: "invalid: bad domain"})
    assert lines[0] == "company:acct_000000: invalid: bad domain"
    assert lines[1] == "company:acct_000001: no error recorded"
    assert len(lines) == ALERT_LISTS_AT_MOST + 2
    assert lines[-2] == "+5 more (ops.outbox, channel 'hubspot', status 'parked')"
    assert "outbox.requeue(con, 'hubspot')" in lines[-1] and "reverse_etl/hubspot/README.md" in lines[-1]
    assert parked_alert_lines("customerio", ids[:2], {})[-1].startswith("Fix the cause")
    assert len(parked_alert_lines("customerio", ids[:2], {})) == 3
