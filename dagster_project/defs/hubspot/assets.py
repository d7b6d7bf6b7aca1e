"""The HubSpot sync as a Dagster asset: after marts.crm_accounts and marts.crm_plan_tasks, and after the
Slack alerts (whose kickoff briefings it files as notes the same cycle), before the cycle summary.

The asset materialises what one sync run did (created, updated, matched by domain, associated,
held by the gate, requests, 429s) so the UI and the cycle summary show it; the run itself is in
ops.sync_runs and every operation in ops.sync_changelog. Parked rows surface as a WARN check
(defs/slack/sync_outcome.py, shared with Customer.io).
"""

import dagster as dg

from dagster_project.defs.hubspot.resources import HubSpotResource
from dagster_project.defs.slack.sync_outcome import report_sync
from dagster_project.lib import config
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource
from reverse_etl.hubspot import HubSpotAuthError, sync_hubspot
from reverse_etl.hubspot.diff import CHANNEL

HUBSPOT_SYNC = dg.AssetKey(["hubspot_sync"])
INPUTS = [dg.AssetKey(["marts", "crm_accounts"]), dg.AssetKey(["marts", "crm_plan_tasks"]),
          dg.AssetKey(["slack_alerts"])]
PARKED_CHECK = "hubspot_nothing_parked"


@dg.asset(
    key=HUBSPOT_SYNC,
    deps=INPUTS,
    group_name="reverse_etl",
    kinds={"hubspot", "duckdb"},
    check_specs=[dg.AssetCheckSpec(PARKED_CHECK, asset=HUBSPOT_SYNC,
                                   description="No HubSpot operation is parked (retries exhausted or rejected).")],
)
def hubspot_sync(
    context: dg.AssetExecutionContext, hubspot: HubSpotResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Keep each account's company, primary contact, their association, its 30-day plan's tasks and its
    kickoff briefing note current in HubSpot (or the outbox)."""
    as_of = as_of_for(context)
    try:
        result = sync_hubspot(
            hubspot.settings(), as_of=as_of, run_id=context.run.run_id, warehouse_path=warehouse.resolved_path(),
            memory_limit=config.DUCKDB_MEMORY.read(),
        )
    except HubSpotAuthError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return report_sync(
        context, warehouse, result, channel=CHANNEL, label="HubSpot", asset_key=HUBSPOT_SYNC,
        check_name=PARKED_CHECK, as_of=as_of,
        metadata={
            "planned_companies": result.planned["company"],
            "planned_contacts": result.planned["contact"],
            "planned_associations": result.planned["association"],
            "planned_tasks": result.planned["task"],
            "planned_notes": result.planned["note"],
            "planned_activity_links": result.planned["task_link"] + result.planned["note_link"],
            "created": result.created,
            "updated": result.updated,
            "matched_by_domain": result.matched_by_domain,
            "waiting_associations": result.waiting,
            "requests_by_endpoint": dg.MetadataValue.json(result.requests_by_endpoint),
        },
    )
