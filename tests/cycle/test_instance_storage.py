"""The instance config `make install` copies (`.dagster.yaml`) and the event log it names.

Dagster's per-run SQLite files in Dagster's own folder, written through engines kept per file: what the
UI reads is unchanged (runs, events, materializations, checks, and the history written before the
switch), while a run of N events no longer builds N engines and inspects the index's columns per event.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy

from dagster_project.lib import config
from dagster_project.lib import event_log as event_log_module
from dagster_project.lib.event_log import PooledSqliteEventLogStorage

ROOT = config.project_root()


@dg.asset
def upstream() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset(deps=[upstream], check_specs=[dg.AssetCheckSpec("positive", asset="downstream")])
def downstream() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 2}, check_results=[dg.AssetCheckResult(passed=True)])


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, shipped: bool = True) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    if shipped:
        shutil.copy(ROOT / ".dagster.yaml", home / "dagster.yaml")  # what `make install` does
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = dg.materialize([upstream, downstream], instance=instance)
    assert result.success
    return result


def test_the_shipped_instance_keeps_dagsters_files_with_the_pooled_event_log(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        assert Path(storage._base_dir) == home / "history" / "runs"  # Dagster's default folder
        run_id = _materialize(instance).run_id
        assert (home / "history" / "runs" / f"{run_id}.db").exists()
        # The UI follows a running run by watching its file change: each write still lands in the file
        # itself (the WAL is folded back on close), never only in a WAL beside it.
        assert not (home / "history" / "runs" / f"{run_id}.db-wal").exists()
        # What the UI shows: the run's events, the materializations and the check, across runs.
        types = {e.dagster_event.event_type_value for e in instance.all_logs(run_id) if e.dagster_event}
        assert {"ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION",
                dg.DagsterEventType.RUN_SUCCESS.value} <= types
        latest = instance.get_latest_materialization_event(dg.AssetKey("downstream"))
        assert latest is not None and latest.run_id == run_id
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("downstream"), "positive")])
        assert next(iter(check.values())).run_id == run_id
        concurrency = instance.get_concurrency_config().run_queue_config
        assert [(rule["key"], rule["limit"]) for rule in concurrency.tag_concurrency_limits] == [
            ("onboarding/cycle", 1)]


def test_history_written_by_dagsters_default_storage_stays_readable(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing DAGSTER_HOME switched to the shipped config keeps every past run in the UI."""
    home = _home(tmp_path, monkeypatch, shipped=False)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        before = _materialize(instance).run_id
    shutil.copy(ROOT / ".dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        after = _materialize(instance).run_id
        assert {r.run_id for r in instance.get_runs()} == {before, after}
        assert any(e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
                   for e in instance.all_logs(before))
        records = instance.fetch_materializations(dg.AssetKey("upstream"), limit=10).records
        assert [r.run_id for r in records] == [after, before]


def test_a_run_builds_one_engine_per_file_and_inspects_the_index_once(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's storage builds an engine per event and reads the index's columns per asset event."""
    _home(tmp_path, monkeypatch)
    engines: list[str] = []
    inspected: list[str] = []
    create_engine = event_log_module.create_engine
    inspect = sqlalchemy.inspect

    def counting_engine(url: str, **kwargs: object) -> sqlalchemy.Engine:
        engines.append(url.rsplit("/", 1)[-1])
        return create_engine(url, **kwargs)

    def counting_inspect(subject: object) -> object:
        caller = sys._getframe(1).f_code
        if "event_log" in caller.co_filename:  # the run storage's own checks are not this class's
            inspected.append(caller.co_name)
        return inspect(subject)

    with dg.DagsterInstance.get() as instance:
        _materialize(instance)  # first run: the index's schema read once
        monkeypatch.setattr(event_log_module, "create_engine", counting_engine)
        monkeypatch.setattr(sqlalchemy, "inspect", counting_inspect)
        run_id = _materialize(instance).run_id
        events = len(instance.all_logs(run_id))
    assert events >= 20
    assert sorted(engines) == [f"{run_id}.db"]  # the index's engine is kept from the first run
    assert inspected == ["_initdb"]  # the new run's own file, created once
