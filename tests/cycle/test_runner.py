"""The runner: one cycle at a time, a log per run, progress on the terminal, CLI runs on the job's UI page.

One small generated workspace with a persistent DAGSTER_HOME (the shipped .dagster.yaml), driven only
through the `onboarding` command: a first cycle, a second one refused while the first runs, the same
clock again (under a pseudo-terminal), then `dagster-webserver` on that DAGSTER_HOME, asked through its
GraphQL API and photographed by headless chromium.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import requests

from dagster_project.lib import config, lock
from tests.analytics.browser import ensure_chromium, screenshot

BIN = Path(sys.executable).parent
ROOT = config.project_root()
START = datetime(2026, 10, 1, tzinfo=UTC)
AS_OF = "2026-10-05T00:00:00Z"
JOB_PATH = "/locations/onboarding/jobs/onboarding_hourly"


@dataclass
class Runner:
    root: Path
    dagster_home: Path
    env: dict[str, str]
    results: dict[str, object] = field(default_factory=dict)

    def onboarding(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "onboarding"), *args], env=self.env, text=True, **kwargs)

    def logs(self) -> list[str]:
        folder = self.root / "logs"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def query(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    from dagster_project.synthetic.generate import generate

    root = tmp_path_factory.mktemp("runner")
    dagster_home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / ".dagster.yaml", dagster_home / "dagster.yaml")  # what `make install` does
    generate(accounts=20, days=4, seed=5, out=str(root / "landing"), start=START.isoformat(), progress=None)
    env = {**os.environ, "ONBOARDING_HOME": str(root), "DAGSTER_HOME": str(dagster_home)}
    for name in ("ONBOARDING_DEBUG", "ONBOARDING_WAREHOUSE", "ONBOARDING_LANDING_DIR", "ONBOARDING_PROGRESS"):
        env.pop(name, None)
    return Runner(root=root, dagster_home=dagster_home, env=env)


def _holder_of(root: Path, timeout: float) -> lock.Holder | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lock.read_holder(root / "warehouse.duckdb.cycle.lock")
        if holder is not None:
            return holder
        time.sleep(0.2)
    return None


def test_a_second_cycle_is_refused_in_one_line_at_once_while_the_first_completes(runner: Runner) -> None:
    first = runner.onboarding("run", "--as-of", AS_OF, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        holder = _holder_of(runner.root, timeout=120)
        assert holder is not None and holder.pid == first.pid, "the first cycle never took the workspace lock"
        assert first.poll() is None
        began = time.monotonic()
        second = subprocess.run([str(BIN / "onboarding"), "run", "--as-of", AS_OF], env=runner.env,
                                capture_output=True, text=True, timeout=120)
        refused_in = time.monotonic() - began
        still_running = first.poll() is None
    finally:
        out, err = first.communicate(timeout=1800)
    assert still_running, "the first cycle ended before the second was refused: the test proved nothing"
    assert second.returncode == 75 and second.stdout == ""
    line = second.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "another cycle holds the workspace" in line
    assert f"pid {first.pid}" in line and f"run {holder.run_id[:8]}" in line and f"since {holder.since}" in line
    assert refused_in < 15, f"refused after {refused_in:.1f}s"
    assert all(holder.run_id[:8] in name for name in runner.logs())  # the refused cycle wrote no log file

    assert first.returncode == 0, err[-2000:]
    assert out.startswith(f"cycle as of {AS_OF} (run {holder.run_id[:8]})")
    steps = [s for s in err.splitlines() if s.startswith("[")]
    total = int(steps[0].split("/")[1].split("]")[0])
    assert len(steps) == total >= 8 and steps[-1].startswith(f"[{total}/{total}] ops__cycle_summary")
    assert any(s.split("] ")[1].startswith("landed_events: 3 assets (new files ") for s in steps)
    assert "\r" not in err  # not a terminal: plain lines, no bar

    [(run_id, started, finished, as_of)] = runner.query("select run_id, started_at, finished_at, as_of from ops.run_log")
    assert run_id == holder.run_id and as_of == datetime(2026, 10, 5, tzinfo=UTC)
    since = datetime.fromisoformat(holder.since.replace("Z", "+00:00"))
    assert since <= started < finished and finished - started > timedelta(seconds=2)
    assert runner.logs() == [f"cycle-20261005T000000-{run_id[:8]}.log"]
    assert lock.read_holder(runner.root / "warehouse.duckdb.cycle.lock") is None  # released, holder cleared
    runner.results["first_run"] = run_id


def _run_in_a_terminal(runner: Runner, *args: str, timeout: float = 1800) -> tuple[int, str]:
    """`onboarding` with its stderr on a pseudo-terminal (a TTY): what a person at a shell sees."""
    master, slave = pty.openpty()
    proc = runner.onboarding(*args, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.stdout.read()
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_the_same_clock_again_has_its_own_log_a_live_bar_and_sends_nothing_twice(runner: Runner) -> None:
    first_run = runner.results.get("first_run")
    assert first_run, "needs the first cycle of the test above"
    outbox = runner.root / "outbox" / "customerio.jsonl"
    sent_before = outbox.read_text().splitlines()
    code, terminal = _run_in_a_terminal(runner, "run", "--as-of", AS_OF)
    assert code == 0, terminal[-2000:]
    assert "\r" in terminal and "steps [" in terminal  # tqdm's bar, redrawn in place
    assert "ops__cycle_summary" in terminal
    runs = runner.query("select run_id from ops.run_log order by started_at")
    assert [r[0] for r in runs][0] == first_run and len(runs) == 2
    assert runner.logs() == sorted(f"cycle-20261005T000000-{r[0][:8]}.log" for r in runs)
    sent_after = outbox.read_text().splitlines()
    assert sent_after == sent_before  # the same clock again sends nothing
    events = Counter(json.loads(line)["item_id"] for line in sent_after if '"item_id":"event:' in line)
    assert events and max(events.values()) == 1
    runner.results["runs"] = [r[0] for r in runs]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def webserver(runner: Runner):
    port = _free_port()
    log = (runner.dagster_home / "webserver.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=runner.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                data = _graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                                      "locationOrLoadError { __typename } } } } }")
                entries = data["workspaceOrError"]["locationEntries"]
                status = [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries
                          if e["locationOrLoadError"]]
                if status and status[0][1] == "LOADED":
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert status == [("onboarding", "LOADED", "RepositoryLocation")], (status, (runner.dagster_home /
                                                                                  "webserver.log").read_text()[-2000:])
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_the_cli_runs_are_on_the_jobs_page(runner: Runner, webserver: int, tmp_path: Path) -> None:
    runs = runner.results.get("runs")
    assert runs, "needs the two cycles of the tests above"
    data = _graphql(webserver, """{
      pipelineOrError(params: {pipelineName: "onboarding_hourly", repositoryName: "__repository__",
                               repositoryLocationName: "onboarding"}) {
        __typename ... on Pipeline { runs(limit: 10) { runId status tags { key value } } }
      }
      shouldShowNux
    }""")
    job_runs = data["pipelineOrError"]["runs"]
    assert sorted(r["runId"] for r in job_runs) == sorted(runs)  # the job's own run list (what its page shows)
    assert {r["status"] for r in job_runs} == {"SUCCESS"}
    tags = {t["key"]: t["value"] for t in job_runs[0]["tags"]}
    assert tags["onboarding/cycle"] == "hourly" and tags["onboarding/as_of"] == AS_OF
    assert data["shouldShowNux"] is False  # no "Join the Dagster community" dialog

    browser = ensure_chromium()
    shot = screenshot(browser, f"http://127.0.0.1:{webserver}{JOB_PATH}/runs", tmp_path / "profile",
                      tmp_path / "job_runs.png", width=1400, height=900, wait_ms=20000)
    kept = Path(os.environ.get("ONBOARDING_TEST_ARTIFACTS", runner.dagster_home)) / "job_runs.png"
    shutil.copy(shot, kept)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_no_check_is_older_than_the_materialization_it_checks(runner: Runner,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """In each CLI run, every asset check's evaluation comes at or after its asset's materialization."""
    import dagster as dg
    from dagster._core.events import DagsterEventType

    runs = runner.results.get("runs")
    assert runs
    monkeypatch.setenv("DAGSTER_HOME", str(runner.dagster_home))  # the shipped config's event log reads it
    with dg.DagsterInstance.from_config(str(runner.dagster_home)) as instance:
        for run_id in runs:
            materialized: dict[dg.AssetKey, float] = {}
            checks: list[tuple[dg.AssetKey, float, object]] = []
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                if event is not None and event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                    materialized[event.asset_key] = entry.timestamp
                elif event is not None and event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                    data = event.event_specific_data
                    checks.append((data.asset_key, entry.timestamp, data.target_materialization_data))
            assert len(checks) > 20 and materialized
            for key, at, target in checks:
                assert key not in materialized or at >= materialized[key], key
                assert target is None or target.timestamp <= at, key


def test_each_dbt_step_names_its_slowest_nodes_and_each_rebuilt_model_its_seconds(
        runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where an hour's dbt time goes, read from the run itself: the step's line ranks its five slowest
    nodes, and each model it rebuilt carries its own seconds (the UI plots them across runs)."""
    import dagster as dg
    from dagster._core.events import DagsterEventType

    runs = runner.results.get("runs")
    assert runs
    monkeypatch.setenv("DAGSTER_HOME", str(runner.dagster_home))
    with dg.DagsterInstance.from_config(str(runner.dagster_home)) as instance:
        entries = instance.all_logs(runs[0])
    lines = {e.step_key: e.user_message for e in entries if "; slowest: " in (e.user_message or "")}
    assert set(lines) == {"dbt_core", "dbt_journey"}
    for line in lines.values():
        ranked = [re.fullmatch(r"(\w+) (\d+\.\d\d) s", part) for part in line.split("; slowest: ")[1].split(", ")]
        assert len(ranked) == 5 and all(ranked), line
        seconds = [float(m.group(2)) for m in ranked if m]
        assert seconds == sorted(seconds, reverse=True), line
    timed: dict[str, float] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None or event.event_type != DagsterEventType.ASSET_MATERIALIZATION:
            continue
        metadata = event.event_specific_data.materialization.metadata
        if "rebuilt" in metadata:
            assert "dbt_seconds" not in metadata
        elif "dbt_seconds" in metadata:
            timed[event.asset_key.path[-1]] = metadata["dbt_seconds"].value
    assert len(timed) > 20 and all(0 <= s < 600 for s in timed.values())
    # The slowest models named on the lines are timed the same on their materializations.
    named = {m.group(1): float(m.group(2)) for line in lines.values()
             for m in re.finditer(r"(\w+) (\d+\.\d\d) s", line.split("; slowest: ")[1])}
    shared = set(named) & set(timed)
    assert shared and all(abs(named[n] - timed[n]) < 0.01 for n in shared)
