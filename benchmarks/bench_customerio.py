"""Benchmark: 100k changed accounts synced to the local Customer.io Track API server.

Prints operations per second, operations per request, requests per second (must stay <= 100,
measured by the server's clock, in the busiest one-second window and on average), and the time
the diff itself takes, for a first full sync and for a second run where nothing changed.
Run: `python -m benchmarks.bench_customerio [--accounts N]` (the lead's `make bench` calls `run()`).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from reverse_etl.customerio import CustomerIOSettings, sync_customerio
from tests.servers.customerio_server import CustomerIOServer
from tests.servers.customerio_warehouse import BASE, person, plant, trigger

RATE_LIMIT = 100


def run(accounts: int = 100_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-customerio-") as tmp:
        root = Path(tmp)
        wh = root / "warehouse.duckdb"
        started = time.perf_counter()
        plant(wh, people=(person(i) for i in range(accounts)), triggers=(trigger(i) for i in range(accounts)))
        plant_seconds = time.perf_counter() - started
        with CustomerIOServer(root, rate_limit=RATE_LIMIT) as server:
            saved = {k: os.environ.get(k) for k in (*server.env(), "ONBOARDING_HOME")}
            os.environ.update(server.env())
            os.environ["ONBOARDING_HOME"] = str(root / "home")
            try:
                settings = CustomerIOSettings.from_env(rate_per_second=RATE_LIMIT)
                first = sync_customerio(settings, as_of=BASE, warehouse_path=wh)
                window = server.max_requests_in_window(1.0)
                stamps = [r.at for r in server.state.requests]
                span = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0
                second = sync_customerio(settings, as_of=BASE, warehouse_path=wh)
                delivered_people = len(server.state.people)
                delivered_events = len(server.state.events)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
    ops = first.sent
    figures = {
        "accounts": accounts,
        "operations": ops,
        "delivered_people": delivered_people,
        "delivered_events": delivered_events,
        "requests": first.requests,
        "ops_per_second": round(ops / first.duration_seconds, 1),
        "ops_per_request": round(ops / max(1, first.requests), 1),
        "requests_per_second_avg": round(first.requests / first.duration_seconds, 2),
        "requests_per_second_server_span": round(len(stamps) / span, 2) if span else None,
        "max_requests_in_any_1s_window": window,
        "rate_ok": window <= RATE_LIMIT,
        "bytes_per_request": round(first.bytes_sent / max(1, first.requests)),
        "diff_seconds_first_run": round(first.diff_seconds, 3),
        "sync_seconds_first_run": round(first.duration_seconds, 2),
        "diff_seconds_unchanged_run": round(second.diff_seconds, 3),
        "sync_seconds_unchanged_run": round(second.duration_seconds, 3),
        "requests_unchanged_run": second.requests,
        "plant_seconds": round(plant_seconds, 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    return figures


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
