"""The code location loads, and its asset graph is the one the README describes."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.lib.clock import AS_OF_TAG


def _key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


def test_graph_runs_landing_then_dbt_then_segmentation_then_journey_then_syncs():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for key in (
        _key("raw", "segment_messages"),
        _key("staging", "stg_segment__tracks"),
        _key("intermediate", "int_account_events_aggregated"),
        _key("intermediate", "int_accounts_profiled"),
        _key("intermediate", "int_accounts_segmented"),
        _key("intermediate", "int_account_journeys_evaluated"),
        _key("marts", "customer_onboarding_state"),
        _key("marts", "onboarding_triggers"),
        _key("marts", "activation_by_path"),
        _key("ops", "cycle_summary"),
    ):
        assert key in keys, key

    def upstream(key: dg.AssetKey) -> set[dg.AssetKey]:
        seen, stack = set(), [key]
        while stack:
            for parent in graph.get(stack.pop()).parent_keys:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    state = upstream(_key("marts", "customer_onboarding_state"))
    assert _key("raw", "segment_messages") in state
    assert _key("ops", "account_segmentation") in state
    assert _key("seeds", "sequence_steps") in state
    assert _key("ops", "account_segmentation") in upstream(_key("intermediate", "int_accounts_segmented"))
    assert _key("intermediate", "int_accounts_profiled") in upstream(_key("ops", "account_segmentation"))
    summary = upstream(_key("ops", "cycle_summary"))
    assert _key("marts", "onboarding_triggers") in summary


def test_groups_follow_the_dbt_layers():
    graph = defs.resolve_asset_graph()
    assert graph.get(_key("raw", "segment_messages")).group_name == "landing"
    assert graph.get(_key("staging", "stg_segment__tracks")).group_name == "staging"
    assert graph.get(_key("intermediate", "int_accounts_profiled")).group_name == "intermediate"
    assert graph.get(_key("marts", "customer_onboarding_state")).group_name == "marts"


def test_hourly_job_and_schedule_carry_the_tick_as_the_clock():
    job = defs.resolve_job_def("onboarding_hourly")
    assert job.name == "onboarding_hourly"
    schedule = defs.resolve_schedule_def("onboarding_hourly_schedule")
    assert schedule.cron_schedule == "0 * * * *"
    tick = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.tags[AS_OF_TAG] == "2026-11-02T13:00:00Z"


def test_the_hourly_job_plans_the_quality_and_sync_checks_but_not_the_dbt_tests():
    """dbt's tests run inside the hourly dbt steps (the send-protecting ones; a failure fails the step)
    and are reported as asset checks by the daily tests job: planning each as a check of every hourly run
    stored one event per test per hour and left the passing ones without a result."""
    from dagster_project.defs.dbt.assets import dbt_core, dbt_journey

    hourly = defs.resolve_job_def("onboarding_hourly").asset_layer.asset_graph.asset_check_keys
    dbt_tests = set(dbt_core.check_keys) | set(dbt_journey.check_keys)
    assert dbt_tests, "the dbt assets declare their tests as checks"
    assert not hourly & dbt_tests
    checked = {key.asset_key for key in hourly}
    assert _key("raw", "segment_messages") in checked  # the data-quality pass
    assert {_key("customerio_sync"), _key("hubspot_sync"), _key("slack_alerts")} <= checked
