"""The instance config `make install` copies (`.dagster.yaml`) and the event log it names.

Dagster's per-run SQLite files in Dagster's own folder, written through connections kept per file: what
the UI reads is unchanged (runs, events, materializations, checks, the history written before the switch,
a live run's events as they come), while a run of N events no longer builds N engines, inspects the
index's columns per event or checkpoints its file per write.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import uuid
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
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL, as shipped
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


def test_a_live_run_reaches_the_uis_watcher_event_by_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The webserver (another process, its own storage) follows a running run by watching the run's file
    change. Dagster's storage changed it by checkpointing on every close; the kept connection does not
    checkpoint, so each event touches the file."""
    home = _home(tmp_path, monkeypatch)
    writer = PooledSqliteEventLogStorage(str(home), synchronous="NORMAL")
    webserver = PooledSqliteEventLogStorage(str(home), synchronous="NORMAL")
    run_id = str(uuid.uuid4())
    seen: list[str] = []
    arrived = threading.Event()

    def on_event(entry: object, cursor: str) -> None:
        seen.append(entry.user_message)  # type: ignore[attr-defined]
        arrived.set()

    def store(message: str) -> None:
        writer.store_event(dg.EventLogEntry(error_info=None, level="INFO", user_message=message, run_id=run_id,
                                            timestamp=time.time(), step_key=None, job_name=None,
                                            dagster_event=None))

    try:
        store("first")  # the run's file exists before the UI opens the run
        webserver.watch(run_id, None, on_event)
        time.sleep(0.5)  # the observer is scheduled
        for message in ("second", "third"):
            arrived.clear()
            store(message)
            assert arrived.wait(10), f"the watcher never saw {message!r} (seen: {seen})"
        deadline = time.monotonic() + 10
        while seen[-1:] != ["third"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen[-2:] == ["second", "third"]
    finally:
        webserver.end_watch(run_id, on_event)
        webserver.dispose()
        writer.dispose()


PLANNED = {"ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"}


def _planned(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return sorted(e.dagster_event.event_type_value for e in instance.all_logs(run_id)
                  if e.dagster_event and e.dagster_event.event_type_value in PLANNED)


def test_a_runs_planned_events_are_written_in_one_transaction_per_file(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's creation stores a planned event per asset and check (~90 a cycle), each a transaction on
    the run's file and one on the index; the storage writes them as Dagster's batch, one per file."""
    _home(tmp_path, monkeypatch)
    commits: list[int] = []

    def count(conn: object) -> None:
        commits.append(1)

    with dg.DagsterInstance.get() as instance:
        _materialize(instance)
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", count)
        try:
            monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # Dagster's default: one by one
            commits.clear()
            one_by_one = _materialize(instance).run_id
            individually = len(commits)
            monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # what the storage's module sets
            commits.clear()
            batched = _materialize(instance).run_id
            in_batch = len(commits)
        finally:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", count)
        assert _planned(instance, batched) == _planned(instance, one_by_one) == [
            "ASSET_CHECK_EVALUATION_PLANNED", "ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION_PLANNED"]
        # Two planned materializations (the run's file, then the index: 2 transactions each) and a planned
        # check (the run's file, then two on the index): seven transactions, now two.
        assert individually - in_batch == 5
        info = instance.get_latest_planned_materialization_info(dg.AssetKey("downstream"))
        assert info is not None and info.run_id == batched


def test_a_failed_batch_keeps_nothing_and_dagster_stores_the_events_one_by_one(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    original = event_log_module.SqliteEventLogStorage._store_asset_event
    failures: list[str] = []

    def fail_once_in_a_batch(self, conn, event, event_id):  # noqa: ANN001, ANN202
        if self._batch is not None and not failures:
            failures.append(event.dagster_event.event_type_value)
            raise sqlalchemy.exc.OperationalError("insert", {}, Exception("disk I/O error"))
        return original(self, conn, event, event_id)

    monkeypatch.setattr(event_log_module.SqliteEventLogStorage, "_store_asset_event", fail_once_in_a_batch)
    with dg.DagsterInstance.get() as instance:
        run_id = _materialize(instance).run_id
        assert failures == ["ASSET_MATERIALIZATION_PLANNED"]
        assert _planned(instance, run_id) == [
            "ASSET_CHECK_EVALUATION_PLANNED", "ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION_PLANNED"]
