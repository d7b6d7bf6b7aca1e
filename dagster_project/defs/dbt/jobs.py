"""The whole-history dbt data tests: their own daily job, off the hourly path."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.dbt.assets import dbt_daily_tests
from dagster_project.lib.executor import CYCLE_TAG, in_process_workspace_locked


@dg.job(
    name="onboarding_daily_tests",
    description="The whole-history dbt data tests, once a day, off the hourly path.",
    # It opens the warehouse like a cycle does (DuckDB: one writer per file), so it queues behind a
    # running cycle (the CYCLE_TAG limit) and holds the workspace lock while it runs.
    executor_def=in_process_workspace_locked,
    tags={CYCLE_TAG: "daily_tests"},
)
def onboarding_daily_tests() -> None:
    dbt_daily_tests()


# Before the 06:30 report and away from the top of the hour, when the hourly cycle writes the warehouse.
onboarding_daily_tests_schedule = dg.ScheduleDefinition(
    name="onboarding_daily_tests_schedule",
    job=onboarding_daily_tests,
    cron_schedule="40 5 * * *",
    execution_timezone="UTC",
)
