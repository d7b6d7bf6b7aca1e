"""One hourly cycle: the clock every asset reads, and `onboarding run` executing the job in process."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project import config, warehouse

AS_OF_TAG = "onboarding/as_of"


def as_of_for(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> datetime:
    """The cycle's clock: the run's `onboarding/as_of` tag (schedule tick or --as-of), else the
    moment the run was created, so every asset of one run agrees on it."""
    tag = context.run.tags.get(AS_OF_TAG)
    if tag:
        return config.parse_as_of(tag)
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record else datetime.now(UTC)
    return created.astimezone(UTC).replace(microsecond=0)


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
        for name, detail in s.get("sends", {}).items():
            lines.append(f"  {name}: {detail}")
        for note in s.get("notes", []):
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run_cycle(as_of: datetime) -> CycleResult:
    """Run the `onboarding_hourly` job in this process for the given clock; raise on failure.

    dbt's and Dagster's step-by-step output goes to $ONBOARDING_HOME/logs/ (or to the terminal
    with ONBOARDING_DEBUG=1), so the command prints only its summary or one line of error.
    """
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("onboarding_hourly")
    log_dir = config.home() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"cycle-{as_of:%Y%m%dT%H%M%S}.log"
    with _instance() as instance, _captured(log_path):
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": _log_level()}}}},
            tags={AS_OF_TAG: config.iso(as_of)},
            raise_on_error=False,
        )
    if not result.success:
        raise RuntimeError(f"{_first_failure(result)} (log: {log_path})")
    return CycleResult(as_of=as_of, run_id=result.run_id, summary=read_summary(result.run_id))


@contextlib.contextmanager
def _captured(path: Path) -> Iterator[None]:
    if os.environ.get("ONBOARDING_DEBUG"):
        yield
        return
    with path.open("w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        yield


def _log_level() -> str:
    return "DEBUG" if os.environ.get("ONBOARDING_DEBUG") else "WARNING"


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                message = data.user_failure_data.description
            else:
                error = data.error
                while error.cause is not None:
                    error = error.cause
                message = (error.message or error.cls_name or "step failed").strip().splitlines()[0]
            return f"step {event.step_key} failed: {message}"
    return "the cycle failed (see the Dagster run log)"


def read_summary(run_id: str) -> dict[str, Any]:
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        row = con.execute("select summary from ops.run_log where run_id = ?", [run_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else {}
