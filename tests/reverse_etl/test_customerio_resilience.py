"""The Customer.io sync when the service misbehaves: storms, timeouts, drops, a killed run.

Every assertion is measured on the receiving side (the local server's own clock and records):
what was accepted, how many times each event id arrived, and requests per one-second window.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.customerio.resources import CustomerIOResource
from reverse_etl import journal, outbox
from reverse_etl.customerio import CustomerIOSettings, sync_customerio
from reverse_etl.retry import RetryPolicy
from tests.servers.customerio_server import CustomerIOServer, Fault
from tests.servers.customerio_warehouse import BASE, event_id, person, plant, rows, trigger

RATE = 20  # requests per second, at the server and in the client's bucket
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1, max_retry_after=2.0)
SMALL_REQUESTS = 1_500  # bytes: a few operations per request, so there are many requests


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CustomerIOServer]:
    with CustomerIOServer(tmp_path, rate_limit=RATE) as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
        yield srv


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def settings(**overrides: object) -> CustomerIOSettings:
    values: dict[str, object] = {
        "retry": FAST_RETRY,
        "rate_per_second": RATE,
        "max_request_bytes": SMALL_REQUESTS,
    }
    values.update(overrides)
    return CustomerIOResource().settings(**values)


def plant_accounts(wh: Path, n: int) -> tuple[set[str], set[str]]:
    plant(wh, people=[person(i) for i in range(n)], triggers=[trigger(i) for i in range(n)])
    return {person(i)["person_id"] for i in range(n)}, {event_id(trigger(i)) for i in range(n)}


def assert_exactly_once(server: CustomerIOServer, people: set[str], events: set[str]) -> None:
    assert set(server.state.people) == people
    assert set(server.state.events) == events
    assert set(server.event_receipt_counts().values()) == {1}
    assert set(Counter(server.state.identify_receipts).values()) == {1}


def test_429_storm_honours_retry_after_and_never_exceeds_the_rate(server: CustomerIOServer, wh: Path) -> None:
    people, events = plant_accounts(wh, 60)
    server.storm(Fault("429", retry_after="1"), seconds=1.5, after_requests=3)
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert result.status == "success" and result.sent == 120
    assert_exactly_once(server, people, events)
    statuses = [r.status for r in server.state.requests]
    assert result.rate_limited >= 2 and statuses.count(429) == result.rate_limited
    first_429 = statuses.index(429)
    # Retry-After: 1 -> nothing arrives for a second after a 429
    assert server.state.requests[first_429 + 1].at - server.state.requests[first_429].at >= 1.0
    assert server.max_requests_in_window(1.0) <= RATE
    assert statuses.count(200) == len(statuses) - statuses.count(429) > RATE  # enough traffic to matter


def test_5xx_storm_and_dropped_connections_deliver_everything_once(
    server: CustomerIOServer, wh: Path
) -> None:
    people, events = plant_accounts(wh, 40)
    ok = Fault("none")
    server.script(
        Fault("500"),
        Fault("503"),
        ok,
        Fault("drop_before"),
        Fault("502"),
        ok,
        ok,
        Fault("503", retry_after="1"),
        Fault("500"),
        Fault("drop_before"),
        ok,
    )
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert result.status == "success" and result.sent == 80 and result.failed == 0
    assert result.retries == 7  # one per injected fault
    assert_exactly_once(server, people, events)
    assert server.max_requests_in_window(1.0) <= RATE


def test_timeouts_and_lost_answers_are_resent_and_deduplicated_by_event_id(
    server: CustomerIOServer, wh: Path
) -> None:
    plant(wh, people=[person(i) for i in range(12)])
    sync_customerio(settings(), as_of=BASE, warehouse_path=wh)  # people first: the faults hit events
    plant(wh, triggers=[trigger(i) for i in range(12)])
    events = {event_id(trigger(i)) for i in range(12)}
    server.script(Fault("slow", seconds=1.5), Fault("none"), Fault("drop_after"))
    result = sync_customerio(settings(timeout_seconds=0.5), as_of=BASE, warehouse_path=wh)
    assert result.sent == 12 and result.retries == 2 and result.failed == 0
    assert set(server.state.events) == events
    receipts = server.event_receipt_counts()
    # the slow and the dropped request were processed, then sent again: Customer.io keeps one of each
    assert max(receipts.values()) == 2 and sum(1 for n in receipts.values() if n == 2) >= 2
    assert len(server.state.events) == 12
    assert rows(wh, "select count(*) from ops.outbox where kind = 'event' and status = 'sent'") == [(12,)]


def test_failures_stay_in_the_outbox_and_are_replayed_next_run(server: CustomerIOServer, wh: Path) -> None:
    people, events = plant_accounts(wh, 30)
    server.storm(Fault("503"), seconds=3600, after_requests=0)
    first = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    # three batches in a row exhausted their retries: the circuit breaker stops the run
    assert first.status == "partial" and first.sent == 0 and "stopped after 3 batches" in (first.error or "")
    assert len(server.state.requests) == 3 * FAST_RETRY.max_attempts
    assert first.failed > 0 and first.pending_left == 60 and first.parked == 0
    failed = rows(wh, "select count(*) from ops.outbox where attempts = 1 and last_error like 'HTTP 503%'")
    assert failed == [(first.failed,)]

    server.state.storm_fault = None
    second = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert second.status == "success" and second.sent == 60 and second.pending_left == 0
    assert_exactly_once(server, people, events)
    assert rows(wh, "select max(attempts) from ops.outbox") == [(2,)]
    assert rows(wh, "select count(*) from ops.sync_changelog where result = 'failed'") == [(first.failed,)]


def test_rows_are_parked_after_the_attempt_limit_and_can_be_requeued(
    server: CustomerIOServer, wh: Path
) -> None:
    people, events = plant_accounts(wh, 3)
    server.storm(Fault("503"), seconds=3600, after_requests=0)
    big = settings(max_item_attempts=2, max_request_bytes=500_000)
    first = sync_customerio(big, as_of=BASE, warehouse_path=wh)
    assert (first.failed, first.parked) == (6, 0)
    second = sync_customerio(big, as_of=BASE, warehouse_path=wh)
    assert (second.failed, second.parked) == (0, 6) and len(second.parked_ids) == 6
    requests_so_far = len(server.state.requests)
    third = sync_customerio(big, as_of=BASE, warehouse_path=wh)
    assert third.requests == 0 and len(server.state.requests) == requests_so_far  # parked: left alone

    server.state.storm_fault = None
    con = duckdb.connect(str(wh))
    try:
        assert outbox.requeue(con, "customerio") == 6
    finally:
        con.close()
    fourth = sync_customerio(big, as_of=BASE, warehouse_path=wh)
    assert fourth.sent == 6
    assert_exactly_once(server, people, events)


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from pathlib import Path
    from dagster_project.defs.customerio.resources import CustomerIOResource
    from reverse_etl.customerio import sync_customerio
    settings = CustomerIOResource().settings(max_request_bytes=int(sys.argv[2]), rate_per_second=float(sys.argv[3]))
    sync_customerio(settings, as_of=datetime.fromisoformat(sys.argv[4]), warehouse_path=Path(sys.argv[1]))
    """
)


