"""How the cycle invokes dbt: from the prepared manifest, the clock outside the parse, the split and the
hourly tests declared in dbt, the whole-history tests in a daily job, the unit tests here (CI).

The start-up test loads the code location in a fresh interpreter under an audit hook: no subprocess,
no dbt file read but the manifest, no anthropic SDK.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from dagster_project.lib import config
from dagster_project.lib.dbt import dbt_env, dbt_executable, keep_parse_state, run_target
from tests.cycle.conftest import CLOCKS, Workspace, home

# `import dagster` runs `file -b python` itself (its vendored croniter asks platform.architecture()):
# loaded before the hook, so the probe sees what the code location adds.
_IMPORT_PROBE = """
import json, os, sys
import dagster
roots = [os.path.realpath(p) for p in sys.argv[1:]]
opened, spawned = set(), []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if any(path.startswith(root + os.sep) for root in roots):
            opened.add(path)
    elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
        spawned.append(str(args[0])[:200])
sys.addaudithook(hook)
import dagster_project.definitions
print(json.dumps({"opened": sorted(opened), "spawned": spawned, "anthropic": "anthropic" in sys.modules}))
"""


def _manifest() -> dict:
    return json.loads((config.dbt_target_dir() / "manifest.json").read_text())


def test_loading_the_code_location_reads_only_the_manifest_and_starts_nothing():
    roots = [str(config.dbt_project_dir()), str(config.dbt_target_dir())]
    out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, *roots], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["spawned"] == []
    assert probe["opened"] == [os.path.realpath(config.dbt_target_dir() / "manifest.json")]
    assert probe["anthropic"] is False


def test_a_missing_manifest_is_one_clear_error_not_a_parse(tmp_path: Path):
    env = dict(os.environ, ONBOARDING_DBT_TARGET=str(tmp_path / "no-target"))
    out = subprocess.run([sys.executable, "-c", "import dagster_project.definitions"], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode != 0
    assert "no dbt manifest at" in out.stderr and "python -m dagster_project.lib.dbt" in out.stderr
    assert not (tmp_path / "no-target").exists()


def _test_nodes(manifest: dict, unique_ids: set[str]) -> list[dict]:
    return [manifest["nodes"][u] for u in unique_ids if manifest["nodes"][u]["resource_type"] == "test"]


def test_the_split_and_the_hourly_tests_are_dbt_selectors():
    from dagster_project.defs.dbt.assets import dbt_core, dbt_journey

    manifest = _manifest()
    node_of = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] in ("model", "seed"):
            key = ["seeds", node["name"]] if node["resource_type"] == "seed" else [node["schema"], node["name"]]
            node_of[dg.AssetKey(key)] = unique_id
    # What reads the segmentation's decisions, per dbt's own graph.
    readers, stack = set(), ["source.onboarding.ops.account_segmentation"]
    while stack:
        for child in manifest["child_map"].get(stack.pop(), []):
            if child not in readers:
                readers.add(child)
                stack.append(child)
    core = {node_of[k] for k in dbt_core.keys}
    journey = {node_of[k] for k in dbt_journey.keys}
    models = {u for u, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}
    assert journey == readers & models
    assert core == models - readers
    assert "model.onboarding.int_accounts_profiled" in core and "model.onboarding.int_accounts_segmented" in journey

    checks = [spec for asset in (dbt_core, dbt_journey) for spec in asset.check_specs]
    by_name = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    assert checks, "the send-protecting tests are the hourly asset checks"
    for spec in checks:
        assert "protects_sends" in by_name[spec.name]["tags"], spec.name
    hourly = {spec.name for spec in checks}
    # The column tests of a model run folded into its send_invariants test (tests/cycle/test_send_invariants.py).
    assert "send_invariants_onboarding_triggers_" in hourly and "unique_onboarding_triggers_trigger_id" not in hourly
    assert "send_invariants_customer_onboarding_state_" in hourly
    # Whole-history tests stay off the hourly path: far fewer checks than tests.
    assert "source_unique_raw_segment_messages_message_id" not in hourly
    assert len(hourly) < len(by_name) / 2


def test_the_clock_reaches_dbt_without_a_reparse(tmp_path: Path):
    """Two compiles at two clocks: the second re-parses nothing and its SQL carries its own clock;
    the old way (the clock in --vars) re-parses the whole project."""
    warehouse_file = tmp_path / "w.duckdb"
    env = dbt_env(warehouse_file)

    def compile_at(name: str, clock: str, *extra: str) -> tuple[set[str], str]:
        target = run_target(f"test-{name}")
        out = subprocess.run(
            [dbt_executable(), "--log-format", "json", "--log-level", "debug", "compile", "--select",
             "stg_segment__messages", *extra, "--target-path", str(target),
             "--project-dir", str(config.dbt_project_dir()), "--profiles-dir", str(config.dbt_project_dir())],
            capture_output=True, text=True, timeout=600, env={**env, "ONBOARDING_AS_OF": clock},
        )
        assert out.returncode == 0, out.stdout[-3000:]
        events = {json.loads(line)["info"]["name"] for line in out.stdout.splitlines() if line.startswith("{")}
        sql = next((target / "compiled").rglob("stg_segment__messages.sql")).read_text()
        keep_parse_state(target)  # as the cycle does: the next invocation starts from this one's state
        shutil.rmtree(target)
        return events, sql

    compile_at("warm", "2026-10-01T05:00:00+00:00")  # the first compile on this warehouse may re-parse
    events, sql = compile_at("clock", "2026-10-02T06:00:00+00:00")
    assert "UnableToPartialParse" not in events and "PartialParsingEnabled" in events
    assert "cast('2026-10-02T06:00:00+00:00' as timestamptz)" in sql
    events, sql = compile_at("vars", "2026-10-02T06:00:00+00:00", "--vars", '{"as_of": "2026-10-03T07:00:00+00:00"}')
    assert "UnableToPartialParse" in events
    assert "cast('2026-10-03T07:00:00+00:00' as timestamptz)" in sql


_IN_PROCESS_PROBE = """
import json, os, sys
from pathlib import Path
import duckdb
from dagster_project.lib import config
from dagster_project.lib.dbt import PARSE_STATE, _database_of, _prepared_manifest, invoke_in_process
models = os.path.realpath(config.dbt_project_dir() / "models")
opened, spawned = set(), []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path.startswith(models + os.sep):
            opened.add(path)
    elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
        spawned.append(str(args[0])[:200])
