"""One HubSpot sync run: diff -> outbox -> batches of 100 -> CRM v3 (or the local outbox file).

Three kinds of outbox items, delivered in this order (their priority), each in batches of at
most 100 inputs (HubSpot's batch limit):
- `company:<account_id>`: the company, upserted by `onboarding_account_id` (a unique property the
  sync creates), so a resend can never create a second record. A company not yet linked is first
  looked for by its domain (CRM search); a match is updated by its id and linked, not duplicated;
- `contact:<person_id>`: the primary contact, upserted by e-mail (HubSpot's contact identity);
- `association:<account_id>`: contact -> company (the default association, v4 batch API), sent
  once both HubSpot ids are known (ops.hubspot_objects); until then it waits, untouched;
- `task:<task_id>`: a milestone of the account's 30-day plan (marts.crm_plan_tasks) as a HubSpot task
  with its due date, upserted by `onboarding_task_id` (created once, updated when its status moves);
- `note:<account_id>`: the kickoff briefing (drafted by the Slack sync, ops.slack_recovery_drafts) as a
  note, upserted by `onboarding_note_id`;
- `task_link:<task_id>` / `note_link:<account_id>`: task or note -> company, like the contact's.
Order of durability, as in the Customer.io sync: the plan is written to ops.outbox before any
request; each batch HubSpot accepted is journaled (ops.sync_journal, one append) in one short
transaction before the next request, and folded into ops.outbox (sent), ops.sync_snapshot,
ops.sync_changelog and ops.hubspot_objects every 10,000 operations, at the end of the run, or first
thing in the next run if this one was killed (journal.py). So a batch that succeeded is never sent
again and a killed run resumes where it stopped (at most the batch in flight is resent, and every
operation is an upsert or an association: a repeat changes nothing).
Failures count one attempt per row; after `max_item_attempts` rows are parked. A 400 is halved
until the offending row is alone, then it is parked as invalid. A 429 of the DAILY policy stops
the run (everything stays pending for tomorrow); 401/403 stop it with HubSpotAuthError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from ulid import ULID

from reverse_etl import columns, connection, journal, ops_tables, outbox, runs
from reverse_etl.gate import Gate
from reverse_etl.hubspot import properties as props
from reverse_etl.hubspot.diff import (
    CHANNEL,
    changed_associations,
    changed_companies,
    changed_contacts,
    changed_links,
    changed_notes,
    changed_tasks,
)
from reverse_etl.hubspot.settings import HubSpotSettings
from reverse_etl.redact import scrub
from reverse_etl.synclog import ChangeRow, log_changes

PRIORITY = {"company": 0, "contact": 1, "association": 2, "task": 3, "note": 4, "task_link": 5, "note_link": 6}
# Upserted objects: the unique property each is matched by, and its plural name.
UPSERT_BY = {"company": props.ACCOUNT_ID_PROPERTY, "contact": "email", "task": props.TASK_ID_PROPERTY,
             "note": props.NOTE_ID_PROPERTY}
PLURAL = {"company": "companies", "contact": "contacts", "task": "tasks", "note": "notes"}
# Associations to the account's company: the kind of object each link starts from.
LINK_FROM = {"association": "contact", "task_link": "task", "note_link": "note"}
# The diff column that keys each kind's outbox item (account_id otherwise).
KEY_COLUMN = {"contact": "person_id", "task": "task_id", "task_link": "key", "note_link": "key"}
PLAN_CHUNK = 10_000
ENDPOINTS = {
    ("company", "upsert"): "/crm/v3/objects/companies/batch/upsert",
    ("company", "update"): "/crm/v3/objects/companies/batch/update",
    ("contact", "upsert"): "/crm/v3/objects/contacts/batch/upsert",
    ("association", "associate"): "/crm/v4/associations/contacts/companies/batch/associate/default",
    ("task", "upsert"): "/crm/v3/objects/tasks/batch/upsert",
    ("note", "upsert"): "/crm/v3/objects/notes/batch/upsert",
    ("task_link", "associate"): "/crm/v4/associations/tasks/companies/batch/associate/default",
    ("note_link", "associate"): "/crm/v4/associations/notes/companies/batch/associate/default",
}

OBJECTS_DDL = ops_tables.HUBSPOT_OBJECTS


class HubSpotAuthError(RuntimeError):
    """HubSpot refused the token (401/403): nothing more can be sent this run."""


@dataclass
class SyncResult(runs.SyncResult):
    planned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRIORITY, 0))
    waiting: int = 0  # associations whose company or contact is not in HubSpot yet
    created: int = 0
    updated: int = 0
    matched_by_domain: int = 0
    properties_created: int = 0
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    announced_limit: str | None = None

    @property
    def planned_changes(self) -> int:
        return sum(self.planned.values())

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "planned": self.planned,
            "created": self.created,
            "updated": self.updated,
            "matched_by_domain": self.matched_by_domain,
            "waiting": self.waiting,
            "properties_created": self.properties_created,
            "pending_left": self.pending_left,
            "requests_by_endpoint": self.requests_by_endpoint,
            "announced_limit": self.announced_limit,
            "gate_reasons": self.gate_reasons,
            "parked_ids": self.parked_ids[:50],
            "outbox_file": self.outbox_file,
        }


# -- plan -------------------------------------------------------------------------------------------


def _delivered(row: dict[str, Any]) -> dict[str, Any] | None:
    raw = row.get("_delivered")
    return orjson.loads(raw) if raw else None


def _shape(kind: str, row: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """(item_id, account_id, payload) of one changed row; raises InvalidRecord."""
    if kind == "company":
        full = props.company_properties(row)
        send = props.changed(full, _delivered(row), always=(props.ACCOUNT_ID_PROPERTY,))
        payload = {"key": row["account_id"], "properties": send, "full": full, "row_hash": row["_row_hash"]}
        return f"company:{row['account_id']}", row["account_id"], payload
    if kind == "contact":
        full = props.contact_properties(row)
        send = props.changed(full, _delivered(row), always=("email",))
        payload = {"key": row["person_id"], "properties": send, "full": full, "row_hash": row["_row_hash"]}
        return f"contact:{row['person_id']}", row["account_id"], payload
    if kind in ("task", "note"):
        full = props.task_properties(row) if kind == "task" else props.note_properties(row)
        send = props.changed(full, _delivered(row), always=(UPSERT_BY[kind],))
        key = row["task_id"] if kind == "task" else row["account_id"]
        payload = {"key": key, "properties": send, "full": full, "row_hash": row["_row_hash"]}
        return f"{kind}:{key}", row["account_id"], payload
    if kind in ("task_link", "note_link"):
        payload = {"key": row["key"], "account_id": row["account_id"], "row_hash": row["_row_hash"]}
        return f"{kind}:{row['key']}", row["account_id"], payload
    payload = {"key": row["account_id"], "person_id": row["person_id"], "row_hash": row["_row_hash"]}
    return f"association:{row['account_id']}", row["account_id"], payload


def _link_ends(item: outbox.OutboxItem) -> tuple[str, str, str]:
    """(object type it starts from, that object's key, the company's account_id) of a link item."""
    payload = item.payload
    if item.kind == "association":
        return "contact", str(payload["person_id"]), str(payload["key"])
    return LINK_FROM[item.kind], str(payload["key"]), str(payload["account_id"])


def _plan(con: Any, *, run_id: str, now: datetime, gate: Gate, result: SyncResult) -> None:
    """Diff the mart, queue what changed (gated accounts excepted), park what can never be sent."""
    started = time.perf_counter()
    # The diffs read only what is committed (the plan's transaction has written nothing yet): side by side,
    # the companies' and the contacts' hashes of 100k rows each take a core.
    tables = connection.concurrently(con, {
        "company": changed_companies,
        "contact": changed_contacts,
        "association": changed_associations,
        "task": changed_tasks,
        "note": changed_notes,
        "task_link": lambda cursor: changed_links(cursor, "task_link"),
        "note_link": lambda cursor: changed_links(cursor, "note_link"),
    })
    result.diff_seconds = time.perf_counter() - started
    # The seven kinds' items are queued together, PLAN_CHUNK at a time, not per kind: each enqueue joins the
    # channel's whole outbox, and an idle cycle's few hundred items took seven such calls (~0.1 s).
    queued: list[outbox.NewItem] = []
    invalid: list[tuple[outbox.NewItem, str]] = []
    uncommitted = 0
    for kind, table in tables.items():
        if table is None:
            continue
        for chunk in table.to_batches(max_chunksize=PLAN_CHUNK):
            held: list[ChangeRow] = []
            for row in runs.python_rows(chunk):
                account_id = row.get("account_id")
                key = row.get(KEY_COLUMN.get(kind, "account_id"))
                item_id = f"{kind}:{key}"
                reason = gate.reason(account_id)
                if reason:
                    held.append(ChangeRow(item_id, kind, "skipped_gate", account_id, key, error=reason))
                    continue
                try:
                    item_id, account_id, payload = _shape(kind, row)
                except (props.InvalidRecord, ValueError, TypeError) as exc:
                    bad = {"key": key, "invalid": str(exc), "row_hash": row["_row_hash"]}
                    invalid.append((outbox.NewItem(item_id, kind, bad, account_id, PRIORITY[kind]), str(exc)))
                    continue
                queued.append(outbox.NewItem(item_id, kind, payload, account_id, PRIORITY[kind]))
                result.planned[kind] += 1
            runs.count_held(result, held)
            log_changes(con, run_id, CHANNEL, held, now=now)
            if len(queued) + len(invalid) >= PLAN_CHUNK:
                _queue(con, queued, invalid, run_id=run_id, now=now, result=result)
                uncommitted = runs.plan_part(con, uncommitted + len(queued) + len(invalid))
                queued, invalid = [], []
    _queue(con, queued, invalid, run_id=run_id, now=now, result=result)


def _queue(con: Any, queued: list[outbox.NewItem], invalid: list[tuple[outbox.NewItem, str]], *, run_id: str,
           now: datetime, result: SyncResult) -> None:
    """Write a part of the plan: queue the good, park the invalid (logged `invalid`)."""
    outbox.enqueue(con, CHANNEL, queued + [bad for bad, _ in invalid], now=now, run_id=run_id)
    for bad, error in invalid:
        if outbox.mark_failed(con, CHANNEL, [bad.item_id], f"invalid: {error}", now=now, run_id=run_id, park=True):
            result.invalid += 1
            result.parked_ids.append(bad.item_id)
            log_changes(con, run_id, CHANNEL, [ChangeRow(bad.item_id, bad.kind, "invalid", bad.account_id,
                                                         bad.payload.get("key"), error=error)], now=now)


def _change(item: outbox.OutboxItem, result: str, *, mode: str | None = None, hubspot_id: str | None = None,
            error: str | None = None) -> ChangeRow:
    """One changelog row: operation = kind, event_name = the HubSpot operation, event_id = its record id."""
    return ChangeRow(item.item_id, item.kind, result, item.account_id, item.payload.get("key"),
                     event_name=mode, event_id=hubspot_id, error=error, attempt=item.attempts + 1)


# -- deliver ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    """One operation HubSpot accepted: how it went (upsert/update/associate) and the record id it has."""

    item: outbox.OutboxItem
    mode: str
    hubspot_id: str
    new: bool | None = None


# A fold (journal.py) also keeps the HubSpot id of each company, contact, task and note delivered, and how
# it was matched, so associations and later runs can use it.
IDS_FOLD = f"""
    insert into ops.hubspot_objects
    select operation, entity_key, event_id,
           case when event_name = 'update' then 'domain'
                {" ".join(f"when operation = '{kind}' then '{by}'" for kind, by in UPSERT_BY.items())} end,
           recorded_at
    from ops.sync_journal
    where channel = ? and result = 'sent' and operation in ({", ".join(f"'{kind}'" for kind in UPSERT_BY)})
    qualify row_number() over (partition by operation, entity_key order by recorded_at desc) = 1
    on conflict (object_type, key) do update set hubspot_id = excluded.hubspot_id,
        matched_by = excluded.matched_by, updated_at = excluded.updated_at
