"""Load landed Segment-spec files into `raw`: once per file, once per messageId, nothing lost.

One landing is set-based: every new file goes through DuckDB's own reader (parallel, gzip-aware)
in one pass, as one text column, so a 100M-line landing never passes through Python objects:

- every non-blank line is either loaded into `raw.segment_messages`, counted as a duplicate, or
  written to `raw.quarantine` with the reason, its file and its line number: a line never
  disappears silently;
- a message is a duplicate when its `messageId` came earlier in the same landing (file order, then
  line order) or is already in `raw` among the messages whose `timestamp` lies within
  `DEDUPE_WINDOW` of the new messages' time range. A resent message carries its original
  timestamp, so the window loses nothing real and keeps the check off the rest of the history;
- each file gets one row in the ledger `raw.loaded_files` with those counts.

The files are staged and committed `CHUNK_BYTES` at a time: a chunk's messages, quarantined lines
and ledger rows in one transaction. A crash rolls back the chunk in flight only; the chunks before
it are whole files, recorded, and the next landing skips them and loads the rest, so nothing is
ever half-loaded or loaded twice. (One transaction for a whole go-live kept every chunk's replaced
staging table until the commit: 42 GB of scratch disk was not enough at 1M accounts.)

The ledger knows a file by its path relative to the landing directory and its content hash, so a
moved or restored workspace (new absolute path, new mtimes) loads and quarantines nothing twice;
the size and mtime only let an unchanged file skip the hash. A file that cannot be read (a gzip
still being written) is reported, not recorded, and retried next cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.lib import warehouse

PATTERNS = ("*.jsonl", "*.jsonl.gz")

# The fields every message must carry; anything else is optional per Segment type.
REQUIRED = ("messageId", "type", "timestamp")

# How far around the new messages' event-time range `raw` is searched for an earlier copy of a
# messageId. Retries and re-exports keep the message's timestamp, so any window finds them; a day
# also covers a producer that re-stamps a resend, and keeps an hourly landing's search to ~2 days.
DEDUPE_WINDOW = timedelta(days=1)

# Bytes on disk staged and committed at a time: bounds memory and scratch disk on a first load of a
# long history. Later chunks find earlier chunks' messages through the window above (`raw` is
# written in file order, so the window's scan skips the row groups outside it). 64 MB of gzip stages
# ~250 MB of lines, which stay in memory: at 512 MB the staged lines of a 100k-account history
# spilled to disk (92 CPU s against 72 at 100k).
CHUNK_BYTES = 64 << 20

# One JSON parse per line: the paths are extracted together into a list.
_PATHS = [
    "$.messageId",
    "$.type",
    "$.timestamp",
    "$.event",
    "$.userId",
    "$.anonymousId",
    "$.groupId",
    "$.context.groupId",
    "$.receivedAt",
]

_READER = (
    "read_csv({files}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', escape = '', "
    "header = false, auto_detect = false, {rejects})"
)
_REJECTS = "store_rejects = true, rejects_table = '_landing_rejects', rejects_scan = '_landing_rejects_scan'"

# The chunk's lines as read. The reader keeps insertion order (file by file, line by line), and so does
# this table: a row's rowid is its position in the chunk. (Numbering them with `row_number() over ()`
# while reading serialised the read: 1.07 s per 64 MB chunk against 0.51 + 0.09 s this way.)
_READ_SQL = "create or replace temp table _landing_read as select file_index, line from {reader}"

# `_landing_files(file_index, file_name, load_id, path)` maps each staged file (its position in the
# reader's list) to its load id; a row's line number is its position in its file. A line is almost
# always `{...`: the whitespace checks (a copy of the line each) run only on the others.
_STAGE_SQL = """
create or replace temp table _landing_lines as
with lines as (
    select rowid as row_no, file_index, line from _landing_read
),
starts as (
    select file_index, min(row_no) as first_row from lines group by file_index
),
numbered as (
    select
        f.load_id,
        l.row_no - s.first_row + 1 as line_no,
        l.line,
        case when starts_with(l.line, '{') then false else l.line is null or trim(l.line) = '' end as is_blank
    from lines as l
    join starts as s using (file_index)
    join _landing_files as f using (file_index)
),
fields as (
    -- One JSON parse per line: try() turns a line that is not JSON into a null list.
    select
        *,
        case when not is_blank then try(json_extract_string(line, {paths})) end as f
    from numbered
),
typed as (
    select *, try_cast(f[3] as timestamptz) as event_at from fields
)
select
    load_id,
    line_no,
    line,
    is_blank,
    f[1] as message_id,
    f[2] as type,
    event_at,
    f[4] as event,
    f[5] as user_id,
    f[6] as anonymous_id,
    coalesce(f[7], f[8]) as group_id,
    try_cast(f[9] as timestamptz) as received_at,
    case
        when is_blank then null
        when f is null then 'invalid JSON'
        when case when starts_with(line, '{') then false else left(ltrim(line, ' \t\r\n'), 1) <> '{' end
            then 'not a JSON object'
        when {blank(f[1])} then 'missing messageId'
        when {blank(f[2])} then 'missing type'
        when {blank(f[3])} then 'missing timestamp'
        when event_at is null then 'unparseable timestamp: ' || left(f[3], 60)
        when f[2] = 'track' and {blank(f[4])} then 'track message without event name'
    end as reason