sys.addaudithook(hook)
# dbt-common names each behavior flag's module with inspect.stack() (~0.9 s per invocation in a cycle's process).
import inspect
from dbt_common.behavior_flags import BehaviorFlagRendered
stacks, walk_stack, declared_by = [], inspect.stack, BehaviorFlagRendered.__dict__["_default_source"]
inspect.stack = lambda *a, **k: stacks.append(1) or walk_stack(*a, **k)
# The database the prepared state was parsed for (dbt-duckdb: the warehouse file's stem).
state = config.dbt_target_dir() / PARSE_STATE
database = _database_of(_prepared_manifest(state, state.stat().st_mtime)) or "warehouse"
target, warehouse = Path(sys.argv[1]), str(Path(sys.argv[2]) / f"{database}.duckdb")
results = []
for clock in ("2026-10-01T05:00:00+00:00", "2026-10-02T06:00:00+00:00"):
    result = invoke_in_process(["compile", "--select", "stg_segment__messages"], target,
                               {"ONBOARDING_WAREHOUSE": warehouse, "ONBOARDING_AS_OF": clock})
    results.append(result.results[0].node.compiled_code)
    duckdb.connect(warehouse).close()  # dbt let go of the file: this process may write it
fast = sorted(opened)
other = str(Path(warehouse).with_name(f"{database}_other.duckdb"))
result = invoke_in_process(["compile", "--select", "stg_segment__messages"], target,
                           {"ONBOARDING_WAREHOUSE": other, "ONBOARDING_AS_OF": "2026-10-03T07:00:00+00:00"})
walked = len(stacks)
# A flag declared in a module file (as an adapter's are) is said to come from that module, as dbt-common says.
(target / "flag_module.py").write_text(
    "from dbt_common.behavior_flags import BehaviorFlagRendered\\n"
    "def source():\\n"
    "    flag = {'name': 'probe_flag', 'default': False, 'description': 'declared here'}\\n"
    "    return BehaviorFlagRendered(flag, {})._behavior_change_event.flag_source\\n")
