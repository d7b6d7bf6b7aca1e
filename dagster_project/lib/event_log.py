"""The instance's event log: Dagster's SQLite storage, with what it redoes for every event done once.

A cycle stores ~310 events (a planned and a stored event per asset and check, a step's start, outputs
and end). Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for each of them (so every
INSERT is compiled again), checks the index's columns and migrations again (a PRAGMA table_info per
asset event), and closes the index database's last connection each time, which checkpoints its WAL
into the file and fsyncs it. This class keeps Dagster's files and layout (`$DAGSTER_HOME/history/runs`:
one database per run plus `index.db`), so the UI reads every past and new run the same way, and changes
only the connections:

- one engine per database file, kept while the process lives (a few run files at most), so statements
  are compiled once;
- the index database's one connection stays open (the process serialises its use, as Dagster's own
  lock already does); a run's file is still closed after each write, as before, because the UI follows
  a running run by watching that file change (the close writes the WAL back into it);
- what the index's schema holds (a column, a finished data migration) is read once and kept, once true.

Commits stay as durable as Dagster's (SQLite's default `synchronous`). `.dagster.yaml` names this class;
the daemon, the webserver and the CLI all load it from there.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

# Run files whose engines a long-lived process (the webserver reading many runs) keeps at once.
RUN_ENGINES_KEPT = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's per-run SQLite event log under `<dagster_home>/history/runs`, with engines kept (see the module)."""

    def __init__(self, dagster_home: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._schema_true: set[tuple[str, str]] = set()
        self._dagster_home = dagster_home
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:  # type: ignore[override]
        return {"dagster_home": Field(StringSource, description="the instance's folder ($DAGSTER_HOME)")}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():  # a forked child never shares its parent's connection
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        if shard == INDEX_SHARD_NAME:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
        else:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
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
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

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

    def _schema_fact(self, kind: str, name: str, read: Any) -> bool:
        """True once the index has it (a migration only ever adds); a false answer is read again."""
        if (kind, name) in self._schema_true:
            return True
        if read():
            self._schema_true.add((kind, name))
            return True
        return False

    def _forget(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._schema_true.clear()

    def upgrade(self) -> None:
        self._forget()
        super().upgrade()
        self._forget()

    def wipe(self) -> None:
        super().wipe()
        self._forget()

    def dispose(self) -> None:
        super().dispose()
        self._forget()
