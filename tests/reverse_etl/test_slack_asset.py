"""The slack_alerts Dagster asset: wired after the ranking model, configured by SlackResource, reporting
what it did as metadata and delivery health as a check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dagster_project.defs.slack.assets import DELIVERY_CHECK, SLACK_ALERTS, SlackResource, slack_alerts
from dagster_project.lib import warehouse
from dagster_project.lib.clock import AS_OF_TAG
from dagster_project.lib.resources import WarehouseResource
from tests.reverse_etl.slack_support import alert_row, plant_alerts
from tests.servers.slack_server import SlackServer

AS_OF = datetime(2026, 11, 10, 9, tzinfo=UTC)


def test_asset_is_registered_after_the_ranking() -> None:
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(SLACK_ALERTS)
    assert node.parent_keys == {dg.AssetKey(["marts", "csm_alerts"]),
                                dg.AssetKey(["marts", "customer_onboarding_state"])}
    assert dg.AssetKey(["marts", "csm_alerts"]) in graph.get_all_asset_keys()
    assert "slack" in defs.resources


def test_materialize_posts_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        plant_alerts(con, [alert_row(1, AS_OF, priority="P0"), alert_row(2, AS_OF, priority="FYI")])
    with SlackServer(token="xoxb-asset", min_interval=0.1) as slack:
        resources = {
            "slack": SlackResource(bot_token="xoxb-asset", api_url=slack.url, digest_hour=9, per_channel_rate=4.0),
            "warehouse": WarehouseResource(path=str(path)),
        }
        result = dg.materialize([slack_alerts], resources=resources, tags={AS_OF_TAG: "2026-11-10T09:00:00Z"})
        assert result.success
        [event] = result.get_asset_materialization_events()
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        assert meta["alerts_new"] == 2 and meta["realtime_queued"] == 1 and meta["posted"] == 2
        assert meta["digest_posted"] is True and meta["queued"] == 0 and meta["mode"] == "slack"
        [check] = result.get_asset_check_evaluations()
        assert check.check_name == DELIVERY_CHECK and check.passed

        # A revoked token: the cycle still completes, the messages stay queued, the check warns.
        with warehouse.connect(path) as con:
            plant_alerts(con, [alert_row(3, AS_OF, priority="P0")])
        resources["slack"] = SlackResource(bot_token="xoxb-revoked", api_url=slack.url, per_channel_rate=4.0)
        again = dg.materialize([slack_alerts], resources=resources, tags={AS_OF_TAG: "2026-11-10T10:00:00Z"})
        assert again.success
        meta = {k: v.value for k, v in again.get_asset_materialization_events()[0].materialization.metadata.items()}
        assert meta["posted"] == 0 and meta["queued"] == 1
        [check] = again.get_asset_check_evaluations()
        assert not check.passed and check.metadata["auth_error"].value == "invalid_auth"