sys.path.insert(0, str(target))
import flag_module
sources = [flag_module.source()]
BehaviorFlagRendered._default_source = declared_by  # dbt-common's own
sources.append(flag_module.source())
print(json.dumps({"opened": fast, "spawned": spawned, "sql": results, "env": os.environ.get("ONBOARDING_AS_OF"),
                  "other": result.results[0].node.compiled_code, "walked": walked, "sources": sources}))
"""


def test_the_hourly_steps_run_dbt_in_process_without_parsing_and_let_go_of_the_warehouse(tmp_path: Path):
    """dbt from the prepared manifest in the cycle's own process: no subprocess, no model file read
    (no parse), no stack walk, each clock in its SQL, the environment restored and DuckDB's file free after
    each call."""
    out = subprocess.run([sys.executable, "-c", _IN_PROCESS_PROBE, str(tmp_path / "target"),
                          str(tmp_path)], capture_output=True, text=True, timeout=600,
                         env={k: v for k, v in os.environ.items() if k != "ONBOARDING_AS_OF"})
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    # No dbt process: only the stdlib's one `uname` probe (platform.platform(), for dbt's invocation info).
    assert set(probe["spawned"]) <= {"uname"} and probe["opened"] == []
    assert "cast('2026-10-01T05:00:00+00:00' as timestamptz)" in probe["sql"][0]
    assert "cast('2026-10-02T06:00:00+00:00' as timestamptz)" in probe["sql"][1]
    assert probe["env"] is None
    # No stack walk for dbt's behavior flags, and a flag is still said to come from the module declaring it.
    assert probe["walked"] == 0 and probe["sources"] == ["flag_module", "flag_module"]
    # A warehouse file named otherwise (ONBOARDING_WAREHOUSE) is a database of that name: parsed for it.
    assert '_other"."staging"."base_segment__messages"' in probe["other"] and "cast('2026-10-03T07:00:00+00:00' as timestamptz)" in probe["other"]


@pytest.fixture
def warehouse_copy(workspace: Workspace, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    root.mkdir()
    shutil.copy(workspace.root / "warehouse.duckdb", root / "warehouse.duckdb")
    return root


def test_unit_tests_pass(warehouse_copy: Path):
    """The dbt unit tests (off the hourly path) run here, in CI, against a built warehouse."""
    target = run_target("test-unit")
    out = subprocess.run(
        [dbt_executable(), "test", "--select", "test_type:unit", "--target-path", str(target),
         "--project-dir", str(config.dbt_project_dir()), "--profiles-dir", str(config.dbt_project_dir())],
        capture_output=True, text=True, timeout=900, env=dbt_env(warehouse_copy / "warehouse.duckdb"),
    )
    assert out.returncode == 0, out.stdout[-4000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert len(results) == len(_manifest()["unit_tests"]) > 0
    assert all(r["status"] == "pass" for r in results)


def test_daily_job_runs_the_whole_history_tests_and_names_a_failure(warehouse_copy: Path):
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("onboarding_daily_tests")
    assert defs.resolve_schedule_def("onboarding_daily_tests_schedule").cron_schedule == "40 5 * * *"
    with home(warehouse_copy):
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        assert result.success
        reported = [e for e in result.all_events if e.event_type_value in ("ASSET_CHECK_EVALUATION", "ASSET_OBSERVATION")]
        tests = [u for u, n in _manifest()["nodes"].items() if n["resource_type"] == "test"]
        assert len(reported) >= len(tests) > 100
        con = duckdb.connect(str(warehouse_copy / "warehouse.duckdb"))
        con.execute("insert into raw.segment_messages select * from raw.segment_messages limit 1")
        con.close()
        failed = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("dbt test failed at ") and "message_id" in description


def test_a_failing_hourly_dbt_step_names_its_node_in_one_line_and_frees_the_warehouse(tmp_path: Path):
    """The in-process step on a warehouse with no raw tables: the step fails naming the first failed dbt
    node, nothing downstream is reported built, and this process can write the file right after."""
    from dagster_project.defs.dbt.assets import dbt_core
    from dagster_project.lib.clock import AS_OF_TAG
    from dagster_project.lib.resources import WarehouseResource

    warehouse_file = tmp_path / "warehouse.duckdb"
    result = dg.materialize([dbt_core], resources={"warehouse": WarehouseResource(path=str(warehouse_file))},
                            instance=dg.DagsterInstance.ephemeral(), tags={AS_OF_TAG: "2026-10-01T00:00:00Z"},
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("dbt build failed at ") and "\n" not in description
    assert "segment_messages" in description
    assert not result.get_asset_materialization_events()
    duckdb.connect(str(warehouse_file)).close()


def test_the_failure_line_names_the_same_node_whatever_order_the_threads_finished_in():
    """dbt's two threads finish the failed nodes in any order: the line names the same one each time."""
    from dagster_project.defs.dbt.assets import _first_dbt_error

    results = [
        {"unique_id": "test.onboarding.not_null_x_id.abc", "status": "fail", "message": "Got 2 results"},
        {"unique_id": "model.onboarding.stg_ops__send_gate", "status": "error", "message": "no ops schema"},
        {"unique_id": "model.onboarding.base_segment__messages", "status": "error", "message": "no raw\nschema"},
        {"unique_id": "model.onboarding.int_fine", "status": "success", "message": "OK"},
    ]
    lines = {_first_dbt_error({"args": {"which": "build"}, "results": order})
             for order in (results, results[::-1], results[1:] + results[:1])}
    assert lines == {"dbt build failed at base_segment__messages: no raw schema (+2 more)"}


