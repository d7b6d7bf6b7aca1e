"""The report's own daily job and schedule: rendering charts stays off the hourly path."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.reports.assets import REPORT_KEY

onboarding_report = dg.define_asset_job(
    name="onboarding_report",
    selection=dg.AssetSelection.assets(REPORT_KEY),
    description="Render the activation-by-path report from the marts of the last cycle.",
    executor_def=dg.in_process_executor,
)

onboarding_report_schedule = dg.ScheduleDefinition(
    name="onboarding_report_schedule",
    job=onboarding_report,
    cron_schedule="30 6 * * *",
    execution_timezone="UTC",
)
