"""Benchmark: 100k changed accounts synced to the local HubSpot server through hubspot-api-client.

Three runs against one server (its own process, so client figures are the client's own):
1. first sync: 100k accounts never seen, so each company is first looked for by domain (CRM search,
   five per second), then upserted; contacts upserted by e-mail; associations created;
2. unchanged: nothing to send (the diff alone);
3. 100k changed: every account moved stage (the hourly steady state at its worst): companies and
   contacts upserted with only the changed properties, no search, no association.
Prints operations per second, requests (per endpoint), the busiest rolling 10 seconds as the server
counted it against its limit, and the diff time. The server announces the Professional limit
(190 per 10 s); the client starts at the Starter pace and follows the X-HubSpot-RateLimit headers.
Run: `python -m benchmarks.bench_hubspot [--accounts N]` (`make bench` calls `run()`).
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

from dagster_project.defs.hubspot.resources import HubSpotResource
from reverse_etl.hubspot import sync_hubspot
from tests.servers.hubspot_server import HubSpotServer
from tests.servers.hubspot_warehouse import BASE, account, plant

RATE_LIMIT = 190  # HubSpot Professional/Enterprise private apps: requests per rolling 10 seconds


def _serve(commands: Any, answers: Any) -> None:
    """Child process: the CRM server, reporting what it saw when asked."""
    with HubSpotServer(rate_limit=RATE_LIMIT) as server:
        answers.put(server.env())
        while (command := commands.get()) != "stop":
            if command == "stats":
                state = server.state
                answers.put({
                    "requests": len(state.requests),
                    "statuses": sorted({r.status for r in state.requests}),
                    "window_10s": server.max_requests_in_window(10.0),
                    "search_window_1s": server.max_requests_in_window(1.0, "/search"),
                    "max_inputs": max((r.inputs for r in state.requests), default=0),
                    "companies": len(state.records["companies"]),
                    "contacts": len(state.records["contacts"]),
                    "associations": len(state.associations),
                    "duplicate_accounts": sum(len(v) > 1 for v in server.companies_by_account().values()),
                })


def _figures(result: Any, seen: dict[str, Any], before: int) -> dict[str, Any]:
    seconds = max(result.duration_seconds, 1e-9)
    return {
        "operations": result.sent,
        "requests": result.requests,
        "requests_by_endpoint": result.requests_by_endpoint,
        "ops_per_second": round(result.sent / seconds, 1),
        "ops_per_request": round(result.sent / max(1, result.requests), 1),
        "requests_per_second_avg": round(result.requests / seconds, 2),
        "server_requests": seen["requests"] - before,
        "rate_limited_429": result.rate_limited,
        "diff_seconds": round(result.diff_seconds, 3),
        "sync_seconds": round(result.duration_seconds, 1),
    }


def run(accounts: int = 100_000) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-hubspot-") as tmp:
        root = Path(tmp)
        wh = root / "warehouse.duckdb"
        commands, answers = context.Queue(), context.Queue()
        child = context.Process(target=_serve, args=(commands, answers), daemon=True)
        child.start()
        env = answers.get(timeout=60)
        saved = {k: os.environ.get(k) for k in (*env, "ONBOARDING_HOME")}
        os.environ.update(env)
        os.environ["ONBOARDING_HOME"] = str(root / "home")

        def stats() -> dict[str, Any]:
            commands.put("stats")
            return answers.get(timeout=300)

        try:
            settings = HubSpotResource().settings()
            plant(wh, (account(i) for i in range(accounts)))
            first = sync_hubspot(settings, as_of=BASE, warehouse_path=wh)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            after_first = stats()
            print(f"  first sync: {_figures(first, after_first, 0)}", flush=True)  # survives a later timeout
            unchanged = sync_hubspot(settings, as_of=BASE, warehouse_path=wh)
            after_unchanged = stats()
            plant(wh, (account(i, lifecycle_stage="activated", activated_at=BASE) for i in range(accounts)))
            changed = sync_hubspot(settings, as_of=BASE, warehouse_path=wh)
            after_changed = stats()
        finally:
            commands.put("stop")
            child.join(timeout=30)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return {
        "accounts": accounts,
        "rate_limit_per_10s": RATE_LIMIT,
        "first_sync": _figures(first, after_first, 0),
        "unchanged_run": {"requests": after_unchanged["requests"] - after_first["requests"],
                          "diff_seconds": round(unchanged.diff_seconds, 3),
                          "sync_seconds": round(unchanged.duration_seconds, 2)},
        "changed_sync": _figures(changed, after_changed, after_unchanged["requests"]),
        "max_requests_in_any_10s_window": after_changed["window_10s"],
        "max_searches_in_any_1s_window": after_changed["search_window_1s"],
        "max_inputs_per_request": after_changed["max_inputs"],
        "http_statuses": after_changed["statuses"],
        "records": {k: after_changed[k] for k in ("companies", "contacts", "associations", "duplicate_accounts")},
        "rate_ok": after_changed["window_10s"] <= RATE_LIMIT and after_changed["search_window_1s"] <= 5,
        "client_max_rss_mb": round(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    figures = run(args.accounts)
    print(f"hubspot sync: {figures['accounts']} accounts ({time.perf_counter() - started:.0f} s in all)")
    for key, value in figures.items():
        print(f"  {key:32s} {value}")
    if not figures["rate_ok"]:
        raise SystemExit("rate limit exceeded")


if __name__ == "__main__":
    main()
