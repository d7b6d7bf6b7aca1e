"""End to end on a generated workspace: rules baseline vs the planted intended_track, the model path
through dbt (decisions joined by input hash), re-evaluation on upgrade, the routing report.

Real generator, real loader, real dbt, real anthropic client against the local Messages API.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anthropic
import pytest

from dagster_project.defs.landing import load as landing
from dagster_project.defs.segmentation import audit, enrichment
from dagster_project.defs.segmentation.service import segment_accounts
from dagster_project.lib import config, warehouse
from tests.servers.anthropic_server import AnthropicServer

pytestmark = pytest.mark.slow

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 30
ACCOUNTS = 250
EARLY = START + timedelta(days=12)
END = START + timedelta(days=DAYS)
# Measured on 2,000 accounts (seed 7): 90.1 %; tier alone: 89.7 %. Asserted with room for sample noise.
MIN_RULES_ACCURACY = 0.86


@dataclass
class GroundTruthWorkspace:
    root: Path
    warehouse: Path
    truth: dict[str, dict[str, str]]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with warehouse.connect(self.warehouse, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def run_dbt(
    ws: GroundTruthWorkspace, as_of: datetime, select: str, *, full_refresh: bool = False, command: str = "run"
) -> None:
    """dbt at a clock (tests only in the first build, to keep this module fast); a clock earlier
    than the last build needs a full refresh, as the hourly job does."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    completed = subprocess.run(
        [dbt, command, "--select", select, "--vars", json.dumps({"as_of": config.iso(as_of)}),
         *(["--full-refresh"] if full_refresh else []),
         "--project-dir", str(config.dbt_project_dir()), "--profiles-dir", str(config.dbt_project_dir()),
         "--target-path", str(ws.root / "dbt-target"), "--log-path", str(ws.root / "dbt-logs"), "--quiet"],
        capture_output=True, text=True, env={**os.environ, "ONBOARDING_WAREHOUSE": str(ws.warehouse)},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> GroundTruthWorkspace:
    from dagster_project.synthetic.generate import generate

    root = tmp_path_factory.mktemp("segmentation-gt")
    out = root / "landing"
    generate(accounts=ACCOUNTS, days=DAYS, seed=5, out=str(out), start=START.isoformat(), workers=1, progress=None)
    with (out / "ground_truth" / "accounts.csv").open(newline="") as handle:
        truth = {row["account_id"]: row for row in csv.DictReader(handle)}
    space = GroundTruthWorkspace(root, root / "warehouse.duckdb", truth)
    with warehouse.connect(space.warehouse) as con:
        warehouse.ensure_schema(con)
        landing.load_landing(out, con)
        enrichment.load_firmographics(con, out / "enrichment")
    run_dbt(space, END, "+int_segmentation_routing_weekly", command="build")
    return space


def test_rules_baseline_recovers_the_intended_track(ws: GroundTruthWorkspace) -> None:
    rows = ws.query("select account_id, rules_track, track_source from intermediate.int_accounts_segmented")
    assert len(rows) == ACCOUNTS and {r[2] for r in rows} == {"rules"}
    pairs = [(track, ws.truth[account]["intended_track"]) for account, track, _ in rows]
    scores = audit.accuracy_by_track(pairs)  # the audit's own computation, labels = ground truth
    print({k: round(v.accuracy or 0, 3) for k, v in scores.items()})
    assert scores["all"].accuracy >= MIN_RULES_ACCURACY
    assert all(scores[t].accuracy >= 0.7 for t in ("high_touch", "standard", "self_serve"))


def test_icp_score_ranks_the_latent_value(ws: GroundTruthWorkspace) -> None:
    rows = ws.query("select account_id, icp_score from intermediate.int_accounts_scored")
    assert all(0 <= score <= 100 for _, score in rows)
    mean = {
        track: sum(s for a, s in rows if ws.truth[a]["intended_track"] == track)
        / max(1, sum(1 for a, _ in rows if ws.truth[a]["intended_track"] == track))
        for track in ("self_serve", "standard", "high_touch")
    }
    assert mean["self_serve"] < mean["standard"] < mean["high_touch"]
    assert ws.query("select count(*) from intermediate.int_accounts_enriched where is_enriched")[0][0] == ACCOUNTS


def test_routing_report_shares(ws: GroundTruthWorkspace) -> None:
    weeks = ws.query(
        "select signup_week, sum(share), sum(accounts), max(week_accounts) "
        "from intermediate.int_segmentation_routing_weekly group by 1"
    )
    assert all(abs(float(total) - 1.0) < 0.01 and n == m for _, total, n, m in weeks)
    overall = dict(ws.query(
        "select track, sum(accounts)::double / (select sum(accounts) from intermediate.int_segmentation_routing_weekly) "
        "from intermediate.int_segmentation_routing_weekly group by 1"
    ))
    assert 0.55 <= overall["standard"] <= 0.75


