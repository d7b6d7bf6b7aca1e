"""The dbt project in two steps around the AI segmentation: core models, then the journey and marts.

Both steps run `dbt build` (models, seeds, data tests, unit tests) with the cycle's clock as the
`as_of` var. A clock earlier than the one the incremental models last ran with (a backfill, a
replayed hour) would leave them holding events from the future of that clock, so the core step
then rebuilds them in full (`--full-refresh`); `onboarding_triggers` opts out of full refreshes
(it is the record of what was emitted).
"""

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project import config, warehouse
from dagster_project.cycle import as_of_for
from dagster_project.dbt import AFTER_SEGMENTATION, OnboardingTranslator, ensure_manifest, project
from dagster_project.resources import WarehouseResource

ensure_manifest()

TRANSLATOR = OnboardingTranslator()

def _clock_went_backwards(warehouse_resource: WarehouseResource, as_of: datetime) -> bool:
    with warehouse_resource.connect() as con:
        if not warehouse.table_exists(con, "intermediate", "int_account_events_aggregated"):
            return False
        row = con.execute(
            "select max(_batch_as_of) from intermediate.int_account_events_aggregated"
        ).fetchone()
    return bool(row and row[0] is not None and row[0] > as_of)

def _build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse_resource: WarehouseResource, full_refresh: bool
) -> Iterator[Any]:
    as_of = as_of_for(context)
    args = ["build", "--vars", json.dumps({"as_of": config.iso(as_of)})]
    if full_refresh:
        context.log.warning(f"as_of {config.iso(as_of)} is before the last cycle's clock: full refresh")
        args.append("--full-refresh")
    # dbt's profile reads the same variable as Python: hand the dbt subprocess the absolute path
    # (DbtCliResource copies os.environ when it starts the process), without leaving it set here.
    with _environment("ONBOARDING_WAREHOUSE", str(warehouse_resource.resolved_path())):
        invocation = dbt.cli(args, context=context, raise_on_error=False)
    # Buffer the events: row counts and previews are read after dbt has closed the warehouse
    # (dagster-dbt's own fetch_row_counts keeps adapter connections open in this process, which
    # would hold DuckDB's single-writer lock against the next dbt step).
    events = list(invocation.stream())
    if not invocation.is_successful():
        raise dg.Failure(description=_first_dbt_error(invocation.get_artifact("run_results.json")))
    yield from _with_table_metadata(events, warehouse_resource)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _with_table_metadata(events: list[Any], warehouse_resource: WarehouseResource) -> Iterator[Any]:
    with warehouse_resource.connect(read_only=False) as con:
        for event in events:
            key = getattr(event, "asset_key", None) or getattr(event, "output_name", None)
            if isinstance(event, dg.Output) and isinstance(key, str):
                schema, _, name = key.partition("__")
                if schema in ("intermediate", "marts") and warehouse.table_exists(con, schema, name):
                    event = event.with_metadata({**event.metadata, **_table_metadata(con, schema, name)})
            yield event


def _table_metadata(con, schema: str, name: str) -> dict[str, Any]:
    relation = f'"{schema}"."{name}"'
    metadata: dict[str, Any] = {"dagster/row_count": warehouse.count(con, relation)}
    if schema == "marts":
        preview = con.execute(f"select * from {relation} limit 5").df()
        metadata["preview"] = dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "empty")
    return metadata


def _first_dbt_error(run_results: dict[str, Any]) -> str:
    """One line naming the first failing dbt node and why, instead of dbt's whole log."""
    failed = [r for r in run_results.get("results", []) if r.get("status") in ("error", "fail")]
    if not failed:
        return "dbt build failed (see the run's dbt log)"
    first = failed[0]
    node = first.get("unique_id", "?").split(".", 2)[-1]
    message = " ".join((first.get("message") or first.get("status") or "").split())[:300]
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"dbt build failed at {node}: {message}{more}"

@dbt_assets(
    manifest=project().manifest_path,
    project=project(),
    dagster_dbt_translator=TRANSLATOR,
    exclude=AFTER_SEGMENTATION,
    name="dbt_core",
)
def dbt_core(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Staging, event aggregates and account profiles: everything the segmentation reads."""
    yield from _build(context, dbt, warehouse, full_refresh=_clock_went_backwards(warehouse, as_of_for(context)))

@dbt_assets(
    manifest=project().manifest_path,
    project=project(),
    dagster_dbt_translator=TRANSLATOR,
    select=AFTER_SEGMENTATION,
    name="dbt_journey",
)
def dbt_journey(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Tracks, the journey state machine, triggers and marts, after the segmentation decided."""
    yield from _build(context, dbt, warehouse, full_refresh=False)
