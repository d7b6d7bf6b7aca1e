"""What a reverse-ETL sync asset reports once its run is over, the same for Customer.io and HubSpot.

The send gate's hold-backs as a warning in the run log; one data-quality alert to Slack (SLACK_CHANNEL_DATA)
per run that parked operations; the figures every sync keeps as materialisation metadata, beside the
channel's own; and the WARN check that stays red while anything of the channel is parked. It lives
beside the Slack resource because the alert needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import dagster as dg

from dagster_project.defs.slack.resources import SlackResource
from dagster_project.lib import config
from dagster_project.lib.resources import WarehouseResource
from reverse_etl.runs import SyncResult

# Parked operations named in one alert; the rest are counted ("+N more"), their errors are in ops.outbox.
ALERT_LISTS_AT_MOST = 20


def parked_alert_lines(channel: str, item_ids: list[str], errors: Mapping[str, str | None]) -> list[str]:
    """The alert's lines: the first parked operations with their error, how many more, and how to requeue."""
    shown = item_ids[:ALERT_LISTS_AT_MOST]
    lines = [f"{item_id}: {errors.get(item_id) or 'no error recorded'}" for item_id in shown]
    if len(item_ids) > len(shown):
        lines.append(f"+{len(item_ids) - len(shown)} more (ops.outbox, channel '{channel}', status 'parked')")
    lines.append(f"Fix the cause, then requeue: outbox.requeue(con, '{channel}') (reverse_etl/{channel}/README.md)")
    return lines


def _alert_parked(context: dg.AssetExecutionContext, con: Any, as_of: datetime, channel: str, label: str,
                  item_ids: list[str]) -> None:
    """One alert per run that parked rows. A row is parked once, so this cannot repeat every hour; the
    WARN check stays red until someone requeues. Slack trouble must not fail the sync that already
    happened: it is logged."""
    from reverse_etl.slack import post_data_quality_alert

    errors = dict(con.execute(
        "select item_id, last_error from ops.outbox where channel = ? and item_id = any(?::varchar[])",
        [channel, item_ids[:ALERT_LISTS_AT_MOST]],
    ).fetchall())
    try:
        post_data_quality_alert(con, as_of, f"{label}: {len(item_ids)} operations parked",
                                parked_alert_lines(channel, item_ids, errors), "warning",
                                settings=SlackResource().settings())
    except Exception as exc:  # noqa: BLE001 - an alert must never undo a completed sync
        context.log.warning(f"could not queue the parked-rows alert for Slack: {type(exc).__name__}")


def report_sync(context: dg.AssetExecutionContext, warehouse: WarehouseResource, result: SyncResult, *,
                channel: str, label: str, asset_key: dg.AssetKey, check_name: str, as_of: datetime,
                metadata: Mapping[str, Any]) -> dg.MaterializeResult:
    """The asset's result: the common figures plus the channel's `metadata`, and the parked check."""
    if result.skipped_gate:
        context.log.warning(
            f"send gate held back {result.skipped_gate} {label} operations: "
            + "; ".join(f"{reason} ({n})" for reason, n in result.gate_reasons.items())
        )
    parked = result.parked_left  # counted as the run closed: no second connection to the warehouse
    if result.parked_ids:
        with warehouse.connect() as con:
            _alert_parked(context, con, as_of, channel, label, result.parked_ids)
    parked_this_run = result.parked + result.invalid
    values: dict[str, Any] = {
        "mode": result.mode,
        "status": result.status,
        "sent": result.sent,
        "failed": result.failed,
        "parked_this_run": parked_this_run,
        "skipped_by_gate": result.skipped_gate,
        "gate_reasons": dg.MetadataValue.json(result.gate_reasons),
        **metadata,
        "pending_left": result.pending_left,
        "requests": result.requests,
        "retries": result.retries,
        "rate_limited_429": result.rate_limited,
        "diff_seconds": round(result.diff_seconds, 3),
        "duration_seconds": round(result.duration_seconds, 3),
        "as_of": config.iso(as_of),
    }
    if result.outbox_file:
        values["outbox_file"] = dg.MetadataValue.path(result.outbox_file)
    if result.error:
        values["error"] = result.error
    check = dg.AssetCheckResult(
        check_name=check_name,
        asset_key=asset_key,
        passed=parked == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parked": parked, "parked_this_run": parked_this_run},
        description=None if parked == 0
        else f"{parked} operations parked in ops.outbox (channel '{channel}'); fix the cause, then requeue",
    )
    return dg.MaterializeResult(metadata=values, check_results=[check])
