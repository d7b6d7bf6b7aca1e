"""What a cycle is doing, step by step, on the terminal: a first cycle can take minutes.

`onboarding run` hands a StepProgress to run_cycle, which feeds it every Dagster event as it
happens. On a terminal (stderr is a TTY) a tqdm bar names the running step and each finished step
leaves one line; otherwise (cron, CI, a pipe) the same lines come plain, one per step, with no
control characters. Lines go to stderr, so stdout keeps only the summary; the refusal and error
messages stay one line each (nothing is printed before the first step starts).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.events import DagsterEvent
    from dagster._core.storage.dagster_run import DagsterRun


class Progress(Protocol):
    def start(self, run: DagsterRun, instance: dg.DagsterInstance) -> None: ...
    def event(self, event: DagsterEvent) -> None: ...
    def close(self) -> None: ...


# Counts a finished step quotes from its first materialization (landing: files, messages, ...).
MAX_QUOTED = 4


@dataclass
class _Step:
    key: str
    started: float
    assets: int = 0
    checks: int = 0
    checks_failed: int = 0
    quoted: dict[str, Any] = field(default_factory=dict)


class StepProgress:
    """One line per finished step (with its counts); a live bar as well when `stream` is a terminal."""

    def __init__(self, stream: TextIO | None = None, *, bar: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar_enabled = self.stream.isatty() if bar is None else bar
        self.total = 0
        self.done = 0
        self.steps: dict[str, _Step] = {}
        self._bar: Any = None

    def start(self, run: DagsterRun, instance: dg.DagsterInstance) -> None:
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        self.total = len(plan.step_keys_to_execute)
        if self.bar_enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, file=self.stream, unit="step", leave=False,
                             bar_format="{desc} {bar} {n_fmt}/{total_fmt} steps [{elapsed}]")

    def event(self, event: DagsterEvent) -> None:
        key = event.step_key
        if key is None:
            return
        if event.is_step_start:
            self.steps[key] = _Step(key, time.monotonic())
            if self._bar is not None:
                self._bar.set_description_str(f"running {key}")
            return
        step = self.steps.get(key)
        if step is None:
            return
        if event.is_step_materialization:
            step.assets += 1
            if step.assets == 1:
                step.quoted = _ints(event.step_materialization_data.materialization.metadata)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            step.checks += 1
            step.checks_failed += 0 if event.event_specific_data.passed else 1
        elif event.is_step_success or event.is_step_failure or event.is_step_skipped:
            outcome = "failed" if event.is_step_failure else "skipped" if event.is_step_skipped else None
            self._finish(step, outcome)

    def _finish(self, step: _Step, outcome: str | None) -> None:
        self.done += 1
        line = format_step(step, self.done, self.total, outcome)
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
            self._bar.update(1)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def format_step(step: _Step, index: int, total: int, outcome: str | None = None) -> str:
    parts = []
    if step.assets:
        quoted = ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in step.quoted.items())
        parts.append(f"{step.assets} asset{'s' if step.assets != 1 else ''}" + (f" ({quoted})" if quoted else ""))
    if step.checks:
        parts.append(f"{step.checks} check{'s' if step.checks != 1 else ''}"
                     + (f" ({step.checks_failed} failed)" if step.checks_failed else ""))
    seconds = time.monotonic() - step.started
    what = ", ".join(parts) or "done"
    return f"[{index}/{total}] {step.key}: {outcome + ', ' if outcome else ''}{what} in {seconds:.1f}s"


def _ints(metadata: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if name.startswith("dagster/") or isinstance(value, bool) or not isinstance(value, int):
            continue
        out[name] = value
        if len(out) == MAX_QUOTED:
            break
    return out
