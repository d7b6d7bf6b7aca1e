"""The dbt project in two steps around the AI segmentation: core models, then the journey and marts.

What each step builds and tests is a selector of dbt_project/selectors.yml (hourly_core,
hourly_journey): models, seeds and the data tests that protect sends; the whole-history data tests
run in the daily job (defs/dbt/jobs.py), the unit tests in CI. Both steps run `dbt build` in the cycle's own
process (dbt's programmatic runner, dagster_project.lib.dbt.invoke_in_process) from the manifest prepared
at install time: no dbt subprocess start-up, no parse, the cycle's clock in ONBOARDING_AS_OF
(macros/as_of.sql). dagster-dbt's DbtCliResource (a subprocess per call) serves the daily tests only.

A clock earlier than the one the incremental models last ran with (a backfill, a replayed hour)
would leave them holding events from the future of that clock, so the core step then rebuilds them
in full (`--full-refresh`); `onboarding_triggers` opts out of full refreshes (it is the record of
what was emitted).
"""

import collections
import contextlib
import functools
import graphlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test, get_manifest_and_translator_from_dbt_assets
from dagster_dbt.utils import select_unique_ids

from dagster_project.defs.dbt import unchanged
from dagster_project.lib import config, lake, warehouse
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.dbt import (
    AS_OF_ENV,
    CORE_SELECTOR,
    DAILY_TESTS_SELECTOR,
    JOURNEY_SELECTOR,
    OnboardingTranslator,
    invoke_in_process,
    keep_parse_state,
    manifest_is_stale,
    manifest_path,
    project_fingerprint,
    run_target,
)
from dagster_project.lib.resources import WarehouseResource

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

def _build(context: dg.AssetExecutionContext, warehouse_resource: WarehouseResource, full_refresh: bool) -> Iterator[Any]:
    """`dbt build` of this step's selector, in this process, from the prepared manifest.

    What it reports: one materialization per model and seed built (row counts and, for the marts, a
    preview: read after dbt closed the warehouse), and the result of each send-protecting test that
    did not pass (a warning); a failed test or model fails the step in one line naming it. Passing
    tests are summed up in one log line rather than one Dagster event each (a persistent instance
    pays for every event it stores).
    """
    as_of = as_of_for(context)
    selector = _SELECTORS[context.op.name]
    if manifest_is_stale():
        raise dg.Failure(description=STALE)
    left_out: set[str] = set()
    quiet: set[str] = set()
    step_env: dict[str, str] = {}
    if not lake.on_spark():
        manifest, selection = _selection(context.assets_def)
        with warehouse_resource.connect(read_only=True) as con:
            # Read once here, not by each model: the landing's load id, the firmographics, the scoped models' states.
            step_env = unchanged.step_env(con, manifest, selection)
            if not full_refresh:
                left_out = unchanged.unchanged(con, manifest, selection, project_fingerprint())
                quiet = unchanged.quiet(con, manifest, selection, project_fingerprint(), as_of, left_out)
                left_out |= quiet
    if left_out:
        # The selector's nodes by name, minus what is unchanged; its tests are named, none added.
        args = ["build", *unchanged.select_args(manifest, selection, left_out)]
    else:
        args = ["build", "--selector", selector]
    if full_refresh:
        context.log.warning(f"as_of {config.iso(as_of)} is before the last cycle's clock: full refresh")
        args.append("--full-refresh")
    target = config.dbt_target_dir() / "runs" / f"{context.op.name}-{context.run_id[:8]}"
    env = {"ONBOARDING_WAREHOUSE": str(warehouse_resource.resolved_path()), AS_OF_ENV: config.iso(as_of)}
    env.update(step_env)
    started = time.perf_counter()
    if lake.on_spark():
        env["ONBOARDING_SPARK_WAREHOUSE_DIR"] = str(lake.spark_warehouse_dir())
        _sources_to_spark(context, warehouse_resource, target, env)
    result = invoke_in_process(args, target, env)
    statuses = collections.Counter(str(r.status) for r in result.results)
    if any(str(r.status) in ("error", "fail") for r in result.results):
        raise dg.Failure(description=_build_failure(warehouse_resource, args[0], result.results))
    # The run's folder (dbt.log) is only kept when it failed.
    shutil.rmtree(target, ignore_errors=True)
    outputs, checks = _dbt_names(context)
    selected = context.selected_output_names
    built: list[tuple[str, str, str]] = []
    seconds = {r.node.unique_id: r.execution_time for r in result.results}
    warned: list[dg.AssetCheckResult] = []
    for r in result.results:
        unique_id = r.node.unique_id
        if unique_id in outputs and outputs[unique_id] in selected and str(r.status) == "success":
            built.append((unique_id, outputs[unique_id], r.node.schema + "__" + r.node.name))
        elif unique_id in checks and str(r.status) == "warn" and checks[unique_id] not in context.selected_asset_check_keys:
            # The hourly job does not plan dbt's tests as checks: a warning there is a log line.
            context.log.warning(f"dbt test {r.node.name} warned: {' '.join((r.message or '').split())[:300]}")
        elif unique_id in checks and str(r.status) == "warn":
            warned.append(dg.AssetCheckResult(
                asset_key=checks[unique_id].asset_key, check_name=checks[unique_id].name, passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"failures": r.failures or 0, "message": " ".join((r.message or "").split())[:300]},
            ))
    context.log.info(
        f"dbt build --selector {selector}{' --full-refresh' if full_refresh else ''}: {len(result.results)} nodes in "
        f"{time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        + (f"; {len(left_out) - len(quiet)} seeds and clock-free views left out, unchanged since this dbt project "
           "built them" if left_out - quiet else "")
        + (f"; {len(quiet)} models left out, nothing new for them since their last build" if quiet else "") + ")"
        + _slowest(result.results)
    )
    if lake.on_spark():
        with warehouse_resource.connect() as con:
            mirrored = lake.mirror_tables(con, [tuple(r.partition("__")[::2]) for _, _, r in built], lake.spark_warehouse_dir())
        context.log.info(f"{mirrored} tables Spark built read back as DuckDB views")
    # What was left out is reported too, as not rebuilt: Dagster skips every step downstream of an
    # output it did not get. Multi-asset outputs go in the graph's order.
    built += [(u, outputs[u], "") for u in left_out if u in outputs and outputs[u] in selected]
    order = _topological_order(context.assets_def)
    with warehouse_resource.connect(read_only=True) as con:
        views = {tuple(row) for row in con.execute(
            "select schema_name, view_name from duckdb_views() where not internal").fetchall()}
        for unique_id, output_name, relation in sorted(built, key=lambda b: order.get(b[0], 0)):
            schema, _, name = relation.partition("__")
            if not relation:
                metadata: dict[str, Any] = {"rebuilt": False}
            elif schema in ("intermediate", "marts"):
                metadata = _table_metadata(con, schema, name, (schema, name) in views)
            else:
                metadata = {}
            if relation:
                # Plotted per model across runs in the Dagster UI: which model an hour pays for.
                metadata["dbt_seconds"] = round(seconds[unique_id], 3)
            yield dg.Output(None, output_name=output_name, metadata=metadata)
    yield from warned


