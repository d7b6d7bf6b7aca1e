"""`onboarding replay` runs the journey at every step of a window and ends where the hourly cycle ends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dagster_project.cli.replay import _dbt_step, clocks, parse_every, replay
from tests.cycle.conftest import CLOCKS, START, home

pytestmark = pytest.mark.slow


def test_parse_every_and_clock_series():
    assert parse_every("6h") == timedelta(hours=6)
    assert parse_every("1d") == timedelta(days=1)
    assert len(clocks(START, START + timedelta(days=1), timedelta(hours=1))) == 25
    with pytest.raises(ValueError, match="--every"):
        parse_every("hourly")
    with pytest.raises(ValueError, match="before --from"):
        clocks(START + timedelta(days=1), START, timedelta(hours=1))


def test_a_failing_replay_step_names_the_same_node_every_time(tmp_path: Path):
    """A scratch warehouse without sources: five staging views fail, on dbt's two threads in any order; the
    error names the first of them by unique id, the same one on every run."""
    for attempt in range(2):
        with pytest.raises(RuntimeError) as failure:
            _dbt_step("run", tmp_path / f"scratch{attempt}.duckdb", tmp_path / f"target{attempt}", START)
        message = str(failure.value)
        assert message.startswith("replay: dbt run failed at base_segment__messages for clock "), message
        assert "\n" not in message


def test_replay_ends_in_the_same_state_as_the_cycle_and_keeps_the_invariants(workspace):
    with home(workspace.root):
        report = replay(START, CLOCKS[-1], every="12h", progress=lambda _: None)
    assert report.steps == 2 * (CLOCKS[-1] - START).days + 1
    stages = dict(workspace.query(
        "select lifecycle_stage, count(*) from marts.customer_onboarding_state group by 1"
    ))
    assert report.final_stages == stages
    totals = report.totals()
    assert totals["step_due"] > 0 and totals["stalled"] > 0 and totals["activated"] > 0
    # current-state sending at every clock of the window: one nudge per person and cycle at most, the
    # rest recorded with their reason (a step overtaken by its stall is superseded, never sent)
    assert report.max_nudges_per_person_cycle == 1
    assert report.decisions.get("superseded", 0) > 0 and report.decisions.get("holdout", 0) > 0
    assert "at most 1 nudge(s) per person and cycle" in report.describe()
    text = report.describe()
    assert "nothing sent" in text and report.csv_path.exists()
    # The replay ran in its own scratch warehouse: the cycle's trigger history is untouched.
    emitted = workspace.query("select count(distinct emitted_as_of) from marts.onboarding_triggers")[0][0]
    assert emitted <= len(CLOCKS)
