"""The monthly accuracy audit of the track assignment (the failure it guards against: silent drift).

Each month (of the cycle's clock) a deterministic random sample of accounts that signed up in the
30 days before is written to <reports>/segmentation_audit/<YYYY-MM>/sample.csv with the context a
reviewer needs and an empty `human_label` column. The reviewer fills it in and drops the file back
(the same sample.csv edited in place, or any labels*.csv beside it). Every cycle loads the labels,
recomputes accuracy per true track and overall into ops.segmentation_accuracy (a monthly time
series) and raises one ops.segmentation_alerts row for the month when overall accuracy is below the
threshold (default 90 %). The pure part (`accuracy_by_track`) is what the tests run on ground truth.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.defs.segmentation.prompt import TRACKS
from dagster_project.lib import config
from reverse_etl import ops_tables

SAMPLE_FILE = "sample.csv"
LABEL_COLUMN = "human_label"
SAMPLE_COLUMNS = (
    "audit_month", "account_id", "company_name", "signup_at", "plan_tier", "mrr", "arr", "employees",
    "industry", "country", "source", "use_case", "funding_stage", "icp_score", "early_activation_steps",
    "assigned_track", "track_source", "track_confidence", "track_reason", LABEL_COLUMN, "labelled_by", "notes",
)
LOOKBACK_DAYS = 30

DDL: tuple[str, ...] = ops_tables.SEGMENTATION_AUDIT


@dataclass(frozen=True)
class TrackAccuracy:
    track: str
    labelled: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


def accuracy_by_track(pairs: Iterable[tuple[str, str]]) -> dict[str, TrackAccuracy]:
    """(assigned, truth) pairs -> accuracy per true track and 'all'.

    Per true track it is the share routed where they belong: "customers who should be high-touch
    land in standard" shows as a low high_touch figure even when overall accuracy looks fine.
    """
    totals: dict[str, list[int]] = {track: [0, 0] for track in (*TRACKS, "all")}
    for assigned, truth in pairs:
        for key in (truth, "all"):
            totals.setdefault(key, [0, 0])
            totals[key][0] += 1
            totals[key][1] += int(assigned == truth)
    return {key: TrackAccuracy(key, n, ok) for key, (n, ok) in totals.items()}


def audit_month(as_of: datetime) -> str:
    return f"{as_of:%Y-%m}"


def csv_safe(value: object) -> object:
    """Customer-typed text must not become a spreadsheet formula when the reviewer opens the file."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def draw_sample(
    con: duckdb.DuckDBPyConnection, as_of: datetime, directory: Path, size: int
) -> Path | None:
    """Write this month's sample once (None when it exists already or nobody signed up recently)."""
    month = audit_month(as_of)
    if con.execute("select count(*) from ops.segmentation_audit_samples where audit_month = ?", [month]).fetchone()[0]:
        return None
    since = as_of - timedelta(days=LOOKBACK_DAYS)
    cursor = con.execute(
        """
        select
            ? as audit_month, e.account_id, e.company_name, e.signup_at, e.plan_tier, e.mrr, e.arr, e.employees,
            e.industry, e.country, e.source, e.use_case, e.funding_stage, s.icp_score, e.early_activation_steps,
            s.track as assigned_track, s.track_source, s.track_confidence, s.track_reason,
            '' as human_label, '' as labelled_by, '' as notes
        from intermediate.int_accounts_segmented as s
        inner join intermediate.int_accounts_enriched as e on e.account_id = s.account_id
        where e.signup_at > ? and e.signup_at <= ?
        order by md5(? || s.account_id)
        limit ?
        """,
        [month, since, as_of, month, size],
    )
    rows = cursor.fetchall()
    if not rows:
        return None
    folder = directory / month
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SAMPLE_FILE
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SAMPLE_COLUMNS)
        for row in rows:
            writer.writerow(
                [config.iso(v) if isinstance(v, datetime) else csv_safe(v) for v in row]
            )
    con.executemany(
        "insert into ops.segmentation_audit_samples values (?, ?, ?, ?, ?, ?)",
        [(month, row[1], row[15], row[16], as_of, str(path)) for row in rows],
    )
    return path


def read_labels(folder: Path) -> dict[str, tuple[str, str, str]]:
    """account_id -> (label, labelled_by, file) from the month's CSVs; later files win, bad labels skipped."""
    labels: dict[str, tuple[str, str, str]] = {}
    files = sorted(folder.glob("*.csv"), key=lambda p: (p.name != SAMPLE_FILE, p.stat().st_mtime))
    for path in files:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                label = (row.get(LABEL_COLUMN) or "").strip().lower().replace("-", "_").replace(" ", "_")
                account = (row.get("account_id") or "").strip()
                if account and label in TRACKS:
                    labels[account] = (label, (row.get("labelled_by") or "").strip(), str(path))
    return labels


def load_labels_and_score(
    con: duckdb.DuckDBPyConnection, as_of: datetime, directory: Path, min_accuracy: float
) -> dict[str, dict[str, TrackAccuracy]]:
    """Load dropped-back labels for every sampled month; refresh accuracy rows; raise alerts once."""
    results: dict[str, dict[str, TrackAccuracy]] = {}
    months = [r[0] for r in con.execute("select distinct audit_month from ops.segmentation_audit_samples").fetchall()]
    for month in sorted(months):
        folder = directory / month
        if folder.is_dir():
            labels = read_labels(folder)
            sampled = {
                r[0] for r in con.execute(
                    "select account_id from ops.segmentation_audit_samples where audit_month = ?", [month]
                ).fetchall()
            }
            rows = [(month, a, lab, by, f, as_of) for a, (lab, by, f) in labels.items() if a in sampled]
            con.execute("delete from ops.segmentation_audit_labels where audit_month = ?", [month])
            if rows:
                con.executemany("insert into ops.segmentation_audit_labels values (?, ?, ?, ?, ?, ?)", rows)
        pairs = con.execute(
            """
            select s.assigned_track, l.human_label
            from ops.segmentation_audit_samples as s
            inner join ops.segmentation_audit_labels as l using (audit_month, account_id)
            where s.audit_month = ?
            """,
            [month],
        ).fetchall()
        if not pairs:
            continue
        scores = accuracy_by_track(pairs)
        results[month] = scores
        con.execute("delete from ops.segmentation_accuracy where audit_month = ?", [month])
        con.executemany(
            "insert into ops.segmentation_accuracy values (?, ?, ?, ?, ?, ?)",
            [(month, s.track, s.labelled, s.correct, s.accuracy, as_of) for s in scores.values()],
        )
        overall = scores["all"]
        already = con.execute("select count(*) from ops.segmentation_alerts where audit_month = ?", [month]).fetchone()[0]
        if overall.accuracy is not None and overall.accuracy < min_accuracy and not already:
            worst = min(
                (s for k, s in scores.items() if k != "all" and s.labelled),
                key=lambda s: s.accuracy or 0.0,
            )
            con.execute(
                "insert into ops.segmentation_alerts values (?, ?, ?, ?, ?, ?)",
                [
                    month,
                    overall.accuracy,
                    min_accuracy,
                    overall.labelled,
                    f"segmentation accuracy {overall.accuracy:.0%} for {month} is below {min_accuracy:.0%} "
                    f"({overall.correct}/{overall.labelled} labelled; weakest: {worst.track} "
                    f"{worst.accuracy:.0%}): review the rules thresholds and the prompt",
                    as_of,
                ],
            )
    return results
