"""``stabmon demo``: a synthetic week through the whole pipeline, no server needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from stabmon import store
from stabmon.cli.args import positive
from stabmon.cli.monitor import add_release_arguments, release_info
from stabmon.cli.report import render_folder
from stabmon.core.durations import format_duration
from stabmon.core.errors import InputError
from stabmon.core.markdown import score_line, verdict_of
from stabmon.demo.folder import check_demo_folder, prepare_demo_folder
from stabmon.store.lock import run_lock

DEFAULT_DEMO_OUTPUT = "outputs/demo"
DEFAULT_SCENARIO = "incident"
DEFAULT_SEED = 42
DEFAULT_DURATION_HOURS = 168.0
DEFAULT_INTERVAL_MINUTES = 30.0
#: The demo week's release record (``--release``, ``--commit``, ``--deployed-at``): the day before the window.
DEMO_RELEASE = {"name": "v1.4.0-demo", "commit": "0000000demo", "deployed_at": "2026-01-04T00:00:00Z"}


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``stabmon demo``."""
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, metavar="NAME",
                        help="synthetic week to run: healthy, incident, latency_regression "
                        f"(default: {DEFAULT_SCENARIO})")
    parser.add_argument("--output", "-o", default=DEFAULT_DEMO_OUTPUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_DEMO_OUTPUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed of the synthetic week (default: {DEFAULT_SEED})")
    parser.add_argument("--duration", type=positive(float), default=DEFAULT_DURATION_HOURS, metavar="HOURS",
                        help=f"length of the synthetic window in hours, e.g. 0.25 or 336 (default: {DEFAULT_DURATION_HOURS:g})")
    parser.add_argument("--interval", type=positive(float), default=DEFAULT_INTERVAL_MINUTES, metavar="MINUTES",
                        help=f"minutes between snapshots (default: {DEFAULT_INTERVAL_MINUTES:g})")
    parser.add_argument("--no-report", action="store_true", help="skip rendering the notebooks")
    parser.add_argument("--force", action="store_true",
                        help="write into a folder that holds a run other than an earlier demo (its run files "
                        "are replaced); an earlier demo is replaced without it")
    parser.add_argument("--jobs", type=positive(int), default=2, help="notebooks rendered in parallel (default: 2)")
    add_release_arguments(parser, defaults=DEMO_RELEASE)


def run_demo(args: argparse.Namespace) -> int:
    """``stabmon demo``: write the demo week, print its verdict, render its reports; return 0."""
    # The generator (numpy) and the pipeline load only for this command.
    from stabmon.demo.synthetic import SCENARIOS
    from stabmon.demo.week import run_demo_week

    if args.scenario not in SCENARIOS:
        raise InputError(f"--scenario {args.scenario!r}: choose one of {', '.join(sorted(SCENARIOS))}")
    out = Path(args.output)
    # The generator scrapes every 60 s by default; a shorter interval scrapes
    # every 15 s so the interval stays a whole number of scrapes (docs/contract.md §1).
    scrape = 60 if (args.interval * 60) % 60 == 0 else 15
    if (args.interval * 60) % scrape or args.interval * 60 < scrape:
        raise InputError(f"--interval {args.interval:g}: use a whole multiple of 15 seconds (0.25 minutes)")
    if args.interval / 60.0 > args.duration:
        raise InputError(f"--interval {args.interval:g} min is longer than --duration {args.duration:g} h")
    release = release_info(args)
    check_demo_folder(out, force=args.force)  # before the lock file is made in it
    with run_lock(out):
        # An earlier demo's reports and day files would sit beside the new week's.
        prepare_demo_folder(out, force=args.force)
        try:
            result = run_demo_week(out, scenario=args.scenario, seed=args.seed, duration_hours=args.duration,
                                   interval_minutes=args.interval, scrape_seconds=scrape, release=release)
        except ValueError as error:  # the generator's window checks, e.g. a duration not a whole number of intervals
            raise InputError(f"--duration {args.duration:g} --interval {args.interval:g}: {error}") from None
    weekly = result.weekly
    print(f"demo ({args.scenario}, {format_duration(args.duration)}): {weekly['total_snapshots']} snapshots, {len(result.daily)} daily summaries in {out}")
    # The verdict first, the score labelled as what it is (the reports' wording, stabmon.core.markdown).
    print(f"verdict {verdict_of(weekly).upper()}: rollback "
          f"{'RECOMMENDED' if weekly['rollback_recommended'] else 'not recommended'}; {score_line(weekly)}")
    print(f"weekly report: {out / store.WEEKLY_MD}")
    if not args.no_report:
        render_folder(out, jobs=args.jobs)
    return 0
