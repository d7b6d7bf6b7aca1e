"""The code location: every asset, check, resource, job and schedule, assembled in one place."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project import config
from dagster_project.assets.customerio import CustomerIOResource, customerio_sync
from dagster_project.assets.dbt import dbt_core, dbt_journey
from dagster_project.assets.hubspot import HubSpotResource, hubspot_sync
from dagster_project.assets.landing import landed_events
from dagster_project.assets.quality import raw_segment_messages_quality
from dagster_project.assets.report import activation_report, onboarding_report, onboarding_report_schedule
from dagster_project.assets.segmentation import (
    SEGMENTATION_ASSETS,
    SEGMENTATION_CHECKS,
    SEGMENTATION_RESOURCES,
)
from dagster_project.assets.slack import SlackResource, slack_alerts
from dagster_project.assets.summary import build_summary_asset
from dagster_project.dbt import dbt_executable
from dagster_project.jobs import (
    onboarding_daily_tests,
    onboarding_daily_tests_schedule,
    onboarding_hourly,
    onboarding_hourly_schedule,
)
from dagster_project.resources import LandingResource, WarehouseResource

# Assets that send things out: the cycle summary runs after them.
SYNC_ASSETS: list[dg.AssetsDefinition] = [customerio_sync, slack_alerts, hubspot_sync]

cycle_summary = build_summary_asset([key for a in SYNC_ASSETS for key in a.keys])

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
