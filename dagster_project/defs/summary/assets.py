"""The last step of a cycle: its summary, kept in ops.run_log and shown in the UI and the CLI."""

import json
from datetime import UTC, datetime

import dagster as dg

from dagster_project.defs.landing.assets import MESSAGES
from dagster_project.defs.summary.figures import cycle_summary
from dagster_project.lib import warehouse as wh
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource

SUMMARY = dg.AssetKey(["ops", "cycle_summary"])

# Assets the summary waits for; the sync assets add themselves in definitions.py.
SUMMARY_DEPS = [
    dg.AssetKey(["marts", "customer_onboarding_state"]),
    dg.AssetKey(["marts", "onboarding_triggers"]),
    dg.AssetKey(["marts", "activation_by_path"]),
]

def build_summary_asset(extra_deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=SUMMARY, group_name="ops", deps=[*SUMMARY_DEPS, *extra_deps], kinds={"duckdb"})
    def cycle_summary_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Accounts per track and stage, activation rate and what went out, for this cycle's clock."""
        as_of = as_of_for(context)
        landing_event = context.instance.get_latest_materialization_event(MESSAGES)
        load_ids: list[int] = []
        if landing_event and landing_event.run_id == context.run.run_id and landing_event.asset_materialization:
            value = landing_event.asset_materialization.metadata.get("load_ids")
            load_ids = list(value.value) if value is not None else []
        with warehouse.connect() as con:
            wh.ensure_schema(con)
            summary = cycle_summary(con, as_of, load_ids)
            summary["sends"] = {
                key.to_user_string(): line
                for key in (SEGMENTATION, *extra_deps)
                if (line := _send_line(context, key))
            }
            con.execute(
                "insert into ops.run_log values (?, ?, ?, ?, 'success', false, ?)",
                [context.run.run_id, as_of, _run_started_at(context), datetime.now(UTC),
                 json.dumps(summary, default=str)],
            )
        return dg.MaterializeResult(
            metadata={
                "accounts": summary.get("accounts", 0),
                "by_track": dg.MetadataValue.json(summary.get("by_track", {})),
                "by_stage": dg.MetadataValue.json(summary.get("by_stage", {})),
                "activation_rate_14d": summary.get("activation_rate_14d") or 0.0,
                "triggers_emitted": dg.MetadataValue.json(summary.get("triggers_emitted", {})),
                "decisions": dg.MetadataValue.json(summary.get("decisions", {})),
            }
        )

    return cycle_summary_asset


def _run_started_at(context: dg.AssetExecutionContext) -> datetime:
    """When the run started (Dagster's record of it), not when this last step wrote the row."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = record.start_time if record and record.start_time else None
    return datetime.fromtimestamp(started, UTC) if started else datetime.now(UTC)


# What the summary quotes from each sync asset's materialization (the rest stays in the UI).
SEGMENTATION = dg.AssetKey(["ops", "account_segmentation"])
SEND_FIELDS = {
    "account_segmentation": ("decided_by", "asked", "decided_llm", "fallback_low_confidence", "fallback_error",
                             "cost_usd"),
    "customerio_sync": ("mode", "planned_identifies", "planned_events", "sent", "failed", "skipped_by_gate",
                        "pending_left"),
    "slack_alerts": ("mode", "alerts_new", "realtime_queued", "digest_posted", "posted", "written_local",
                     "queued", "gated"),
    "hubspot_sync": ("mode", "planned_companies", "planned_contacts", "planned_associations", "planned_tasks",
                     "planned_notes", "sent", "created", "updated", "failed", "skipped_by_gate", "pending_left"),
}


def _send_line(context: dg.AssetExecutionContext, key: dg.AssetKey) -> str | None:
    event = context.instance.get_latest_materialization_event(key)
    if not event or event.run_id != context.run.run_id or not event.asset_materialization:
        return None
    metadata = event.asset_materialization.metadata
    fields = SEND_FIELDS.get(key.path[-1], tuple(metadata))
    parts = [f"{name.replace('_', ' ')} {metadata[name].value}" for name in fields if name in metadata]
    return ", ".join(parts) or None

