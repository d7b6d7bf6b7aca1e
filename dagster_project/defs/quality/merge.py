"""Merge what chunks of one batch found into one result per check (pure: no warehouse, no GX).

A first load is validated in chunks of arrival order (see `run.py`); each chunk yields GX outcomes and
a property profile. The cycle must still report ONE outcome per expectation and ONE status per check, so
alerts fire once per status change whatever the chunk size. The merged outcome is what GX would have
said about the whole batch: counts are summed and success is recomputed with GX's own `mostly` rule
over the rows it considered (`element_count - missing_count`). Samples keep the first ones in arrival
order; every affected account is kept (the gate must name them all).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from dagster_project.defs.quality.validate import SAMPLE_SIZE, ExpectationOutcome


def merge_outcome(a: ExpectationOutcome, b: ExpectationOutcome) -> ExpectationOutcome:
    """`a` then `b` (a later chunk) of the same expectation, as one outcome."""
    element = a.element_count + b.element_count
    missing = a.missing_count + b.missing_count
    unexpected = a.unexpected_count + b.unexpected_count
    considered = element - missing
    error = a.error or b.error
    if error:
        success = False
    elif considered <= 0:
        success = True  # GX: vacuously true
    else:
        success = (considered - unexpected) / considered >= a.mostly
    accounts = dict(a.affected_accounts)
    for account, n in b.affected_accounts.items():
        accounts[account] = accounts.get(account, 0) + n
    values = list(a.unexpected_values)
    values += [v for v in b.unexpected_values if v not in values]
    return ExpectationOutcome(
        suite=a.suite,
        expectation_type=a.expectation_type,
        column=a.column,
        severity=a.severity,
        why=a.why,
        success=success,
        element_count=element,
        unexpected_count=unexpected,
        unexpected_percent=100.0 * unexpected / considered if considered > 0 else 0.0,
        mostly=a.mostly,
        sample_message_ids=(a.sample_message_ids + b.sample_message_ids)[:SAMPLE_SIZE],
        affected_accounts=accounts,
        unexpected_values=values[:SAMPLE_SIZE],
        error=error,
        missing_count=missing,
        unattributed=a.unattributed + b.unattributed,
        min_count=a.min_count,
    )


def merge_outcomes(
    merged: list[ExpectationOutcome] | None, chunk: list[ExpectationOutcome]
) -> list[ExpectationOutcome]:
    """Fold one chunk's outcomes of a suite into the running ones (the first chunk is kept as GX said it)."""
    if not merged:
        return chunk
    if [(e.expectation_type, e.column) for e in merged] != [(e.expectation_type, e.column) for e in chunk]:
        raise ValueError(f"suite {chunk[0].suite if chunk else '?'}: chunks returned different expectations")
    return [merge_outcome(a, b) for a, b in zip(merged, chunk, strict=True)]


Profile = dict[tuple[datetime, str], dict[str, Counter[str]]]


def merge_profiles(
    into: dict[tuple[datetime, str], dict[str, dict[str, int]]],
    hourly: dict[tuple[datetime, str], dict[str, Counter[str]]],
    after: datetime,
) -> dict[tuple[datetime, str], dict[str, dict[str, int]]]:
    """Add the hours after `after` of a batch profile to an hourly profile read from the warehouse."""
    floor = after.replace(minute=0, second=0, microsecond=0)
    for (hour, key), props in hourly.items():
        if hour <= floor:
            continue
        target = into.setdefault((hour, key), {})
        for prop, types in props.items():
            bucket = target.setdefault(prop, {})
            for json_type, n in types.items():
                bucket[json_type] = bucket.get(json_type, 0) + n
    return into