from typed
"""


def _blank(value: str) -> str:
    """SQL: `value` is null or nothing but spaces. A value starting with a printable ASCII character is
    neither (trim removes only spaces), so only the others pay for trim's copy."""
    return f"case when ascii({value}) between 33 and 126 then false else {value} is null or trim({value}) = '' end"


_STAGE_SQL = _STAGE_SQL.replace("{paths}", "[" + ", ".join(f"'{p}'" for p in _PATHS) + "]")
for _field in ("f[1]", "f[2]", "f[3]", "f[4]"):
    _STAGE_SQL = _STAGE_SQL.replace(f"{{blank({_field})}}", _blank(_field))

# The copies a chunk does not insert: every copy of a messageId after its first in the landing (file
# order, then line order), and every copy of one already in `raw` (probed with the batch's ids: only
# the window of `raw` is scanned, never hashed whole). Only the repeated ids go through the sort, as
# three narrow columns: the lines themselves are never sorted or hashed.
_DROP_SQL = """
create or replace temp table _landing_drop as
with valid as (
    select load_id, line_no, message_id from _landing_lines where reason is null and not is_blank
),
repeated as (
    select message_id from valid group by message_id having count(*) > 1
),
later_copies as (
    select load_id, line_no from valid semi join repeated using (message_id)
    qualify row_number() over (partition by message_id order by load_id, line_no) > 1
),
in_raw as (
    select load_id, line_no from valid
    semi join (select message_id from raw.segment_messages where event_at between $lo and $hi) as w
        using (message_id)
)
select load_id, line_no from later_copies
union
select load_id, line_no from in_raw
"""


@dataclass
class FileResult:
    path: str  # the ledger key: relative to the landing directory (absolute only if outside it)
    load_id: int
    lines_read: int
    messages_loaded: int
    duplicates: int
    quarantined: int
    blank_lines: int


