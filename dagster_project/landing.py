"""Load landed Segment-spec files into `raw`: once per file, once per messageId, nothing lost.

Each `*.jsonl` / `*.jsonl.gz` file under the landing directory (any depth) is read by DuckDB
itself (parallel, gzip-aware) as one text column, so a 100M-line landing never passes through
Python objects. Per file, in one transaction:

- every non-blank line is either loaded into `raw.segment_messages`, counted as a duplicate
  (its `messageId` was loaded before, in this file or an earlier one), or written to
  `raw.quarantine` with the reason: a line never disappears silently;
- the file is recorded in `raw.loaded_files` (the ledger) with those counts.

A file already in the ledger (same path, same size and mtime, or same content hash) is skipped.
A crash mid-file rolls the transaction back, so the next run loads that file again from scratch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project import warehouse

PATTERNS = ("*.jsonl", "*.jsonl.gz")

# The fields every message must carry; anything else is optional per Segment type.
REQUIRED = ("messageId", "type", "timestamp")

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

_STAGE_SQL = """
create or replace temp table _landing_lines as
with lines as (
    select row_number() over () as line_no, line
    from read_csv(?, columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '',
                  header = false, auto_detect = false, store_rejects = true,
                  rejects_table = '_landing_rejects', rejects_scan = '_landing_rejects_scan')
),
checked as (
    select
        line_no,
        line,
        line is null or trim(line) = '' as is_blank,
        coalesce(json_valid(line), false) as is_json,
        case when json_valid(line) then json_type(line) end as json_kind
    from lines
),
fields as (
    select
        line_no,
        line,
        is_blank,
        is_json,
        json_kind,
        case when json_kind = 'OBJECT' then json_extract_string(line, {paths}) end as f
    from checked
)
select
    line_no,
    line,
    is_blank,
    f[1] as message_id,
    f[2] as type,
    f[3] as ts_text,
    try_cast(f[3] as timestamptz) as event_at,
    f[4] as event,
    f[5] as user_id,
    f[6] as anonymous_id,
    coalesce(f[7], f[8]) as group_id,
    try_cast(f[9] as timestamptz) as received_at,
    case
        when is_blank then null
        when not is_json then 'invalid JSON'
        when json_kind <> 'OBJECT' then 'not a JSON object'
        when f[1] is null or trim(f[1]) = '' then 'missing messageId'
        when f[2] is null or trim(f[2]) = '' then 'missing type'
        when f[3] is null or trim(f[3]) = '' then 'missing timestamp'
        when try_cast(f[3] as timestamptz) is null then 'unparseable timestamp: ' || left(f[3], 60)
        when f[2] = 'track' and (f[4] is null or trim(f[4]) = '') then 'track message without event name'
    end as reason
