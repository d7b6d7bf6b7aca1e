"""Error texts safe to store: what a destination answered, without customer e-mail addresses.

Shared by every sync: HubSpot and Customer.io echo the offending values (often an e-mail) in
their error bodies, and those texts land in ops.outbox.last_error and ops.sync_changelog.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s\"'<>@,;:]+@[^\s\"'<>@,;:]+\.[A-Za-z]{2,}")


def scrub(text: str, limit: int = 300) -> str:
    """An error text safe to store: e-mail addresses masked, cut short."""
    return _EMAIL.sub("<email>", text)[:limit]
