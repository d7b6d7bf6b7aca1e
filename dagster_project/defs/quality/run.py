"""One data-quality pass for one cycle clock: validate, detect drift, update the gate, queue alerts, report.

All warehouse writes of a pass happen in one transaction, so a crash leaves the previous cycle's
statuses, gate and watermarks intact and the same messages are validated again next time. Running the
same cycle twice finds nothing new: every status is carried over, no alert repeats, the gate stays.

A pass costs its batch, not the history (expectations/README.md, "What a pass costs"): the batch is found
and staged without reading a validated payload (`batch.stage_batch`), the history is read only for the
group calls and signups the batch needs, on narrow columns, and the drift checks read the hourly
profiles the pass keeps (`ops.quality_profiles`) rather than `raw`. An hour with nothing new reads no
payload, imports neither GX nor pandas, and writes one transaction of statuses.

Bounded memory whatever the backlog (a first load validates the whole history in one pass): the batch
is staged once in a DuckDB temp table (only each message's properties/traits, DuckDB capped at
`ONBOARDING_QUALITY_MEMORY`, default 2GB, spilling past it). The per-row work is SQL (`scan.py`): each
suite's frame is built by JSON extraction of only the properties it names, and the property profile,
late arrivals and repeated events are aggregates over the whole batch. Only suite rows reach Python, a
chunk of at most `chunk_size` rows per suite at a time (`ONBOARDING_QUALITY_CHUNK`, default 200,000; an
hourly batch is one chunk per suite). GX runs on every chunk (its import starts in the background as
soon as the pass knows a suite has rows) and `merge.py` folds the chunks into ONE outcome per check for
the cycle (counts summed, success recomputed with GX's `mostly` rule, samples capped, every affected
account kept for the gate), so a check has one status per cycle and alerts fire once per status change,
whatever the chunk size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.defs.quality import alerts as alert_io
from dagster_project.defs.quality import batch as batch_io
from dagster_project.defs.quality import drift, history, merge, page, store, validate
from dagster_project.defs.quality import scan as scan_sql
from dagster_project.defs.quality.checks import (
    DEFAULT_MIN_COUNT,
    DRIFT_CHECKS,
    UNATTRIBUTED_CHECK,
    CheckOutcome,
    alert_for,
    apply_min_count,
    drift_outcome,
    release_alert,
    status_changes,
    suite_check_name,
    suite_outcome,
    unattributed_outcome,
)
from dagster_project.defs.quality.suites import SuiteSpec, event_key, load_suites, suite_names
from dagster_project.lib import config
from dagster_project.lib.settings import Env

BASELINE_DAYS = 7
RECENT_WINDOW = timedelta(hours=24)
PROFILE_RETENTION_DAYS = 35
DEFAULT_CHUNK = 200_000
DEFAULT_MEMORY = "2GB"  # DuckDB's buffer pool while the batch is staged and scanned; it spills past this

CHUNK = Env("ONBOARDING_QUALITY_CHUNK", str(DEFAULT_CHUNK),
            "messages validated per chunk: bounds a data-quality pass's memory on a first load")
MIN_COUNT = Env("ONBOARDING_QUALITY_MIN_COUNT", str(DEFAULT_MIN_COUNT),
                "fewest failing rows a data-quality share threshold trips on (see `expectations/README.md`)")
MEMORY = Env("ONBOARDING_QUALITY_MEMORY", DEFAULT_MEMORY,
             "DuckDB's memory limit while a data-quality pass stages and scans the batch (it spills past it)")


def _count_setting(env: Env, unit: str) -> int:
    raw = env.read()
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{env.variable} must be a whole number of {unit}, got {raw!r}") from exc
    if value < 1:
        raise ValueError(f"{env.variable} must be at least 1, got {value}")
    return value


def chunk_size_setting() -> int:
    """Messages validated per chunk (`ONBOARDING_QUALITY_CHUNK`): bounds a pass's memory on a first load."""
    return _count_setting(CHUNK, "messages")


