"""`make bench`: the hourly cycle at scale, measured against a hand-written floor, in one run.

Figures (seconds, ratio to the floor, peak memory of the whole process tree including dbt):
- generate: the synthetic workspace (cached in bench_data/, keyed by its parameters);
- full build: the first cycle on an empty warehouse (load everything, build every model);
- incremental: the next cycle after one more hour of events lands;
- idle: a cycle with no new events;
- floor: one hand-written DuckDB query computing the same per-account milestones from raw.

Scale with BENCH_ACCOUNTS (default 1,000,000) and BENCH_DAYS (30); BENCH_WORKERS generator processes.
Then the sub-benchmarks of the reverse-ETL package, when present, print their own figures.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000000"))
DAYS = int(os.environ.get("BENCH_DAYS", "30"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
START = datetime(2026, 9, 1, tzinfo=UTC)
END = START + timedelta(days=DAYS)

FLOOR_SQL = """
select
    group_id as account_id,
    min(event_at) filter (where event = 'signup_completed') as signup_at,
    min(event_at) filter (where event = 'project_created') as project_at,
    min(event_at) filter (where event = 'teammate_invited') as invite_at,
    min(event_at) filter (where event = 'integration_connected') as integration_at,
    case when count(distinct event) filter (
        where event in ('project_created', 'teammate_invited', 'integration_connected')) = 3
    then greatest(min(event_at) filter (where event = 'project_created'),
                  min(event_at) filter (where event = 'teammate_invited'),
                  min(event_at) filter (where event = 'integration_connected')) end as activated_at,
    max(event_at) as last_activity_at
from raw.segment_messages
where type = 'track' and known_at <= ?
group by group_id
"""


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB of the command and all its children), run through a fresh wrapper."""
    wrapper = (
        "import resource, subprocess, sys, json, time;"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:]);"
        "print(json.dumps({'rc': r.returncode, 's': time.perf_counter() - t,"
        " 'kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], env=env, capture_output=True, text=True)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    result = json.loads(last)
    if result.get("rc") != 0:
        sys.stderr.write(out.stdout[-2000:] + out.stderr[-2000:])
        raise SystemExit(f"bench: {' '.join(argv[:3])} failed")
    return result["s"], result["kb"] / 1024


def main() -> None:
    data = ROOT / "bench_data" / f"a{ACCOUNTS}-d{DAYS}"
    landing = data / "landing"
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    for name in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_API_KEY", "SLACK_BOT_TOKEN", "ANTHROPIC_API_KEY", "DAGSTER_HOME"):
        env.pop(name, None)
    print(f"bench: {ACCOUNTS:,} accounts over {DAYS} days, {WORKERS} generator workers, data in {data}")

    if not (landing / "ground_truth" / "manifest.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        seconds, peak = measured(
            [str(BIN / "onboarding"), "generate", "--accounts", str(ACCOUNTS), "--days", str(DAYS), "--seed", "1",
             "--start", START.isoformat(), "--out", str(landing), "--workers", str(WORKERS)], env)
        print(f"generate            {seconds:9.1f} s   peak {peak:8.0f} MiB")
    manifest = json.loads((landing / "ground_truth" / "manifest.json").read_text())
    print(f"workspace: {manifest['messages']:,} messages in {manifest.get('files_written', '?')} files")

    # The last hour's files are held back for the incremental cycle.
    last_hour = END - timedelta(hours=1)
    held = sorted((landing / "events" / f"{last_hour:%Y-%m-%d}").glob(f"{last_hour:%H}*.jsonl.gz"))
    aside = data / "held-back"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir()
    for path in held:
        shutil.move(str(path), aside / path.name)

    home = data / "home"
    shutil.rmtree(home, ignore_errors=True)
    run_env = {**env, "ONBOARDING_HOME": str(home), "ONBOARDING_LANDING_DIR": str(landing),
               "ONBOARDING_DBT_TARGET": str(data / "dbt-target")}
    run_env.pop("ONBOARDING_WAREHOUSE", None)
    onboarding = str(BIN / "onboarding")
    try:
        full = measured([onboarding, "run", "--as-of", last_hour.isoformat()], run_env)
        for path in held:
            shutil.move(str(aside / path.name), path)
        incremental = measured([onboarding, "run", "--as-of", END.isoformat()], run_env)
        idle = measured([onboarding, "run", "--as-of", (END + timedelta(hours=1)).isoformat()], run_env)
    finally:
        for path in held:
            if (aside / path.name).exists():
                shutil.move(str(aside / path.name), path)

    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    floors = []
    for _ in range(3):
        started = time.perf_counter()
        rows = len(con.execute(FLOOR_SQL, [END]).fetchall())
        floors.append(time.perf_counter() - started)
    floor = sorted(floors)[1]
    raw_rows = con.execute("select count(*) from raw.segment_messages").fetchone()[0]
    accounts = con.execute("select count(*) from marts.customer_onboarding_state").fetchone()[0]
    con.close()
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"warehouse: {raw_rows:,} raw messages, {accounts:,} accounts in the state mart ({rows:,} in the floor)")
    print(f"{'step':<20}{'seconds':>10}{'x floor':>10}{'peak MiB':>10}")
    for label, (seconds, peak) in (("full build", full), ("incremental cycle", incremental), ("idle cycle", idle)):
        print(f"{label:<20}{seconds:10.1f}{seconds / floor:10.1f}{peak:10.0f}")
    print(f"{'floor (1 query)':<20}{floor:10.2f}{1.0:10.1f}{peak_self:10.0f}   median of 3")

    for extra in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        print(f"\n== {extra.stem} ==", flush=True)
        subprocess.run([sys.executable, "-m", f"benchmarks.{extra.stem}"], cwd=ROOT, env=env, check=False)


if __name__ == "__main__":
    main()
