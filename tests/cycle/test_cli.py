"""The command line: clear one-line errors and exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "onboarding"


def run(*args: str, env_home: Path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "ONBOARDING_HOME": str(env_home)}
    for name in ("ONBOARDING_DEBUG", "ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR"):
        env.pop(name, None)
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_bad_clock_is_one_line_on_stderr_and_a_non_zero_exit(tmp_path):
    result = run("run", "--as-of", "next tuesday", env_home=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "not an ISO-8601 time" in result.stderr and "Traceback" not in result.stderr


def test_replay_without_a_warehouse_says_so(tmp_path):
    result = run("replay", "--from", "2026-10-01", "--to", "2026-10-02", env_home=tmp_path)
    assert result.returncode == 1
    assert "no warehouse" in result.stderr and result.stderr.strip().count("\n") == 0


def test_generate_rejects_a_non_positive_size(tmp_path):
    result = run("generate", "--accounts", "0", "--days", "3", "--seed", "1", env_home=tmp_path)
    assert result.returncode == 1
    assert "--accounts" in result.stderr


def test_a_command_process_collects_rarely_and_skips_the_heap_at_exit(tmp_path):
    """A cycle's process keeps Dagster, dbt and the code location to its end: with Python's default
    collector it spent ~2 s of CPU rescanning them during the cycle and ~1.3 s more at exit."""
    import os

    code = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))  # runs after main's
from dagster_project.cli.main import main
from dagster_project.lib.collector import YOUNG_THRESHOLD
status = main(["run", "--as-of", "next tuesday"])
print("threshold:", gc.get_threshold()[0] == YOUNG_THRESHOLD > 700, "status:", status, flush=True)
"""
    env = {**os.environ, "ONBOARDING_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.stdout.splitlines() == ["threshold: True status: 1", "frozen at exit: True"], done.stderr[-2000:]


def test_a_run_worker_of_the_cycle_collects_rarely_too(tmp_path):
    """The schedule's runs execute in a worker process Dagster starts: the job's executor sets it up the same way."""
    import os

    (tmp_path / "one_job.py").write_text("""
import dagster as dg
from dagster_project.lib.executor import in_process_workspace_locked

@dg.asset
def one() -> int:
    return 1

job = dg.define_asset_job("one_job", executor_def=in_process_workspace_locked)
defs = dg.Definitions(assets=[one], jobs=[job])
""")
    code = """
import atexit, gc, sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster_project.lib.collector import YOUNG_THRESHOLD
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
before = gc.get_threshold()[0]
with dg.DagsterInstance.ephemeral() as instance:
    # As a run worker executes it: the job reconstructed from its code, through its own executor.
    job = ReconstructableRepository.for_file(sys.argv[1], "defs").get_reconstructable_job("one_job")
    result = dg.execute_job(job, instance=instance)
    assert result.success
print("threshold:", before, "->", gc.get_threshold()[0] == YOUNG_THRESHOLD, flush=True)
"""
    env = {**os.environ, "ONBOARDING_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "one_job.py")], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    assert done.stdout.splitlines() == ["threshold: 700 -> True", "frozen at exit: True"], done.stderr[-2000:]
