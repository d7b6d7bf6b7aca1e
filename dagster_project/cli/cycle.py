"""`onboarding run`: one hourly cycle, the `onboarding_hourly` job executed in this process.

The runner loads the code location by its module name (as Dagster itself reloads it), so it
imports no definition and the definitions import nothing of it: no cycle.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from dagster_project.lib import config, lock, warehouse
from dagster_project.lib.clock import AS_OF_TAG

if TYPE_CHECKING:
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.events import DagsterEvent
    from dagster._utils.error import SerializableErrorInfo

    from dagster_project.cli.progress import Progress

@dataclass
class CycleResult:
    as_of: datetime
    run_id: str
    summary: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"cycle as of {config.iso(self.as_of)} (run {self.run_id[:8]})"]
        s = self.summary
        if not s:
            return lines[0]
        landing = s.get("landing", {})
        lines.append(
            f"  landing: {landing.get('files', 0)} new files, {landing.get('messages', 0)} messages, "
            f"{landing.get('duplicates', 0)} duplicates, {landing.get('quarantined', 0)} quarantined, "
            f"{landing.get('unattributed', 0)} unattributed"
        )
        accounts = s.get("accounts", 0)
        lines.append(f"  accounts: {accounts}")
        for label, key in (("track", "by_track"), ("lifecycle stage", "by_stage")):
            parts = ", ".join(f"{k} {v}" for k, v in s.get(key, {}).items())
            lines.append(f"  by {label}: {parts or '-'}")
        rate = s.get("activation_rate_14d")
        lines.append(
            "  activation within 14 days: "
            + (f"{rate:.1%} of {s.get('eligible_14d', 0)} accounts past day 14" if rate is not None else "n/a")
        )
        triggers = s.get("triggers_emitted", {})
        lines.append(
            f"  triggers emitted this cycle: {sum(triggers.values())}"
            + (" (" + ", ".join(f"{k} {v}" for k, v in triggers.items()) + ")" if triggers else "")
        )
        decisions = s.get("decisions") or {}
        if decisions:
            reasons = decisions.get("by_reason", {})
            lines.append(
                "  decisions this cycle: "
                + ("adopted the history (go-live or after a gap), " if decisions.get("adopted_history") else "")
                + f"sent {decisions.get('sent', 0)} ({decisions.get('sent_nudges', 0)} nudges, at most one per "
                f"account), backfilled {reasons.get('backfilled', 0)}, superseded {reasons.get('superseded', 0)}, "
                f"paced {reasons.get('paced', 0)}, gated {reasons.get('gated', 0)}, holdout {reasons.get('holdout', 0)}"
            )
        for name, detail in s.get("sends", {}).items():
            lines.append(f"  {name}: {detail}")
        for note in s.get("notes", []):
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


JOB_NAME = "onboarding_hourly"


def run_cycle(as_of: datetime, *, run_id: str | None = None, progress: Progress | None = None) -> CycleResult:
    """Run the `onboarding_hourly` job in this process for the given clock; raise on failure.

    In order: the workspace lock (a second cycle is refused here, before it writes anything, even
    its log file; the CLI takes it earlier for the same run id), this run's own log file, the
    Dagster run (created with the code location's origin, so the UI lists it on the job's page as
    if launched there), its steps one by one (reported to `progress`), then the summary the last
    asset wrote. dbt's and Dagster's step output goes to that log (to the terminal with
    ONBOARDING_DEBUG=1). The job's executor takes the same lock, re-entrantly for this run id.
    """
    from dagster._core.utils import make_new_run_id

    run_id = run_id or make_new_run_id()
    with lock.hold(run_id, f"onboarding run --as-of {config.iso(as_of)}"):
        # A checkout whose dbt files changed since the manifest was prepared parses them again here,
        # before the code location loads the manifest (a stat of the dbt files when nothing changed).
        from dagster_project.lib.dbt import prepare_if_stale

        prepare_if_stale()
        log_dir = config.home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"cycle-{as_of:%Y%m%dT%H%M%S}-{run_id[:8]}.log"
        with _instance() as instance, _captured(log_path):
            run = _create_run(instance, run_id, as_of)
            events = _execute(instance, run, progress)
            status = instance.get_run_by_id(run_id).status
        if status != DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"{_first_failure(events)} (log: {log_path})")
        return CycleResult(as_of=as_of, run_id=run_id, summary=read_summary(run_id))


def _create_run(instance: dg.DagsterInstance, run_id: str, as_of: datetime) -> DagsterRun:
    """The run as the UI would create it: the job's snapshot plus the origin of workspace.yaml's code
    location (its `.dagster/repository` tag is what the job's page filters on), and the Python origin
    that lets the UI re-execute it."""
    reconstructable = _reconstructable_job()
    job = reconstructable.get_definition()
    repository = reconstructable.repository.get_definition()
    return instance.create_run_for_job(
        job_def=job,
        run_id=run_id,
        run_config={"loggers": {"console": {"config": {"log_level": _log_level()}}}},
        tags={**job.tags, AS_OF_TAG: config.iso(as_of)},
        remote_job_origin=_remote_job_origin(repository.name),
        job_code_origin=reconstructable.get_python_origin(),
    )


def _remote_job_origin(repository_name: str) -> RemoteJobOrigin:
    """The job's origin in the code location that `dagster dev` loads from workspace.yaml (its name is
    read from that file, so the two never disagree); building it starts no server."""
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    origins = location_origins_from_yaml_paths([str(config.project_root() / "workspace.yaml")])
    repository = RemoteRepositoryOrigin(code_location_origin=origins[0], repository_name=repository_name)
    return repository.get_job_origin(JOB_NAME)


def _reconstructable_job() -> ReconstructableJob:
    """The job as Dagster reloads it from its module (the same `defs` object once imported)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repository = ReconstructableRepository.for_module(
        "dagster_project.definitions", "defs", working_directory=str(config.project_root())
    )
    return repository.get_reconstructable_job(JOB_NAME)


def _execute(instance: dg.DagsterInstance, run: DagsterRun, progress: Progress | None) -> list[DagsterEvent]:
    """Execute the created run here, step after step, handing each event to `progress` as it happens."""
    from dagster._core.execution.api import execute_run_iterator

    events: list[DagsterEvent] = []
    if progress is not None:
        progress.start(run, instance)
    try:
        for event in execute_run_iterator(_reconstructable_job(), run, instance):
            events.append(event)
            if progress is not None:
                progress.event(event)
    finally:
        if progress is not None:
            progress.close()
    return events


@contextlib.contextmanager
def _captured(path: Path) -> Iterator[None]:
    if config.DEBUG.is_set():
        yield
        return
    with path.open("w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        yield


def _log_level() -> str:
    return "DEBUG" if config.DEBUG.is_set() else "WARNING"


def _first_failure(events: list[DagsterEvent]) -> str:
    for event in events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                message = data.user_failure_data.description
            else:
                message = _root_message(data.error)
            return f"step {event.step_key} failed: {message}"
    for event in events:
        if event.is_run_failure:
            data = event.event_specific_data
            error = getattr(data, "error", None)
            return f"the cycle failed: {_root_message(error) if error else event.message or 'run failed'}"
    return "the cycle failed (see the Dagster run log)"


def _root_message(error: SerializableErrorInfo) -> str:
    while error.cause is not None:
        error = error.cause
    return (error.message or error.cls_name or "step failed").strip().splitlines()[0]


def read_summary(run_id: str) -> dict[str, Any]:
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        row = con.execute("select summary from ops.run_log where run_id = ?", [run_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else {}
