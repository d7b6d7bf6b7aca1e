"""Asset checks on `raw/segment_messages`: the tracking plan, drift, and the send gate, in one step.

One multi-asset check runs GX once per cycle (its start-up cost is paid once, not per suite) and reports:

- `tracking_plan_<suite>` per suite in expectations/ and `schema_drift`, `volume_anomaly`,
  `late_arrivals`, `duplicate_burst`: non-blocking. A blocking (critical) expectation failure is an
  ERROR-severity result, yet the run goes on: sends are stopped per account by `ops.send_gate`, not by
  halting the whole pipeline; warnings are WARN.
- `send_gate`: the one *blocking* check, which never fails with ERROR. Dagster makes everything downstream of
  the raw asset (dbt, segmentation, the syncs) wait for a blocking check, so the gate is always written
  before a sync reads it.
"""


from collections.abc import Iterator

import dagster as dg

from dagster_project.defs.quality.checks import DRIFT_CHECKS, CheckOutcome
from dagster_project.defs.quality.run import QualityRun, check_names, run_quality
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource

RAW_MESSAGES = dg.AssetKey(["raw", "segment_messages"])
GATE_CHECK = "send_gate"


def _specs() -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            GATE_CHECK, asset=RAW_MESSAGES, blocking=True,
            description="Accounts whose sends are gated by a failing blocking data-quality check (ops.send_gate).",
        )
    ]
    for name in check_names():
        what = f"tracking-plan suite expectations/{name.removeprefix('tracking_plan_')}.json" \
            if name.startswith("tracking_plan_") else f"drift: {name.replace('_', ' ')}" if name in DRIFT_CHECKS \
            else "track/page messages that belong to no account (alert only, never a gate)"
        specs.append(dg.AssetCheckSpec(name, asset=RAW_MESSAGES, blocking=False, description=f"Newly landed batch: {what}."))
    return specs


def _metadata(check: CheckOutcome) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        "status": dg.MetadataValue.text(check.status + (" (carried over)" if check.carried else "")),
        "summary": dg.MetadataValue.text(check.summary[:2000]),
        "new_rows": dg.MetadataValue.int(check.rows),
    }
    if check.failed:
        meta["failing_expectations"] = dg.MetadataValue.json([
            {"expectation": e.expectation_type, "column": e.column, "severity": e.severity,
             "unexpected_count": e.unexpected_count, "element_count": e.element_count,
             "unexpected_percent": round(e.unexpected_percent, 2), "sample_message_ids": e.sample_message_ids,
             "unexpected_values": e.unexpected_values, "accounts": len(e.affected_accounts),
             "rows_without_account": e.unattributed, "why": e.why}
            for e in check.failed
        ])
    if check.findings:
        meta["findings"] = dg.MetadataValue.json([
            {"event": f.key, "kind": f.kind, "message": f.message, "count": f.count, "sample_message_ids": f.samples}
            for f in check.findings
        ])
    if check.gate:
        meta["gated_accounts"] = dg.MetadataValue.int(len(check.gate))
    return meta


def check_results(run: QualityRun) -> Iterator[dg.AssetCheckResult]:
    """The Dagster view of one quality pass (also used by tests without a Dagster run)."""
    gated = run.gated_accounts
    yield dg.AssetCheckResult(
        check_name=GATE_CHECK, asset_key=RAW_MESSAGES, passed=gated == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "gated_accounts": dg.MetadataValue.int(gated),
            "batch_rows": dg.MetadataValue.int(run.batch_rows),
            "unattributed_messages": dg.MetadataValue.int(run.unattributed),
            "released_everyone_rows": dg.MetadataValue.int(run.released_everyone),
            "new_load_ids": dg.MetadataValue.json(run.new_load_ids),
            "alerts_queued": dg.MetadataValue.int(len(run.alerts)),
            "alerts_delivery": dg.MetadataValue.json(run.delivery),
            "timings_seconds": dg.MetadataValue.json(run.timings),
            "report": dg.MetadataValue.path(str(run.report_path)) if run.report_path else dg.MetadataValue.text(""),
        },
    )
    for check in run.checks:
        yield dg.AssetCheckResult(
            check_name=check.name, asset_key=RAW_MESSAGES, passed=check.status == "pass",
            severity=dg.AssetCheckSeverity.ERROR if check.status == "fail" else dg.AssetCheckSeverity.WARN,
            metadata=_metadata(check),
        )


@dg.multi_asset_check(specs=_specs(), name="raw_segment_messages_quality",
                      description="Tracking plan (GX suites), drift and the send gate on newly landed messages.")
def raw_segment_messages_quality(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    as_of = as_of_for(context.op_execution_context)
    with warehouse.connect() as con:
        run = run_quality(con, as_of)
    context.log.info(
        f"data quality as of {as_of:%Y-%m-%d %H:%M}Z: {run.batch_rows} new messages, "
        f"{sum(c.status == 'fail' for c in run.checks)} blocking failures, {run.gated_accounts} accounts gated, "
        f"{run.unattributed} messages without an account, "
        f"{len(run.alerts)} alerts ({run.timings.get('total_seconds', 0):.2f} s)"
    )
    yield from check_results(run)
