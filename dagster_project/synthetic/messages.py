"""One account's plan rendered as Segment-spec lines, with the planted data-quality noise.

Pure: takes the plan and its RNG, returns the lines to write (with the landing hour of each),
the counts for the manifest, and the ground-truth row recomputed from the messages that were
actually kept (a planted event cut by the end of the window is not in the truth either).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from dagster_project.synthetic import catalog as c
from dagster_project.synthetic.clock import MS_PER_DAY, MS_PER_HOUR, iso_ms
from dagster_project.synthetic.plan import AccountPlan, User
from dagster_project.synthetic.truth import truth_row

# messageId, timestamp and receivedAt lead every message; render_account fills them in place.
_HEAD: dict[str, Any] = {"messageId": None, "timestamp": None, "receivedAt": None}
_CANCEL_REASONS = ("too_expensive", "missing_feature", "switched_competitor", "no_longer_needed", "other")


@dataclass
class AccountOutput:
    lines: list[tuple[int, bytes]] = field(default_factory=list)  # (landing hour index, line), in order
    by_type: dict[str, int] = field(default_factory=dict)  # kept messages by Segment type
    duplicates: int = 0
    late: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    truth: dict[str, str] = field(default_factory=dict)
    users: int = 0


def _message_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _track(user: User, account_id: str, event: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        **_HEAD,
        "type": "track",
        "userId": user.user_id,
        "event": event,
        "properties": properties,
        "context": {"groupId": account_id},
    }


def _identify(user: User) -> dict[str, Any]:
    return {
        **_HEAD,
        "type": "identify",
        "userId": user.user_id,
        "traits": {"email": user.email, "name": user.name, "title": user.title},
    }


def _group(user: User, plan: AccountPlan, tier: str, mrr: int) -> dict[str, Any]:
    return {
        **_HEAD,
        "type": "group",
        "userId": user.user_id,
        "groupId": plan.account_id,
        "traits": {
            "name": plan.company_name,
            "plan_tier": tier,
            "mrr": mrr,
            "employees": plan.employees,
            "industry": plan.industry,
            "country": plan.country,
            "source": plan.source,
            "utm_source": plan.utm_source,
            "utm_campaign": plan.utm_campaign,
            "use_case": plan.use_case,
        },
    }


def _noise_properties(rng: random.Random, key: str) -> dict[str, Any]:
    if key == "query":
        return {key: rng.choice(c.SEARCH_TERMS)}
    if key == "setting":
        return {key: rng.choice(c.SETTINGS)}
    if key == "filter":
        return {key: rng.choice(c.FILTERS)}
    if key == "format":
        return {key: rng.choice(c.EXPORT_FORMATS)}
    return {key: f"{key[:3]}_{1 + int(rng.random() * 499)}"}


def _planned(plan: AccountPlan, rng: random.Random) -> list[tuple[int, dict[str, Any], bool]]:
    """(timestamp, message, may arrive late) for everything the plan says happens."""
    users, acc = plan.users, plan.account_id
    primary = users[0]
    s = plan.signup_ms
    out: list[tuple[int, dict[str, Any], bool]] = [
        (s - 2000, _identify(primary), False),
        (s - 1000, _group(primary, plan, plan.plan_tier, plan.mrr), False),
        (s, _track(primary, acc, "signup_completed", {"plan_tier": plan.plan_tier, "source": plan.source}), False),
    ]
    for step, at in plan.steps.items():
        actor = users[plan.step_actor.get(step, 0)]
        if step == "project_created":
            props: dict[str, Any] = {"project_id": f"prj_{rng.getrandbits(40):010x}"}
        elif step == "teammate_invited":
            invitee = users[1].email if len(users) > 1 else f"guest{rng.randrange(1000)}@{plan.domain}"
            props = {"invitee_email": invitee, "role": "member"}
        else:
            props = {"integration": rng.choice(c.INTEGRATIONS)}
        out.append((at, _track(actor, acc, step, props), True))
    for at, k in plan.extra_invites:
        out.append((at, _track(primary, acc, "teammate_invited", {"invitee_email": users[k].email}), True))
    for user in users[1:]:
        if user.joined_ms is not None:
            out.append((user.joined_ms, _identify(user), True))
            out.append((user.joined_ms + 400, _group(user, plan, plan.plan_tier, plan.mrr), True))
    if plan.kickoff_ms is not None:
        out.append((plan.kickoff_ms, _track(primary, acc, "kickoff_booked", {"csm_id": plan.kickoff_csm}), True))
    if plan.report_ms is not None:
        props = {"report_id": f"rpt_{rng.getrandbits(40):010x}"}
        out.append((plan.report_ms, _track(primary, acc, "report_shared", props), True))
    if plan.unsubscribe_ms is not None:
        props = {"list": "onboarding"}
        out.append((plan.unsubscribe_ms, _track(primary, acc, "email_unsubscribed", props), True))
    if plan.upgrade is not None:
        at, to_tier, mrr = plan.upgrade
        props = {"from_tier": plan.plan_tier, "to_tier": to_tier, "mrr": mrr}
        out.append((at, _track(primary, acc, "plan_changed", props), True))
        out.append((at + 500, _group(primary, plan, to_tier, mrr), True))
    if plan.suppression is not None:
        event, at = plan.suppression
        if event == "subscription_cancelled":
            props = {"reason": rng.choice(_CANCEL_REASONS)}
        elif event == "payment_failed":
            props = {"amount": float(plan.mrr), "currency": "USD"}
        else:
            props = {}
        out.append((at, _track(primary, acc, event, props), True))
    return out


def _noise(plan: AccountPlan, rng: random.Random) -> list[tuple[int, dict[str, Any], bool]]:
    """Product events (1-3 per active user-day) and page/screen views that drive nothing.

    The hot loop of the generator (~90% of all messages): plain `random()` arithmetic instead of
    randrange/choice, which cost several Python calls each.
    """
    if plan.behaviour == "inactive":
        return []
    p_active = c.DAILY_ACTIVE["stall" if plan.behaviour == "stall" else "active"]
    low_pages, high_pages = c.PAGE_VIEWS_PER_ACTIVE_DAY
    page_span = high_pages - low_pages + 1
    out: list[tuple[int, dict[str, Any], bool]] = []
    append = out.append
    rand = rng.random
    acc, end = plan.account_id, plan.activity_end_ms
    context = {"groupId": acc}
    head = _HEAD
    n_events, n_pages, n_screens = len(c.NOISE_EVENTS), len(c.PAGES), len(c.SCREENS)
    for user in plan.users:
        if user.joined_ms is None:
            continue
        user_id = user.user_id
        day_start = user.joined_ms
        while day_start < end:
            span = min(day_start + MS_PER_DAY, end) - day_start
            if rand() < p_active:
                for _ in range(1 + int(rand() * 3)):
                    event, key = c.NOISE_EVENTS[int(rand() * n_events)]
                    message = {**head, "type": "track", "userId": user_id, "event": event,
                               "properties": _noise_properties(rng, key), "context": context}
                    append((day_start + int(rand() * span), message, True))
                for _ in range(low_pages + int(rand() * page_span)):
                    at = day_start + int(rand() * span)
                    if rand() < 0.8:
                        name, path = c.PAGES[int(rand() * n_pages)]
                        message = {**head, "type": "page", "userId": user_id, "name": name,
                                   "properties": {"path": path}, "context": context}
                    else:
                        message = {**head, "type": "screen", "userId": user_id,
                                   "name": c.SCREENS[int(rand() * n_screens)], "context": context}
                    append((at, message, True))
            day_start += MS_PER_DAY
    return out


def _malformed(rng: random.Random, message: dict[str, Any], reason: str) -> bytes:
    """A broken copy of a kept message, as a tracking bug would produce it."""
    if reason == "invalid JSON":
        text = orjson.dumps(message).decode()
        return text[: max(10, len(text) // 2)].encode()
    broken = dict(message)
    broken["messageId"] = _message_id(rng)
    broken.pop({"missing messageId": "messageId", "missing type": "type"}.get(reason, "timestamp"))
    return orjson.dumps(broken)


def render_account(
    plan: AccountPlan, rng: random.Random, end_ms: int, forced_malformed: str | None = None
) -> AccountOutput:
    out = AccountOutput()
    suppression_at = plan.suppression[1] if plan.suppression else None
    candidates = _planned(plan, rng) + _noise(plan, rng)
    candidates.sort(key=lambda item: item[0])
    last_hour = (end_ms - 1) // MS_PER_HOUR
    kept: list[tuple[int, dict[str, Any]]] = []
    last_kept_hour = 0
    rand, dumps, lines, by_type = rng.random, orjson.dumps, out.lines, out.by_type
    late_rate, dup_rate, bad_rate = c.LATE_RATE, c.DUPLICATE_RATE, c.MALFORMED_RATE
    for ts, message, lateable in candidates:
        if suppression_at is not None and ts > suppression_at:
            continue  # nothing at all after a cancellation, failed payment, expiry or deletion
        message_id = _message_id(rng)
        if lateable and rand() < late_rate:
            received = ts + MS_PER_HOUR + int(rand() * 47 * MS_PER_HOUR)
            if received < end_ms:
                out.late += 1
        else:
            received = ts + 20 + int(rand() * 2980)
        if received >= end_ms:
            continue  # nothing beyond the end of the window is written
        full = message
        full["messageId"], full["timestamp"], full["receivedAt"] = message_id, iso_ms(ts), iso_ms(received)
        line = dumps(full)
        hour = received // MS_PER_HOUR
        lines.append((hour, line))
        kept.append((ts, full))
        last_kept_hour = hour
        kind = message["type"]
        by_type[kind] = by_type.get(kind, 0) + 1
        if rand() < dup_rate:
            lines.append((min(last_hour, hour + int(rand() * 7)), line))
            out.duplicates += 1
        if kind == "track" and lateable and rand() < bad_rate:
            reason = rng.choice(c.MALFORMED_REASONS)
            lines.append((hour, _malformed(rng, full, reason)))
            out.malformed[reason] = out.malformed.get(reason, 0) + 1
    if forced_malformed is not None and kept:
        out.lines.append((last_kept_hour, _malformed(rng, kept[-1][1], forced_malformed)))
        out.malformed[forced_malformed] = out.malformed.get(forced_malformed, 0) + 1
    out.truth = truth_row(plan, kept, end_ms)
    out.users = len({message["userId"] for _, message in kept})
    out.truth["users"] = str(out.users)
    return out
