"""The hourly steps run each model's send-protecting column tests as one send_invariants test
(dbt_project/macros/test_send_invariants.sql): it must fail exactly where the tests it folds fail,
and every send-protecting test must run each hour, alone or folded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from dagster_dbt.utils import select_unique_ids

from dagster_project.lib import config
from dagster_project.lib.dbt import CORE_SELECTOR, JOURNEY_SELECTOR, invoke_in_process
from dagster_project.lib.resources import WarehouseResource
from tests.cycle.conftest import CLOCKS, Workspace

FOLDED = {"not_null", "unique", "unique_combination", "accepted_values"}


def _manifest() -> dict:
    return json.loads((config.dbt_target_dir() / "manifest.json").read_text())


def _kind(node: dict) -> str | None:
    return (node.get("test_metadata") or {}).get("name")


def test_every_send_protecting_test_runs_each_hour_alone_or_folded():
    manifest = _manifest()
    hourly = set()
    for selector in (CORE_SELECTOR, JOURNEY_SELECTOR):
        hourly |= select_unique_ids(select="", exclude="", selector=selector, project=None, manifest_json=manifest)
    tests = {u: n for u, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    protecting = {u: n for u, n in tests.items() if "protects_sends" in n["tags"]}
    folded_on = {n["attached_node"] for u, n in protecting.items() if _kind(n) == "send_invariants" and u in hourly}
    for unique_id, node in protecting.items():
        if _kind(node) in FOLDED:
            assert unique_id not in hourly, f"{node['name']} runs hourly and is folded too"
            assert node["attached_node"] in folded_on, f"{node['name']}: no hourly send_invariants on its model"
        else:
            assert unique_id in hourly, f"{node['name']} protects sends and runs neither alone nor folded"
    # No other test runs hourly; the folding is what keeps the hourly tests few.
    assert {u for u in hourly if u in tests} <= set(protecting)
    assert len([u for u in hourly if u in tests]) * 3 < len(protecting)


def test_a_folded_test_fails_exactly_where_the_tests_it_folds_fail(workspace: Workspace, tmp_path: Path):
    """Break four send-protected invariants, one of each folded kind, on a copy of the built warehouse: the
    hourly tests fail on those models only, and name the same tests that fail when each runs alone."""
    from dagster_project.defs.dbt.assets import _build_failure, _folded_failures

    warehouse_file = tmp_path / "warehouse.duckdb"
    shutil.copy(workspace.root / "warehouse.duckdb", warehouse_file)
    with duckdb.connect(str(warehouse_file)) as con:
        con.execute("update marts.customer_onboarding_state set checkpoint_at = null "
                    "where account_id = (select min(account_id) from marts.customer_onboarding_state)")
        con.execute("insert into marts.csm_alerts select * from marts.csm_alerts limit 1")
        con.execute("update marts.onboarding_triggers set kind = 'surprise' "
                    "where trigger_id = (select min(trigger_id) from marts.onboarding_triggers)")
        con.execute("insert into intermediate.int_account_steps_evaluated "
                    "select * from intermediate.int_account_steps_evaluated limit 1")
    env = {"ONBOARDING_WAREHOUSE": str(warehouse_file), "ONBOARDING_AS_OF": CLOCKS[-1].isoformat()}

    hourly = invoke_in_process(["test", "--selector", JOURNEY_SELECTOR], tmp_path / "hourly", env)
    failed = {r.node.name: r for r in hourly.results if str(r.status) == "fail"}
    assert set(failed) == {"send_invariants_customer_onboarding_state_", "send_invariants_csm_alerts_",
                           "send_invariants_onboarding_triggers_", "send_invariants_int_account_steps_evaluated_"}
    assert all(str(r.status) == "pass" for r in hourly.results if r.node.name not in failed)
    resource = WarehouseResource(path=str(warehouse_file))
    named = {name.split(" (")[0] for r in failed.values()
             for name in _folded_failures(resource, r).split(", ")}

    alone = invoke_in_process(["test", "--select", "tag:protects_sends", "--exclude", "test_name:send_invariants"],
                              tmp_path / "alone", env)
    assert named == {r.node.name for r in alone.results if str(r.status) == "fail"}
    assert named >= {"not_null_customer_onboarding_state_checkpoint_at", "unique_csm_alerts_alert_id",
                     "unique_combination_int_account_steps_evaluated_account_id__step_key"}
    assert any(name.startswith("accepted_values_onboarding_triggers_kind") for name in named)

    line = _build_failure(resource, "build", hourly.results)
    assert line.startswith("dbt build failed at send_invariants_csm_alerts_.")
    assert line.endswith(": unique_csm_alerts_alert_id (1 row), unique_csm_alerts_alert_rank (1 row) (+3 more)")
    assert "\n" not in line
