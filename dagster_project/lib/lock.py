"""One cycle at a time on a workspace: an OS file lock beside the warehouse, naming its holder.

Why an OS lock (`flock`, through `filelock`): the kernel drops it when the holding process ends, however
it ends (kill -9 included), so a crashed cycle never blocks the next one and there is no stale-lock
clean-up to get wrong. Why beside the warehouse: the warehouse is what two cycles must not share (two
homes pointing ONBOARDING_WAREHOUSE at one file are one workspace).

The lock file holds one JSON line naming the holder (pid, host, run id, command, since), written while
the lock is held, so a refused command can say who holds the workspace and since when. A refused
command only reads that file: it changes nothing.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from dagster_project.lib import config


class WorkspaceBusy(RuntimeError):
    """Another cycle (or replay) holds the workspace: the caller must not touch it."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    run_id: str
    command: str
    since: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, run {self.run_id[:8]} ({self.command}), since {self.since}"


def lock_path() -> Path:
    warehouse = config.warehouse_path()
    return warehouse.with_name(warehouse.name + ".cycle.lock")


# Locks this process holds, by lock file: a cycle started by `onboarding run` takes the lock before
# Dagster starts, and the job's executor then finds it held for the same run instead of refusing itself.
_HELD: dict[str, Holder] = {}
_GUARD = threading.Lock()


def held_here(run_id: str) -> bool:
    with _GUARD:
        holder = _HELD.get(str(lock_path()))
    return holder is not None and holder.run_id == run_id


def read_holder(path: Path | None = None) -> Holder | None:
    """Who holds the workspace, as its holder wrote it; None if not written (yet) or unreadable."""
    try:
        return Holder(**json.loads((path or lock_path()).read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextmanager
def hold(run_id: str, command: str) -> Iterator[Holder]:
    """Hold the workspace for one run, or raise WorkspaceBusy at once (never wait).

    Re-entrant for the same run id in this process (the CLI's lock, then the executor's)."""
    path = lock_path()
    key = str(path)
    with _GUARD:
        current = _HELD.get(key)
    if current is not None:
        if current.run_id != run_id:
            raise WorkspaceBusy(busy_message(current))
        yield current
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Holder(
        pid=os.getpid(), host=socket.gethostname(), run_id=run_id, command=command,
        since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    lock = FileLock(
        path, timeout=0, thread_local=False, preserve_lock_file=True, fallback_to_soft=False,
        on_acquired=lambda fd: _write_holder(fd, holder),
    )
    try:
        lock.acquire()
    except Timeout:
        raise WorkspaceBusy(busy_message(_wait_for_holder(path))) from None
    with _GUARD:
        _HELD[key] = holder
    try:
        yield holder
    finally:
        with _GUARD:
            _HELD.pop(key, None)
        with open(path, "w"):  # still held: clear the holder so the file never names a finished run
            pass
        lock.release()


def busy_message(holder: Holder | None) -> str:
    who = holder.describe() if holder else "its holder has not written its name yet"
    return f"another cycle holds the workspace ({who}); nothing was changed, try again when it ends"


def _write_holder(fd: int, holder: Holder) -> None:
    data = (json.dumps(asdict(holder)) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _wait_for_holder(path: Path) -> Holder | None:
    """The holder writes its name right after taking the lock: give it a moment, not more."""
    for _ in range(10):
        holder = read_holder(path)
        if holder is not None:
            return holder
        time.sleep(0.05)
    return None
