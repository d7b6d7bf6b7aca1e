"""The Customer.io sync as a Dagster asset: after the marts it reads, before the cycle summary.

The asset materialises what one sync run did (sent, failed, skipped by the gate, requests,
duration) so the UI shows it per cycle; the run itself is in ops.sync_runs and every operation
in ops.sync_changelog. Parked rows (retries exhausted, or never deliverable) surface as a WARN
check on the asset: one place to look, without failing the cycle.
"""

from datetime import datetime
from typing import Any

import dagster as dg

from dagster_project.defs.customerio.resources import CustomerIOResource
from dagster_project.defs.slack.resources import SlackResource
from dagster_project.lib import config
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource
from reverse_etl import outbox
from reverse_etl.customerio import CustomerIOAuthError, sync_customerio
from reverse_etl.customerio.diff import CHANNEL

CUSTOMERIO_SYNC = dg.AssetKey(["customerio_sync"])
INPUTS = [dg.AssetKey(["marts", "customerio_people"]), dg.AssetKey(["marts", "onboarding_triggers"])]
PARKED_CHECK = "customerio_nothing_parked"


def _alert_parked(context: dg.AssetExecutionContext, con: Any, as_of: datetime, item_ids: list[str]) -> None:
    """One data-quality alert (SLACK_CHANNEL_DATA) per row that became parked in this run.

    A row is parked once, so this cannot repeat every hour; the WARN check stays red until
    someone requeues. Slack trouble must not fail the sync that already happened: it is logged.
    """
    from reverse_etl.slack import post_data_quality_alert

    errors = dict(
        con.execute(
            "select item_id, last_error from ops.outbox where channel = ? and item_id in "
            "(select unnest(?::varchar[]))",
            [CHANNEL, item_ids],
        ).fetchall()
    )
    lines = [f"{item_id}: {errors.get(item_id) or 'no error recorded'}" for item_id in item_ids]
    lines.append(
        "Fix the cause, then requeue: outbox.requeue(con, 'customerio') (reverse_etl/customerio/README.md)"
    )
    try:
        post_data_quality_alert(
            con, as_of, f"Customer.io: {len(item_ids)} operations parked", lines, "warning",
            settings=SlackResource().settings(),
        )
    except Exception as exc:  # noqa: BLE001 - an alert must never undo a completed sync
        context.log.warning(f"could not queue the parked-rows alert for Slack: {type(exc).__name__}")


@dg.asset(
    key=CUSTOMERIO_SYNC,
    deps=INPUTS,
    group_name="reverse_etl",
    kinds={"customerio", "duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            PARKED_CHECK,
            asset=CUSTOMERIO_SYNC,
            description="No Customer.io operation is parked (retries exhausted or rejected as invalid).",
        )
    ],
)
def customerio_sync(
    context: dg.AssetExecutionContext, customerio: CustomerIOResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Send changed person attributes and new onboarding events to Customer.io (or the local outbox)."""
    as_of = as_of_for(context)
    settings = customerio.settings()
    try:
        result = sync_customerio(
            settings, as_of=as_of, run_id=context.run.run_id, warehouse_path=warehouse.resolved_path()
        )
    except CustomerIOAuthError as exc:
        raise dg.Failure(description=str(exc)) from exc
    if result.skipped_gate:
        context.log.warning(
            f"send gate held back {result.skipped_gate} Customer.io operations: "
            + "; ".join(f"{reason} ({n})" for reason, n in result.gate_reasons.items())
        )
    with warehouse.connect() as con:
        parked = outbox.status_counts(con, CHANNEL)[outbox.PARKED]
        if result.parked_ids:
            _alert_parked(context, con, as_of, result.parked_ids)
    metadata = {
        "mode": result.mode,
        "status": result.status,
        "sent": result.sent,
        "failed": result.failed,
        "parked_this_run": result.parked + result.invalid,
        "skipped_by_gate": result.skipped_gate,
        "gate_reasons": dg.MetadataValue.json(result.gate_reasons),
        "planned_identifies": result.planned_identifies,
        "planned_events": result.planned_events,
        "not_primary_contact": result.not_primary_contact,
        "pending_left": result.pending_left,
        "requests": result.requests,
        "retries": result.retries,
        "rate_limited_429": result.rate_limited,
        "bytes_sent": result.bytes_sent,
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
        asset_key=CUSTOMERIO_SYNC,
        passed=parked == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parked": parked, "parked_this_run": result.parked + result.invalid},
        description=None
        if parked == 0
        else f"{parked} operations parked in ops.outbox (channel 'customerio'); fix the cause, then requeue",
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
