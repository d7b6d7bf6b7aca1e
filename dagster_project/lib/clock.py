"""The cycle's clock: every asset of one run reads the same as-of time, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from dagster_project.lib import config

# The run tag holding the clock: the schedule tick, or `onboarding run --as-of`.
AS_OF_TAG = "onboarding/as_of"


def as_of_for(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> datetime:
    """The cycle's clock: the run's `onboarding/as_of` tag (schedule tick or --as-of), else the
    moment the run was created, so every asset of one run agrees on it."""
    tag = context.run.tags.get(AS_OF_TAG)
    if tag:
        return config.parse_as_of(tag)
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record else datetime.now(UTC)
    return created.astimezone(UTC).replace(microsecond=0)
