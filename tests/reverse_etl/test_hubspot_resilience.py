"""The HubSpot sync when the CRM misbehaves: 429 and 5xx storms, lost answers, a killed run, the daily limit.

Measured on the receiving side: records per key (never two for one account or e-mail), how many
times each input was processed, and requests per rolling 10-second window (HubSpot's burst limit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.hubspot.resources import HubSpotResource
from reverse_etl import journal, outbox
from reverse_etl.hubspot import HubSpotSettings, sync_hubspot
from reverse_etl.retry import RetryPolicy
from tests.servers.hubspot_server import Fault, HubSpotServer
from tests.servers.hubspot_warehouse import BASE, account, plant, rows

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1, max_retry_after=2.0)


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rate_limit: int = 1000) -> HubSpotServer:
    srv = HubSpotServer(rate_limit=rate_limit)
    for key, value in srv.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
    return srv


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotServer]:
    with serve(tmp_path, monkeypatch) as srv:
        yield srv


def settings(**overrides: object) -> HubSpotSettings:
    values: dict[str, object] = {"retry": FAST_RETRY, "requests_per_10s": 1000, "batch_size": 10,
                                 "match_by_domain": False}
    values.update(overrides)
    return HubSpotResource().settings(**values)


def assert_one_record_each(server: HubSpotServer, n: int) -> None:
    companies, contacts = server.companies_by_account(), server.contacts_by_email()
    assert sorted(companies) == [f"acct_{i:06d}" for i in range(n)]
    assert all(len(ids) == 1 for ids in companies.values()) and all(len(ids) == 1 for ids in contacts.values())
    assert len(contacts) == n and len(server.state.associations) == n


def test_the_ten_second_limit_is_never_exceeded_and_a_429_storm_honours_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wh: Path
) -> None:
    with serve(tmp_path, monkeypatch, rate_limit=30) as server:
        plant(wh, [account(i) for i in range(120)])
        server.storm(Fault("429", retry_after="1"), seconds=1.2, after_requests=6)
        # The client starts at the Starter pace (100/10 s) and must slow to what the headers announce.
        result = sync_hubspot(settings(requests_per_10s=100, batch_size=10), as_of=BASE, warehouse_path=wh)
        assert result.status == "success" and result.sent == 360
        assert_one_record_each(server, 120)
        assert set(server.state.receipts.values()) == {1}  # a rejected request processed nothing
        statuses = [r.status for r in server.state.requests]
        assert result.rate_limited >= 1 and statuses.count(429) == result.rate_limited
        first = statuses.index(429)
        assert server.state.requests[first + 1].at - server.state.requests[first].at >= 1.0  # Retry-After
        served = [r for r in server.state.requests if r.status != 429]
        assert len(served) > 30  # enough traffic to reach the limit
        assert server.max_requests_in_window(10.0) <= 30
        assert result.announced_limit == "30/10000ms"


def test_5xx_storms_and_lost_answers_deliver_every_record_exactly_once(server: HubSpotServer, wh: Path) -> None:
    plant(wh, [account(i) for i in range(60)])
    # the four property requests pass; then faults hit the batches
    server.script(*[Fault("none")] * 4, Fault("503"), Fault("drop_before"), Fault("500"), Fault("drop_after"),
                  Fault("502"))
    server.storm(Fault("500"), seconds=0.2, after_requests=15)
    patient = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.2)
    result = sync_hubspot(settings(retry=patient), as_of=BASE, warehouse_path=wh)
    assert (result.status, result.error) == ("success", None)
    assert result.sent == 180 and result.retries >= 5
    assert_one_record_each(server, 60)
    # the answer lost after processing was resent: an upsert, so the repeat changed nothing
    assert max(server.state.receipts.values()) == 2 and sum(v == 2 for v in server.state.receipts.values()) <= 10
    assert rows(wh, "select count(*) from ops.sync_changelog where result = 'sent'") == [(180,)]


def test_failures_stay_pending_then_park_after_the_attempt_limit_and_can_be_requeued(
    server: HubSpotServer, wh: Path
) -> None:
    plant(wh, [account(i) for i in range(5)])
    server.storm(Fault("503"), seconds=600, after_requests=4)  # after the property set-up
    quick = settings(retry=RetryPolicy(max_attempts=1), max_item_attempts=2, circuit_breaker_batches=1)
    first = sync_hubspot(quick, as_of=BASE, warehouse_path=wh)
    assert first.status == "partial" and first.failed == 5 and "stopped after 1 batches" in first.error
    second = sync_hubspot(quick, as_of=BASE, warehouse_path=wh)
    assert second.parked == 5 and sorted(second.parked_ids) == [f"company:acct_{i:06d}" for i in range(5)]
    before = len(server.state.requests)
    third = sync_hubspot(quick, as_of=BASE, warehouse_path=wh)
    # parked companies are left alone: the next pending kind (contacts) is what gets tried
    later = [r.path for r in server.state.requests[before:]]
    assert third.failed == 5 and later and all("contacts/batch" in path for path in later)
    server.state.storm_fault = None
    con = duckdb.connect(str(wh))
    try:
        assert outbox.requeue(con, "hubspot") == 5
    finally:
        con.close()
    fourth = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert fourth.status == "success"
    assert_one_record_each(server, 5)


def test_the_daily_limit_stops_the_run_and_the_next_run_finishes(server: HubSpotServer, wh: Path) -> None:
    plant(wh, [account(i) for i in range(50)])
    server.state.daily_after = 8
    first = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert "daily request limit" in (first.error or "") and first.status == "partial"
    assert first.failed == 0 and first.parked == 0  # nobody's fault: no attempt counted
    assert first.pending_left > 0
    server.state.daily_after = None
    second = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert second.status == "success" and first.sent + second.sent == 150
    assert_one_record_each(server, 50)


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from pathlib import Path
    from dagster_project.defs.hubspot.resources import HubSpotResource
    from reverse_etl.hubspot import sync_hubspot
    settings = HubSpotResource().settings(batch_size=10, match_by_domain=False, requests_per_10s=1000)
    sync_hubspot(settings, as_of=datetime.fromisoformat(sys.argv[2]), warehouse_path=Path(sys.argv[1]))
    """
)


