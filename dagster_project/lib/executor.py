"""One cycle at a time: the executor of every job that writes the warehouse.

Three ways: the job's executor holds the workspace lock (dagster_project/lib/lock.py) for the whole run, whoever
launched it (`onboarding run`, the schedule, the UI), and fails at once, before any step, when
another cycle holds it; the job's CYCLE_TAG lets the run queue of the shipped instance config
(.dagster.yaml, `concurrency.runs.tag_concurrency_limits`) start one such run at a time, so a tick
that comes while a cycle runs waits for it instead of colliding with it.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, _core_in_process_executor_creation
from dagster._core.events import DagsterEvent
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.base import Executor

from dagster_project.lib import collector, dbt, lock

# The run-queue limit of .dagster.yaml counts runs carrying this tag (any value).
CYCLE_TAG = "onboarding/cycle"
# The steps that run dbt in this process (dagster_project/defs/dbt/assets.py); the daily tests run it apart.
IN_PROCESS_DBT_STEPS = frozenset({"dbt_core", "dbt_journey"})


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
            # The run worker Dagster starts for a scheduled or launched cycle ends with it, as the CLI's
            # process does (a test running cycles in its own process collects less often too).
            collector.for_a_process_that_ends_with_its_work()
            if IN_PROCESS_DBT_STEPS.intersection(execution_plan.step_keys_to_execute):
                # dbt's first invocation in a process sets itself up for ~1.7 s: begin it now, beside
                # the steps before the first dbt step.
                dbt.warm_up()
            yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(name="in_process_workspace_locked", config_schema=IN_PROC_CONFIG)
def in_process_workspace_locked(init_context: dg.InitExecutorContext) -> Executor:
    """All steps in this process, one at a time (DuckDB allows one writer per file), one cycle at a time."""
    return WorkspaceLockedExecutor(_core_in_process_executor_creation(init_context.executor_config))