@functools.cache
def _topological_order(assets_def: dg.AssetsDefinition) -> dict[str, int]:
    manifest, selection = _selection(assets_def)
    graph = {u: [p for p in manifest["parent_map"].get(u, []) if p in selection] for u in selection}
    return {u: i for i, u in enumerate(graphlib.TopologicalSorter(graph).static_order())}


@functools.cache
def _selection(assets_def: dg.AssetsDefinition) -> tuple[dict[str, Any], frozenset[str]]:
    """The step's manifest and the unique ids its selector selects (models, seeds, tests)."""
    manifest = get_manifest_and_translator_from_dbt_assets([assets_def])[0]
    selector = _SELECTORS[assets_def.op.name]
    return manifest, frozenset(select_unique_ids(select="", exclude="", selector=selector, project=None,
                                                 manifest_json=manifest))


def _sources_to_spark(
    context: dg.AssetExecutionContext, warehouse_resource: WarehouseResource, target: Path, env: dict[str, str]
) -> None:
    """dbt's sources as the lake's parquet (the new landings, the rest whole), registered in Spark's catalog."""
    root = lake.lake_dir()
    with warehouse_resource.connect() as con:
        written = lake.export_sources(con, lake.dbt_sources(MANIFEST), root)
    registered = invoke_in_process(
        ["run-operation", "register_parquet_sources", "--args", json.dumps({"root": str(root)})], target, env
    )
    failed = [r for r in registered.results if str(r.status) != "success"]
    if failed:
        raise dg.Failure(description="registering the lake's sources in Spark failed: "
                         + " ".join(str(failed[0].message).split())[:300])
    context.log.info("sources written to the lake for Spark: " + ", ".join(f"{k} {v:,}" for k, v in written.items()))


_SELECTORS = {"dbt_core": CORE_SELECTOR, "dbt_journey": JOURNEY_SELECTOR}
STALE = ("the dbt project changed since its manifest was prepared: run `.venv/bin/python -m dagster_project.lib.dbt` "
         "(or `make install`) and reload the code location")


@functools.cache
def _dbt_names_for(assets_def: dg.AssetsDefinition) -> tuple[dict[str, str], dict[str, dg.AssetCheckKey]]:
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([assets_def])
    output_names = {key: name for name, key in assets_def.keys_by_output_name.items()}
    outputs: dict[str, str] = {}
    for unique_id, props in manifest["nodes"].items():
        if props["resource_type"] in ("model", "seed", "snapshot"):
            key = translator.get_asset_spec(manifest, unique_id, None).key
            if key in output_names:
                outputs[unique_id] = output_names[key]
    checks: dict[str, dg.AssetCheckKey] = {}
    for unique_id in manifest["nodes"]:
        if unique_id.startswith("test."):
            key = get_asset_check_key_for_test(manifest, translator, unique_id, None)
            if key is not None and key in assets_def.check_keys:
                checks[unique_id] = key
    return outputs, checks