def test_an_hourly_build_reads_only_the_new_batch_of_the_landed_history(workspace: Workspace, tmp_path: Path):
    """The event-driven incremental models filter raw on their previous batch's bounds written into the
    SQL as constants (a filter the engine pushes into the scan of raw), never on a subquery of the model
    itself (which made every hourly build read the whole history); and with no new membership, the
    groupless tracks' history is not read for late attribution at all."""
    from dagster_project.lib.dbt import invoke_in_process

    shutil.copy(workspace.root / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    models = ("int_account_traits_latest", "int_users_identified", "int_account_events_aggregated",
              "int_contacts_unsubscribed")
    bounds = {}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        for model in models:
            bounds[model] = con.execute(f"select max(_batch_load_id), max(_batch_as_of) from intermediate.{model}").fetchone()
    with home(tmp_path):
        result = invoke_in_process(
            ["compile", "--select", " ".join(models)], tmp_path / "target",
            {"ONBOARDING_WAREHOUSE": str(tmp_path / "warehouse.duckdb"), "ONBOARDING_AS_OF": "2026-10-06T01:00:00Z"},
        )
    compiled = {r.node.name: " ".join(r.node.compiled_code.split()) for r in result.results
                if r.node.resource_type == "model"}
    assert set(compiled) == set(models)
    for model, (load_id, as_of) in bounds.items():
        sql = compiled[model]
        assert load_id and f"load_id > {load_id} or known_at > cast('{as_of:%Y-%m-%d %H:%M:%S}" in sql, model
        assert f'from "warehouse"."intermediate"."{model}"' not in sql.replace("left join", "join").split("merged as")[0], model
    for model in ("int_account_events_aggregated", "int_contacts_unsubscribed"):
        assert "and false" in compiled[model].split("tracks_late as")[1].split("memberships as m")[0], model

    # Two memberships new since the last batch (one back-dated): the late tracks' scan starts at the earlier
    # join, a constant bound on event_at, not at the beginning of the history.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("set TimeZone = 'UTC'")
        newest = max(load_id for load_id, _ in bounds.values())
        for user, joined in (("late-u1", "2026-10-05 22:30:00+00"), ("late-u2", "2026-10-02 07:15:00.25+00")):
            con.execute(
                "insert into intermediate.int_account_memberships by name select ? as user_id, 'late-a' as account_id, "
                "?::timestamptz as joined_at, ?::timestamptz as first_known_at, ? as first_load_id",
                [user, joined, joined, newest + 1],
            )
    with home(tmp_path):
        result = invoke_in_process(
            ["compile", "--select", "int_account_events_aggregated int_contacts_unsubscribed"], tmp_path / "target",
            {"ONBOARDING_WAREHOUSE": str(tmp_path / "warehouse.duckdb"), "ONBOARDING_AS_OF": "2026-10-06T01:00:00Z"},
        )
    late = {r.node.name: " ".join(r.node.compiled_code.split()).split("tracks_late as")[1].split("memberships as m")[0]
            for r in result.results if r.node.name in ("int_account_events_aggregated", "int_contacts_unsubscribed")}
    assert len(late) == 2
    for model, sql in late.items():
        assert "and false" not in sql, model
        assert "and tracks.event_at >= cast('2026-10-02 07:15:00.25+00' as timestamptz)" in sql, model


ACCOUNT_SCOPED = ("int_accounts_profiled", "int_accounts_enriched", "int_accounts_scored", "int_account_steps_evaluated",
                  "int_account_journeys_evaluated")
# Downstream of the journey state (macros/account_scope.sql, account_scoped_downstream): model -> schema.
DOWNSTREAM_SCOPED = {"int_accounts_content_personalised": "intermediate", "int_recovery_offers_chosen": "intermediate",
                     "int_onboarding_triggers_due": "intermediate", "customer_onboarding_state": "marts",
                     "crm_accounts": "marts", "customerio_people": "marts", "onboarding_plan_tasks": "marts",
                     "crm_plan_tasks": "marts", "health_monitor_handoff": "marts", "csm_alerts": "marts"}
SCOPED = {**dict.fromkeys(ACCOUNT_SCOPED, "intermediate"), **DOWNSTREAM_SCOPED}


def assert_only_sent_triggers_scope_the_alerts(warehouse_file: Path, compiled_alerts: str, since: str) -> None:
    """csm_alerts lists the triggers the Customer.io sync sent: a trigger it sends since the last build puts the
    account in the alerts' scope; its identify calls and its failures change no alert and put none there (after
    a go-live, the identify of every person put every account in scope). Checked on the scope the compiled model
    carries, with changelog rows added in a transaction that is rolled back."""
    marker = re.search(r"/\* account_scope(.*?)account_scope \*/", compiled_alerts, re.S)
    assert marker, "csm_alerts carries no account_scope marker"
    scope = json.loads(marker.group(1))["scope"]
    assert scope, "csm_alerts' scope at a later clock should be a query, not every account"
    with duckdb.connect(str(warehouse_file)) as con:
        con.execute("set TimeZone = 'UTC'")

        def accounts() -> set[str]:
            return {row[0] for row in con.execute(f"select distinct account_id from ({scope})").fetchall()}

        before = accounts()
        outside = [row[0] for row in con.execute(
            "select account_id from marts.customer_onboarding_state order by account_id").fetchall()
            if row[0] not in before][:3]
        assert len(outside) == 3, "the test needs accounts outside the scope"
        later = f"cast('{since}' as timestamptz) + interval 5 minute"
        row = ("insert into ops.sync_changelog (run_id, channel, item_id, account_id, operation, event_name, result, "
               f"recorded_at) values ('scope-test', 'customerio', ?, ?, ?, ?, ?, {later})")
        con.execute("begin")
        con.execute(row, [f"person:{outside[0]}", outside[0], "identify", None, "outbox"])
        con.execute(row, [f"event:{outside[1]}-x", outside[1], "event", "stalled", "failed"])
        assert accounts() == before, "an identify call or a failed send put an account in csm_alerts' scope"
        con.execute(row, [f"event:{outside[2]}-x", outside[2], "event", "stalled", "sent"])
        assert accounts() == before | {outside[2]}, "a sent trigger did not put its account in csm_alerts' scope"
        con.execute("rollback")


def assert_a_scope_too_large_rebuilds_every_account(dbt: Callable[..., Any], root: Path, clock: str, since: str) -> None:
    """More accounts in a model's scope than var('account_scope_max_accounts'): it rebuilds every account (a
    scoped query holds its accounts in memory, a full rebuild spills: at 1M accounts the hour after a go-live
    ran csm_alerts out of memory). The bound is checked by counting the scope, unless the cycle's step says the
    workspace has no more accounts than the bound (ONBOARDING_ACCOUNTS, the journey's rows)."""
    from dagster_project.defs.dbt import unchanged

    moved = ("int_account_steps_evaluated", "int_account_journeys_evaluated")  # the clock moved accounts by then
    stamped = f"_batch_as_of > cast('{since}' as timestamptz)"
    manifest = _manifest()
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        accounts = con.execute("select count(*) from intermediate.int_account_journeys_evaluated").fetchone()[0]
        env = unchanged.step_env(con, manifest, list(manifest["nodes"]))
    assert int(env[unchanged.ACCOUNTS_ENV]) == accounts > 20
    bound = ["--vars", json.dumps({"account_scope_max_accounts": 1})]
    for model in moved:
        # The default bound (500,000) is far above this workspace: the scope stays.
        kept = dbt(root, ["compile", "--select", model], clock)
        assert stamped in kept.results[0].node.compiled_code, model
        # A bound of one account, with the workspace's size unknown (outside a cycle): counted, too large.
        full = dbt(root, ["compile", "--select", model, *bound], clock)
        assert "_batch_as_of >" not in full.results[0].node.compiled_code, model
        # The same bound, with a step saying the workspace has one account: nothing is counted, the scope stays.
        trusted = dbt(root, ["compile", "--select", model, *bound], clock, **{unchanged.ACCOUNTS_ENV: "1"})
        assert stamped in trusted.results[0].node.compiled_code, model


def test_per_account_models_rebuild_only_changed_accounts_and_equal_a_full_rebuild(workspace: Workspace,
                                                                                 tmp_path: Path):
    """Per-account models rebuild, each hour, only the accounts whose events or traits a batch changed since
    their own last build (macros/account_scope.sql); the journey's steps and state also those whose track
    changed and those on which the clock reached a rule (a stall, a recovery window, win-back, retention).
    The shared workspace built them that way over its five cycles, days apart (every rule's boundary
    crossed): a full rebuild at the last clock gives the same rows; the next hour's build reads only the
    accounts stamped after the last one or due; a changed project rebuilds every account."""
    from dagster_project.lib.dbt import FINGERPRINT_ENV, invoke_in_process

    scoped, full = tmp_path / "scoped", tmp_path / "full"
    for root in (scoped, full):
        root.mkdir()
        shutil.copy(workspace.root / "warehouse.duckdb", root / "warehouse.duckdb")
    last = CLOCKS[-1].isoformat().replace("+00:00", "Z")

    def dbt(root: Path, args: list[str], clock: str, **extra: str):
        with home(root):
            return invoke_in_process(args, root / "target", {"ONBOARDING_WAREHOUSE": str(root / "warehouse.duckdb"),
                                                             "ONBOARDING_AS_OF": clock, **extra})

    with duckdb.connect(str(scoped / "warehouse.duckdb"), read_only=True) as con:
        states = dict(con.execute("select table_name, comment from duckdb_tables() "
                                  f"where table_name in {tuple(SCOPED)}").fetchall())
    assert {name: json.loads(comment)["as_of"] for name, comment in states.items()} == dict.fromkeys(SCOPED, last)

    def assert_same_as_a_full_rebuild(clock: str) -> None:
        built = dbt(full, ["run", "--full-refresh", "--select", "int_accounts_segmented", *SCOPED], clock)
        assert [str(r.status) for r in built.results] == ["success"] * (len(SCOPED) + 1)
        with duckdb.connect(str(scoped / "warehouse.duckdb")) as con:
            con.execute(f"attach '{full / 'warehouse.duckdb'}' as full_build (read_only)")
            for model, schema in SCOPED.items():
                rows = con.execute(f"select count(*) from {schema}.{model}").fetchone()[0]
                assert rows == con.execute(f"select count(*) from full_build.{schema}.{model}").fetchone()[0] > 20, model
                # _batch_as_of (the journey's stamp: the clock of the build that rewrote a row) is bookkeeping.
                stamp = con.execute("select count(*) from duckdb_columns() where database_name = 'warehouse' and "
                                    f"table_name = '{model}' and column_name = '_batch_as_of'").fetchone()[0]
                columns = "* exclude (_batch_as_of)" if stamp else "*"
                for a, b in (("warehouse", "full_build"), ("full_build", "warehouse")):
                    extra = con.execute(f"select count(*) from (select {columns} from {a}.{schema}.{model} "
                                        f"except all select {columns} from {b}.{schema}.{model})").fetchone()[0]
                    assert extra == 0, f"{model} at {clock}: {extra} rows of {a} not in {b}"

    # The syncs ran after the last cycle's dbt build: what they sent reaches the alerts (triggers_sent) at the
    # next build, which takes the sends since its last build (the same clock here: a re-run of the hour).
    assert [str(r.status) for r in dbt(scoped, ["run", "--select", "csm_alerts"], last).results] == ["success"]
    assert_same_as_a_full_rebuild(last)

    compiled = dbt(scoped, ["compile", "--select", *SCOPED], "2026-10-07T01:00:00Z")
    sql = {r.node.name: " ".join(r.node.compiled_code.split()) for r in compiled.results}
    for model in SCOPED:
        assert f"_batch_as_of > cast('{last}' as timestamptz)" in sql[model], model
    due = "reached_at + to_hours(wait_hours) <= least(coalesce(goal_at, cast('2026-10-07T01:00:00Z' as timestamptz))"
    assert due in sql["int_account_steps_evaluated"] and "built.track is distinct from" in sql["int_account_steps_evaluated"]
    journeys = sql["int_account_journeys_evaluated"]
    assert "steps.stalled_at is not null" in journeys and "recovery_attempts < least(" in journeys
    assert "win_back_at is null" in journeys and "lifecycle_stage = 'activated'" in journeys
    assert "built.step = 'day_90'" in sql["int_onboarding_triggers_due"]
    assert_only_sent_triggers_scope_the_alerts(scoped / "warehouse.duckdb", sql["csm_alerts"], last)
    changed = dbt(scoped, ["compile", "--select", *SCOPED], "2026-10-07T01:00:00Z",
                  **{FINGERPRINT_ENV: "another-project"})
    assert all("_batch_as_of >" not in r.node.compiled_code for r in changed.results)
    assert_a_scope_too_large_rebuilds_every_account(dbt, scoped, "2026-10-07T01:00:00Z", last)

    # Hours and days with no new event: only the clock's rules move accounts (stalls, recovery windows,
    # win-back, retention, the day-60/90 hand-offs), each found on the stored rows; the state must still be
    # a full rebuild's.
    for hours in (6, 30, 100, 300):
        clock = (CLOCKS[-1] + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
        result = dbt(scoped, ["run", "--select", "int_accounts_segmented", *SCOPED], clock)
        assert all(str(r.status) == "success" for r in result.results)
    assert_same_as_a_full_rebuild(clock)
    # 65 days later every account is past its day-90 hand-off (signups span 35 days).
    handoffs = "select count(*) from intermediate.int_onboarding_triggers_due where kind = 'handoff' and step = 'day_90'"
    with duckdb.connect(str(scoped / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(handoffs).fetchone()[0] == 0
    later = (CLOCKS[-1] + timedelta(days=65)).isoformat().replace("+00:00", "Z")
    assert all(str(r.status) == "success"
               for r in dbt(scoped, ["run", "--select", "int_accounts_segmented", *SCOPED], later).results)
    assert_same_as_a_full_rebuild(later)
    with duckdb.connect(str(scoped / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(handoffs).fetchone()[0] > 0
    with duckdb.connect(str(scoped / "warehouse.duckdb"), read_only=True) as con:
        stages = dict(con.execute("select lifecycle_stage, count(*) from intermediate.int_account_journeys_evaluated "
                                  "group by all").fetchall())
    before = dict(workspace.query("select lifecycle_stage, count(*) from intermediate.int_account_journeys_evaluated "
                                  "group by all"))
    assert stages != before, "the clock moved no account: the test exercised no rule"

    # A replayed hour (a clock before the last build's): every account is rebuilt at that clock.
    earlier = (CLOCKS[-1] + timedelta(hours=30)).isoformat().replace("+00:00", "Z")
    assert all(str(r.status) == "success"
               for r in dbt(scoped, ["run", "--select", "int_accounts_segmented", *SCOPED], earlier).results)
    assert_same_as_a_full_rebuild(earlier)


def test_preparing_again_takes_an_edit_of_the_selectors_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """dbt's partial parsing kept the previous parse's selectors: an edit of selectors.yml alone never reached
    the prepared manifest, so the cycle kept running the old split. Preparing parses in full."""
    from dagster_project.lib import dbt as dbt_lib

    project = tmp_path / "dbt_project"
    shutil.copytree(config.dbt_project_dir(), project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    monkeypatch.setattr(config, "dbt_project_dir", lambda: project)
    monkeypatch.setenv("ONBOARDING_DBT_TARGET", str(tmp_path / "target"))
    monkeypatch.setattr(dbt_lib, "project", dbt_lib.project.__wrapped__)  # not the session's, cached

    def description() -> str:
        manifest = json.loads(dbt_lib.prepare().read_text())
        return manifest["selectors"]["hourly_core"]["description"]

    assert description().startswith("The hourly step before the segmentation")
    selectors = project / "selectors.yml"
    selectors.write_text(selectors.read_text().replace(
        "description: The hourly step before the segmentation", "description: Edited. The hourly step before"))
    assert description().startswith("Edited.")
