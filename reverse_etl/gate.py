"""The send gate: accounts whose outgoing messages are held back while a data-quality check fails.

`ops.send_gate` is written by the quality checks (dagster_project/defs/quality); every sync reads it
the same way: a row per (account, check), `*` = everyone. Held operations stay pending and are
logged `skipped_gate` with the failing check, so they go out once the check passes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import duckdb

from reverse_etl.connection import table_exists

__all__ = ["Gate", "read_gate", "table_exists"]


@dataclass
class Gate:
    """Accounts whose sends are blocked, and why (check names)."""

    everyone: list[str] = field(default_factory=list)
    accounts: dict[str, list[str]] = field(default_factory=dict)

    def reason(self, account_id: str | None) -> str | None:
        reasons = list(self.everyone)
        if account_id is not None:
            reasons += self.accounts.get(account_id, [])
        return "; ".join(sorted(set(reasons))) if reasons else None


def read_gate(con: duckdb.DuckDBPyConnection) -> Gate:
    gate = Gate()
    if not table_exists(con, "ops", "send_gate"):
        return gate
    accounts: dict[str, list[str]] = defaultdict(list)
    for account_id, check_name, reason in con.execute(
        "select account_id, check_name, reason from ops.send_gate order by check_name"
    ).fetchall():
        label = f"{check_name}: {reason}" if reason else str(check_name)
        if account_id == "*":
            gate.everyone.append(label)
        else:
            accounts[str(account_id)].append(label)
    gate.accounts = dict(accounts)
    return gate
