"""The workspace lock on its own: who holds it, refusal without waiting, and a killed holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagster_project.lib import lock

HOLD = (
    "import sys, time\n"
    "from dagster_project.lib import lock\n"
    "with lock.hold('run-held-elsewhere', 'a test holder'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path))
    monkeypatch.delenv("ONBOARDING_WAREHOUSE", raising=False)
    return tmp_path


def _holder_process(home: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "ONBOARDING_HOME": str(home)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_workspace_is_refused_at_once_naming_the_holder(home: Path) -> None:
    proc = _holder_process(home)
    try:
        began = time.monotonic()
        with pytest.raises(lock.WorkspaceBusy) as refused, lock.hold("another-run", "test"):
            pytest.fail("entered a held workspace")
        assert time.monotonic() - began < 2
        message = str(refused.value)
        assert f"pid {proc.pid}" in message and "run run-held" in message and "(a test holder)" in message
        assert "since 20" in message and "\n" not in message
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_does_not_block_the_next_cycle(home: Path) -> None:
    proc = _holder_process(home)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock.read_holder() is not None  # the dead holder's name is still in the file ...
    with lock.hold("next-run", "test") as holder:  # ... yet the kernel released its lock
        assert holder.pid == os.getpid()
        assert lock.read_holder() == holder
        assert lock.held_here("next-run") and not lock.held_here("other")
    assert lock.read_holder() is None and not lock.held_here("next-run")


def test_the_same_run_may_take_it_twice_in_one_process_another_may_not(home: Path) -> None:
    with lock.hold("run-1", "cli") as outer:
        with lock.hold("run-1", "executor") as inner:
            assert inner == outer
        assert lock.held_here("run-1")  # the inner exit did not release the outer hold
        with pytest.raises(lock.WorkspaceBusy), lock.hold("run-2", "test"):
            pass
    with lock.hold("run-2", "test"):
        pass


@pytest.mark.parametrize("job_name", ["onboarding_hourly", "onboarding_daily_tests"])
def test_a_dagster_run_of_the_job_fails_before_its_first_step_while_the_workspace_is_held(
    home: Path, job_name: str
) -> None:
    """What a scheduled or UI-launched run does when `onboarding run` holds the workspace; the daily
    dbt tests open the same DuckDB file, so they wait for the cycle too."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run_iterator

    from dagster_project.definitions import defs
    from dagster_project.lib import config
    from dagster_project.lib.executor import CYCLE_TAG

    job = defs.resolve_job_def(job_name)
    assert CYCLE_TAG in job.tags  # the run queue's limit counts it with the hourly cycle
    reconstructable = ReconstructableRepository.for_module(
        "dagster_project.definitions", "defs", working_directory=str(config.project_root())
    ).get_reconstructable_job(job_name)
    proc = _holder_process(home)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            run = instance.create_run_for_job(job_def=job, tags=job.tags)
            events = list(execute_run_iterator(reconstructable, run, instance))
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    finally:
        proc.kill()
        proc.wait()
    assert not [e for e in events if e.is_step_start]
    said = " ".join(f"{e.message} {e.event_specific_data}" for e in events if e.is_run_failure or e.is_engine_event)
    assert "another cycle holds the workspace (pid" in said
    assert not (home / "logs").exists() and not (home / "warehouse.duckdb").exists()


@pytest.mark.parametrize("command", [["run", "--as-of", "2026-10-01T00:00:00Z"],
                                     ["replay", "--from", "2026-10-01", "--to", "2026-10-02"]])
def test_the_cli_refuses_a_held_workspace_in_one_line_and_code_75(home: Path, command: list[str]) -> None:
    proc = _holder_process(home)
    try:
        env = {**os.environ, "ONBOARDING_HOME": str(home)}
        env.pop("ONBOARDING_DEBUG", None)
        done = subprocess.run([str(Path(sys.executable).parent / "onboarding"), *command], env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 75 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"onboarding {command[0]}: another cycle holds the workspace (pid " \
        f"{proc.pid} on " in done.stderr
    assert sorted(p.name for p in home.iterdir()) == ["warehouse.duckdb.cycle.lock"]  # nothing else written
