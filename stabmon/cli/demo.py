"""``stabmon demo``: a synthetic week through the whole pipeline, no server needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from stabmon import store
from stabmon.cli.args import positive
from stabmon.cli.report import render_folder
from stabmon.core.errors import InputError

DEFAULT_DEMO_OUTPUT = "outputs/demo"
DEFAULT_SCENARIO = "incident"
DEFAULT_SEED = 42


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``stabmon demo``."""
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, metavar="NAME",
                        help="synthetic week to run: healthy, incident, latency_regression "
                        f"(default: {DEFAULT_SCENARIO})")
    parser.add_argument("--output", "-o", default=DEFAULT_DEMO_OUTPUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_DEMO_OUTPUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed of the synthetic week (default: {DEFAULT_SEED})")
    parser.add_argument("--no-report", action="store_true", help="skip rendering the notebooks")
    parser.add_argument("--jobs", type=positive(int), default=2, help="notebooks rendered in parallel (default: 2)")


def run_demo(args: argparse.Namespace) -> int:
    """``stabmon demo``: write the demo week, print its verdict, render its reports; return 0."""
    # The generator (numpy) and the pipeline load only for this command.
    from stabmon.demo.synthetic import SCENARIOS
    from stabmon.demo.week import run_demo_week

    if args.scenario not in SCENARIOS:
        raise InputError(f"--scenario {args.scenario!r}: choose one of {', '.join(sorted(SCENARIOS))}")
    out = Path(args.output)
    result = run_demo_week(out, scenario=args.scenario, seed=args.seed)
    weekly = result.weekly
    print(f"demo ({args.scenario}): {weekly['total_snapshots']} snapshots, {len(result.daily)} daily summaries in {out}")
    print(f"stability score {weekly['stability_score']} grade {weekly['stability_grade']}; "
          f"rollback {'RECOMMENDED' if weekly['rollback_recommended'] else 'not recommended'}")
    print(f"weekly report: {out / store.WEEKLY_MD}")
    if not args.no_report:
        render_folder(out, jobs=args.jobs)
    return 0
