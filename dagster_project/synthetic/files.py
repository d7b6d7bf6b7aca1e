"""Streaming writers: one gzip stream per landing hour, open for the whole run.

Lines are buffered per hour and compressed in blocks, so memory stays flat (a few hundred kB per
open hour) however many accounts pass through. The gzip header carries no name and mtime 0, so
the same input gives byte-identical files.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

from dagster_project.synthetic.clock import hour_path

_FLUSH_LINES = 256  # ~64 kB of JSON lines per compressed block


class HourlyFiles:
    """`<root>/YYYY-MM-DD/HH.jsonl.gz`, or `HH-part-<k>.jsonl.gz` when several workers write."""

    def __init__(self, root: Path, part: int | None, level: int = 1) -> None:
        self.root = root
        self.part = part
        self.level = level
        self._streams: dict[int, tuple[BinaryIO, gzip.GzipFile]] = {}
        self._buffers: dict[int, list[bytes]] = {}
        self.lines = 0
        self.paths: list[Path] = []

    def path_for(self, hour_index: int) -> Path:
        day, hour = hour_path(hour_index)
        name = f"{hour}.jsonl.gz" if self.part is None else f"{hour}-part-{self.part}.jsonl.gz"
        return self.root / day / name

    def write(self, hour_index: int, line: bytes) -> None:
        buffer = self._buffers.get(hour_index)
        if buffer is None:
            buffer = self._buffers[hour_index] = []
        buffer.append(line)
        self.lines += 1
        if len(buffer) >= _FLUSH_LINES:
            self._flush(hour_index)

    def _flush(self, hour_index: int) -> None:
        buffer = self._buffers[hour_index]
        if not buffer:
            return
        stream = self._streams.get(hour_index)
        if stream is None:
            path = self.path_for(hour_index)
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = path.open("wb")
            stream = (raw, gzip.GzipFile(filename="", mode="wb", compresslevel=self.level, fileobj=raw, mtime=0))
            self._streams[hour_index] = stream
            self.paths.append(path)
        buffer.append(b"")
        stream[1].write(b"\n".join(buffer))
        buffer.clear()

    def close(self) -> list[Path]:
        """Flush and close every hour; returns the files written, sorted."""
        for hour_index in list(self._buffers):
            self._flush(hour_index)
        for raw, gz in self._streams.values():
            gz.close()
            raw.close()
        self._streams.clear()
        return sorted(self.paths)