def test_a_run_killed_mid_sync_resumes_with_nothing_lost_and_nothing_twice(server: HubSpotServer, wh: Path) -> None:
    plant(wh, [account(i) for i in range(40)])
    server.hold_after(9)  # 4 property requests, then 5 batches; the tenth hangs and the client is killed
    env = {**os.environ, **server.env()}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(wh), BASE.isoformat()], env=env,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert server.state.held.wait(timeout=120), "the killed run never reached its tenth request"
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode != 0
    # the five answered batches of 10 are on record: journaled, to be folded into ops.outbox by the next run
    assert rows(wh, "select count(*) from ops.sync_journal where result = 'sent'") == [(50,)]
    with duckdb.connect(str(wh)) as con:
        delivered = journal.sent_count(con, "hubspot")
    assert delivered == 50
    receipts_before = dict(server.state.receipts)

    server.state.hold_after = None
    server.state.hold_release.set()
    resumed = sync_hubspot(settings(), as_of=BASE, warehouse_path=wh)
    assert resumed.sent == 120 - delivered  # only what the killed run had not delivered
    assert_one_record_each(server, 40)
    assert set(server.state.receipts.values()) == {1}  # the batch in flight was never processed: sent once
    assert all(server.state.receipts[key] == 1 for key in receipts_before)
    assert rows(wh, "select status from ops.sync_runs order by started_at") == [("interrupted",), ("success",)]
    assert rows(wh, "select count(*) from ops.sync_journal") == [(0,)]
    assert rows(wh, "select count(*) from ops.outbox where status = 'sent'") == [(120,)]
    assert rows(wh, "select count(*) from ops.sync_changelog where result = 'sent'") == [(120,)]
    assert rows(wh, "select count(*) from ops.hubspot_objects where object_type in ('company', 'contact')") == [(80,)]