@dataclass
class LoadResult:
    files: list[FileResult] = field(default_factory=list)
    skipped_files: int = 0
    # Files that could not be read at all (e.g. a gzip still being written): not in the ledger,
    # so the next cycle tries them again; (path, one-line reason).
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def messages_loaded(self) -> int:
        return sum(f.messages_loaded for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    def describe(self) -> str:
        """The landing's one log line."""
        line = (
            f"{len(self.files)} new files: {self.messages_loaded} loaded, {self.duplicates} duplicates, "
            f"{self.quarantined} quarantined; {self.skipped_files} already loaded"
        )
        return line + (f"; {len(self.unreadable)} unreadable, retried next cycle" if self.unreadable else "")


@dataclass(frozen=True)
class _Pending:
    path: Path
    key: str
    size: int
    mtime: float
    sha256: str


def discover(landing_dir: Path) -> list[Path]:
    """Every landing file under the directory, in a stable order (sorted path)."""
    if not landing_dir.exists():
        return []
    found: set[Path] = set()
    for pattern in PATTERNS:
        found.update(p for p in landing_dir.rglob(pattern) if p.is_file())
    return sorted(found)


def ledger_key(landing_dir: Path, path: Path) -> str:
    """How the ledger names a file: its path relative to the landing directory, so the key survives
    moving or restoring the workspace. A file outside the directory keeps its absolute path."""
    absolute = path.absolute()
    try:
        return absolute.relative_to(landing_dir.absolute()).as_posix()
    except ValueError:
        return str(absolute)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class _Ledger:
    """The ledger, read once per landing. Ledgers written before keys were relative hold absolute
    paths: such a row matches a file with the same content whose relative path ends that path."""

    def __init__(self, rows: list[tuple[str, int, float, str]]):
        self.stats: set[tuple[str, int, float]] = set()
        self.hashes: set[tuple[str, str]] = set()
        self.legacy: dict[str, list[str]] = {}
        for path, size, mtime, sha in rows:
            self.stats.add((path, size, mtime))
            self.hashes.add((path, sha))
            if path.startswith("/"):
                self.legacy.setdefault(sha, []).append(path)

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> _Ledger:
        return cls(con.execute("select path, size_bytes, mtime, sha256 from raw.loaded_files").fetchall())

    def unchanged(self, key: str, path: Path, size: int, mtime: float) -> bool:
        return (key, size, mtime) in self.stats or (str(path.absolute()), size, mtime) in self.stats

    def has(self, key: str, sha: str) -> bool:
        if (key, sha) in self.hashes:
            return True
        return any(old == key or old.endswith("/" + key) for old in self.legacy.get(sha, ()))

    def add(self, key: str, sha: str) -> None:
        self.hashes.add((key, sha))


def load_landing(
    landing_dir: Path,
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    paths: Iterable[Path] | None = None,
) -> LoadResult:
    """Load every new landing file, a chunk per transaction; files already in the ledger are skipped.
    `progress` receives one summary line per landing."""
    warehouse.ensure_schema(con)
    con.execute("set TimeZone = 'UTC'")
    stamp = now or datetime.now(UTC)
    result = LoadResult()
    pending = _new_files(landing_dir, con, list(paths) if paths is not None else discover(landing_dir), result)
    unreadable: dict[Path, str] = {}
    while True:
        # Files of chunks committed before a failure are done: a retry loads only the others.
        done = {f.path for f in result.files}
        readable = [p for p in pending if p.path not in unreadable and p.key not in done]
        try:
            _load(con, readable, stamp, result.files)
            break
        except (duckdb.Error, OSError) as exc:
            done = {f.path for f in result.files}
            failed = next(_chunks([p for p in readable if p.key not in done]), [])  # the chunk in flight
            found = _unreadable(con, failed)
            if not found:
                raise RuntimeError(f"landing failed; the chunk in flight was rolled back: {_short(str(exc))}") from exc
            unreadable.update(found)
    result.unreadable += [(str(path), reason) for path, reason in unreadable.items()]
    if progress:
        progress(result.describe())
    return result


def _new_files(
    landing_dir: Path, con: duckdb.DuckDBPyConnection, candidates: list[Path], result: LoadResult
) -> list[_Pending]:
    """The candidates the ledger does not know, hashed; the same content twice in one landing once."""
    ledger = _Ledger.read(con)
    pending: list[_Pending] = []
    for path in candidates:
        key = ledger_key(landing_dir, path)
        try:
            stat = path.stat()
            if ledger.unchanged(key, path, stat.st_size, stat.st_mtime):
                result.skipped_files += 1
                continue
            sha = sha256_of(path)
        except OSError as exc:
            result.unreadable.append((str(path), _short(str(exc))))
            continue
        if ledger.has(key, sha):
            result.skipped_files += 1
            continue
        ledger.add(key, sha)
        pending.append(_Pending(path, key, stat.st_size, stat.st_mtime, sha))
    return pending


def _chunks(files: list[_Pending]) -> Iterator[list[_Pending]]:
    chunk: list[_Pending] = []
    size = 0
    for item in files:
        if chunk and size + item.size > CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item.size
    if chunk:
        yield chunk


def _load(con: duckdb.DuckDBPyConnection, files: list[_Pending], now: datetime, results: list[FileResult]) -> None:
    """Chunk by chunk, each in its own transaction: staged, quarantined, deduplicated, inserted and
    recorded in the ledger; each committed chunk's files are appended to `results`."""
    for chunk in _chunks(files):
        con.execute("begin transaction")
        try:
            next_id = int(con.execute("select coalesce(max(load_id), 0) + 1 from raw.loaded_files").fetchone()[0])
            ids = {item.path: next_id + i for i, item in enumerate(chunk)}
            counts = _load_chunk(con, chunk, ids, now)
            done = []
            for item in chunk:
                lines, blank, quarantined, valid, loaded = counts.get(ids[item.path], (0, 0, 0, 0, 0))
                done.append(FileResult(item.key, ids[item.path], lines, loaded, valid - loaded, quarantined, blank))
            _insert_rows(
                con, "raw.loaded_files",
                ["load_id", "path", "size_bytes", "mtime", "sha256", "lines_read", "messages_loaded", "duplicates",
                 "quarantined", "blank_lines", "loaded_at"],
                [
                    [r.load_id, r.path, item.size, item.mtime, item.sha256, r.lines_read, r.messages_loaded,
                     r.duplicates, r.quarantined, r.blank_lines, now]
                    for r, item in zip(done, chunk, strict=True)
                ],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            # Dropped after the commit, so the staging tables' storage is freed chunk by chunk.
            for name in ("_landing_files", "_landing_read", "_landing_lines", "_landing_drop", "_landing_rejects",
                         "_landing_rejects_scan"):
                con.execute(f"drop table if exists {name}")
        results.extend(done)


def _load_chunk(
    con: duckdb.DuckDBPyConnection, chunk: list[_Pending], ids: dict[Path, int], now: datetime
) -> dict[int, tuple[int, int, int, int, int]]:
    """Stage one chunk and write it; per load id: (lines read, blank, quarantined, valid, loaded)."""
    names = [str(item.path) for item in chunk]
    con.execute(
        "create or replace temp table _landing_files (file_index ubigint, file_name varchar, load_id bigint, path varchar)"
    )
    _insert_rows(
        con, "_landing_files", ["file_index", "file_name", "load_id", "path"],
        [[index, str(i.path), ids[i.path], i.key] for index, i in enumerate(chunk)],
    )
    for name in ("_landing_rejects", "_landing_rejects_scan"):
        con.execute(f"drop table if exists {name}")
    con.execute(_READ_SQL.format(reader=_READER.format(files="$files", rejects=_REJECTS)), {"files": names})
    con.execute(_STAGE_SQL)
    con.execute("drop table _landing_read")
    rejects = _rejected_lines(con)
    if rejects:
        _renumber_around_rejects(con, rejects)
    con.execute(
        """
        insert into raw.quarantine
        select l.load_id, f.path, l.line_no, l.reason, left(l.line, 4000), ?
        from _landing_lines as l join _landing_files as f using (load_id)
        where l.reason is not null
        """,
        [now],
    )
    if rejects:
        con.executemany(
            "insert into raw.quarantine values (?, ?, ?, ?, ?, ?)",
            [[load_id, key, line_no, f"invalid JSON ({_short(error)})", (line or "")[:4000].strip("\n"), now]
             for load_id, key, line_no, line, error in rejects],
        )
    lo, hi = con.execute(
        "select min(event_at), max(event_at) from _landing_lines where reason is null and not is_blank"
    ).fetchone()
    con.execute(_DROP_SQL, {"lo": (lo or now) - DEDUPE_WINDOW, "hi": (hi or now) + DEDUPE_WINDOW})
    # The lines in the order they were read: a chunk's messages go into `raw` file by file.
    con.execute(
        """
        insert into raw.segment_messages
        select
            message_id, type, event, user_id, anonymous_id, group_id,
            event_at, received_at,
            greatest(event_at, coalesce(received_at, event_at)) as known_at,
            load_id, line::json
        from _landing_lines
        anti join _landing_drop using (load_id, line_no)
        where reason is null and not is_blank
        """
    )
    rejected_per_file: dict[int, int] = {}
    for load_id, *_ in rejects:
        rejected_per_file[load_id] = rejected_per_file.get(load_id, 0) + 1
    rows = con.execute(
        """
        with lines as (
            select
                load_id,
                count(*) as lines_read,
                count(*) filter (where is_blank) as blank,
                count(*) filter (where reason is not null) as quarantined,
                count(*) filter (where reason is null and not is_blank) as valid
            from _landing_lines group by load_id
        ),
        dropped as (
            select load_id, count(*) as dropped from _landing_drop group by load_id
        )
        select lines.*, lines.valid - coalesce(dropped.dropped, 0) from lines left join dropped using (load_id)
        """
    ).fetchall()
    counts = {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}
    for load_id, n in rejected_per_file.items():
        lines, blank, quarantined, valid, loaded = counts.get(load_id, (0, 0, 0, 0, 0))
        counts[load_id] = (lines + n, blank, quarantined + n, valid, loaded)
    return counts


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, names: list[str], rows: list[list]) -> None:
    """Rows in one statement, through an Arrow table: DuckDB's executemany runs one statement per row
    (2.5 s for a ledger of 1,440 files)."""
    import pyarrow as pa

    con.register("_landing_rows", pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)}))
    try:
        con.execute(f"insert into {table} ({', '.join(names)}) select {', '.join(names)} from _landing_rows")
    finally:
        con.unregister("_landing_rows")


