"""The HubSpot sync as a Dagster asset: after marts.crm_accounts and marts.crm_plan_tasks, and after the
Slack alerts (whose kickoff briefings it files as notes the same cycle), before the cycle summary.

The asset materialises what one sync run did (created, updated, matched by domain, associated,
held by the gate, requests, 429s) so the UI and the cycle summary show it; the run itself is in
ops.sync_runs and every operation in ops.sync_changelog. Parked rows surface as a WARN check.
"""

from datetime import datetime
from typing import Any

import dagster as dg

from dagster_project.defs.hubspot.resources import HubSpotResource
from dagster_project.defs.slack.resources import SlackResource
from dagster_project.lib import config
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource
from reverse_etl import outbox
from reverse_etl.hubspot import HubSpotAuthError, sync_hubspot
from reverse_etl.hubspot.diff import CHANNEL

HUBSPOT_SYNC = dg.AssetKey(["hubspot_sync"])
INPUTS = [dg.AssetKey(["marts", "crm_accounts"]), dg.AssetKey(["marts", "crm_plan_tasks"]),
          dg.AssetKey(["slack_alerts"])]
PARKED_CHECK = "hubspot_nothing_parked"


def _alert_parked(context: dg.AssetExecutionContext, con: Any, as_of: datetime, item_ids: list[str]) -> None:
    """One data-quality alert (SLACK_CHANNEL_DATA) per run that parked rows; never fails the sync."""
    from reverse_etl.slack import post_data_quality_alert

    errors = dict(con.execute(
        "select item_id, last_error from ops.outbox where channel = ? and item_id in (select unnest(?::varchar[]))",
        [CHANNEL, item_ids],
    ).fetchall())
    lines = [f"{item_id}: {errors.get(item_id) or 'no error recorded'}" for item_id in item_ids[:20]]
    lines.append("Fix the cause, then requeue: outbox.requeue(con, 'hubspot') (reverse_etl/hubspot/README.md)")
    try:
        post_data_quality_alert(con, as_of, f"HubSpot: {len(item_ids)} operations parked", lines, "warning",
                                settings=SlackResource().settings())
    except Exception as exc:  # noqa: BLE001 - an alert must never undo a completed sync
        context.log.warning(f"could not queue the parked-rows alert for Slack: {type(exc).__name__}")


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
            hubspot.settings(), as_of=as_of, run_id=context.run.run_id, warehouse_path=warehouse.resolved_path()
        )
    except HubSpotAuthError as exc:
        raise dg.Failure(description=str(exc)) from exc
    if result.skipped_gate:
        context.log.warning(
            f"send gate held back {result.skipped_gate} HubSpot operations: "
            + "; ".join(f"{reason} ({n})" for reason, n in result.gate_reasons.items())
        )
    with warehouse.connect() as con:
        parked = outbox.status_counts(con, CHANNEL)[outbox.PARKED]
        if result.parked_ids:
            _alert_parked(context, con, as_of, result.parked_ids)
    metadata: dict[str, Any] = {
        "mode": result.mode,
        "status": result.status,
        "planned_companies": result.planned["company"],
        "planned_contacts": result.planned["contact"],
        "planned_associations": result.planned["association"],
        "planned_tasks": result.planned["task"],
        "planned_notes": result.planned["note"],
        "planned_activity_links": result.planned["task_link"] + result.planned["note_link"],
        "sent": result.sent,
        "created": result.created,
        "updated": result.updated,
        "matched_by_domain": result.matched_by_domain,
        "failed": result.failed,
        "parked_this_run": result.parked + result.invalid,
        "skipped_by_gate": result.skipped_gate,
        "gate_reasons": dg.MetadataValue.json(result.gate_reasons),
        "waiting_associations": result.waiting,
        "pending_left": result.pending_left,
        "requests": result.requests,
        "retries": result.retries,
        "rate_limited_429": result.rate_limited,
        "requests_by_endpoint": dg.MetadataValue.json(result.requests_by_endpoint),
        "diff_seconds": round(result.diff_seconds, 3),
        "duration_seconds": round(result.duration_seconds, 3),
        "as_of": config.iso(as_of),
    }
    if result.outbox_file:
        metadata["outbox_file"] = dg.MetadataValue.path(result.outbox_file)
    if result.error:
        metadata["error"] = result.error
    check = dg.AssetCheckResult(
        check_name=PARKED_CHECK,
        asset_key=HUBSPOT_SYNC,
        passed=parked == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parked": parked, "parked_this_run": result.parked + result.invalid},
        description=None if parked == 0
        else f"{parked} operations parked in ops.outbox (channel 'hubspot'); fix the cause, then requeue",
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