def min_count_setting() -> int:
    """Fewest failing rows a share threshold trips on (`ONBOARDING_QUALITY_MIN_COUNT`, default 3)."""
    return _count_setting(MIN_COUNT, "rows")


@dataclass
class BatchScan:
    """What the chunks of one batch add up to (the drift checks and suites read this, not the messages)."""

    rows: int = 0
    chunks: int = 0  # GX validations (frames) run
    largest_frame: int = 0
    suite_rows: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, list] = field(default_factory=dict)
    profile: merge.Profile = field(default_factory=dict)
    late: int = 0
    late_samples: list[str] = field(default_factory=list)
    comparable: int = 0
    repeats: int = 0
    repeat_samples: list[str] = field(default_factory=list)
    attributable: int = 0  # track and page messages (the ones that need an account)
    unattributed: int = 0
    unattributed_samples: list[str] = field(default_factory=list)
    unattributed_by_event: dict[str, int] = field(default_factory=dict)
    gx_startup_seconds: float = 0.0  # what the pass waited for GX's import and context (only when a suite has rows)


@dataclass
class QualityRun:
    as_of: datetime
    checks: list[CheckOutcome]
    batch_rows: int
    new_load_ids: list[int]
    alerts: list[dict] = field(default_factory=list)
    gated_accounts: int = 0
    released: dict[str, int] = field(default_factory=dict)
    report_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    delivery: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    largest_frame: int = 0
    unattributed: int = 0  # track/page messages of the batch that belong to no account
    released_everyone: int = 0  # '*' rows of an earlier version's gate, opened by this pass

    def check(self, name: str) -> CheckOutcome:
        return next(c for c in self.checks if c.name == name)


def check_names(suites: list[SuiteSpec] | None = None) -> list[str]:
    """Every check this package reports, in a stable order (the Dagster check specs are built from it)."""
    names = [s.name for s in suites] if suites else suite_names()  # loading the code location reads no suite
    return [suite_check_name(name) for name in names] + list(DRIFT_CHECKS) + [UNATTRIBUTED_CHECK]


def data_channel() -> str:
    from dagster_project.defs.slack.resources import CHANNEL_DATA

    return CHANNEL_DATA.read()


