"""``stabmon compare``: this release's week against earlier releases' weeks, day by day."""

from __future__ import annotations

import argparse
from pathlib import Path

from stabmon.core.errors import InputError
from stabmon.store.fleet import is_fleet_folder
from stabmon.store.release_history import COMPARISON_JSON, COMPARISON_MD, compare_fleet, compare_run


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``stabmon compare``."""
    parser.add_argument("run", metavar="RUN", help="the run folder of this release (or a fleet folder)")
    parser.add_argument("--previous", metavar="RUN", action="append", required=True,
                        help="an earlier release's run folder of the same service and interval (repeatable)")
    parser.add_argument("--include-rollbacks", action="store_true",
                        help="also compare with earlier runs whose verdict was rollback (left out by default)")


def run_compare_command(args: argparse.Namespace) -> int:
    """``stabmon compare``: write ``RUN/release_comparison.json`` and ``.md``, print the worse days; return 0."""
    folder = Path(args.run)
    if not folder.is_dir():
        raise InputError(f"RUN {folder}: no such folder")
    previous = [Path(p) for p in args.previous]
    for path in previous:
        if not path.is_dir():
            raise InputError(f"--previous {path}: no such folder")
    if is_fleet_folder(folder):
        summary = compare_fleet(folder, previous, include_rollbacks=args.include_rollbacks)
        for entry in summary["services"]:
            print(f"{entry['service']}: {len(entry['worse'])} worse, {len(entry['better'])} better day-metrics")
    else:
        document = compare_run(folder, previous, include_rollbacks=args.include_rollbacks)
        left_out = [p["run"] for p in document["previous"] if not p["included"]]
        if left_out:
            print(f"left out (verdict rollback; --include-rollbacks compares them): {', '.join(left_out)}")
        worse = ", ".join(f"day {w['day_number']} {w['metric']}" for w in document["worse"]) or "none"
        print(f"worse than the earlier releases: {worse}")
        print(f"verdicts: this {(document['verdicts']['current'] or '-').upper()}, earlier "
              + ", ".join((v or "-").upper() for v in document["verdicts"]["previous"]))
    print(f"comparison: {folder / COMPARISON_JSON} and {folder / COMPARISON_MD}")
    return 0
