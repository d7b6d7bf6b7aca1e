"""The dbt project in two steps around the AI segmentation: core models, then the journey and marts.

What each step builds and tests is a selector of dbt_project/selectors.yml (hourly_core,
hourly_journey): models, seeds and the data tests that protect sends; the whole-history data tests
run in the daily job below, the unit tests in CI. Both steps run `dbt build` from the manifest
prepared at install time, with the cycle's clock in ONBOARDING_AS_OF (macros/as_of.sql), so dbt's
partial parsing stays valid from one cycle to the next.

A clock earlier than the one the incremental models last ran with (a backfill, a replayed hour)
would leave them holding events from the future of that clock, so the core step then rebuilds them
in full (`--full-refresh`); `onboarding_triggers` opts out of full refreshes (it is the record of
what was emitted).
"""

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project import config, warehouse
from dagster_project.cycle import as_of_for
from dagster_project.dbt import (
    AS_OF_ENV,
    CORE_SELECTOR,
    DAILY_TESTS_SELECTOR,
    JOURNEY_SELECTOR,
    OnboardingTranslator,
    keep_parse_state,
    manifest_is_stale,
    manifest_path,
    run_target,
)
from dagster_project.resources import WarehouseResource

TRANSLATOR = OnboardingTranslator()
MANIFEST = manifest_path()

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
    args = ["build"]
    if full_refresh:
        context.log.warning(f"as_of {config.iso(as_of)} is before the last cycle's clock: full refresh")
        args.append("--full-refresh")
    events = _invoke(context, dbt, args, warehouse_resource, as_of)
    yield from _with_table_metadata(events, warehouse_resource)


def _invoke(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    dbt: DbtCliResource,
    args: Sequence[str],
    warehouse_resource: WarehouseResource,
    as_of: datetime,
    **kwargs: Any,
) -> list[Any]:
    """One dbt invocation; its Dagster events, buffered; a one-line Failure when a node failed.

    The events are buffered so that row counts and previews are read after dbt has closed the
    warehouse (dagster-dbt's own fetch_row_counts keeps adapter connections open in this process,
    which would hold DuckDB's single-writer lock against the next dbt step).
    """
    if manifest_is_stale():
        raise dg.Failure(description="the dbt project changed since its manifest was prepared: run "
                         "`.venv/bin/python -m dagster_project.dbt` (or `make install`) and reload the code location")
    target = run_target(f"{context.op.name}-{context.run_id[:8]}")
    # dbt's profile and the as_of() macro read these: hand them to the dbt subprocess
    # (DbtCliResource copies os.environ when it starts the process), without leaving them set here.
    with _environment({"ONBOARDING_WAREHOUSE": str(warehouse_resource.resolved_path()), AS_OF_ENV: config.iso(as_of)}):
        invocation = dbt.cli(list(args), context=context, raise_on_error=False, target_path=target, **kwargs)
        events = list(invocation.stream())
    keep_parse_state(target)
    if not invocation.is_successful():
        raise dg.Failure(description=_first_dbt_error(invocation.get_artifact("run_results.json")))
    # The run's folder is only kept when it failed (dbt.log, run_results.json).
    shutil.rmtree(target, ignore_errors=True)
    return events


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
    command = run_results.get("args", {}).get("which", "build")
    failed = [r for r in run_results.get("results", []) if r.get("status") in ("error", "fail")]
    if not failed:
        return f"dbt {command} failed (see the run's dbt log)"
    first = failed[0]
    node = first.get("unique_id", "?").split(".", 2)[-1]
    message = " ".join((first.get("message") or first.get("status") or "").split())[:300]
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"dbt {command} failed at {node}: {message}{more}"

@dbt_assets(manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR, selector=CORE_SELECTOR, name="dbt_core")
def dbt_core(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Staging, event aggregates and account profiles: everything the segmentation reads."""
    yield from _build(context, dbt, warehouse, full_refresh=_clock_went_backwards(warehouse, as_of_for(context)))

@dbt_assets(manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR, selector=JOURNEY_SELECTOR, name="dbt_journey")
def dbt_journey(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Tracks, the journey state machine, triggers and marts, after the segmentation decided."""
    yield from _build(context, dbt, warehouse, full_refresh=False)


@dg.op(name="dbt_daily_tests", out={}, description="Every dbt data test over the whole history (selectors.yml: daily_tests).")
def dbt_daily_tests(context: dg.OpExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator[Any]:
    events = _invoke(context, dbt, ["test", "--selector", DAILY_TESTS_SELECTOR], warehouse, as_of_for(context),
                     manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR)
    results = [e for e in events if isinstance(e, dg.AssetCheckEvaluation | dg.AssetObservation)]
    context.log.info(f"dbt daily tests: {len(results)} results, all passed")
    yield from results