def run_quality(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    *,
    load_ids: list[int] | None = None,
    suites: list[SuiteSpec] | None = None,
    thresholds: drift.DriftThresholds | None = None,
    reports_dir: Path | None = None,
    post: alert_io.Poster | None = None,
    deliver: bool = True,
    chunk_size: int | None = None,
) -> QualityRun:
    """Validate what arrived by `as_of`; see the module docstring for the guarantees."""
    started = time.perf_counter()
    specs = suites or load_suites()
    limits = thresholds or drift.DriftThresholds(min_count=min_count_setting())
    store.ensure_schema(con)
    previous = store.previous_statuses(con)
    fresh_loads = store.new_load_ids(con)
    size = chunk_size or chunk_size_setting()
    preloaded: list[bool] = []  # whether this pass started GX's import

    def on_counts(counts: dict[str, int]) -> None:
        preloaded.append(_preload_if_validating(specs, counts))

    with batch_io.memory_limit(con, MEMORY.read(), restore=config.DUCKDB_MEMORY.read()):
        try:
            total = batch_io.stage_batch(con, as_of, load_ids, full_payload=scan_sql.needs_full_payload(specs),
                                         on_counts=on_counts)
            fetched = time.perf_counter()
            scan = _scan(con, specs, as_of, total, size, limits)
        finally:
            validate.settle()
            scan_sql.drop_ordered(con)
            batch_io.drop_staged(con)
    checks: list[CheckOutcome] = []
    for spec in specs:
        name = suite_check_name(spec.name)
        rows = scan.suite_rows.get(name, 0)
        outcomes = apply_min_count(scan.outcomes.get(name) or [], limits.min_count)
        checks.append(suite_outcome(name, rows, outcomes, previous.get(name)))
    validated = time.perf_counter()

    # Schema drift: the last 24 h of arrivals (all of them) against the good arrivals of the week before,
    # so a verdict does not flap with the size of one hour's batch.
    batch_profile = scan.profile
    recent_start = as_of - RECENT_WINDOW
    recent = merge.merge_profiles(
        store.window_profiles(con, recent_start, as_of, good_only=False, hourly=True), batch_profile, recent_start
    )
    baseline = store.window_profiles(con, recent_start - timedelta(days=BASELINE_DAYS), recent_start, good_only=True)
    # The volume series from the hourly profiles plus this batch's: complete only when the batch is every
    # pending message (no `load_ids` filter); otherwise from `raw`.
    series, first_arrival = batch_io.arrivals_by_day(con, as_of, 7 * limits.volume_weeks + 1,
                                                     batch_profile if load_ids is None else None)
    lines_read, loader_dups = store.loader_counts(con, fresh_loads)
    evaluated = total > 0
    plan_keys = {s.key for s in specs}
    profiled = sum(sum(props.get("", {}).values()) for props in batch_profile.values())
    last_day = sum(counts[0] for key, counts in series.items() if key in plan_keys)
    checks += [
        drift_outcome("schema_drift", drift.schema_drift(recent, baseline, limits), True,
                      previous.get("schema_drift"), rows=profiled),
        drift_outcome("volume_anomaly", drift.volume_anomalies(series, first_arrival, as_of, limits, plan_keys), True,
                      previous.get("volume_anomaly"), rows=last_day),
        drift_outcome("late_arrivals", drift.late_findings(total, scan.late, scan.late_samples, limits), evaluated,
                      previous.get("late_arrivals")),
        drift_outcome("duplicate_burst", drift.duplicate_findings(lines_read, loader_dups, scan.comparable, scan.repeats,
                                                        scan.repeat_samples, limits),
                      evaluated or bool(fresh_loads), previous.get("duplicate_burst"),
                      rows=scan.comparable or lines_read),
        unattributed_outcome(scan.attributable, scan.unattributed, scan.unattributed_samples,
                             scan.unattributed_by_event, previous.get(UNATTRIBUTED_CHECK)),
    ]
    late_check = next(c for c in checks if c.name == "late_arrivals")
    if not late_check.carried:
        late = scan.late / total if total else 0.0
        late_check.summary += f" (late share {late:.1%} of {total})"
        late_check.rows = total
    run = QualityRun(as_of=as_of, checks=checks, batch_rows=total, new_load_ids=fresh_loads, chunks=scan.chunks,
                     largest_frame=scan.largest_frame, unattributed=scan.unattributed)

    con.execute("begin transaction")
    try:
        for c in checks:
            if c.carried:
                continue
            if c.status == "fail":
                store.close_gate(con, c.name, c.gate, as_of)
            else:
                run.released[c.name] = store.open_gate(con, c.name)
        # An earlier version wrote '*' (everyone) for failing rows without an account: opened at once.
        everyone = store.release_everyone(con, [c.name for c in checks])
        run.released_everyone = sum(everyone.values())
        channel = data_channel()
        run.alerts = [
            alert_for(c, before, as_of, channel, released=run.released.get(c.name, 0))
            for c, before in status_changes(checks, previous)
        ]
        if everyone:
            run.alerts.append(release_alert(sorted(everyone), as_of, channel))
        store.insert_alerts(con, run.alerts, as_of)
        store.insert_results(con, _result_rows(checks), as_of)
        store.insert_profiles(con, _profile_rows(batch_profile, checks, specs), as_of)
        store.prune_profiles(con, as_of - timedelta(days=PROFILE_RETENTION_DAYS))
        store.save_statuses(con, {c.name: (c.status, c.summary[:2000]) for c in checks}, as_of)
        history.record(con, as_of)  # the batch's group calls, signups and first accounts, with its watermarks
        store.advance_watermarks(con, as_of)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    if deliver:
        run.delivery = alert_io.deliver_pending(con, as_of, post)
    gate = store.gate_rows(con)
    run.gated_accounts = len({g[0] for g in gate})
    finished = time.perf_counter()
    run.timings = {
        "fetch_seconds": round(fetched - started, 3),
        "gx_startup_seconds": scan.gx_startup_seconds,
        "gx_import_seconds": (validate.import_seconds() or 0.0) if any(preloaded) else 0.0,  # in the background
        "validate_seconds": round(validated - fetched - scan.gx_startup_seconds, 3),
        "total_seconds": round(finished - started, 3),
    }
    run.report_path = page.write_report(
        reports_dir or config.reports_dir(), page.render(checks, as_of, total, gate, run.timings)
    )
    return run


