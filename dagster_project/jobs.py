"""The hourly job and its schedule: the clock of each run is the schedule tick.

One cycle at a time, three ways: the job's executor holds the workspace lock (dagster_project/lock.py)
for the whole run, whoever launched it (`onboarding run`, the schedule, the UI), and fails at once,
before any step, when another cycle holds it; the job's CYCLE_TAG lets the run queue of the shipped
instance config (.dagster.yaml, `concurrency.runs.tag_concurrency_limits`) start one such run at a time,
so a tick that comes while a cycle runs waits for it instead of colliding with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, _core_in_process_executor_creation
from dagster._core.events import DagsterEvent
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.base import Executor

from dagster_project import lock
from dagster_project.assets.dbt import dbt_daily_tests
from dagster_project.assets.report import REPORT_KEY
from dagster_project.cycle import AS_OF_TAG

# The run-queue limit of .dagster.yaml counts runs carrying this tag (any value).
CYCLE_TAG = "onboarding/cycle"


class WorkspaceLockedExecutor(Executor):
    """Dagster's in-process executor, inside the workspace lock."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        run = plan_context.dagster_run
        with lock.hold(run.run_id, f"dagster run of {run.job_name}"):
            yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(name="in_process_workspace_locked", config_schema=IN_PROC_CONFIG)
def in_process_workspace_locked(init_context: dg.InitExecutorContext) -> Executor:
    """All steps in this process, one at a time (DuckDB allows one writer per file), one cycle at a time."""
    return WorkspaceLockedExecutor(_core_in_process_executor_creation(init_context.executor_config))


onboarding_hourly = dg.define_asset_job(
    name="onboarding_hourly",
    # The HTML report renders charts: it has its own daily job (assets/report.py), not the hourly path.
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(REPORT_KEY),
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
    tick = context.scheduled_execution_time
    return dg.RunRequest(
        run_key=tick.isoformat(),
        tags={AS_OF_TAG: tick.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


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
