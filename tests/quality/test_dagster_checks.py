"""The checks as Dagster runs them: on raw/segment_messages after the real landing asset, with the
gate written before anything downstream starts, and a blocking failure that does not stop the run."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.landing.assets import landed_events
from dagster_project.defs.landing.resources import LandingResource
from dagster_project.defs.quality.assets import GATE_CHECK, raw_segment_messages_quality
from dagster_project.defs.quality.run import check_names
from dagster_project.lib import warehouse
from dagster_project.lib.clock import AS_OF_TAG
from dagster_project.lib.resources import WarehouseResource
from tests.quality import dq_events as ev


def test_checks_run_on_the_landed_batch_and_gate_before_downstream(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    messages = ev.day_messages(0, per_day=20)
    broken = ev.plant(messages, "signup_completed", 4, lambda m: m["properties"].pop("plan_tier"))
    ev.write_jsonl(tmp_path / "landing" / "day0.jsonl", messages)
    db = tmp_path / "warehouse.duckdb"

    @dg.asset(deps=[dg.AssetKey(["raw", "segment_messages"])])
    def reads_the_gate():
        with warehouse.connect(db) as con:
            gated = sorted(r[0] for r in con.execute("select account_id from ops.send_gate").fetchall())
        return dg.MaterializeResult(metadata={"gated": gated})

    result = dg.materialize(
        [landed_events, raw_segment_messages_quality, reads_the_gate],
        resources={"warehouse": WarehouseResource(path=str(db)), "landing_dir": LandingResource(path=str(tmp_path / "landing"))},
        tags={AS_OF_TAG: "2026-10-02T00:00:00Z"},
        raise_on_error=False,
    )
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {GATE_CHECK, *check_names()}
    signup = evaluations["tracking_plan_signup_completed"]
    assert not signup.passed and signup.severity == dg.AssetCheckSeverity.ERROR
    failing = signup.metadata["failing_expectations"].value
    assert failing[0]["column"] == "plan_tier" and failing[0]["unexpected_count"] == 4
    assert len(failing[0]["sample_message_ids"]) == 4
    assert evaluations["tracking_plan_identify"].passed
    gate = evaluations[GATE_CHECK]
    assert gate.metadata["gated_accounts"].value == 4
    assert {"gx_startup_seconds", "validate_seconds", "total_seconds"} <= set(gate.metadata["timings_seconds"].value)
    # The downstream asset saw the gate already written: the blocking check ran first.
    downstream = result.asset_materializations_for_node("reads_the_gate")[0]
    assert downstream.metadata["gated"].value == sorted(broken)
    assert (tmp_path / "reports" / "data_quality.html").exists()
