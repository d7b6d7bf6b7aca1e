"""Benchmark: 100k changed accounts synced to the local Customer.io Track API server.

Prints operations per second, operations per request, requests per second (must stay <= 100,
measured by the server's clock, in the busiest one-second window and on average), and the time
the diff itself takes, for a first full sync and for a second run where nothing changed.
The server runs in a child process (its own core), so client figures are the client's own.
Run: `python -m benchmarks.bench_customerio [--accounts N]` (`make bench` calls `run()`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from dagster_project.defs.customerio.resources import CustomerIOResource
from reverse_etl.customerio import sync_customerio
from tests.servers.customerio_server import CustomerIOServer
from tests.servers.customerio_warehouse import BASE, person, plant, trigger

RATE_LIMIT = 100


def _serve(directory: str, commands: Any, answers: Any) -> None:
    """Child process: the Track API server, on its own core, reporting what it saw when told to stop."""
    with CustomerIOServer(Path(directory), rate_limit=RATE_LIMIT) as server:
        answers.put(server.env())
        while (command := commands.get()) != "stop":
            if command == "stats":
                answers.put(
                    {
                        "stamps": [r.at for r in server.state.requests],
                        "statuses": [r.status for r in server.state.requests],
                        "window": server.max_requests_in_window(1.0),
                        "people": len(server.state.people),
                        "events": len(server.state.events),
                        "max_event_receipts": max(server.event_receipt_counts().values(), default=0),
                    }
                )


def run(accounts: int = 100_000) -> dict[str, Any]:
    """Plant `accounts` changed people and triggers, sync them twice, return the figures."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-customerio-") as tmp:
        root = Path(tmp)
        wh = root / "warehouse.duckdb"
        started = time.perf_counter()
        plant(wh, people=(person(i) for i in range(accounts)), triggers=(trigger(i) for i in range(accounts)))
        plant_seconds = time.perf_counter() - started
        commands, answers = context.Queue(), context.Queue()
        child = context.Process(target=_serve, args=(str(root), commands, answers), daemon=True)
        child.start()
        env = answers.get(timeout=60)
        saved = {k: os.environ.get(k) for k in (*env, "ONBOARDING_HOME")}
        os.environ.update(env)
        os.environ["ONBOARDING_HOME"] = str(root / "home")
        try:
            settings = CustomerIOResource().settings(rate_per_second=RATE_LIMIT)
            first = sync_customerio(settings, as_of=BASE, warehouse_path=wh)
            rss_after_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            commands.put("stats")
            seen = answers.get(timeout=120)
            second = sync_customerio(settings, as_of=BASE, warehouse_path=wh)
            commands.put("stats")
            seen_after = answers.get(timeout=120)
        finally:
            commands.put("stop")
            child.join(timeout=30)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    stamps = seen["stamps"]
    span = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0
    ops = first.sent
    return {
        "accounts": accounts,
        "operations": ops,
        "delivered_people": seen["people"],
        "delivered_events": seen["events"],
        "max_receipts_per_event_id": seen["max_event_receipts"],
        "requests": first.requests,
        "http_statuses": sorted(set(seen["statuses"])),
        "ops_per_second": round(ops / first.duration_seconds, 1),
        "ops_per_request": round(ops / max(1, first.requests), 1),
        "requests_per_second_avg": round(first.requests / first.duration_seconds, 2),
        "requests_per_second_server_span": round(len(stamps) / span, 2) if span else None,
        "max_requests_in_any_1s_window": seen["window"],
        "rate_ok": seen["window"] <= RATE_LIMIT,
        "bytes_per_request": round(first.bytes_sent / max(1, first.requests)),
        "diff_seconds_first_run": round(first.diff_seconds, 3),
        "sync_seconds_first_run": round(first.duration_seconds, 2),
        "diff_seconds_unchanged_run": round(second.diff_seconds, 3),
        "sync_seconds_unchanged_run": round(second.duration_seconds, 3),
        "requests_unchanged_run": len(seen_after["stamps"]) - len(stamps),
        "plant_seconds": round(plant_seconds, 2),
        "client_max_rss_mb": round(rss_after_first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    figures = run(args.accounts)
    print(f"customerio sync: {figures['accounts']} changed accounts -> {figures['operations']} operations")
    for key, value in figures.items():
        print(f"  {key:34s} {value}")
    if not figures["rate_ok"]:
        raise SystemExit("rate limit exceeded")


if __name__ == "__main__":
    main()
