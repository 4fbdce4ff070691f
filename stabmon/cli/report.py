"""``stabmon report``: render a run folder's notebooks (or a fleet folder's) into ``DIR/reports/``."""

from __future__ import annotations

import argparse
from pathlib import Path

from stabmon import store
from stabmon.cli.args import positive
from stabmon.core.errors import InputError
from stabmon.report.render import KINDS, render_fleet_reports, render_reports
from stabmon.store.fleet import is_fleet_folder
from stabmon.store.release_history import check_comparable

DEFAULT_JOBS = 2
DEFAULT_CELL_TIMEOUT_SECONDS = 600.0


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``stabmon report``."""
    parser.add_argument("--input", "-i", required=True, metavar="DIR",
                        help="run folder holding day_NN_raw/ snapshots (reports go to DIR/reports/)")
    parser.add_argument("--jobs", "-j", type=positive(int), default=DEFAULT_JOBS, metavar="N",
                        help=f"notebooks rendered in parallel, one kernel each (default: {DEFAULT_JOBS})")
    parser.add_argument("--timeout", type=positive(float), default=DEFAULT_CELL_TIMEOUT_SECONDS, metavar="S",
                        help="seconds a notebook cell may run before the notebook fails (default: "
                        f"{DEFAULT_CELL_TIMEOUT_SECONDS:g})")
    parser.add_argument("--only", action="append", choices=KINDS, metavar="KIND",
                        help="render only these reports: daily, weekly, retrospective (repeatable; default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--all", action="store_true",
                        help="on a fleet folder: every service's notebooks, not only the flagged services'")
    parser.add_argument("--previous", metavar="RUN", action="append", default=None,
                        help="an earlier release's run folder: the weekly notebook and the retrospective compare "
                        "this week with it, day by day (repeatable)")
    parser.add_argument("--bundle", action="store_true",
                        help="also write reports/retrospective.zip: the retrospective's Markdown and its charts")


def render_folder(folder: Path, *, jobs: int = DEFAULT_JOBS, timeout: float = DEFAULT_CELL_TIMEOUT_SECONDS,
                  only: list[str] | None = None, all_services: bool = False, progress: bool = True,
                  previous_runs: list[str] | None = None) -> None:
    """Render a run folder or a fleet folder and print where the reports are."""
    if is_fleet_folder(folder):
        rendered = render_fleet_reports(folder, all_services=all_services, jobs=jobs, timeout=timeout,
                                        progress=progress)
        html = next((p for p in rendered["fleet"] if p.suffix == ".html"), None)
        print(f"fleet report: {html or folder / store.REPORTS_DIR}")
        for service, result in rendered["services"].items():
            print(f"  {service}: {result.index}")
        if not rendered["services"]:
            print("  no service flagged: no per-service notebooks rendered (--all renders them all)")
        return
    result = render_reports(folder, jobs=jobs, timeout=timeout, notebooks=only, progress=progress,
                            previous_runs=previous_runs)
    print(f"rendered {len(result.notebooks)} notebooks into {result.reports_dir} in {result.seconds:.1f} s")
    print(f"main report: {result.index}")


def run_report_command(args: argparse.Namespace) -> int:
    """``stabmon report``: render the folder's notebooks; print where the reports are; return 0."""
    folder = Path(args.input)
    if not folder.is_dir():
        raise InputError(f"--input {folder}: no such folder")
    previous = [str(Path(p).resolve()) for p in args.previous or []]
    for path in previous:
        check_comparable(folder, Path(path))
    if previous and is_fleet_folder(folder):
        raise InputError("--previous works on a run folder; for a fleet, run 'stabmon compare' on the fleet folder")
    if args.bundle and is_fleet_folder(folder):
        raise InputError("--bundle works on a run folder; run it on a service's folder of the fleet")
    if args.bundle and args.only and "retrospective" not in args.only \
            and not (folder / store.REPORTS_DIR / "retrospective.md").exists():
        raise InputError("--bundle needs the retrospective: add --only retrospective")
    render_folder(folder, jobs=args.jobs, timeout=args.timeout, only=args.only, all_services=args.all,
                  progress=not args.no_progress, previous_runs=previous or None)
    if args.bundle:
        from stabmon.report.bundle import write_bundle

        print(f"retrospective bundle: {write_bundle(folder / store.REPORTS_DIR)}")
    return 0
