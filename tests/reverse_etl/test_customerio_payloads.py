"""Pure pieces of the Customer.io sync: payload limits, batch packing, ids, retry rules, token bucket.

No server and no warehouse: these are the rules a bug in would turn into spam or lost sends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ulid import ULID

from reverse_etl.customerio import payloads
from reverse_etl.customerio.batching import pack, request_size
from reverse_etl.ids import deterministic_ulid, trigger_ulid
from reverse_etl.ratelimit import TokenBucket
from reverse_etl.retry import RetryPolicy, backoff_delay, is_retryable_status, parse_retry_after
from tests.servers.customerio_warehouse import person, trigger


def test_identify_carries_contract_attributes_as_unix_seconds_and_no_as_of() -> None:
    activated = datetime(2026, 11, 3, 12, 30, tzinfo=UTC)
    row = person(7, lifecycle_stage="activated", activated_at=activated, unsubscribed=1)
    op = payloads.identify_op(row).op
    attrs = op["attributes"]
    assert op["identifiers"] == {"id": "user_000007"} and op["action"] == "identify"
    for name in payloads.CONTRACT_ATTRIBUTES:
        assert name in attrs
    assert attrs["activated_at"] == int(activated.timestamp())
    assert attrs["created_at"] == attrs["signup_at"] == row["signup_at"]
    assert attrs["unsubscribed"] is True
    assert "as_of" not in attrs and "person_id" not in attrs
    assert list(attrs)[:6] == list(payloads.CONTRACT_ATTRIBUTES)


def test_long_values_are_cut_on_a_utf8_boundary_and_noted() -> None:
    shaped = payloads.identify_op(person(1, company_name="é" * 900))  # 1800 bytes
    value = shaped.op["attributes"]["company_name"]
    assert len(value.encode("utf-8")) <= payloads.MAX_VALUE_BYTES
    assert value == "é" * 500
    assert any("company_name" in note for note in shaped.notes)


def test_attribute_budget_keeps_contract_attributes_first() -> None:
    row = person(1) | {f"extra_{i:03d}": i for i in range(400)}
    shaped = payloads.identify_op(row)
    attrs = shaped.op["attributes"]
    assert len(attrs) <= payloads.MAX_ATTRIBUTES
    assert all(name in attrs for name in payloads.CONTRACT_ATTRIBUTES)
    assert any("beyond" in note for note in shaped.notes)


@pytest.mark.parametrize("person_id", ["", "   ", None, "u" * 151])
def test_bad_identifiers_are_invalid(person_id: str | None) -> None:
    with pytest.raises(payloads.InvalidOperation):
        payloads.identify_op(person(1, person_id=person_id))


def test_event_has_deterministic_ulid_unix_timestamp_and_contract_data() -> None:
    due = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    emitted = due + timedelta(days=4)  # events arrived late: decided four days after it was due
    row = trigger(3, "step_due", step="invite_teammate", due_at=due, emitted_as_of=emitted, payload=None)
    op = payloads.event_op(row).op
    assert op["name"] == "onboarding_step_due"
    assert op["id"] == trigger_ulid(row["trigger_id"], due) == payloads.event_op(row).op["id"]
    # timestamp = when the engine decided (Customer.io ignores events older than 72 h as triggers)
    assert op["timestamp"] == int(emitted.timestamp()) and op["attributes"]["due_at"] == int(due.timestamp())
    assert op["attributes"]["track"] == row["track"] and op["attributes"]["step"] == "invite_teammate"
    handoff = payloads.event_op(trigger(3, "handoff", payload="{}"), csm_owner="csm_9").op
    assert handoff["attributes"]["csm_owner"] == "csm_9"
    recovery = payloads.event_op(trigger(3, "recovery", attempt=2, payload=None)).op
    assert recovery["attributes"]["attempt"] == 2


def test_event_name_over_100_bytes_is_invalid() -> None:
    with pytest.raises(payloads.InvalidOperation):
        payloads.event_op(trigger(1, event_name="x" * 101))


def test_operation_over_32kb_is_invalid() -> None:
    row = trigger(1, payload=json.dumps({f"k{i}": "v" * 900 for i in range(40)}))
    with pytest.raises(payloads.InvalidOperation):
        payloads.event_op(row)


def test_unix_seconds_accepts_the_shapes_warehouses_produce() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    seconds = int(moment.timestamp())
    assert payloads.unix_seconds(moment) == seconds
    assert payloads.unix_seconds(moment.replace(tzinfo=None)) == seconds
    assert payloads.unix_seconds("2026-01-02T03:04:05Z") == seconds
    assert payloads.unix_seconds(seconds * 1000) == seconds
    assert payloads.unix_seconds(None) is None


def test_request_size_matches_what_the_client_serialises() -> None:
    ops = [payloads.identify_op(person(i)).op for i in range(5)]
    body = json.dumps({"batch": ops}, allow_nan=False).encode()
    assert request_size(payloads.op_size(op) for op in ops) == len(body)


def test_pack_keeps_order_and_every_request_under_the_limit() -> None:
    sizes = [300 + (i * 37) % 900 for i in range(2000)]
    batches = list(pack(((i, s) for i, s in enumerate(sizes)), max_bytes=20_000))
    assert [i for batch in batches for i in batch] == list(range(2000))
    for batch in batches:
        assert request_size(sizes[i] for i in batch) <= 20_000
    for batch, following in zip(batches, batches[1:], strict=False):
        # packed: the next item would not have fitted
        assert request_size(sizes[i] for i in [*batch, following[0]]) > 20_000


def test_deterministic_ulid_sorts_by_due_time_and_depends_on_the_key() -> None:
    due = datetime(2026, 11, 1, tzinfo=UTC)
    first = deterministic_ulid("a", due)
    assert first == deterministic_ulid("a", due)
    assert first != deterministic_ulid("b", due)
    assert ULID.from_str(first).milliseconds == int(due.timestamp() * 1000)
    assert deterministic_ulid("a", due + timedelta(hours=1)) > first


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-3") is None


def test_retry_rules() -> None:
    assert all(is_retryable_status(s) for s in (408, 429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 413))
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=4.0, max_retry_after=60)
    assert policy.should_retry(1, None) and policy.should_retry(2, 503) and not policy.should_retry(3, 503)
    assert not policy.should_retry(1, 400)
    assert policy.delay(1, retry_after=90) == 60
    assert 0 <= backoff_delay(10, base=1.0, cap=4.0) <= 4.0
    assert backoff_delay(3, base=1.0, cap=100, rng=lambda: 1.0) == 4.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_spaces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(31):
        bucket.acquire()
        stamps.append(clock.now)
    # never more than 10 in any half-open one-second window
    assert max(sum(1 for t in stamps if start <= t < start + 1) for start in stamps) == 10
    assert stamps[-1] == pytest.approx(3.0)


def test_token_bucket_pause_holds_everyone() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.pause(2.0)
    bucket.acquire()
    assert clock.now >= 2.0


def test_token_bucket_headroom_runs_below_the_limit() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, headroom=0.5, clock=clock, sleep=clock.sleep)
    for _ in range(51):
        bucket.acquire()
    assert clock.now == pytest.approx(1.0)


def test_client_hosts_follow_region_and_track_host_override() -> None:
    from reverse_etl.customerio.settings import CustomerIOSettings
    from reverse_etl.customerio.transport import build_client, scrub

    us = build_client(CustomerIOSettings(site_id="s", api_key="k"))
    eu = build_client(CustomerIOSettings(site_id="s", api_key="k", region="eu"))
    local = build_client(CustomerIOSettings(site_id="s", api_key="k", track_host="127.0.0.1:8443"))
    assert us.base_url == "https://track.customer.io/api/v1"
    assert eu.base_url == "https://track-eu.customer.io/api/v1"
    assert local.base_url == "https://127.0.0.1:8443/api/v1"
    assert local.http.auth == ("s", "k")
    with pytest.raises(ValueError):
        CustomerIOSettings(region="mars")
    assert "topsecret" not in repr(CustomerIOSettings(site_id="s", api_key="topsecret"))
    assert scrub('HTTP 400: {"email": "jane.doe@example.com"}') == 'HTTP 400: {"email": "<email>"}'


def test_pacing_leaves_room_for_a_delayed_request() -> None:
    from reverse_etl.customerio.settings import CustomerIOSettings

    for limit in (5, 20, 100, 1000):
        paced = CustomerIOSettings(rate_per_second=limit).effective_rate
        # limit + 1 sequential arrivals are separated by at least limit - 1 spacings of 1/paced s
        assert (limit - 1) / paced > 1.0 and paced <= 0.95 * limit


@pytest.mark.parametrize("text", ["\x7f" * 5_500, "é" * 5_500, "😀" * 2_800, "x" * 33_000])
def test_the_size_bound_never_lets_an_operation_the_client_writes_over_32kb_through(text: str) -> None:
    """orjson's compact UTF-8 is far smaller than the client's ASCII-escaped JSON for these (up to 6x): the
    bound leaves them to the exact measure, which refuses them."""
    op = {"type": "person", "identifiers": {"id": "u1"}, "action": "identify", "attributes": {"a": text}}
    assert payloads.op_size(op) > payloads.MAX_OPERATION_BYTES
    with pytest.raises(payloads.InvalidOperation):
        payloads.check_size(op)


def test_the_size_bound_lets_ordinary_operations_through_unmeasured() -> None:
    op = payloads.identify_op(person(1)).op
    assert payloads.check_size(op) is None and payloads.op_size(op) < payloads.MAX_OPERATION_BYTES
    assert payloads.check_size({"attributes": {"a": "é" * 5_000}}) == payloads.op_size({"attributes": {"a": "é" * 5_000}})
