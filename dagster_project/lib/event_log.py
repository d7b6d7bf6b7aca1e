"""The instance's event log: Dagster's SQLite storage, with what it redoes for every event done once.

A cycle stores ~310 events (a planned and a stored event per asset and check, a step's start, outputs
and end). Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for each of them (so every
INSERT is compiled again), checks the index's columns and migrations again (a PRAGMA table_info per
asset event), and opens and closes each database file per write: closing a WAL database's last
connection folds the WAL back into the file, and with each commit that is two or three fsyncs per event,
which wait behind whatever else the disk is writing (a cycle's DuckDB rewrites hundreds of MB).

This class keeps Dagster's files and layout (`$DAGSTER_HOME/history/runs`: one database per run plus
`index.db`), so the UI reads every past and new run the same way, and changes only the connections:

- one engine per database file, kept while the process lives (the index and a few run files at most),
  each holding its one connection open (the process serialises their use, as Dagster's own lock already
  does): statements are compiled once and a write no longer checkpoints its file;
- the UI follows a live run by watching the run's file change, which a checkpoint used to do: after each
  event the file's time is touched instead (the watcher reads the new rows through the WAL);
- what the index's schema holds (a column, a finished data migration) is read once and kept, once true;
- `synchronous` (SQLite's pragma, on every connection): Dagster's default, FULL, fsyncs the WAL at each
  commit; NORMAL, which `.dagster.yaml` ships, leaves it to the checkpoints. A killed process loses no
  event either way; a power cut or an OS crash may lose the last events written before it (never the
  database's consistency). Run records (`runs.db`) are not this class's and keep Dagster's setting.

`.dagster.yaml` names this class; the daemon, the webserver and the CLI all load it from there.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from dagster import Enum, EnumValue, Field, StringSource
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# Dagster hands a run's planned events (a planned materialization per asset, a planned evaluation per
# check) to the storage as one batch only when this is set; store_event_batch writes them in one
# transaction per file. Set for every process that loads this storage (the CLI, the daemon, the webserver).
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")

# Run files whose engines (and open connections) a long-lived process, the webserver reading many runs,
# keeps at once; the least recently used one is closed beyond that.
RUN_ENGINES_KEPT = 8
SYNCHRONOUS = ("FULL", "NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's per-run SQLite event log under `<dagster_home>/history/runs`, with connections kept (see the module)."""

    def __init__(self, dagster_home: str, synchronous: str = "FULL",
                 inst_data: ConfigurableClassData | None = None) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
        self._synchronous = synchronous
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._schema_true: set[tuple[str, str]] = set()
        self._batch: dict[str, Connection] | None = None
        self._batch_stack = ExitStack()
        self._batch_thread = 0
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:  # type: ignore[override]
        return {
            "dagster_home": Field(StringSource, description="the instance's folder ($DAGSTER_HOME)"),
            "synchronous": Field(Enum("SqliteSynchronous", [EnumValue(v) for v in SYNCHRONOUS]),
                                 is_required=False, default_value="FULL",
                                 description="SQLite's synchronous pragma for the event log's databases"),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():  # a forked child never shares its parent's connections
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
        pragma = f"PRAGMA synchronous={self._synchronous}"
        sqlalchemy_event.listen(engine, "connect", lambda dbapi_connection, _: dbapi_connection.execute(pragma))
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in runs[:-RUN_ENGINES_KEPT]:
            self._engines.pop(name).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        if self._batch is not None and self._batch_thread == threading.get_ident():
            # Inside store_event_batch (which holds the lock): the batch's one transaction on this file.
            conn = self._batch.get(shard)
            if conn is None:
                conn = self._batch_stack.enter_context(self._engine(shard).connect())
                self._batch_stack.enter_context(conn.begin())
                self._batch[shard] = conn
            yield conn
            return
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        # The UI's watcher of a live run reacts to its file changing (a checkpoint did it before).
        os.utime(self.path_for_shard(event.run_id))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """The events Dagster hands as one batch (a run's planned materializations and checks, ~90 a
        cycle, when DAGSTER_EVENT_BATCH_SIZE is set, which this module does): one transaction per file
        for all of them instead of one each. On an error nothing of the batch is kept (but for a failure
        of the run file's commit after the index's: each file commits on its own), and Dagster then
        stores the events one by one."""
        with self._db_lock, ExitStack() as stack:
            self._batch, self._batch_stack, self._batch_thread = {}, stack, threading.get_ident()
            try:
                for event in events:
                    SqliteEventLogStorage.store_event(self, event)
            finally:
                self._batch = None
        for run_id in {event.run_id for event in events}:
            os.utime(self.path_for_shard(run_id))

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        return self._schema_fact("column", column_name,
                                 lambda: super(PooledSqliteEventLogStorage, self)._has_asset_key_col_on_connection(
                                     conn, column_name))

    def has_asset_key_col(self, column_name: str) -> bool:
        return self._schema_fact("column", column_name, lambda: super(PooledSqliteEventLogStorage, self)
                                 .has_asset_key_col(column_name))

    def has_secondary_index(self, name: str) -> bool:
        return self._schema_fact("migration", name,
                                 lambda: super(PooledSqliteEventLogStorage, self).has_secondary_index(name))

    def _schema_fact(self, kind: str, name: str, read: Callable[[], bool]) -> bool:
        """True once the index has it (a migration only ever adds); a false answer is read again."""
        if (kind, name) in self._schema_true:
            return True
        if read():
            self._schema_true.add((kind, name))
            return True
        return False

    def _forget(self) -> None:
        """Close every kept connection (each folds its WAL back into its file) and forget the schema."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._schema_true.clear()

    def upgrade(self) -> None:
        self._forget()
        super().upgrade()
        self._forget()

    def wipe(self) -> None:
        self._forget()
        super().wipe()
        self._forget()

    def dispose(self) -> None:
        super().dispose()
        self._forget()