def _dbt_names(context: dg.AssetExecutionContext) -> tuple[dict[str, str], dict[str, dg.AssetCheckKey]]:
    """dbt unique id -> this step's output name (models, seeds) and asset check key (tests)."""
    return _dbt_names_for(context.assets_def)


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
        raise dg.Failure(description=STALE)
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


def _table_metadata(con, schema: str, name: str, view: bool) -> dict[str, Any]:
    """A table's row count (a view's would run its whole query: 0.3 s an hour for one at 100k
    accounts) and, for a mart, its first five rows as a markdown table."""
    relation = f'"{schema}"."{name}"'
    metadata: dict[str, Any] = {} if view else {"dagster/row_count": warehouse.count(con, relation)}
    if schema == "marts":
        cursor = con.execute(f"select * from {relation} limit 5")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        metadata["preview"] = dg.MetadataValue.md(_markdown(columns, rows) if rows else "empty")
    return metadata


def _markdown(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else " ".join(str(value).split()).replace("|", "\\|")[:80]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _slowest(results: Sequence[Any], n: int = 5) -> str:
    """The step's slowest nodes, for its log line: where an hour's dbt time goes, without a profiler."""
    ranked = sorted(results, key=lambda r: -r.execution_time)[:n]
    return "; slowest: " + ", ".join(f"{r.node.name} {r.execution_time:.2f} s" for r in ranked) if ranked else ""


def _build_failure(warehouse_resource: WarehouseResource, command: str, results: Sequence[Any]) -> str:
    """The one failure line of an in-process dbt step (_first_dbt_error), a failed send_invariants test
    naming the tests it folds that failed."""
    return _first_dbt_error({"args": {"which": command}, "results": [
        {"unique_id": r.node.unique_id, "status": str(r.status),
         "message": _folded_failures(warehouse_resource, r) or r.message} for r in results
    ]})


def _folded_failures(warehouse_resource: WarehouseResource, result: Any) -> str | None:
    """For a failed send_invariants test (macros/test_send_invariants.sql: the model's column tests in one
    query), the tests it folds that failed and their failing rows, read again with its own SQL once dbt
    has closed the warehouse; None for any other node (and on Spark)."""
    node = result.node
    metadata = getattr(node, "test_metadata", None)
    if str(result.status) != "fail" or metadata is None or metadata.name != "send_invariants" or lake.on_spark():
        return None
    with warehouse_resource.connect(read_only=True) as con:
        rows = con.execute(f"select failing_test, failing_rows from ({node.compiled_code}) as folded").fetchall()
    return ", ".join(f"{name} ({count:,} row{'s' if count != 1 else ''})" for name, count in rows) if rows else None


def _first_dbt_error(run_results: dict[str, Any]) -> str:
    """One line naming the first failing dbt node and why, instead of dbt's whole log.

    "First" by unique id (models before seeds before tests, then by name), not in the order dbt's threads
    finished them: the same failure gives the same line every time."""
    command = run_results.get("args", {}).get("which", "build")
    failed = sorted((r for r in run_results.get("results", []) if r.get("status") in ("error", "fail")),
                    key=lambda r: str(r.get("unique_id", "")))
    if not failed:
        return f"dbt {command} failed (see the run's dbt log)"
    first = failed[0]
    node = first.get("unique_id", "?").split(".", 2)[-1]
    message = " ".join((first.get("message") or first.get("status") or "").split())[:300]
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"dbt {command} failed at {node}: {message}{more}"

@dbt_assets(manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR, selector=CORE_SELECTOR, name="dbt_core")
def dbt_core(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Staging, event aggregates and account profiles: everything the segmentation reads."""
    yield from _build(context, warehouse, full_refresh=_clock_went_backwards(warehouse, as_of_for(context)))

@dbt_assets(manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR, selector=JOURNEY_SELECTOR, name="dbt_journey")
def dbt_journey(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Tracks, the journey state machine, triggers and marts, after the segmentation decided."""
    yield from _build(context, warehouse, full_refresh=False)


@dg.op(name="dbt_daily_tests", out={}, description="Every dbt data test over the whole history (selectors.yml: daily_tests).")
def dbt_daily_tests(context: dg.OpExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator[Any]:
    events = _invoke(context, dbt, ["test", "--selector", DAILY_TESTS_SELECTOR], warehouse, as_of_for(context),
                     manifest=MANIFEST, dagster_dbt_translator=TRANSLATOR)
    results = [e for e in events if isinstance(e, dg.AssetCheckEvaluation | dg.AssetObservation)]
    context.log.info(f"dbt daily tests: {len(results)} results, all passed")
    yield from results
