"""The Customer.io sync against a local Track API server: diff, batching, gate, outbox, limits.

Inputs are planted in a temp DuckDB with the shared-interface columns; the real `customerio`
client talks HTTPS to tests/servers/customerio_server.py, which records what it accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from dagster_project.defs.customerio.resources import CustomerIOResource
from reverse_etl import outbox
from reverse_etl.customerio import CustomerIOAuthError, CustomerIOSettings, sync_customerio
from reverse_etl.retry import RetryPolicy
from reverse_etl.synclog import latest_run
from tests.servers.customerio_server import CustomerIOServer
from tests.servers.customerio_warehouse import BASE, PEOPLE_COLUMNS, event_id, person, plant, rows, trigger

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1, max_retry_after=2.0)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CustomerIOServer]:
    with CustomerIOServer(tmp_path) as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
        yield srv


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def settings(**overrides: object) -> CustomerIOSettings:
    return CustomerIOResource().settings(retry=FAST_RETRY, **overrides)


def test_first_run_sends_all_then_only_what_changed(server: CustomerIOServer, wh: Path) -> None:
    people = [person(i) for i in range(40)]
    triggers = [trigger(i) for i in range(40)]
    plant(wh, people=people, triggers=triggers)

    first = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert (first.sent, first.planned_identifies, first.planned_events, first.status) == (
        80,
        40,
        40,
        "success",
    )
    assert first.requests == 1  # one v2 batch carries everything
    assert set(server.state.people) == {p["person_id"] for p in people}
    assert set(server.state.events) == {event_id(t) for t in triggers}
    attrs = server.state.people["user_000003"]
    assert attrs["account_id"] == "acct_000003" and attrs["lifecycle_stage"] == "onboarding"
    assert attrs["onboarding_track"] == "high_touch" and attrs["csm_owner"] == "csm_1"
    assert attrs["unsubscribed"] is False and isinstance(attrs["created_at"], int)
    expected = set(PEOPLE_COLUMNS) - {"person_id", "as_of"} | {"created_at"}
    assert all(set(a) == expected for a in server.state.people.values())  # nothing internal leaks
    assert [r.path for r in server.state.requests] == ["/api/v2/batch"]

    # Nothing changed (a new as_of alone is not a change): nothing goes out.
    later = BASE + timedelta(hours=1)
    plant(wh, people=[person(i, as_of=later) for i in range(40)])
    second = sync_customerio(settings(), as_of=later, warehouse_path=wh)
    assert (second.sent, second.requests, second.planned_changes) == (0, 0, 0)

    # Three people change, two triggers appear: exactly those five operations go out.
    activated = int((BASE + timedelta(hours=2)).timestamp())
    changed = {
        1: {"lifecycle_stage": "activated", "activated_at": activated},
        2: {"unsubscribed": True, "suppression_reason": "unsubscribed"},
        5: {"current_step": "connect_integration"},
    }
    plant(
        wh,
        people=[person(i, **changed.get(i, {})) for i in range(40)],
        triggers=[trigger(1, "activated", payload="{}"), trigger(7, "stalled", step="invite_teammate")],
    )
    receipts_before = len(server.state.identify_receipts)
    third = sync_customerio(settings(), as_of=later, warehouse_path=wh)
    assert (third.planned_identifies, third.planned_events, third.sent) == (3, 2, 5)
    new_receipts = server.state.identify_receipts[receipts_before:]
    assert sorted(new_receipts) == ["user_000001", "user_000002", "user_000005"]
    assert server.state.people["user_000001"]["activated_at"] == activated
    assert server.state.people["user_000002"]["unsubscribed"] is True
    assert server.state.forbidden_calls == []  # opt-outs are an attribute, never suppress/delete
    assert len(server.state.events) == 42
    assert all(n == 1 for n in server.event_receipt_counts().values())

    runs = rows(wh, "select status, sent, requests from ops.sync_runs order by started_at")
    assert runs == [("success", 80, 1), ("success", 0, 0), ("success", 5, 1)]
    assert rows(wh, "select count(*) from ops.sync_snapshot where channel = 'customerio'") == [(40,)]
    log = rows(wh, "select operation, result, count(*) from ops.sync_changelog group by all order by all")
    assert log == [("event", "sent", 42), ("identify", "sent", 43)]


def test_only_primary_contacts_and_visible_triggers_go_out(server: CustomerIOServer, wh: Path) -> None:
    teammate = trigger(1, person_id="teammate_of_1", trigger_id="trg_teammate")
    future = trigger(2, emitted_as_of=BASE + timedelta(hours=3))
    plant(wh, people=[person(1), person(2)], triggers=[trigger(1), teammate, future])
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert result.not_primary_contact == 1
    assert set(server.state.people) == {"user_000001", "user_000002"}
    assert set(server.state.events) == {event_id(trigger(1))}
    # the later cycle sees the future trigger, and still never the teammate
    later = sync_customerio(settings(), as_of=BASE + timedelta(hours=3), warehouse_path=wh)
    assert later.sent == 1 and event_id(future) in server.state.events
    assert "teammate_of_1" not in {e["person_id"] for e in server.state.events.values()}


def test_only_triggers_decided_send_go_out_at_the_clock_that_decided_them(server: CustomerIOServer, wh: Path) -> None:
    # dbt's decisions (marts.onboarding_triggers.send_decision): the current-state nudge goes out; the one
    # paced behind it and the superseded / backfilled ones are the record, never sent.
    current = trigger(1, "stalled", step="invite_teammate")
    paced = trigger(1, "step_due", step="getting_started_resource", send_decision="wait", decision_reason="paced")
    superseded = trigger(1, "step_due", step="invite_teammate", send_decision="skip", decision_reason="superseded")
    backfilled = trigger(2, "recovery", send_decision="skip", decision_reason="backfilled")
    plant(wh, people=[person(1), person(2)], triggers=[current, paced, superseded, backfilled])
    first = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert first.planned_events == 1 and set(server.state.events) == {event_id(current)}
    # A day later the paced nudge, re-checked by dbt, is decided 'send' at that clock: it goes out once,
    # stamped with the clock that decided it (not the one that first found it due).
    later = BASE + timedelta(hours=24)
    con = duckdb.connect(str(wh))
    try:
        con.execute(
            "update marts.onboarding_triggers set send_decision = 'send', decision_reason = 'current_state', "
            "decided_as_of = ? where trigger_id = ?", [later, paced["trigger_id"]])
    finally:
        con.close()
    early = sync_customerio(settings(), as_of=later - timedelta(hours=1), warehouse_path=wh)
    assert early.planned_events == 0  # not visible before the clock that decided it
    second = sync_customerio(settings(), as_of=later, warehouse_path=wh)
    assert second.planned_events == 1 and event_id(paced) in server.state.events
    assert server.state.events[event_id(paced)]["timestamp"] == int(later.timestamp())
    assert event_id(superseded) not in server.state.events and event_id(backfilled) not in server.state.events


def test_requests_are_packed_just_under_500kb(server: CustomerIOServer, wh: Path) -> None:
    big = "x" * 990
    plant(wh, people=[person(i, company_name=big, email=f"p{i}@example.com") for i in range(1500)])
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    sizes = [r.body_bytes for r in server.state.requests]
    assert result.sent == 1500 and len(server.state.people) == 1500
    assert len(sizes) >= 3 and all(s <= 500_000 for s in sizes)
    assert all(s > 480_000 for s in sizes[:-1])  # full requests, not many small ones
    assert {r.status for r in server.state.requests} == {200}


def test_oversized_request_is_split_until_it_fits(server: CustomerIOServer, wh: Path) -> None:
    plant(wh, people=[person(i, company_name="y" * 990) for i in range(700)])
    # A client that believes in bigger requests than the server takes: 413, then halves.
    result = sync_customerio(settings(max_request_bytes=2_000_000), as_of=BASE, warehouse_path=wh)
    statuses = [r.status for r in server.state.requests]
    assert statuses[0] == 413 and statuses.count(200) >= 2
    assert result.sent == 700 and result.parked == 0 and len(server.state.people) == 700


def test_rejected_operations_are_parked_and_the_rest_delivered(server: CustomerIOServer, wh: Path) -> None:
    server.state.reject_people.add("user_000004")
    plant(
        wh,
        people=[person(i) for i in range(10)] + [person(99, person_id="u" * 200)],
        triggers=[trigger(i) for i in range(10)],
    )
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    # the over-long id never leaves; user_000004's two operations are rejected by the server (207)
    assert result.invalid == 3 and result.sent == 18
    assert server.state.requests[0].status == 207
    assert "user_000004" not in server.state.people and len(server.state.people) == 9
    parked = rows(wh, "select item_id, status, last_error from ops.outbox where status = 'parked' order by 1")
    assert [p[0] for p in parked] == [
        f"event:{trigger(4)['trigger_id']}",
        "identify:user_000004",
        "identify:" + "u" * 200,
    ]
    assert all("@" not in (p[2] or "") for p in parked)
    # parked rows are not retried by later runs
    again = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert (again.sent, again.requests) == (0, 0)


def test_gate_holds_back_blocked_accounts_and_says_why(server: CustomerIOServer, wh: Path) -> None:
    plant(
        wh,
        people=[person(i) for i in range(6)],
        triggers=[trigger(i) for i in range(6)],
        gate=[("acct_000002", "events_schema", "3 events failed the tracking plan")],
    )
    first = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert first.skipped_gate == 2 and first.sent == 10
    assert "user_000002" not in server.state.people
    assert event_id(trigger(2)) not in server.state.events
    log = rows(wh, "select item_id, error from ops.sync_changelog where result = 'skipped_gate' order by 1")
    assert len(log) == 2 and all("events_schema" in e for _, e in log)

    # '*' closes the gate for everyone, including a change to an already-synced person
    plant(
        wh,
        people=[person(i, current_step="invite_teammate") for i in range(6)],
        gate=[("*", "raw_freshness", "no events for 6 hours")],
    )
    before = len(server.state.requests)
    blocked = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert blocked.sent == 0 and len(server.state.requests) == before
    assert blocked.skipped_gate == 6 + 1  # six changed people and the still-held trigger
    assert list(blocked.gate_reasons) == ["raw_freshness: no events for 6 hours"]
    assert blocked.gate_reasons["raw_freshness: no events for 6 hours"] == 7

    # gate open: everything held back goes out once
    plant(wh, gate=[])
    opened = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert opened.sent == 6 + 1
    assert server.state.people["user_000002"]["current_step"] == "invite_teammate"
    assert event_id(trigger(2)) in server.state.events
    assert all(n == 1 for n in server.event_receipt_counts().values())


def test_without_credentials_payloads_go_to_the_outbox_file(
    tmp_path: Path, wh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_API_KEY", "CUSTOMERIO_TRACK_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
    plant(wh, people=[person(i) for i in range(5)], triggers=[trigger(i) for i in range(5)])
    result = sync_customerio(CustomerIOResource().settings(), as_of=BASE, warehouse_path=wh)
    path = tmp_path / "home" / "outbox" / "customerio.jsonl"
    assert result.mode == "outbox" and result.outbox_file == str(path) and result.requests == 0
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(lines) == 10 and result.sent == 10
    ops = [line["operation"] for line in lines]
    assert [op["action"] for op in ops] == ["identify"] * 5 + ["event"] * 5
    assert {op["id"] for op in ops if op["action"] == "event"} == {event_id(trigger(i)) for i in range(5)}
    assert rows(wh, "select result, count(*) from ops.sync_changelog group by 1") == [("outbox", 10)]
    con = duckdb.connect(str(wh))
    try:
        last = latest_run(con, "customerio")
        assert last is not None and (last["mode"], last["status"], last["sent"]) == ("outbox", "success", 10)
        assert latest_run(con, "slack") is None
    finally:
        con.close()
    # second run: nothing new, nothing appended
    again = sync_customerio(CustomerIOResource().settings(), as_of=BASE, warehouse_path=wh)
    assert again.sent == 0 and len(path.read_bytes().splitlines()) == 10


def test_wrong_credentials_stop_the_run_and_lose_nothing(server: CustomerIOServer, wh: Path) -> None:
    plant(wh, people=[person(i) for i in range(3)], triggers=[trigger(i) for i in range(3)])
    with pytest.raises(CustomerIOAuthError):
        sync_customerio(settings(api_key="wrong"), as_of=BASE, warehouse_path=wh)
    assert [r.status for r in server.state.requests] == [401]
    assert rows(wh, "select status, error from ops.sync_runs")[0][0] == "failed"
    assert rows(wh, "select count(*) from ops.outbox where status = 'pending'") == [(6,)]
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert result.sent == 6 and len(server.state.events) == 3


def test_v1_is_the_fallback_when_v2_is_missing(server: CustomerIOServer, wh: Path) -> None:
    server.state.v2_enabled = False
    plant(wh, people=[person(i) for i in range(3)], triggers=[trigger(i) for i in range(3)])
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    paths = [r.path for r in server.state.requests]
    assert paths[0] == "/api/v2/batch" and all(p.startswith("/api/v1/customers/") for p in paths[1:])
    assert result.sent == 6 and len(paths) == 1 + 6
    assert set(server.state.events) == {event_id(trigger(i)) for i in range(3)}
    assert server.state.people["user_000001"]["account_id"] == "acct_000001"


def test_no_email_or_secret_in_the_sync_log(server: CustomerIOServer, wh: Path) -> None:
    server.state.reject_people.add("user_000001")
    plant(wh, people=[person(i) for i in range(3)])
    sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    text = json.dumps(
        rows(wh, "select * from ops.sync_changelog") + rows(wh, "select * from ops.sync_runs"), default=str
    )
    assert "@example.com" not in text and "key-test" not in text
    stored = outbox.local_outbox_path("customerio", wh.parent / "nowhere")
    assert not stored.exists()


def test_small_pages_chunks_and_plan_parts_change_nothing_but_memory(
    server: CustomerIOServer, wh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverse_etl import journal, runs
    from reverse_etl.customerio import plan as plan_module

    monkeypatch.setattr(runs, "PAGE_SIZE", 7)
    monkeypatch.setattr(plan_module, "PLAN_CHUNK", 5)
    monkeypatch.setattr(runs, "PLAN_PART_ROWS", 12)  # the plan committed in parts (runs.plan_part)
    commits: list[int] = []
    real_part = runs.plan_part

    def part(con, queued):  # type: ignore[no-untyped-def]
        left = real_part(con, queued)
        commits.extend([queued] if queued and not left else [])
        return left

    monkeypatch.setattr(runs, "plan_part", part)
    monkeypatch.setattr(journal, "FOLD_EVERY", 1)  # every batch folded as it is recorded
    plant(
        wh,
        people=[person(i) for i in range(30)],
        triggers=[trigger(i) for i in range(30)],
        gate=[("acct_000011", "events_schema", "bad")],
    )
    result = sync_customerio(settings(), as_of=BASE, warehouse_path=wh)
    assert (result.planned_identifies, result.planned_events, result.sent, result.skipped_gate) == (
        29,
        29,
        58,
        2,
    )
    assert result.requests == 1  # requests are packed across outbox pages, not per page
    assert len(commits) == 4 and all(c >= 12 for c in commits)  # 58 operations: four parts, then the rest
    assert len(server.state.people) == 29 and len(server.state.events) == 29
    plant(wh, gate=[])
    assert sync_customerio(settings(), as_of=BASE, warehouse_path=wh).sent == 2


def test_an_outbox_sync_leaves_pyarrow_dataset_and_acero_unimported(tmp_path: Path) -> None:
    """Splitting primary contacts from the rest is a boolean mask: an expression filter (`pc.field`) imports
    pyarrow.dataset and acero, ~0.15 s of an idle cycle's sync. A teammate's trigger makes the split happen."""
    import subprocess
    import sys

    script = f"""
import sys
from pathlib import Path
from reverse_etl.customerio import CustomerIOSettings, sync_customerio
from tests.servers.customerio_warehouse import BASE, person, plant, trigger
wh = Path({str(tmp_path / "warehouse.duckdb")!r})
plant(wh, people=[person(1)], triggers=[trigger(1), trigger(1, person_id="teammate_of_1", trigger_id="trg_teammate")])
result = sync_customerio(CustomerIOSettings(outbox_dir=Path({str(tmp_path / "outbox")!r})), as_of=BASE,
                         warehouse_path=wh)
assert (result.sent, result.not_primary_contact) == (2, 1), result
print(sorted(m for m in ("pyarrow.dataset", "pyarrow.acero") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
