"""The hourly job and its schedule: the clock of each run is the schedule tick."""

from __future__ import annotations

import dagster as dg

from dagster_project.assets.report import REPORT_KEY
from dagster_project.cycle import AS_OF_TAG

onboarding_hourly = dg.define_asset_job(
    name="onboarding_hourly",
    # The HTML report renders charts: it has its own daily job (assets/report.py), not the hourly path.
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(REPORT_KEY),
    description="One hourly cycle: load -> checks -> dbt build -> segment -> dbt journey -> sync -> summary.",
    # One process, one step at a time: DuckDB allows one writer per file.
    executor_def=dg.in_process_executor,
)


@dg.schedule(
    cron_schedule="0 * * * *",
    job=onboarding_hourly,
    execution_timezone="UTC",
    name="onboarding_hourly_schedule",
)
def onboarding_hourly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tick = context.scheduled_execution_time
    return dg.RunRequest(
        run_key=tick.isoformat(),
        tags={AS_OF_TAG: tick.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
