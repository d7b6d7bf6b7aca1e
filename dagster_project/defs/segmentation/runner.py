"""Classify a batch of accounts with bounded concurrency; pure of the warehouse (rows in, rows out)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from dagster_project.defs.segmentation.client import CallResult, FatalApiError, classify
from dagster_project.defs.segmentation.costs import Usage
from dagster_project.defs.segmentation.guardrails import Decision, decide


@dataclass(frozen=True)
class PendingAccount:
    """An account whose current input (hash) has no decision yet."""

    account_id: str
    input_hash: str
    segmentation_input: str  # the JSON text built by dbt (int_accounts_scored)
    self_serve_forbidden: bool
    high_touch_allowed: bool

    def input_dict(self) -> dict[str, Any]:
        return json.loads(self.segmentation_input)


@dataclass(frozen=True)
class Outcome:
    account: PendingAccount
    call: CallResult
    decision: Decision


@dataclass
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    fatal_error: str | None = None
    not_asked: int = 0  # skipped after a fatal error

    @property
    def attempts(self) -> int:
        return sum(o.call.attempts for o in self.outcomes)

    @property
    def retries(self) -> int:
        return sum(max(o.call.attempts - 1, 0) for o in self.outcomes)

    def count(self, source: str, *, errors: bool | None = None) -> int:
        rows = [o for o in self.outcomes if o.decision.track_source == source]
        if errors is not None:
            rows = [o for o in rows if (o.call.error is not None) == errors]
        return len(rows)


def classify_batch(
    accounts: Sequence[PendingAccount],
    *,
    client: Any,
    model: str,
    concurrency: int,
    max_attempts: int,
    max_wait: float,
    min_confidence: float,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchResult:
    """At most `concurrency` requests in flight; a fatal API error (bad key) stops the rest."""
    result = BatchResult()
    stop = threading.Event()
    lock = threading.Lock()

    def one(account: PendingAccount) -> Outcome | None:
        if stop.is_set():
            return None
        try:
            call = classify(
                client, model, account.input_dict(), max_attempts=max_attempts, max_wait=max_wait, sleep=sleep
            )
        except FatalApiError as exc:
            stop.set()
            with lock:
                result.fatal_error = result.fatal_error or str(exc)
            return None
        decision = decide(
            call.answer,
            call.error,
            min_confidence=min_confidence,
            self_serve_forbidden=account.self_serve_forbidden,
            high_touch_allowed=account.high_touch_allowed,
        )
        return Outcome(account, call, decision)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="segment") as pool:
        futures = [pool.submit(one, account) for account in accounts]
        for future in as_completed(futures):
            outcome = future.result()
            if outcome is None:
                result.not_asked += 1
                continue
            result.outcomes.append(outcome)
            result.usage.add(outcome.call.usage)
    result.outcomes.sort(key=lambda o: o.account.account_id)
    return result