def _rejected_lines(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, int, str, str]]:
    """Lines DuckDB's reader itself refused (e.g. a raw control character): (load id, key, line, text, error)."""
    if not con.execute("select count(*) from duckdb_tables() where table_name = '_landing_rejects'").fetchone()[0]:
        return []
    return [
        (int(r[0]), str(r[1]), int(r[2]), r[3], r[4])
        for r in con.execute(
            """
            select f.load_id, f.path, r.line, r.csv_line, r.error_message
            from _landing_rejects as r
            join _landing_rejects_scan as s on s.scan_id = r.scan_id and s.file_id = r.file_id
            join _landing_files as f on f.file_name = s.file_path
            order by f.load_id, r.line
            """
        ).fetchall()
    ]


def _renumber_around_rejects(con: duckdb.DuckDBPyConnection, rejects: list[tuple[int, str, int, str, str]]) -> None:
    """The reader skips the lines it rejects, so row numbers after one drift: map them back to file lines."""
    con.execute("create or replace temp table _landing_skipped (load_id bigint, line_no bigint)")
    con.executemany("insert into _landing_skipped values (?, ?)", [[r[0], r[2]] for r in rejects])
    con.execute(
        """
        create or replace temp table _landing_line_map as
        with skipped as (
            select load_id, count(*) as k from _landing_skipped group by load_id
        ),
        totals as (
            select l.load_id, count(*) + any_value(s.k) as n
            from _landing_lines as l join skipped as s using (load_id)
            group by l.load_id
        ),
        lines as (
            select load_id, unnest(range(1, n + 1)) as line_no from totals
        )
        select load_id, row_number() over (partition by load_id order by line_no) as row_no, line_no
        from lines anti join _landing_skipped using (load_id, line_no)
        """
    )
    con.execute(
        """
        update _landing_lines set line_no = m.line_no from _landing_line_map m
        where _landing_lines.load_id = m.load_id and _landing_lines.line_no = m.row_no
        """
    )
    con.execute("drop table _landing_line_map")
    con.execute("drop table _landing_skipped")


def _unreadable(con: duckdb.DuckDBPyConnection, files: list[_Pending]) -> dict[Path, str]:
    """After a failed chunk (rolled back): read each of its files alone to find the ones that cannot be read."""
    found: dict[Path, str] = {}
    for item in files:
        try:
            con.execute(f"select count(*) from {_READER.format(files='?', rejects=_REJECTS)}", [str(item.path)]).fetchall()
        except (duckdb.Error, OSError) as exc:
            found[item.path] = _short(str(exc))
    for name in ("_landing_rejects", "_landing_rejects_scan"):
        con.execute(f"drop table if exists {name}")
    return found


def _short(text: str | None) -> str:
    return (text or "unreadable line").splitlines()[0][:120]