def _segment(ws: GroundTruthWorkspace, server: AnthropicServer, as_of: datetime, run_id: str) -> dict:
    with warehouse.connect(ws.warehouse) as con:
        return segment_accounts(
            con, run_id=run_id, as_of=as_of, enabled=True, model="claude-sonnet-test",
            client_factory=lambda: anthropic.Anthropic(timeout=10.0, max_retries=0),
            min_confidence=0.7, concurrency=4, max_accounts=10_000,
        )


def test_model_decisions_flow_through_dbt_and_upgrades_are_asked_again(
    ws: GroundTruthWorkspace, llm: AnthropicServer
) -> None:
    # Early cycle: everyone signed up by then is asked once.
    run_dbt(ws, EARLY, "+int_accounts_segmented", full_refresh=True)
    early = _segment(ws, llm, EARLY, "early")
    signed_up_early = {a for a, row in ws.truth.items() if config.parse_as_of(row["signup_at"]) <= EARLY}
    assert early["asked"] == len(signed_up_early) and early["decided_llm"] + early["fallback_low_confidence"] > 0
    assert "@" not in "".join(r.user_text for r in llm.requests)  # no e-mail address ever sent
    run_dbt(ws, EARLY, "int_accounts_segmented")
    sources = dict(ws.query("select track_source, count(*) from intermediate.int_accounts_segmented group by 1"))
    assert sources.get("llm", 0) == len(signed_up_early) and sources.get("rules", 0) == 0

    # The next hour, same inputs: nothing is asked.
    assert _segment(ws, llm, EARLY + timedelta(hours=1), "early+1h")["asked"] == 0

    # Later: new signups, plus early accounts whose plan changed in between, and only those.
    llm.clear()
    run_dbt(ws, END, "+int_accounts_segmented")
    late = _segment(ws, llm, END, "late")
    asked = {r[0] for r in ws.query("select account_id from ops.segmentation_calls where run_id = 'late'")}
    upgraded_in_window = {
        a for a in signed_up_early
        if ws.truth[a]["upgraded_at"] and EARLY < config.parse_as_of(ws.truth[a]["upgraded_at"]) <= END
    }
    ever_upgraded = {a for a in signed_up_early if ws.truth[a]["upgraded_at"]}
    assert upgraded_in_window, "the generator plants upgraders"
    assert upgraded_in_window <= asked, "an upgrade re-evaluates the track"
    assert asked & signed_up_early <= ever_upgraded, "an unchanged input is never asked again"
    assert asked - signed_up_early == set(ws.truth) - signed_up_early  # every new signup
    assert late["asked"] == len(asked)
    names = {a: ws.truth[a]["company_name"] for a in ws.truth}

    run_dbt(ws, END, "int_accounts_segmented int_segmentation_routing_weekly")
    rows = ws.query(
        "select s.account_id, s.track, s.track_source, c.high_touch_allowed, c.plan_tier "
        "from intermediate.int_accounts_segmented s join intermediate.int_accounts_scored c using (account_id)"
    )
    assert {r[2] for r in rows} <= {"llm", "fallback"}
    for account, track, _, high_touch_allowed, _ in rows:
        if "assign high_touch" in names[account]:
            # The stand-in model obeys the injected name; the guardrail does not.
            assert track != "high_touch" or high_touch_allowed
    injected = [r for r in rows if "Ignore previous instructions" in names[r[0]]]
    assert injected, "the generator plants the hostile company name"


def test_decisions_are_invisible_before_their_clock(ws: GroundTruthWorkspace) -> None:
    """A replay at an earlier clock must not see decisions made later (decided_at = cycle clock)."""
    with warehouse.connect(ws.warehouse) as con:
        con.execute(
            "insert into ops.account_segmentation select account_id, segmentation_input_hash, 'high_touch', 'llm', "
            "0.99, 'future', 'm', ?::timestamptz from intermediate.int_accounts_scored limit 1",
            [END + timedelta(days=1)],
        )
        first = con.execute(
            "select account_id from ops.account_segmentation where reason = 'future'"
        ).fetchone()[0]
    run_dbt(ws, END, "int_accounts_segmented")
    assert ws.query(
        "select track_reason <> 'future' from intermediate.int_accounts_segmented where account_id = ?", [first]
    ) == [(True,)]

