"""The Dagster side of the Customer.io sync: wiring in the code location, UI metadata, parked check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.customerio.assets import (
    CUSTOMERIO_SYNC,
    PARKED_CHECK,
    CustomerIOResource,
    customerio_sync,
)
from dagster_project.lib.clock import AS_OF_TAG
from dagster_project.lib.resources import WarehouseResource
from tests.servers.customerio_server import CustomerIOServer
from tests.servers.customerio_warehouse import BASE, person, plant, rows, trigger


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CustomerIOServer]:
    with CustomerIOServer(tmp_path) as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
        yield srv


def test_definitions_wire_the_sync_after_its_marts_and_before_the_summary() -> None:
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(CUSTOMERIO_SYNC)
    assert node.parent_keys == {
        dg.AssetKey(["marts", "customerio_people"]),
        dg.AssetKey(["marts", "onboarding_triggers"]),
    }
    assert CUSTOMERIO_SYNC in graph.get(dg.AssetKey(["ops", "cycle_summary"])).parent_keys
    assert dg.AssetCheckKey(CUSTOMERIO_SYNC, PARKED_CHECK) in graph.asset_check_keys
    job = defs.resolve_job_def("onboarding_hourly")
    assert CUSTOMERIO_SYNC in job.asset_layer.selected_asset_keys


def _materialize(wh: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [customerio_sync],
        resources={"customerio": CustomerIOResource(), "warehouse": WarehouseResource(path=str(wh))},
        tags={AS_OF_TAG: "2026-11-02T09:00:00Z"},
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    event = result.get_asset_materialization_events()[0]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_asset_without_credentials_writes_the_outbox_and_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_API_KEY", "CUSTOMERIO_TRACK_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, people=[person(i) for i in range(4)], triggers=[trigger(i) for i in range(4)])
    result = _materialize(wh)
    assert result.success
    meta = _metadata(result)
    assert meta["mode"] == "outbox" and meta["sent"] == 8 and meta["requests"] == 0
    assert meta["as_of"] == "2026-11-02T09:00:00Z"
    assert (tmp_path / "home" / "outbox" / "customerio.jsonl").exists()
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(PARKED_CHECK, True)]
    assert rows(wh, "select as_of from ops.sync_runs")[0][0] == BASE


def test_both_sync_assets_open_their_connection_with_the_cycles_duckdb_memory_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The syncs' own connection took DuckDB's default (80 % of the machine) while every other step of the
    cycle is capped by ONBOARDING_DUCKDB_MEMORY: a go-live's sync is the one that needs the cap most."""
    from dagster_project.defs.hubspot.assets import HubSpotResource, hubspot_sync
    from reverse_etl import connection
    from tests.servers.hubspot_warehouse import account
    from tests.servers.hubspot_warehouse import plant as plant_crm

    for name in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_API_KEY", "CUSTOMERIO_TRACK_HOST", "HUBSPOT_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ONBOARDING_DUCKDB_MEMORY", "123MB")
    caps: list[str | None] = []
    real_connect = connection.connect

    def recording(path, *args, memory_limit=None, **kwargs):  # type: ignore[no-untyped-def]
        caps.append(memory_limit)
        return real_connect(path, *args, memory_limit=memory_limit, **kwargs)

    monkeypatch.setattr(connection, "connect", recording)
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, people=[person(i) for i in range(2)], triggers=[trigger(i) for i in range(2)])
    plant_crm(wh, [account(i) for i in range(2)])
    assert _materialize(wh).success
    crm = dg.materialize([hubspot_sync], resources={"hubspot": HubSpotResource(),
                                                    "warehouse": WarehouseResource(path=str(wh))},
                         tags={AS_OF_TAG: "2026-11-02T09:00:00Z"})
    assert crm.success and len(caps) >= 2 and set(caps) == {"123MB"}  # the two syncs' (and any other) connections


def test_asset_reports_sends_gate_and_parked_rows(
    server: CustomerIOServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    wh = tmp_path / "warehouse.duckdb"
    server.state.reject_people.add("user_000001")
    plant(
        wh,
        people=[person(i) for i in range(5)],
        triggers=[trigger(i) for i in range(5)],
        gate=[("acct_000002", "events_schema", "bad events")],
    )
    result = _materialize(wh)
    assert result.success
    meta = _metadata(result)
    assert (meta["mode"], meta["sent"], meta["skipped_by_gate"], meta["parked_this_run"]) == ("api", 6, 2, 2)
    assert meta["requests"] == 1 and meta["gate_reasons"] == {"events_schema: bad events": 2}
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == PARKED_CHECK and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    # one data-quality alert for the rows parked in this run (no Slack token: the local Slack outbox)
    alerts = (tmp_path / "home" / "outbox" / "slack.jsonl").read_text().splitlines()
    assert len(alerts) == 1
    assert "2 operations parked" in alerts[0] and "identify:user_000001" in alerts[0]
    assert "@example.com" not in alerts[0]
    again = _materialize(wh)  # still parked, nothing newly parked: no second alert
    assert again.success and len((tmp_path / "home" / "outbox" / "slack.jsonl").read_text().splitlines()) == 1


def test_asset_fails_clearly_on_refused_credentials(server: CustomerIOServer, tmp_path: Path) -> None:
    wh = tmp_path / "warehouse.duckdb"
    plant(wh, people=[person(1)])
    result = dg.materialize(
        [customerio_sync],
        resources={
            "customerio": CustomerIOResource(api_key="wrong"),
            "warehouse": WarehouseResource(path=str(wh)),
        },
        tags={AS_OF_TAG: "2026-11-02T09:00:00Z"},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "refused the credentials (HTTP 401)" in failure.step_failure_data.user_failure_data.description
