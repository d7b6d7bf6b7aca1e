"""A small, deterministic Segment-spec workspace for the data-quality tests, with planted drift.

Each day has `per_day` new accounts; every account sends, within its signup day: signup_completed,
identify, group, project_created, teammate_invited, (every other one) integration_connected and
(every tenth) plan_changed. Days are files, so a test loads history and then one planted day.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 10, 1, tzinfo=UTC)
TIERS = ("free", "starter", "pro", "enterprise")


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def day_start(day: int) -> datetime:
    return START + timedelta(days=day)


def account_id(day: int, i: int) -> str:
    return f"acc_d{day:02d}_{i:03d}"


def account_messages(day: int, i: int, prefix: str = "m") -> list[dict]:
    acc, user = account_id(day, i), f"usr_d{day:02d}_{i:03d}"
    t0 = day_start(day) + timedelta(minutes=10 + 20 * i)
    tier = TIERS[i % 4]
    seq = iter(range(100))

    def msg(kind: str, at: datetime, **fields: object) -> dict:
        return {
            "messageId": f"{prefix}-{acc}-{next(seq)}",
            "type": kind,
            "timestamp": iso(at),
            "receivedAt": iso(at + timedelta(seconds=2)),
            "userId": user,
            **fields,
        }

    def track(event: str, at: datetime, **props: object) -> dict:
        return msg("track", at, event=event, properties=props, context={"groupId": acc})

    out = [
        track("signup_completed", t0, plan_tier=tier, source="organic" if i % 3 else "paid"),
        msg("identify", t0 + timedelta(seconds=1),
            traits={"email": f"person{i}@example.com", "name": f"Person {i}", "title": "Ops lead"}),
        msg("group", t0 + timedelta(seconds=2), groupId=acc,
            traits={"name": f"Company {day}-{i}", "plan_tier": tier, "mrr": 50 * (1 + i % 4), "employees": 5 + i,
                    "industry": "software", "country": "DE", "source": "organic"}),
        track("project_created", t0 + timedelta(hours=1), project_id=f"prj_{day}_{i}"),
        track("teammate_invited", t0 + timedelta(hours=2), invitee_email=f"mate{i}@example.com"),
    ]
    if i % 2 == 0:
        out.append(track("integration_connected", t0 + timedelta(hours=3), integration="slack"))
    if i % 10 == 0:
        out.append(track("plan_changed", t0 + timedelta(hours=5), from_tier=tier, to_tier="pro", mrr=200))
    return out


def day_messages(day: int, per_day: int = 30, first: int = 0, prefix: str = "m") -> list[dict]:
    return [m for i in range(first, first + per_day) for m in account_messages(day, i, prefix)]


def write_jsonl(path: Path, messages: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def events(messages: list[dict], event: str) -> list[dict]:
    return [m for m in messages if m.get("event") == event]


def plant(messages: list[dict], event: str, count: int, change: Callable[[dict], None]) -> list[str]:
    """Apply `change` to the first `count` messages of `event`; returns the accounts touched."""
    touched = []
    for m in events(messages, event)[:count]:
        touched.append(m["context"]["groupId"])
        change(m)
    return touched


def resend_under_new_ids(messages: list[dict], count: int) -> list[dict]:
    out = []
    for m in messages[:count]:
        twin = copy.deepcopy(m)
        twin["messageId"] = "retry-" + m["messageId"]
        out.append(twin)
    return out
