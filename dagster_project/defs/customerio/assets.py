"""The Customer.io sync as a Dagster asset: after the marts it reads, before the cycle summary.

The asset materialises what one sync run did (sent, failed, skipped by the gate, requests,
duration) so the UI shows it per cycle; the run itself is in ops.sync_runs and every operation
in ops.sync_changelog. Parked rows (retries exhausted, or never deliverable) surface as a WARN
check on the asset: one place to look, without failing the cycle (defs/slack/sync_outcome.py, shared
with HubSpot).
"""

import dagster as dg

from dagster_project.defs.customerio.resources import CustomerIOResource
from dagster_project.defs.slack.sync_outcome import report_sync
from dagster_project.lib import config
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource
from reverse_etl.customerio import CustomerIOAuthError, sync_customerio
from reverse_etl.customerio.diff import CHANNEL

CUSTOMERIO_SYNC = dg.AssetKey(["customerio_sync"])
INPUTS = [dg.AssetKey(["marts", "customerio_people"]), dg.AssetKey(["marts", "onboarding_triggers"])]
PARKED_CHECK = "customerio_nothing_parked"


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
            settings, as_of=as_of, run_id=context.run.run_id, warehouse_path=warehouse.resolved_path(),
            memory_limit=config.DUCKDB_MEMORY.read(),
        )
    except CustomerIOAuthError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return report_sync(
        context, warehouse, result, channel=CHANNEL, label="Customer.io", asset_key=CUSTOMERIO_SYNC,
        check_name=PARKED_CHECK, as_of=as_of,
        metadata={
            "planned_identifies": result.planned_identifies,
            "planned_events": result.planned_events,
            "not_primary_contact": result.not_primary_contact,
            "bytes_sent": result.bytes_sent,
        },
    )
