"""`onboarding`: the command line of ../shared/CONTRACT.md (generate, run, replay, report).

Each subcommand is a thin shell over a module that does the work, so the same code runs from
Dagster, from tests and from here. Any failure prints one line on stderr and exits non-zero;
a workspace held by another cycle exits with EXIT_BUSY, so a scheduler can tell "try later" apart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# EX_TEMPFAIL of sysexits.h: another cycle holds the workspace; nothing was done, try again later.
EXIT_BUSY = 75


def _cmd_generate(args: argparse.Namespace) -> int:
    from dagster_project.lib import config
    from dagster_project.synthetic import generate

    out = args.out or str(config.landing_dir())
    summary = generate.generate(
        accounts=args.accounts,
        days=args.days,
        seed=args.seed,
        out=out,
        start=args.start,
        workers=args.workers,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(summary.describe())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import uuid

    from dagster_project.lib import config, lock

    as_of = config.parse_as_of(args.as_of)
    run_id = str(uuid.uuid4())  # the Dagster run's id (its own format), known before Dagster is imported
    # The lock before the heavy imports: a refused second cycle answers in well under a second.
    with lock.hold(run_id, f"onboarding run --as-of {config.iso(as_of)}"):
        from dagster_project.cli.cycle import run_cycle
        from dagster_project.cli.progress import StepProgress

        progress = None if config.PROGRESS.read() == "0" else StepProgress(sys.stderr)
        result = run_cycle(as_of, run_id=run_id, progress=progress)
    print(result.describe())
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    import uuid

    from dagster_project.cli.replay import replay
    from dagster_project.lib import config, lock

    start, end = config.parse_as_of(args.from_), config.parse_as_of(args.to)
    # The replay reads the production warehouse and rewrites its scratch folder: one at a time, and
    # never beside a running cycle.
    with lock.hold(f"replay-{uuid.uuid4().hex}", f"onboarding replay --from {config.iso(start)}"):
        report = replay(start, end, every=args.every)
    print(report.describe())
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from dagster_project.defs.reports.render import write_report

    path = write_report(args.out)
    print(f"report written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onboarding", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="synthetic Segment-spec events + ground truth")
    gen.add_argument("--accounts", type=int, required=True)
    gen.add_argument("--days", type=int, required=True)
    gen.add_argument("--seed", type=int, required=True)
    gen.add_argument("--out", default=None, help="output folder (default: $ONBOARDING_LANDING_DIR)")
    gen.add_argument("--start", default=None, help="ISO time of the first signup day (default: --days before today)")
    gen.add_argument("--workers", type=int, default=1, help="processes writing shards in parallel")
    gen.set_defaults(func=_cmd_generate)

    run = sub.add_parser("run", help="one hourly cycle: load -> checks -> dbt build -> segment -> sync")
    run.add_argument("--as-of", dest="as_of", default=None, help="the cycle's clock, ISO (default: now, UTC)")
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("replay", help="the hourly cycle at each step of a past window (backtest)")
    rep.add_argument("--from", dest="from_", required=True)
    rep.add_argument("--to", required=True)
    rep.add_argument("--every", default="1h", help="step, e.g. 1h, 6h, 1d (default 1h)")
    rep.set_defaults(func=_cmd_replay)

    report = sub.add_parser("report", help="activation-by-path report (HTML with charts)")
    report.add_argument("--out", default=None, help="file to write (default: $ONBOARDING_HOME/reports/...)")
    report.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from dagster_project.lib.lock import WorkspaceBusy

    parser = build_parser()
    args = parser.parse_args(argv)
    # A command's process ends with its work: the collector stays off the heap it keeps (lib/collector.py).
    from dagster_project.lib import collector

    collector.for_a_process_that_ends_with_its_work()
    try:
        return int(args.func(args) or 0)
    except WorkspaceBusy as exc:
        print(f"onboarding {args.command}: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        print("onboarding: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback, for any failure of the command itself
        from dagster_project.lib import config

        if config.DEBUG.is_set():
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"onboarding {args.command}: error: {message}", file=sys.stderr)
        return 1


