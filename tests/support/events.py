"""Hand-planted Segment-spec messages for end-to-end tests: one scenario, one file per hour.

The generator covers volume and realism; these builders plant the exact edge a rule is about
(an activation in the first hour, a late-arriving event, a cancellation on day 12) so a test
can say what it expects in one line.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

_ids = itertools.count(1)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Scenario:
    """Collects messages and writes them as landing files grouped by the hour they arrive."""

    def __init__(self, prefix: str = "t") -> None:
        self.prefix = prefix
        self.messages: list[dict] = []

    def _message(self, kind: str, at: datetime, received: datetime | None, **fields) -> dict:
        message = {
            "messageId": f"{self.prefix}-{next(_ids):08d}",
            "type": kind,
            "timestamp": iso(at),
            **fields,
        }
        if received is not None:
            message["receivedAt"] = iso(received)
        self.messages.append(message)
        return message

    def identify(self, user: str, at: datetime, email: str | None = None, received: datetime | None = None) -> dict:
        traits = {"email": email or f"{user}@example.com", "name": user.title(), "title": "Engineer"}
        return self._message("identify", at, received, userId=user, traits=traits)

    def group(self, account: str, user: str, at: datetime, received: datetime | None = None, **traits) -> dict:
        return self._message("group", at, received, userId=user, groupId=account, traits=traits)

    def track(
        self, account: str, user: str, event: str, at: datetime, received: datetime | None = None, **properties
    ) -> dict:
        return self._message(
            "track", at, received, userId=user, event=event, properties=properties, context={"groupId": account}
        )

    def signup(
        self,
        account: str,
        at: datetime,
        *,
        user: str | None = None,
        plan_tier: str = "starter",
        mrr: float = 100.0,
        employees: int = 30,
        name: str | None = None,
        industry: str = "software",
        source: str = "organic",
    ) -> str:
        user = user or f"{account}-u1"
        self.identify(user, at)
        self.group(
            account, user, at, name=name or f"{account} Inc", plan_tier=plan_tier, mrr=mrr, employees=employees,
            industry=industry, country="US", source=source, use_case="analytics",
        )
        self.track(account, user, "signup_completed", at, plan_tier=plan_tier, source=source)
        return user

    def activate(self, account: str, user: str, at: datetime, spacing: timedelta = timedelta(minutes=5)) -> datetime:
        """The three default activation events; returns the time of the last one."""
        self.track(account, user, "project_created", at, project_id=f"p-{account}")
        self.track(account, user, "teammate_invited", at + spacing, invitee_email=f"mate-{account}@example.com")
        last = at + 2 * spacing
        self.track(account, user, "integration_connected", last, integration="github")
        return last

    def write(self, landing: Path) -> list[Path]:
        """Write one gzip file per arrival hour (receivedAt, else timestamp) under landing/."""
        by_hour: dict[str, list[dict]] = defaultdict(list)
        for message in self.messages:
            arrived = message.get("receivedAt") or message["timestamp"]
            by_hour[arrived[:13].replace("T", "/")].append(message)
        written = []
        for hour, messages in sorted(by_hour.items()):
            path = landing / self.prefix / f"{hour}.jsonl.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(path, "at") as handle:
                for message in messages:
                    handle.write(json.dumps(message) + "\n")
            written.append(path)
        self.messages.clear()
        return written


def day(start: datetime, n: float) -> datetime:
    return start + timedelta(days=n)