def _preload_if_validating(specs: list[SuiteSpec], counts: dict[str, int]) -> bool:
    """A suite has new rows: start GX's import now, while DuckDB stages and scans the batch."""
    return any(counts.get(spec.key) for spec in specs) and validate.preload()


def _scan(
    con: duckdb.DuckDBPyConnection,
    specs: list[SuiteSpec],
    as_of: datetime,
    total: int,
    size: int,
    thresholds: drift.DriftThresholds,
) -> BatchScan:
    """Aggregate the staged batch in SQL; validate each suite's rows with GX a chunk at a time.

    The aggregates come first: GX's import (started while staging) goes on meanwhile.
    """
    scan = BatchScan(rows=total)
    if not total:
        return scan  # an empty batch never imports or starts Great Expectations
    scan.profile = scan_sql.profile(con)
    scan.late, scan.late_samples = scan_sql.late(con, thresholds.late_after)
    scan.comparable, scan.repeats, scan.repeat_samples = scan_sql.repeated_events(con)
    scan.attributable, scan.unattributed, scan.unattributed_samples, scan.unattributed_by_event = (
        scan_sql.unattributed(con)
    )
    per_key = scan_sql.suite_rows(con)
    for spec in specs:
        rows = per_key.get(spec.key, 0)
        name = suite_check_name(spec.name)
        ordered = rows > size  # more than one chunk: sorted once, then read a range at a time
        if ordered:
            scan_sql.order_suite(con, spec)
        for start in range(0, rows, size):
            frame = scan_sql.suite_frame(con, spec, as_of, start, size, ordered=ordered)
            if not scan.chunks:
                scan.gx_startup_seconds = validate.warm_up()  # what the pass waited for GX, if anything
            outcomes = validate.validate_frame(spec, frame)
            scan.suite_rows[name] = scan.suite_rows.get(name, 0) + len(frame)
            scan.outcomes[name] = merge.merge_outcomes(scan.outcomes.get(name), outcomes)
            scan.chunks += 1
            scan.largest_frame = max(scan.largest_frame, len(frame))
            del frame
    return scan


def _result_rows(checks: list[CheckOutcome]) -> list[tuple]:
    import json

    rows: list[tuple] = []
    for c in checks:
        for e in c.expectations:
            rows.append((
                c.name, e.name, e.severity, e.success, e.element_count, e.unexpected_count, e.unexpected_percent,
                json.dumps({"why": e.why, "samples": e.sample_message_ids, "accounts": len(e.affected_accounts),
                            "unexpected_values": e.unexpected_values, "error": e.error}),
            ))
        for f in c.findings:
            rows.append((c.name, f.name, "warning", False, None, f.count, f.share,
                         json.dumps({"message": f.message, "samples": f.samples})))
    return rows


def _profile_rows(
    profile: dict, checks: list[CheckOutcome], specs: list[SuiteSpec]
) -> list[tuple[datetime, str, str, str, int, bool]]:
    """The batch's property types; an event whose suite failed is kept out of the next baseline."""
    failing = {event_key(s.message_type, s.event) for s in specs
               for c in checks if c.name == suite_check_name(s.name) and c.status == "fail" and not c.carried}
    rows = []
    for (hour, key), props in profile.items():
        good = key not in failing
        for prop, types in props.items():
            for json_type, n in types.items():
                rows.append((hour, key, prop, json_type, int(n), good))
    return rows
