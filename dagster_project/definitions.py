"""The code location: every domain's assets, checks, resources, jobs and schedules, assembled in one place.

Each domain lives in its own folder under defs/ (landing, quality, dbt, segmentation, customerio,
slack, hubspot, summary, reports); the building blocks they share (settings, the clock, the
warehouse, the workspace lock) live in lib/. The graph-wide policy is applied here, once: which
assets the hourly cycle runs, its executor (one cycle at a time) and its schedule.
"""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.defs.customerio.assets import CustomerIOResource, customerio_sync
from dagster_project.defs.dbt.assets import dbt_core, dbt_journey
from dagster_project.defs.dbt.jobs import onboarding_daily_tests, onboarding_daily_tests_schedule
from dagster_project.defs.hubspot.assets import HubSpotResource, hubspot_sync
from dagster_project.defs.landing.assets import landed_events
from dagster_project.defs.landing.resources import LandingResource
from dagster_project.defs.quality.assets import raw_segment_messages_quality
from dagster_project.defs.reports.assets import REPORT_KEY, activation_report
from dagster_project.defs.reports.jobs import onboarding_report, onboarding_report_schedule
from dagster_project.defs.segmentation.assets import (
    SEGMENTATION_ASSETS,
    SEGMENTATION_CHECKS,
    SEGMENTATION_RESOURCES,
)
from dagster_project.defs.slack.assets import SlackResource, slack_alerts
from dagster_project.defs.summary.assets import build_summary_asset
from dagster_project.lib import config
from dagster_project.lib.clock import AS_OF_TAG
from dagster_project.lib.dbt import dbt_executable
from dagster_project.lib.executor import CYCLE_TAG, in_process_workspace_locked
from dagster_project.lib.resources import WarehouseResource

# Assets that send things out: the cycle summary runs after them.
SYNC_ASSETS: list[dg.AssetsDefinition] = [customerio_sync, slack_alerts, hubspot_sync]

cycle_summary = build_summary_asset([key for a in SYNC_ASSETS for key in a.keys])

onboarding_hourly = dg.define_asset_job(
    name="onboarding_hourly",
    # The HTML report renders charts: it has its own daily job (defs/reports/assets.py), not the hourly path.
    # dbt's tests are asset checks of the dbt assets, reported by the daily tests job. The hourly steps
    # run only the send-protecting ones (selectors.yml), and a failure fails its step naming the test;
    # planning each of them as a check of every hourly run would store one event per test per hour
    # and leave the passing ones "planned" with no result in the UI.
    selection=(dg.AssetSelection.all() - dg.AssetSelection.assets(REPORT_KEY)
               - dg.AssetSelection.checks(*dbt_core.check_keys, *dbt_journey.check_keys)),
    description="One hourly cycle: load -> checks -> dbt build -> segment -> dbt journey -> sync -> summary.",
    executor_def=in_process_workspace_locked,
    tags={CYCLE_TAG: "hourly"},
)


@dg.schedule(
    cron_schedule="0 * * * *",
    job=onboarding_hourly,
    execution_timezone="UTC",
    name="onboarding_hourly_schedule",
)
def onboarding_hourly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The clock of each hourly run is its schedule tick."""
    tick = context.scheduled_execution_time
    return dg.RunRequest(
        run_key=tick.isoformat(),
        tags={AS_OF_TAG: tick.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


defs = dg.Definitions(
    assets=[landed_events, dbt_core, dbt_journey, *SEGMENTATION_ASSETS, *SYNC_ASSETS, cycle_summary,
            activation_report],
    asset_checks=[raw_segment_messages_quality, *SEGMENTATION_CHECKS],
    jobs=[onboarding_hourly, onboarding_report, onboarding_daily_tests],
    schedules=[onboarding_hourly_schedule, onboarding_report_schedule, onboarding_daily_tests_schedule],
    resources={
        "warehouse": WarehouseResource(),
        "customerio": CustomerIOResource(),
        "slack": SlackResource(),
        "hubspot": HubSpotResource(),
        "landing_dir": LandingResource(),
        # The venv's dbt, found beside this interpreter, so no PATH set-up is needed. A path, not the
        # DbtProject: loading the code location reads the prepared manifest and no other dbt file.
        "dbt": DbtCliResource(
            project_dir=str(config.dbt_project_dir()),
            profiles_dir=str(config.dbt_project_dir()),
            dbt_executable=dbt_executable(),
        ),
        **SEGMENTATION_RESOURCES,
    },
)
