"""One segmentation pass over a real DuckDB warehouse: ask once per input hash, record cost, no key -> rules."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import anthropic
import dagster as dg
import duckdb
import pytest

from dagster_project.defs.segmentation.service import segment_accounts
from dagster_project.lib import warehouse
from tests.servers.anthropic_server import AnthropicServer, Fault

AS_OF = datetime(2026, 11, 10, 12, tzinfo=UTC)
ACCOUNTS = {
    "acc_1": {"company_name": "Cedar Labs", "plan_tier": "pro", "arr": 9000.0, "employees": 40},
    "acc_2": {"company_name": "Tiny Co", "plan_tier": "free", "arr": 0.0, "employees": 2},
    "acc_3": {"company_name": "Big Corp", "plan_tier": "enterprise", "arr": 120000.0, "employees": 900},
}


def put_scored(con: duckdb.DuckDBPyConnection, accounts: dict[str, dict]) -> None:
    """intermediate.int_accounts_scored as dbt builds it (the columns this asset reads)."""
    con.execute("create schema if not exists intermediate")
    con.execute(
        """
        create or replace table intermediate.int_accounts_scored (
            account_id varchar, segmentation_input varchar, segmentation_input_hash varchar,
            self_serve_forbidden boolean, high_touch_allowed boolean, signup_at timestamptz)
        """
    )
    for account_id, data in accounts.items():
        text = json.dumps(data)
        con.execute(
            "insert into intermediate.int_accounts_scored values (?, ?, ?, ?, ?, ?)",
            [account_id, text, hashlib.md5(text.encode()).hexdigest(), data["plan_tier"] == "enterprise",
             data["arr"] >= 12000, datetime(2026, 11, 1, tzinfo=UTC)],
        )


def run(con: duckdb.DuckDBPyConnection, *, enabled: bool = True, run_id: str = "r1", max_accounts: int = 100,
        as_of: datetime = AS_OF) -> dict:
    return segment_accounts(
        con, run_id=run_id, as_of=as_of, enabled=enabled, model="claude-sonnet-test",
        client_factory=lambda: anthropic.Anthropic(timeout=5.0, max_retries=0),
        min_confidence=0.7, concurrency=2, max_accounts=max_accounts, sleep=lambda s: None,
    )


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        put_scored(connection, ACCOUNTS)
        yield connection


def decisions(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    rows = con.execute(
        "select account_id, track, track_source, decided_at from ops.account_segmentation order by decided_at"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_each_input_is_asked_once(con, llm: AnthropicServer) -> None:
    first = run(con)
    assert first["mode"] == "llm" and first["asked"] == 3 and first["decided_llm"] == 3
    assert decisions(con) == {
        "acc_1": ("standard", "llm", AS_OF),
        "acc_2": ("self_serve", "llm", AS_OF),
        "acc_3": ("high_touch", "llm", AS_OF),
    }
    assert first["requests"] == 3 and first["cost_usd"] > 0 and first["cache_read_input_tokens"] > 0
    second = run(con, run_id="r2")
    assert second["asked"] == 0 and len(llm.requests) == 3  # nothing re-asked on the next hour
    runs = con.execute("select run_id, asked, cost_usd from ops.segmentation_runs order by run_id").fetchall()
    assert runs[0][:2] == ("r1", 3) and runs[1] == ("r2", 0, 0.0)


def test_a_changed_input_is_asked_again(con, llm: AnthropicServer) -> None:
    run(con)
    upgraded = {**ACCOUNTS, "acc_1": {**ACCOUNTS["acc_1"], "plan_tier": "enterprise", "arr": 60000.0}}
    put_scored(con, upgraded)
    later = datetime(2026, 11, 12, tzinfo=UTC)
    assert run(con, run_id="r2", as_of=later)["asked"] == 1
    rows = con.execute(
        "select track, decided_at from ops.account_segmentation where account_id = 'acc_1' order by decided_at"
    ).fetchall()
    assert rows == [("standard", AS_OF), ("high_touch", later)]


def test_without_a_key_the_rules_decide(con, llm: AnthropicServer, monkeypatch) -> None:
    summary = run(con, enabled=False)
    assert summary["mode"] == "rules" and summary["asked"] == 0 and "ANTHROPIC_API_KEY" in summary["note"]
    assert summary["pending"] == 3 and decisions(con) == {} and llm.requests == []


def test_errors_fall_back_and_are_asked_again_next_cycle(con, llm: AnthropicServer, monkeypatch) -> None:
    monkeypatch.setenv("ONBOARDING_SEGMENTATION_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("ONBOARDING_SEGMENTATION_MAX_ERROR_CYCLES", "2")
    llm.fault("Cedar", *[Fault(status=529)] * 4)
    llm.fault("Tiny", Fault(confidence=0.3))
    first = run(con)
    assert first["fallback_error"] == 1 and first["fallback_low_confidence"] == 1 and first["retries"] == 1
    assert decisions(con)["acc_1"][:2] == ("standard", "fallback")
    second = run(con, run_id="r2")  # the transport error is retried; the low-confidence answer stands
    assert second["asked"] == 1 and second["fallback_error"] == 1
    third = run(con, run_id="r3")  # two error cycles used up: the fallback sticks
    assert third["asked"] == 0


def test_the_per_run_cap_defers_the_rest(con, llm: AnthropicServer) -> None:
    summary = run(con, max_accounts=2)
    assert summary["asked"] == 2 and summary["deferred"] == 1
    assert run(con, run_id="r2", max_accounts=2)["asked"] == 1


def test_the_asset_materializes_with_the_cycle_clock(tmp_path: Path, llm: AnthropicServer) -> None:
    from dagster_project.defs.segmentation.assets import account_segmentation
    from dagster_project.defs.segmentation.resources import SegmentationModelResource
    from dagster_project.lib.resources import WarehouseResource

    path = tmp_path / "wh.duckdb"
    with warehouse.connect(path) as connection:
        put_scored(connection, ACCOUNTS)
    result = dg.materialize(
        [account_segmentation],
        resources={"warehouse": WarehouseResource(path=str(path)),
                   "segmentation_model": SegmentationModelResource(model="claude-sonnet-test", concurrency=2)},
        tags={"onboarding/as_of": "2026-11-10T12:00:00Z"},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("ops__account_segmentation")[0].metadata
    assert metadata["asked"].value == 3 and metadata["decided_by"].value == "llm"
    with warehouse.connect(path) as connection:
        assert set(decisions(connection)) == {"acc_1", "acc_2", "acc_3"}
        assert {r[0] for r in connection.execute("select decided_at from ops.account_segmentation").fetchall()} == {AS_OF}


def test_refused_credentials_leave_the_rules_in_charge(con, llm: AnthropicServer, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-revoked")
    summary = run(con)
    assert summary["mode"] == "auth_failed" and "AuthenticationError" in summary["note"]
    assert decisions(con) == {}  # no blanket 'standard' fallback for every account
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-segmentation")
    assert run(con, run_id="r2")["asked"] == 3  # fixed key: everyone is asked


_NO_KEY_PASS = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from dagster_project.defs.segmentation.service import segment_accounts
from dagster_project.lib import warehouse
with warehouse.connect(Path(sys.argv[1])) as con:
    con.execute("create schema intermediate")
    con.execute(
        "create table intermediate.int_accounts_scored as select * from (values "
        "('acc_1', '{}', 'h1', false, false, timestamptz '2026-11-01'), "
        "('acc_2', '{}', 'h2', false, false, timestamptz '2026-11-01'), "
        "('acc_3', '{}', 'h3', true, true, timestamptz '2026-11-01')) as t(account_id, segmentation_input, "
        "segmentation_input_hash, self_serve_forbidden, high_touch_allowed, signup_at)"
    )
    summary = segment_accounts(con, run_id="r", as_of=datetime(2026, 11, 10, tzinfo=UTC), enabled=False,
                               model="m", client_factory=None, min_confidence=0.7, concurrency=1, max_accounts=10)
assert summary["mode"] == "rules" and summary["pending"] == 3, summary
print("anthropic" in sys.modules)
"""


def test_a_pass_without_a_key_never_imports_the_sdk(tmp_path: Path) -> None:
    """Without ANTHROPIC_API_KEY every cycle's segmentation step ran the SDK's import (~0.8 s) for nothing."""
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run([sys.executable, "-c", _NO_KEY_PASS, str(tmp_path / "wh.duckdb")], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2], env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