def test_a_run_killed_mid_sync_resumes_with_nothing_lost_and_nothing_twice(
    server: CustomerIOServer, wh: Path
) -> None:
    people, events = plant_accounts(wh, 40)
    server.hold_after(4)  # the fifth request hangs: the client is killed while waiting for it
    env = {**os.environ, **server.env()}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(wh), str(SMALL_REQUESTS), str(RATE), BASE.isoformat()],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert server.state.held.wait(timeout=120), "the killed run never reached its fifth request"
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode != 0
    accepted_before = len(server.state.requests)
    assert accepted_before == 4 and {r.status for r in server.state.requests} == {200}
    # what the four answered requests carried is on record (journaled; the next run folds it into ops.outbox)
    con = duckdb.connect(str(wh))
    try:
        delivered_before = journal.sent_count(con, "customerio")
    finally:
        con.close()
    assert 0 < delivered_before < 80

    server.state.hold_after = None
    server.state.hold_release.set()
    resumed = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert resumed.sent == 80 - delivered_before  # only what the killed run had not delivered
    assert_exactly_once(server, people, events)
    assert rows(wh, "select count(*) from ops.outbox where status = 'sent'") == [(80,)]
    assert rows(wh, "select count(*) from ops.sync_journal") == [(0,)]
    assert rows(wh, "select count(*) from ops.sync_snapshot") == [(40,)]
    assert rows(wh, "select status from ops.sync_runs order by started_at") == [
        ("interrupted",),
        ("success",),
    ]
