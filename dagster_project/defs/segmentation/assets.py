"""Segmentation assets: enrichment load, AI track decisions (between the two dbt steps), accuracy audit.

Keys line up with the dbt sources the translator maps ([source, table]): `raw/firmographics` feeds
int_accounts_enriched, `ops/account_segmentation` feeds int_accounts_segmented, so the hourly job
orders them by dependency alone.
"""

import dagster as dg

from dagster_project.defs.segmentation import audit, enrichment, settings
from dagster_project.defs.segmentation.resources import SegmentationModelResource
from dagster_project.lib import config
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource

FIRMOGRAPHICS = dg.AssetKey(["raw", "firmographics"])
ACCOUNT_SEGMENTATION = dg.AssetKey(["ops", "account_segmentation"])
SEGMENTATION_ACCURACY = dg.AssetKey(["ops", "segmentation_accuracy"])
PROFILED = dg.AssetKey(["intermediate", "int_accounts_profiled"])
SCORED = dg.AssetKey(["intermediate", "int_accounts_scored"])
SEGMENTED = dg.AssetKey(["intermediate", "int_accounts_segmented"])
GROUP = "segmentation"


@dg.asset(
    key=FIRMOGRAPHICS,
    group_name=GROUP,
    kinds={"duckdb"},
    description="Firmographics from the enrichment file(s) at ONBOARDING_ENRICHMENT_PATH, one row per account.",
)
def firmographics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = settings.enrichment_path()
    with warehouse.connect() as con:
        result = enrichment.load_firmographics(con, path)
    if not result.files:
        context.log.info(f"no enrichment file under {path}: firmographics come from group traits only")
    return dg.MaterializeResult(
        metadata={
            "path": str(path),
            "files": dg.MetadataValue.json([str(p) for p in result.files]),
            "reloaded": result.loaded,
            "dagster/row_count": result.rows,
            "rows_without_account_id": result.rejected,
        }
    )


@dg.asset(
    key=ACCOUNT_SEGMENTATION,
    deps=[PROFILED, SCORED],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    description=(
        "AI track decisions (Claude, strict tool) for accounts whose input hash has no decision yet; "
        "low confidence or errors fall back to standard. Without ANTHROPIC_API_KEY the rules decide."
    ),
)
def account_segmentation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, segmentation_model: SegmentationModelResource
) -> dg.MaterializeResult:
    # Loaded here, not at import: the service brings in the anthropic SDK (~1.5 s of start-up).
    from dagster_project.defs.segmentation.service import segment_accounts

    as_of = as_of_for(context)
    with warehouse.connect() as con:
        summary = segment_accounts(
            con,
            run_id=context.run.run_id,
            as_of=as_of,
            enabled=segmentation_model.enabled(),
            model=segmentation_model.resolved_model(),
            client_factory=segmentation_model.client,
            min_confidence=segmentation_model.resolved_min_confidence(),
            concurrency=segmentation_model.resolved_concurrency(),
            max_accounts=segmentation_model.resolved_max_accounts(),
        )
    if summary["mode"] == "auth_failed":
        context.log.warning(summary["note"])
    elif summary["note"]:
        context.log.info(summary["note"])
    context.log.info(
        f"segmentation as of {config.iso(as_of)}: {summary['asked']} asked, {summary['decided_llm']} decided by "
        f"the model, {summary['fallback_low_confidence']} low-confidence and {summary['fallback_error']} error "
        f"fallbacks, {summary['deferred']} deferred, cost ${summary['cost_usd']:.4f}"
    )
    keys = (
        "mode", "model", "accounts_scored", "pending", "asked", "deferred", "decided_llm",
        "fallback_low_confidence", "fallback_error", "retries", "requests", "input_tokens", "output_tokens",
        "cache_creation_input_tokens", "cache_read_input_tokens", "cost_usd",
    )
    metadata: dict[str, object] = {key: summary[key] for key in keys if summary[key] is not None}
    metadata["decided_by"] = "rules (no ANTHROPIC_API_KEY)" if summary["mode"] == "rules" else summary["mode"]
    if summary["note"]:
        metadata["note"] = summary["note"]
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=SEGMENTATION_ACCURACY,
    deps=[SEGMENTED],
    group_name=GROUP,
    kinds={"duckdb", "csv"},
    description=(
        "Monthly accuracy audit: a random sample of recent signups to label "
        "(<reports>/segmentation_audit/<month>/sample.csv), labels loaded back, accuracy per track over time."
    ),
)
def segmentation_accuracy(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    as_of = as_of_for(context)
    directory = settings.audit_dir()
    with warehouse.connect() as con:
        audit.ensure_tables(con)
        sample = audit.draw_sample(con, as_of, directory, settings.audit_sample_size())
        results = audit.load_labels_and_score(con, as_of, directory, settings.audit_min_accuracy())
        alerts = con.execute("select count(*) from ops.segmentation_alerts").fetchone()[0]
    if sample is not None:
        context.log.info(f"audit sample for {audit.audit_month(as_of)} written to {sample}: label it and drop it back")
    latest = results[max(results)] if results else {}
    metadata: dict[str, object] = {
        "sample_written": str(sample) if sample else "",
        "months_scored": len(results),
        "alerts_total": int(alerts),
    }
    for track, score in latest.items():
        if score.accuracy is not None:
            metadata[f"accuracy_{track}"] = round(score.accuracy, 4)
            metadata[f"labelled_{track}"] = score.labelled
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=SEGMENTATION_ACCURACY,
    name="segmentation_accuracy_at_least_threshold",
    description="The latest labelled month's overall track accuracy is at least 90 % (configurable).",
)
def segmentation_accuracy_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    threshold = settings.audit_min_accuracy()
    with warehouse.connect() as con:
        audit.ensure_tables(con)
        row = con.execute(
            "select audit_month, accuracy, labelled from ops.segmentation_accuracy "
            "where track = 'all' order by audit_month desc limit 1"
        ).fetchone()
    if row is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no labelled audit month yet"})
    month, accuracy, labelled = row
    return dg.AssetCheckResult(
        passed=accuracy is None or accuracy >= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"audit_month": month, "accuracy": accuracy, "labelled": labelled, "threshold": threshold},
    )


SEGMENTATION_ASSETS = [firmographics, account_segmentation, segmentation_accuracy]
SEGMENTATION_CHECKS = [segmentation_accuracy_check]
SEGMENTATION_RESOURCES = {"segmentation_model": SegmentationModelResource()}