from fields
""".replace("{paths}", "[" + ", ".join(f"'{p}'" for p in _PATHS) + "]")


@dataclass
class FileResult:
    path: str
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


def discover(landing_dir: Path) -> list[Path]:
    """Every landing file under the directory, in a stable order (sorted path)."""
    if not landing_dir.exists():
        return []
    found: set[Path] = set()
    for pattern in PATTERNS:
        found.update(p for p in landing_dir.rglob(pattern) if p.is_file())
    return sorted(found)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _already_loaded(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[bool, str | None]:
    """(skip?, content hash if it had to be computed). Cheap stat check first, hash only if needed."""
    stat = path.stat()
    key = str(path)
    row = con.execute(
        "select count(*) from raw.loaded_files where path = ? and size_bytes = ? and mtime = ?",
        [key, stat.st_size, stat.st_mtime],
    ).fetchone()
    if row and row[0]:
        return True, None
    digest = sha256_of(path)
    row = con.execute(
        "select count(*) from raw.loaded_files where path = ? and sha256 = ?", [key, digest]
    ).fetchone()
    return bool(row and row[0]), digest


def load_file(con: duckdb.DuckDBPyConnection, path: Path, digest: str, now: datetime) -> FileResult:
    """Load one file in a single transaction; returns its ledger row."""
    stat = path.stat()
    con.execute("begin transaction")
    try:
        load_id = int(con.execute("select coalesce(max(load_id), 0) + 1 from raw.loaded_files").fetchone()[0])
        con.execute(_STAGE_SQL, [str(path)])
        # Lines DuckDB's reader itself refused (e.g. a raw control character): quarantined too.
        has_rejects = con.execute(
            "select count(*) from duckdb_tables() where table_name = '_landing_rejects'"
        ).fetchone()[0]
        rejects = con.execute(
            "select line, csv_line, error_message from _landing_rejects order by line"
        ).fetchall() if has_rejects else []
        if rejects:
            _renumber_around_rejects(con, [int(r[0]) for r in rejects])
        # Lines read = every line DuckDB's reader returned + the lines it rejected itself.
        total_rows, blank = con.execute(
            "select count(*), count(*) filter (where is_blank) from _landing_lines"
        ).fetchone()
        con.execute(
            """
            insert into raw.quarantine
            select ?, ?, line_no, reason, left(line, 4000), ? from _landing_lines where reason is not null
            """,
            [load_id, str(path), now],
        )
        for line_no, line, error in rejects:
            con.execute(
                "insert into raw.quarantine values (?, ?, ?, ?, ?, ?)",
                [load_id, str(path), line_no, f"invalid JSON ({_short(error)})", (line or "")[:4000].strip("\n"), now],
            )
        quarantined = int(
            con.execute("select count(*) from _landing_lines where reason is not null").fetchone()[0]
        ) + len(rejects)
        con.execute(
            """
            create or replace temp table _landing_new as
            select * from _landing_lines where reason is null and not is_blank
            qualify row_number() over (partition by message_id order by line_no) = 1
            """
        )
        valid = int(
            con.execute("select count(*) from _landing_lines where reason is null and not is_blank").fetchone()[0]
        )
        con.execute(
            """
            insert into raw.segment_messages
            select
                n.message_id, n.type, n.event, n.user_id, n.anonymous_id, n.group_id,
                n.event_at, n.received_at,
                greatest(n.event_at, coalesce(n.received_at, n.event_at)) as known_at,
                ?, n.line::json
            from _landing_new as n
            anti join raw.segment_messages as m on m.message_id = n.message_id
            """,
            [load_id],
        )
        loaded = int(con.execute("select count(*) from raw.segment_messages where load_id = ?", [load_id]).fetchone()[0])
        result = FileResult(
            path=str(path),
            load_id=load_id,
            lines_read=int(total_rows) + len(rejects),
            messages_loaded=loaded,
            duplicates=valid - loaded,
            quarantined=quarantined,
            blank_lines=int(blank),
        )
        con.execute(
            "insert into raw.loaded_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id, str(path), stat.st_size, stat.st_mtime, digest, result.lines_read,
                result.messages_loaded, result.duplicates, result.quarantined, result.blank_lines, now,
            ],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for name in ("_landing_lines", "_landing_new", "_landing_rejects", "_landing_rejects_scan"):
            con.execute(f"drop table if exists {name}")
    return result


def _renumber_around_rejects(con: duckdb.DuckDBPyConnection, rejected: list[int]) -> None:
    """The reader skips the lines it rejects, so row numbers after one drift: map them back to file lines."""
    total = int(con.execute("select count(*) from _landing_lines").fetchone()[0]) + len(rejected)
    con.execute(
        """
        create or replace temp table _landing_line_map as
        select row_number() over (order by n) as row_no, n as line_no
        from range(1, ? + 1) as r(n)
        where n not in (select unnest(?::bigint[]))
        """,
        [total, rejected],
    )
    con.execute(
        "update _landing_lines set line_no = m.line_no from _landing_line_map m where _landing_lines.line_no = m.row_no"
    )
    con.execute("drop table _landing_line_map")


def _short(text: str | None) -> str:
    return (text or "unreadable line").splitlines()[0][:120]


def load_landing(
    landing_dir: Path,
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    paths: Iterable[Path] | None = None,
) -> LoadResult:
    """Load every new landing file; files already in the ledger are skipped."""
    warehouse.ensure_schema(con)
    con.execute("set TimeZone = 'UTC'")
    stamp = now or datetime.now(UTC)
    result = LoadResult()
    candidates = list(paths) if paths is not None else discover(landing_dir)
    for index, path in enumerate(candidates, start=1):
        skip, digest = _already_loaded(con, path)
        if skip:
            result.skipped_files += 1
            continue
        try:
            file_result = load_file(con, path, digest or sha256_of(path), stamp)
        except (duckdb.Error, OSError) as exc:
            reason = _short(str(exc))
            result.unreadable.append((str(path), reason))
            if progress:
                progress(f"[{index}/{len(candidates)}] {path.name}: unreadable, retried next cycle: {reason}")
            continue
        result.files.append(file_result)
        if progress:
            progress(
                f"[{index}/{len(candidates)}] {path.name}: {file_result.messages_loaded} loaded, "
                f"{file_result.duplicates} duplicates, {file_result.quarantined} quarantined"
            )
    return result
