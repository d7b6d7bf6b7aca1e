"""`onboarding generate`: a deterministic synthetic Segment workspace, streamed to gzip files.

Accounts are independent (each has its own RNG from (seed, index)), so the work is sharded into
contiguous account ranges, one per worker process; each worker keeps one gzip stream per landing
hour open and writes its own part files. Memory stays flat whatever the number of accounts.

Output under `out`:
    events/YYYY-MM-DD/HH.jsonl.gz           the messages, by the hour they were received
                                            (HH-part-<k>.jsonl.gz with several workers)
    ground_truth/accounts.csv               what each account was planted to do (see truth.py)
    ground_truth/manifest.json              counts of everything planted, for the tests
    enrichment/firmographics.csv            a data vendor's view of each company
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import queue
import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from dagster_project.synthetic import catalog as c
from dagster_project.synthetic.clock import MS_PER_DAY, iso_ms, parse_start
from dagster_project.synthetic.files import HourlyFiles
from dagster_project.synthetic.messages import render_account
from dagster_project.synthetic.plan import plan_account, signup_day_weights
from dagster_project.synthetic.truth import COLUMNS, ENRICHMENT_COLUMNS

GENERATOR_VERSION = 1


@dataclass
class ShardResult:
    part: int | None
    accounts: int = 0
    lines: int = 0
    users: int = 0
    duplicates: int = 0
    late: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    personas: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


@dataclass
class Summary:
    out: str
    seed: int
    accounts: int
    days: int
    start: str
    end: str
    workers: int
    lines_written: int
    messages_by_type: dict[str, int]
    duplicates: int
    late_arrivals: int
    malformed: dict[str, int]
    files: int
    users: int
    personas: dict[str, int]
    tracks: dict[str, int]
    seconds: float

    @property
    def messages(self) -> int:
        return sum(self.messages_by_type.values())

    @property
    def lines_per_second(self) -> float:
        return self.lines_written / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        types = ", ".join(f"{k} {v:,}" for k, v in sorted(self.messages_by_type.items()))
        tracks = ", ".join(f"{k} {v:,}" for k, v in sorted(self.tracks.items()))
        return "\n".join(
            [
                f"generated {self.accounts:,} accounts ({self.users:,} users) over {self.days} days "
                f"[{self.start} .. {self.end}) seed {self.seed} into {self.out}",
                f"  {self.messages:,} messages ({types})",
                f"  {self.lines_written:,} lines in {self.files:,} files: {self.duplicates:,} duplicates, "
                f"{self.late_arrivals:,} late arrivals, {sum(self.malformed.values()):,} malformed lines planted",
                f"  intended tracks: {tracks}",
                f"  {self.seconds:,.1f} s with {self.workers} worker(s), {self.lines_per_second:,.0f} lines/s",
            ]
        )


def _merge(into: dict[str, int], other: dict[str, int]) -> None:
    for key, value in other.items():
        into[key] = into.get(key, 0) + value


def _forced_malformed(index: int, accounts: int) -> str | None:
    if accounts < 100 or index not in c.MALFORMED_FORCED_INDEX:
        return None
    return c.MALFORMED_REASONS[c.MALFORMED_FORCED_INDEX[index]]


def run_shard(
    seed: int,
    accounts: int,
    days: int,
    start_ms: int,
    lo: int,
    hi: int,
    out: Path,
    part: int | None,
    report: Callable[[int, int], None] | None = None,
) -> ShardResult:
    """Generate accounts [lo, hi) into `out`; calls report(accounts done, lines) about every 1%."""
    end_ms = start_ms + days * MS_PER_DAY
    day_cum = signup_day_weights(start_ms, days)
    files = HourlyFiles(out / "events", part)
    suffix = "" if part is None else f".part-{part}"
    truth_path = out / "ground_truth" / f"accounts{suffix}.csv"
    enrich_path = out / "enrichment" / f"firmographics{suffix}.csv"
    result = ShardResult(part=part)
    every = max(1, (hi - lo) // 100)
    personas: Counter[str] = Counter()
    tracks: Counter[str] = Counter()
    with truth_path.open("w", newline="", encoding="utf-8") as tf, enrich_path.open(
        "w", newline="", encoding="utf-8"
    ) as ef:
        truth_csv = csv.writer(tf, lineterminator="\n")
        enrich_csv = csv.writer(ef, lineterminator="\n")
        if part is None:
            truth_csv.writerow(COLUMNS)
            enrich_csv.writerow(ENRICHMENT_COLUMNS)
        for index in range(lo, hi):
            plan, rng = plan_account(seed, index, accounts, start_ms, days, day_cum)
            rendered = render_account(plan, rng, end_ms, _forced_malformed(index, accounts))
            write = files.write
            for hour, line in rendered.lines:
                write(hour, line)
            truth_csv.writerow([rendered.truth[col] for col in COLUMNS])
            enrich_csv.writerow([plan.enrichment[col] for col in ENRICHMENT_COLUMNS])
            result.users += rendered.users
            result.duplicates += rendered.duplicates
            result.late += rendered.late
            _merge(result.by_type, rendered.by_type)
            if rendered.malformed:
                _merge(result.malformed, rendered.malformed)
            personas[plan.persona] += 1
            tracks[plan.intended_track] += 1
            done = index - lo + 1
            if report is not None and (done % every == 0 or index == hi - 1):
                report(done, files.lines)
    result.files = [str(p.relative_to(out)) for p in files.close()]
    result.accounts = hi - lo
    result.lines = files.lines
    result.personas = dict(personas)
    result.tracks = dict(tracks)
    return result


def _worker(args: tuple, channel: mp.Queue) -> None:  # pragma: no cover - runs in a child process
    part = args[-1]
    try:
        result = run_shard(*args, report=lambda done, lines: channel.put(("progress", part, done, lines)))
        channel.put(("done", part, asdict(result)))
    except BaseException:
        channel.put(("error", part, traceback.format_exc()))


def _prepare(out: Path) -> None:
    """Start from an empty output; only a previous generator output is ever deleted."""
    ours = (out / "ground_truth" / "manifest.json").exists()
    events = out / "events"
    if events.exists() and any(events.iterdir()) and not ours:
        raise ValueError(f"{events} exists and was not written by `onboarding generate`; refusing to overwrite")
    for name in ("events", "ground_truth", "enrichment"):
        if (out / name).exists():
            shutil.rmtree(out / name)
        (out / name).mkdir(parents=True)


def _shards(accounts: int, workers: int) -> list[tuple[int, int]]:
    bounds = [accounts * k // workers for k in range(workers + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(workers)]


def _concat(parts: list[Path], target: Path, header: tuple[str, ...]) -> None:
    with target.open("wb") as dst:
        dst.write((",".join(header) + "\n").encode())
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
            part.unlink()


def generate(
    accounts: int,
    days: int,
    seed: int,
    out: str | Path,
    start: str | datetime | None = None,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Write the workspace; deterministic for (accounts, days, seed, start) whatever `workers` is,
    up to how messages are split into part files."""
    if accounts < 1 or days < 1:
        raise ValueError("--accounts and --days must be at least 1")
    workers = max(1, min(int(workers or 1), accounts))
    root = Path(out).expanduser().resolve()
    start_ms = parse_start(start, days)
    end_ms = start_ms + days * MS_PER_DAY
    _prepare(root)
    say = progress or (lambda _line: None)
    began = time.perf_counter()
    step = max(1, accounts // 20)
    next_report = [step]

    def tick(done: int, lines: int) -> None:
        if done >= next_report[0] or done == accounts:
            elapsed = max(time.perf_counter() - began, 1e-9)
            say(
                f"generate: {done:,}/{accounts:,} accounts ({100 * done // accounts}%), "
                f"{lines:,} lines, {lines / elapsed:,.0f} lines/s"
            )
            while next_report[0] <= done:
                next_report[0] += step

    if workers == 1:
        results = [run_shard(seed, accounts, days, start_ms, 0, accounts, root, None, report=tick)]
    else:
        results = _run_parallel(seed, accounts, days, start_ms, root, workers, tick)
        _concat([root / "ground_truth" / f"accounts.part-{k}.csv" for k in range(workers)],
                root / "ground_truth" / "accounts.csv", COLUMNS)
        _concat([root / "enrichment" / f"firmographics.part-{k}.csv" for k in range(workers)],
                root / "enrichment" / "firmographics.csv", ENRICHMENT_COLUMNS)
    seconds = time.perf_counter() - began

    total = ShardResult(part=None)
    for r in results:
        for attr in ("accounts", "lines", "users", "duplicates", "late"):
            setattr(total, attr, getattr(total, attr) + getattr(r, attr))
        for attr in ("by_type", "malformed", "personas", "tracks"):
            _merge(getattr(total, attr), getattr(r, attr))
        total.files.extend(r.files)
    summary = Summary(
        out=str(root),
        seed=seed,
        accounts=accounts,
        days=days,
        start=iso_ms(start_ms),
        end=iso_ms(end_ms),
        workers=workers,
        lines_written=total.lines,
        messages_by_type=dict(sorted(total.by_type.items())),
        duplicates=total.duplicates,
        late_arrivals=total.late,
        malformed={r: total.malformed.get(r, 0) for r in c.MALFORMED_REASONS},
        files=len(total.files),
        users=total.users,
        personas=dict(sorted(total.personas.items())),
        tracks=dict(sorted(total.tracks.items())),
        seconds=seconds,
    )
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "accounts": accounts,
        "days": days,
        "start": summary.start,
        "end": summary.end,
        "workers": workers,
        "users": summary.users,
        "messages": summary.messages,
        "messages_by_type": summary.messages_by_type,
        "lines_written": summary.lines_written,
        "duplicates_planted": summary.duplicates,
        "late_arrivals_planted": summary.late_arrivals,
        "malformed_planted": summary.malformed,
        "personas": summary.personas,
        "intended_tracks": summary.tracks,
        "files_written": summary.files,
        "files": sorted(total.files),
        "holdout": _holdout_truth(root / "ground_truth" / "accounts.csv"),
    }
    (root / "ground_truth" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return summary


def _holdout_truth(truth_csv: Path) -> dict[str, object]:
    """The planted lift, for the analytics tests: who is held out and who missed activation for it."""
    with truth_csv.open(newline="", encoding="utf-8") as handle:
        rows = [(r["holdout"] == "true", r["holdout_missed_activation"] == "true") for r in csv.DictReader(handle)]
    held = sum(h for h, _ in rows)
    return {
        "share": c.HOLDOUT_SHARE,
        "missed_activation_probability": c.HOLDOUT_MISSED_ACTIVATION,
        "accounts": held,
        "missed_activation": sum(m for _, m in rows),
        "note": "a holdout account that would have activated within 14 days stalls instead with "
        "missed_activation_probability: the holdout's 14-day activation is that much lower than treated",
    }


def _run_parallel(
    seed: int, accounts: int, days: int, start_ms: int, root: Path, workers: int,
    tick: Callable[[int, int], None],
) -> list[ShardResult]:
    ctx = mp.get_context("spawn")  # no fork: the parent may hold DuckDB or Dagster threads
    channel: mp.Queue = ctx.Queue()
    procs = []
    for part, (lo, hi) in enumerate(_shards(accounts, workers)):
        args = (seed, accounts, days, start_ms, lo, hi, root, part)
        proc = ctx.Process(target=_worker, args=(args, channel), daemon=True)
        proc.start()
        procs.append(proc)
    done: dict[int, int] = {}
    lines: dict[int, int] = {}
    results: dict[int, ShardResult] = {}
    try:
        while len(results) < workers:
            try:
                message = channel.get(timeout=2)
            except queue.Empty:
                dead = [p for k, p in enumerate(procs) if k not in results and not p.is_alive()]
                if dead:
                    raise RuntimeError(f"a generator worker died (exit code {dead[0].exitcode})") from None
                continue
            kind, part = message[0], message[1]
            if kind == "progress":
                done[part], lines[part] = message[2], message[3]
                tick(sum(done.values()), sum(lines.values()))
            elif kind == "done":
                results[part] = ShardResult(**message[2])
            else:
                raise RuntimeError(f"generator worker {part} failed:\n{message[2]}")
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    return [results[k] for k in range(workers)]
