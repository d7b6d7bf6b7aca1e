"""One segmentation pass over the warehouse: what the asset runs, callable from tests and notebooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb

from dagster_project.defs.segmentation import settings, store
from dagster_project.defs.segmentation.costs import cost_usd, price_for
from dagster_project.defs.segmentation.prompt import PROMPT_VERSION
from dagster_project.defs.segmentation.runner import BatchResult, classify_batch


def segment_accounts(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    as_of: datetime,
    enabled: bool,
    model: str,
    client_factory: Callable[[], Any],
    min_confidence: float,
    concurrency: int,
    max_accounts: int,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Ask the model about accounts whose input changed; record decisions, calls and the run's cost.

    Without a key nothing is asked and int_accounts_segmented keeps the rules' track ('rules').
    The warehouse connection is held while the calls run (DuckDB: this is the only writer then;
    dbt runs before and after this asset, never beside it).
    """
    started = datetime.now(UTC)
    store.ensure_tables(con)
    scored = store.scored_count(con)
    limit = max_accounts if enabled else 0
    pending, total_pending = store.pending_accounts(
        con, limit=limit, max_error_cycles=settings.max_error_cycles()
    )
    batch = BatchResult()
    mode = "rules"
    note = "ANTHROPIC_API_KEY is not set: the rules decide every track (track_source 'rules')"
    if enabled:
        mode, note = "llm", None
        if pending:
            batch = classify_batch(
                pending,
                client=client_factory(),
                model=model,
                concurrency=concurrency,
                max_attempts=settings.max_attempts(),
                max_wait=settings.max_retry_wait_seconds(),
                min_confidence=min_confidence,
                sleep=sleep,
            )
        if batch.fatal_error:
            mode = "auth_failed"
            note = f"the API refused the credentials ({batch.fatal_error}): the rules decide until it is fixed"
        store.write_decisions(con, run_id=run_id, as_of=as_of, model=model, batch=batch)
    price = price_for(model, settings.price_override())
    low_confidence = sum(
        1 for o in batch.outcomes if o.decision.track_source == "fallback" and o.call.error is None
    )
    summary: dict[str, Any] = {
        "run_id": run_id,
        "as_of": as_of,
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "mode": mode,
        "model": model if enabled else None,
        "prompt_version": PROMPT_VERSION,
        "accounts_scored": scored,
        "pending": total_pending,
        "asked": len(batch.outcomes),
        "deferred": max(total_pending - len(batch.outcomes), 0) if enabled else 0,
        "decided_llm": batch.count("llm"),
        "fallback_low_confidence": low_confidence,
        "fallback_error": batch.count("fallback", errors=True),
        "attempts": batch.attempts,
        "retries": batch.retries,
        "requests": batch.usage.requests,
        "input_tokens": batch.usage.input_tokens,
        "output_tokens": batch.usage.output_tokens,
        "cache_creation_input_tokens": batch.usage.cache_creation_input_tokens,
        "cache_read_input_tokens": batch.usage.cache_read_input_tokens,
        "cost_usd": cost_usd(batch.usage, price),
        "price_source": price.source,
        "note": note,
    }
    store.write_run(con, summary)
    return summary
