"""``stabmon analyze``: rebuild every summary of a run folder (or a fleet folder) from its raw snapshots."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timezone
from pathlib import Path

from stabmon import store
from stabmon.cli.args import load_settings_file
from stabmon.cli.gate import add_gate_argument, gate_exit
from stabmon.cli.monitor import print_fleet_verdict
from stabmon.core.baseline import load_baseline
from stabmon.core.errors import InputError
from stabmon.core.markdown import reason_lines
from stabmon.core.weekly import days_closed_at
from stabmon.store.fleet import is_fleet_folder, merge_fleet
from stabmon.store.rebuild import rebuild_summaries

log = logging.getLogger(__name__)


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``stabmon analyze``."""
    parser.add_argument("--input", "-i", required=True, metavar="DIR", help="run folder holding day_NN_raw/ snapshots")
    parser.add_argument("--baseline", metavar="FILE",
                        help="baseline JSON (for a fleet folder: one file or a folder of <service>.json); "
                        "when given, drift is recomputed from it (default: the one in run.json)")
    parser.add_argument("--settings", metavar="FILE", help="YAML file of threshold overrides (see stabmon.core.settings)")
    add_gate_argument(parser)


def run_analyze(args: argparse.Namespace) -> int:
    """``stabmon analyze``: rebuild the summaries, print the verdict; return 0 (under ``--gate``: the verdict's
    exit status, 0 pass, 2 rollback, 3 inconclusive; a fleet folder: its worst service's)."""
    folder = Path(args.input)
    if not folder.is_dir():
        raise InputError(f"--input {folder}: no such folder")
    settings = load_settings_file(args.settings)
    if is_fleet_folder(folder):
        verdict = print_fleet_verdict(folder, merge_fleet(folder, baseline_path=args.baseline, settings=settings))
        return gate_exit(verdict, args.gate)
    baseline = load_baseline(args.baseline) if args.baseline else None
    # A window that has not ended is judged as the week so far, never a pass (docs/contract.md §1).
    info = store.read_run_info(folder) if (folder / store.RUN_FILE).exists() else None
    days_closed = days_closed_at(store.window_from_run_info(info), datetime.now(timezone.utc)) if info else None
    result = rebuild_summaries(folder, baseline=baseline, settings=settings, recompute_drift=baseline is not None,
                               days_closed=days_closed)
    for warning in result.warnings:
        log.warning("%s", warning)
    weekly = result.weekly
    print(f"analyzed {weekly['total_snapshots']} snapshots over {len(result.daily)} days in {folder}")
    print(f"stability score {weekly['stability_score']} grade {weekly['stability_grade']}; "
          f"rollback {'RECOMMENDED' if weekly['rollback_recommended'] else 'not recommended'}")
    print(f"verdict: {weekly['verdict'].upper()}")
    for line in reason_lines(weekly):
        print(f"  inconclusive: {line}")
    print(f"report: {folder / store.WEEKLY_MD}")
    return gate_exit(weekly["verdict"], args.gate)