"""
# HubSpot ids held in memory before they are dropped (after a fold, so the table has them all).
KNOWN_IDS_HELD = 50_000


class _Deliverer(runs.Deliverer):
    """Sends pending items batch by batch and records each result as it happens."""

    channel = CHANNEL
    fold_also = (IDS_FOLD,)

    def __init__(self, settings: HubSpotSettings, transport: Any, *, con: Any, run_id: str,
                 clock: Callable[[], datetime], result: SyncResult) -> None:
        super().__init__(settings, transport, con=con, run_id=run_id, clock=clock, result=result)
        self.stopped = False
        # HubSpot ids this run knows, by (object type, key); None: not in HubSpot when looked up.
        self._ids: dict[tuple[str, str], str | None] = {}

    # - bookkeeping -
    def change(self, item: outbox.OutboxItem, result: str, error: str | None) -> ChangeRow:
        return _change(item, result, error=error)

    def answered(self, answers: Sequence[Answer], failed: Sequence[tuple[outbox.OutboxItem, str]] = (),
                 invalid: Sequence[tuple[outbox.OutboxItem, str]] = (), label: str = "sent") -> None:
        """Record a batch's outcome; an accepted item leaves its snapshot (and, sent, its HubSpot id)."""
        delivered = []
        for answer in answers:
            item = answer.item
            if item.kind == "association":
                kept = {"person_id": item.payload["person_id"]}
            elif item.kind in LINK_FROM:
                kept = {"account_id": item.payload["account_id"]}
            else:
                kept = item.payload.get("full")
            delivered.append(journal.Delivered(
                _change(item, label, mode=answer.mode, hubspot_id=answer.hubspot_id or None),
                item.item_id, item.payload["row_hash"], kept))
        self.record(delivered, failed, invalid, fold=label == "outbox")  # a page of the local file: folded at once
        if label == "sent":
            self._ids.update(((a.item.kind, str(a.item.payload["key"])), a.hubspot_id)
                             for a in answers if a.item.kind not in LINK_FROM)
        self.result.created += sum(1 for a in answers if a.new is True)
        self.result.updated += sum(1 for a in answers if a.new is False)

    def known_ids(self, object_type: str, keys: Iterable[str]) -> dict[str, str]:
        """{key: HubSpot id} of the keys HubSpot has a record for."""
        keys = set(keys)
        self._look_up({(object_type, key) for key in keys})
        return {key: found for key in keys if (found := self._ids.get((object_type, key)))}

    def _look_up(self, pairs: set[tuple[str, str]]) -> None:
        """Read the ids of pairs not known yet from ops.hubspot_objects, in one query."""
        missing = [pair for pair in pairs if pair not in self._ids]
        if not missing:
            return
        self.con.register("_hubspot_keys", columns.table(self.con, {"object_type": ("varchar", [p[0] for p in missing]),
                                                                    "key": ("varchar", [p[1] for p in missing])}))
        try:
            found = self.con.execute(
                "select o.object_type, o.key, o.hubspot_id from ops.hubspot_objects o "
                "join _hubspot_keys k on o.object_type = k.object_type and o.key = k.key"
            ).fetchall()
        finally:
            self.con.unregister("_hubspot_keys")
        self._ids.update(dict.fromkeys(missing))
        self._ids.update(((t, k), i) for t, k, i in found)

    def _prefetch(self, page: Sequence[outbox.OutboxItem]) -> None:
        """The ids a page of items will ask for, in one query rather than one per batch."""
        if len(self._ids) > KNOWN_IDS_HELD:
            self.fold()  # what this run sent is in the table now: the memory can go
            self._ids.clear()
        pairs: set[tuple[str, str]] = set()
        for item in page:
            if item.kind in LINK_FROM:
                from_type, from_key, company = _link_ends(item)
                pairs.update(((from_type, from_key), ("company", company)))
            elif item.kind == "company" and self.settings.match_by_domain:
                pairs.add(("company", str(item.payload["key"])))
        self._look_up(pairs)

    # - the flow -
    def deliver(self, items: Iterable[outbox.OutboxItem]) -> None:
        """Group the (lazy, priority-ordered) stream by kind into batches of at most `batch_size`."""
        batch: list[outbox.OutboxItem] = []
        stream = iter(items)
        while page := list(islice(stream, runs.PAGE_SIZE)):
            self._prefetch(page)
            for item in page:
                if batch and (item.kind != batch[0].kind or len(batch) >= self.settings.batch_size):
                    self.send(batch)
                    batch = []
                if self.stopped:
                    return
                batch.append(item)
        if batch and not self.stopped:
            self.send(batch)

    def send(self, batch: list[outbox.OutboxItem]) -> None:
        if self.consecutive_failures >= self.settings.circuit_breaker_batches:
            self.stop(f"stopped after {self.consecutive_failures} batches failed in a row; "
                      "the rest stays pending for the next run")
            return
        kind = batch[0].kind
        if kind == "company":
            self._send_companies(batch)
        elif kind in LINK_FROM:
            self._send_links(batch)
        else:
            self.request(kind, "upsert", batch)

    def stop(self, reason: str) -> None:
        self.stopped = True
        self.result.error = reason

    def _send_companies(self, batch: list[outbox.OutboxItem]) -> None:
        matches: dict[str, str] = {}
        if self.settings.match_by_domain:
            known = self.known_ids("company", [i.payload["key"] for i in batch])
            unknown = [i for i in batch if i.payload["key"] not in known and i.payload["full"].get("domain")]
            matches = self._search_domains(unknown)
            if self.stopped:
                return
        by_domain = [i for i in batch if i.item_id in matches]
        if by_domain:
            self.request("company", "update", by_domain, ids=matches)
        rest = [i for i in batch if i.item_id not in matches]
        if rest and not self.stopped:
            self.request("company", "upsert", rest)

    def _search_domains(self, items: list[outbox.OutboxItem]) -> dict[str, str]:
        """{item_id: HubSpot id} of companies found by domain that no other account has claimed."""
        from hubspot.crm.companies import Filter, FilterGroup, PublicObjectSearchRequest

        by_domain: dict[str, list[outbox.OutboxItem]] = {}
        for item in items:
            by_domain.setdefault(item.payload["full"]["domain"], []).append(item)
        if not by_domain:
            return {}
        found: dict[str, tuple[str, str]] = {}  # domain -> (id, onboarding_account_id)
        after: str | None = None
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[Filter(property_name="domain", operator="IN",
                                                           values=sorted(by_domain))])],
                properties=["domain", props.ACCOUNT_ID_PROPERTY],
                sorts=["hs_object_id"],
                limit=200,
                after=after,
            )
            outcome = self.transport.call(
                "/crm/v3/objects/companies/search",
                lambda request=request: self.transport.company_search.do_search_with_http_info(
                    request, _request_timeout=self.settings.timeout_seconds, _preload_content=False),
                search=True,
            )
            if not outcome.ok:
                self._failed_request(items, outcome)
                return {}
            for record in outcome.data.get("results") or []:
                values = record.get("properties") or {}
                domain = (values.get("domain") or "").lower()
                # the oldest record of a domain wins (results sorted by id); one claimed by another account is not ours
                if domain in by_domain and domain not in found:
                    found[domain] = (str(record["id"]), values.get(props.ACCOUNT_ID_PROPERTY) or "")
            after = ((outcome.data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        matches: dict[str, str] = {}
        for domain, (hubspot_id, claimed_by) in found.items():
            candidates = by_domain[domain]
            if claimed_by:
                continue  # linked to an account already: this account gets its own record
            matches[candidates[0].item_id] = hubspot_id  # two new accounts of one domain: the first is linked
        return matches

    @staticmethod
    def _body(kind: str, mode: str, items: list[outbox.OutboxItem], ids: dict[str, str]) -> dict[str, Any]:
        """The batch as HubSpot's JSON. The client sends it as is: building its input models (and having it
        take them apart again) cost more CPU per batch than our whole record-keeping."""
        if kind in LINK_FROM:
            inputs = []
            for item in items:
                from_type, from_key, company = _link_ends(item)
                inputs.append({"from": {"id": ids[f"{from_type}:{from_key}"]}, "to": {"id": ids[f"company:{company}"]}})
        elif mode == "update":
            # A record found by domain is someone else's so far: send every value and link it.
            inputs = [{"id": ids[i.item_id], "properties": {k: v for k, v in i.payload["full"].items() if v != ""}}
                      for i in items]
        else:
            id_property = UPSERT_BY[kind]
            inputs = [{"id": i.payload["full"][id_property], "idProperty": id_property,
                       "properties": i.payload["properties"]} for i in items]
        return {"inputs": inputs}

    def request(self, kind: str, mode: str, items: list[outbox.OutboxItem], ids: dict[str, str] | None = None) -> None:
        """One batch request and what it came to (halved on a 400 until the offending row is alone)."""
        ids = ids or {}
        body = self._body(kind, mode, items, ids)
        timeout = self.settings.timeout_seconds
        if kind in LINK_FROM:
            def send() -> Any:
                return self.transport.associations.create_default_with_http_info(
                    PLURAL[LINK_FROM[kind]], "companies", body, _request_timeout=timeout, _preload_content=False)
        elif mode == "update":
            def send() -> Any:
                return self.transport.batch_api(kind).update_with_http_info(
                    body, _request_timeout=timeout, _preload_content=False)
        else:
            def send() -> Any:
                return self.transport.batch_api(kind).upsert_with_http_info(
                    body, _request_timeout=timeout, _preload_content=False)
        size = len(orjson.dumps(body))
        outcome = self.transport.call(ENDPOINTS[(kind, mode)], send, size=size)
        if outcome.ok:
            self.consecutive_failures = 0
            self._settle(kind, mode, items, ids, outcome.data)
        elif outcome.status in (401, 403):
            raise HubSpotAuthError(f"HubSpot refused the access token (HTTP {outcome.status})")
        elif outcome.status is not None and 400 <= outcome.status < 500 and outcome.status not in (408, 429):
            if len(items) > 1:
                middle = len(items) // 2
                self.request(kind, mode, items[:middle], ids)
                self.request(kind, mode, items[middle:], ids)
            else:
                self.answered([], invalid=[(items[0], outcome.detail)])
        else:
            self._failed_request(items, outcome)

    def _failed_request(self, items: list[outbox.OutboxItem], outcome: Any) -> None:
        if outcome.status in (401, 403):
            raise HubSpotAuthError(f"HubSpot refused the access token (HTTP {outcome.status})")
        if outcome.policy == "DAILY":
            self.stop("HubSpot's daily request limit is used up; everything stays pending for the next run")
            return
        self.consecutive_failures += 1
        self.answered([], failed=[(i, outcome.detail or "no response") for i in items])

    def _settle(self, kind: str, mode: str, items: list[outbox.OutboxItem], ids: dict[str, str], data: Any) -> None:
        """Match the answer's results to the items (HubSpot does not promise their order)."""
        results = list(data.get("results") or [])
        delivered: list[Answer] = []
        if kind in LINK_FROM:
            pairs = {(str(r["from"]["id"]), str(r["to"]["id"])) for r in results}
            for item in items:
                from_type, from_key, company = _link_ends(item)
                pair = (ids[f"{from_type}:{from_key}"], ids[f"company:{company}"])
                if pair in pairs:
                    delivered.append(Answer(item, mode, f"{pair[0]}->{pair[1]}"))
        else:
            if mode == "update":
                by_key = {str(r["id"]): r for r in results}
                lookup = {i.item_id: by_key.get(ids[i.item_id]) for i in items}
            else:
                id_property = UPSERT_BY[kind]
                by_key = {str((r.get("properties") or {}).get(id_property) or "").lower(): r for r in results}
                lookup = {i.item_id: by_key.get(str(i.payload["full"][id_property]).lower()) for i in items}
            for item in items:
                record = lookup.get(item.item_id)
                if record is not None:
                    new = record.get("new")
                    delivered.append(Answer(item, mode, str(record["id"]), new if mode == "upsert" else False))
            if mode == "update":
                self.result.matched_by_domain += len(delivered)
        done = {d.item.item_id for d in delivered}
        missing = [i for i in items if i.item_id not in done]
        errors = list(data.get("errors") or [])
        detail = "; ".join(f"{e.get('category')}: {e.get('message')}" for e in errors)[:300] or "not in HubSpot's answer"
        detail = scrub(detail)
        # 207: the named inputs were rejected. Validation errors will not heal; anything else is retried.
        if any(e.get("category") == "VALIDATION_ERROR" for e in errors):
            self.answered(delivered, invalid=[(i, detail) for i in missing])
        else:
            self.answered(delivered, failed=[(i, detail) for i in missing])

    def _send_links(self, batch: list[outbox.OutboxItem]) -> None:
        """Associations whose two ends are both in HubSpot; the others wait, pending, without an attempt."""
        ends = [_link_ends(i) for i in batch]
        from_type = ends[0][0]
        starts = self.known_ids(from_type, [e[1] for e in ends])
        companies = self.known_ids("company", [e[2] for e in ends])
        ready, ids = [], {}
        for item, (_, from_key, company) in zip(batch, ends, strict=True):
            start, target = starts.get(from_key), companies.get(company)
            if start and target:
                ids[f"company:{company}"], ids[f"{from_type}:{from_key}"] = target, start
                ready.append(item)
        self.result.waiting += len(batch) - len(ready)  # stays pending: no attempt counted
        if ready:
            self.request(batch[0].kind, "associate", ready, ids)


def _ensure_properties(con: Any, transport: Any, settings: HubSpotSettings, result: SyncResult) -> None:
    """Create the onboarding properties the portal lacks, once per definition set.

    Done is remembered in ops.hubspot_objects (object_type 'properties', the definitions' hash), so
    the hourly run makes no request for it; a changed definition (a new property) checks again.
    """
    pending = {kind for (kind,) in con.execute(
        "select distinct kind from ops.outbox where channel = ? and status = ?", [CHANNEL, outbox.PENDING]
    ).fetchall()}
    needed = ["companies", "contacts"] + [PLURAL[k] for k in ("task", "note") if k in pending]
    for object_type in needed:
        definitions = (props.property_definitions(object_type) if object_type in ("companies", "contacts")
                       else props.activity_definitions(object_type))
        version = outbox.payload_hash(definitions)
        if con.execute("select 1 from ops.hubspot_objects where object_type = 'properties' and key = ? "
                       "and hubspot_id = ?", [object_type, version]).fetchall():
            continue
        outcome = transport.call(
            f"/crm/v3/properties/{object_type}",
            lambda object_type=object_type: transport.properties.get_all_with_http_info(
                object_type, _request_timeout=settings.timeout_seconds, _preload_content=False),
        )
        _require(outcome, f"read HubSpot's {object_type} properties")
        have = {p.get("name") for p in outcome.data.get("results") or []}
        missing = [d for d in definitions if d["name"] not in have]
        if missing:
            _require(_create_properties(transport, settings, object_type, missing),
                     f"create HubSpot {object_type} properties")
            result.properties_created += len(missing)
        con.execute(
            "insert or replace into ops.hubspot_objects values ('properties', ?, ?, 'definitions', ?)",
            [object_type, version, datetime.now(UTC)],
        ).fetchall()


def _require(outcome: Any, what: str) -> None:
    if outcome.status in (401, 403):
        raise HubSpotAuthError(f"HubSpot refused the access token (HTTP {outcome.status})")
    if not outcome.ok:
        raise RuntimeError(f"could not {what}: {outcome.detail}")


def _create_properties(transport: Any, settings: HubSpotSettings, object_type: str,
                       missing: list[dict[str, Any]]) -> Any:
    from hubspot.crm.properties import BatchInputPropertyCreate, PropertyCreate

    body = BatchInputPropertyCreate(inputs=[
        PropertyCreate(name=d["name"], label=d["label"], type=d["type"], field_type=d["fieldType"],
                       group_name=d["groupName"], description=d["description"],
                       has_unique_value=d.get("hasUniqueValue", False))
        for d in missing
    ])
    return transport.call(
        f"/crm/v3/properties/{object_type}/batch/create",
        lambda: transport.property_batches.create_with_http_info(
            object_type, body, _request_timeout=settings.timeout_seconds, _preload_content=False),
    )


# -- without a token --------------------------------------------------------------------------------


def local_operation(item: outbox.OutboxItem) -> dict[str, Any]:
    """The operation as it would be sent, for the local outbox (HubSpot ids are not known offline)."""
    payload = item.payload
    if item.kind in LINK_FROM:
        from_type, from_key, company = _link_ends(item)
        return {
            "endpoint": ENDPOINTS[(item.kind, "associate")],
            "input": {"from": {"idProperty": "person_id" if from_type == "contact" else UPSERT_BY[from_type],
                               "id": from_key if from_type == "contact" else payload_id(from_type, from_key)},
                      "to": {"idProperty": props.ACCOUNT_ID_PROPERTY, "id": company}},
        }
    id_property = UPSERT_BY[item.kind]
    return {
        "endpoint": ENDPOINTS[(item.kind, "upsert")],
        "input": {"id": payload["full"][id_property], "idProperty": id_property, "properties": payload["properties"]},
    }


def payload_id(kind: str, key: str) -> str:
    """The unique-property value a task or note is upserted by (what its link names offline)."""
    return props.note_id(key) if kind == "note" else key


def _write_local(items: Sequence[outbox.OutboxItem], *, run_id: str, as_of: datetime | None,
                 directory: Path | None) -> str:
    stamp = as_of.astimezone(UTC).isoformat() if as_of else None
    path, _ = outbox.write_local(
        CHANNEL,
        ({"run_id": run_id, "as_of": stamp, "item_id": i.item_id, "object": i.kind, **local_operation(i)}
         for i in items),
        directory,
    )
    return str(path)


# -- entry point ------------------------------------------------------------------------------------


def sync_hubspot(
    settings: HubSpotSettings,
    *,
    as_of: datetime | None = None,
    run_id: str | None = None,
    warehouse_path: Path,
    memory_limit: str | None = None,
    outbox_directory: Path | None = None,
    transport: Any | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncResult:
    """Run one sync: everything changed since the last delivery, nothing else, nothing twice."""
    run_id = run_id or str(ULID())
    mode = "api" if settings.has_credentials else "outbox"
    result = SyncResult(run_id=run_id, mode=mode)
    started_wall, started = clock(), time.perf_counter()
    with connection.connect(warehouse_path, memory_limit=memory_limit) as con:
        con.execute("create schema if not exists ops")
        ops_tables.ensure(con, OBJECTS_DDL)
        gate = runs.open_run(con, CHANNEL, run_id, as_of=as_of, mode=mode, started_at=started_wall,
                             plan=lambda gate: _plan(con, run_id=run_id, now=started_wall, gate=gate, result=result),
                             fold_also=_Deliverer.fold_also)
        own_transport = transport is None and mode == "api"
        page_size = runs.page_size(mode)
        deliverable = runs.deliverable(con, CHANNEL, gate, run_id=run_id, clock=clock, result=result,
                                       hold=lambda item, reason: _change(item, "skipped_gate", error=reason),
                                       page_size=page_size)
        try:
            if mode == "outbox":
                deliverer = _Deliverer(settings, None, con=con, run_id=run_id, clock=clock, result=result)
                while page := list(islice(deliverable, page_size)):
                    result.outbox_file = _write_local(page, run_id=run_id, as_of=as_of, directory=outbox_directory or settings.outbox_dir)
                    deliverer.answered([Answer(i, "upsert", "") for i in page], label="outbox")
            elif outbox.status_counts(con, CHANNEL)[outbox.PENDING]:
                transport = transport or _transport(settings)
                _ensure_properties(con, transport, settings, result)
                _Deliverer(settings, transport, con=con, run_id=run_id, clock=clock, result=result).deliver(deliverable)
        except HubSpotAuthError as exc:
            result.error, result.status = str(exc), "failed"
            raise
        except RuntimeError as exc:
            result.error, result.status = str(exc), "failed"
        finally:
            if transport is not None:
                result.requests_by_endpoint = dict(transport.stats.by_endpoint)
                result.announced_limit = transport.stats.announced_limit
                if own_transport:
                    transport.close()
            runs.close_run(con, CHANNEL, run_id, result, stats=transport.stats if transport else None,
                           started=started, clock=clock, fold_also=_Deliverer.fold_also)
    return result


def _transport(settings: HubSpotSettings) -> Any:
    from reverse_etl.hubspot.transport import Transport  # the client is imported only when sending

    return Transport(settings)
