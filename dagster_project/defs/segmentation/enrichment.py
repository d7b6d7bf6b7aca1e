"""The enrichment file the user drops in -> raw.firmographics (one row per account).

Documented schema (CSV with a header row, or Parquet; extra columns are ignored, missing optional
columns are null): account_id (required), domain, employees, industry, country, funding_stage
(bootstrapped|seed|series_a|series_b|growth|public), tech_stack (semicolon-separated), founded_year,
annual_revenue_usd. Location: ONBOARDING_ENRICHMENT_PATH, a file or a folder (default
$ONBOARDING_LANDING_DIR/enrichment/); in a folder every *.csv and *.parquet is read and, for an account
in several files, the most recently modified file wins. The table is rebuilt only when the set of files
(path, size, mtime) changed, and always exists (empty without a file) so dbt can read it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_id", "varchar"),
    ("domain", "varchar"),
    ("employees", "integer"),
    ("industry", "varchar"),
    ("country", "varchar"),
    ("funding_stage", "varchar"),
    ("tech_stack", "varchar"),
    ("founded_year", "integer"),
    ("annual_revenue_usd", "double"),
)
SUFFIXES = (".csv", ".parquet")

DDL = (
    "create schema if not exists raw",
    "create table if not exists raw.firmographics ("
    + ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    + ", source_file varchar)",
    """
    create table if not exists raw.firmographics_loads (
        fingerprint varchar not null,
        files varchar[] not null,
        rows_loaded bigint not null,
        rows_rejected bigint not null,
        loaded_at timestamptz not null
    )
    """,
)


class EnrichmentFileError(ValueError):
    """A file that cannot serve as enrichment (e.g. no account_id column): named, with the reason."""


@dataclass(frozen=True)
class EnrichmentResult:
    files: list[Path]
    loaded: bool  # False when nothing changed since the last load
    rows: int
    rejected: int  # rows without an account_id


def find_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() in SUFFIXES else []
    if not path.is_dir():
        return []
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))  # oldest first; the last one wins


def fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in files:
        stat = p.stat()
        digest.update(f"{p.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _reader(path: Path) -> str:
    if path.suffix.lower() == ".parquet":
        return f"read_parquet({_quote(path)})"
    return f"read_csv({_quote(path)}, header = true, all_varchar = true)"


def _select_for(con: duckdb.DuckDBPyConnection, path: Path, rank: int) -> str:
    try:
        present = {row[0].lower(): row[0] for row in con.execute(f"describe select * from {_reader(path)}").fetchall()}
    except duckdb.Error as exc:
        raise EnrichmentFileError(f"enrichment file {path} is not readable: {str(exc).splitlines()[0]}") from exc
    if "account_id" not in present:
        raise EnrichmentFileError(f"enrichment file {path} has no account_id column")
    parts = []
    for name, kind in COLUMNS:
        if name in present:
            value = f'trim(cast("{present[name]}" as varchar))'
            parts.append(f"try_cast(nullif({value}, '') as {kind}) as {name}")
        else:
            parts.append(f"cast(null as {kind}) as {name}")
    parts.append(f"{_quote(path)} as source_file")
    parts.append(f"{rank} as file_rank")
    return f"select {', '.join(parts)} from {_reader(path)}"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def load_firmographics(con: duckdb.DuckDBPyConnection, path: Path) -> EnrichmentResult:
    ensure_tables(con)
    files = find_files(path)
    print_ = fingerprint(files)
    last = con.execute("select fingerprint from raw.firmographics_loads order by loaded_at desc limit 1").fetchone()
    if last is not None and last[0] == print_:
        rows = int(con.execute("select count(*) from raw.firmographics").fetchone()[0])
        return EnrichmentResult(files, loaded=False, rows=rows, rejected=0)
    names = [name for name, _ in COLUMNS]
    selects = [_select_for(con, p, rank) for rank, p in enumerate(files)]
    con.execute("begin")
    try:
        con.execute("delete from raw.firmographics")
        rejected = 0
        if selects:
            union = " union all ".join(selects)
            rejected = int(con.execute(f"select count(*) from ({union}) where account_id is null").fetchone()[0])
            con.execute(
                f"""
                insert into raw.firmographics
                select {', '.join(names)}, source_file from ({union})
                where account_id is not null
                qualify row_number() over (partition by account_id order by file_rank desc) = 1
                """
            )
        rows = int(con.execute("select count(*) from raw.firmographics").fetchone()[0])
        con.execute(
            "insert into raw.firmographics_loads values (?, ?, ?, ?, now())",
            [print_, [str(p) for p in files], rows, rejected],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return EnrichmentResult(files, loaded=True, rows=rows, rejected=rejected)
