"""``stabmon report``: render a run folder's notebooks (or a fleet folder's) into ``DIR/reports/``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

from stabmon import store
from stabmon.cli.args import positive
from stabmon.core.errors import InputError, ReportError
from stabmon.report.fleet_render import render_fleet_reports
from stabmon.report.render import KINDS, render_reports
from stabmon.store.cluster import SCHEDULER_ENV, dask_client, resolve_scheduler
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
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="render each service's notebooks as a task on this Dask scheduler (tcp://HOST:PORT; "
                        "'local' starts a LocalCluster; --jobs is then the kernels of each worker; default: "
                        "$STABMON_DASK_SCHEDULER, else here); needs pip install 'stabmon[dask]'")


#: Signals that stop a rendering: Ctrl-C and a scheduler's stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The exit status of an interrupted command (docs/contract.md §5.3).
INTERRUPTED_EXIT = 130


def stop_kernels(reports_dir: Path | None = None) -> int:
    """Kill every process this one started (the notebooks' kernels) and remove their leftovers; return how many.

    Kernels run in their own sessions, so a terminal's Ctrl-C does not reach
    them. Each one's connection file (``-f FILE`` on its command line) is
    removed, as jupyter_client would at a clean shutdown, and so are the
    scratch files of the notebooks that were running in ``reports_dir``.
    """
    import psutil  # ipykernel's dependency: only when a rendering is interrupted

    children = psutil.Process().children(recursive=True)
    leftovers: list[Path] = []
    for child in children:
        try:
            command = child.cmdline()
            child.kill()
        except psutil.Error:
            continue
        if "-f" in command[:-1] and any("ipykernel" in part for part in command):
            connection = Path(command[command.index("-f") + 1])
            if connection.suffix == ".json":
                leftovers.append(connection)
    psutil.wait_procs(children, timeout=1.0)
    if reports_dir is not None and reports_dir.is_dir():
        leftovers += [p for p in reports_dir.iterdir() if p.name.startswith(".")
                      and (p.name.endswith(".running.ipynb") or store.TEMP_RE.match(p.name))]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(children)


@contextlib.contextmanager
def interrupt_stops_kernels(reports_dir: Path) -> Iterator[None]:
    """While rendering, Ctrl-C or SIGTERM kill the kernels and exit 130 at once, with one line.

    The rendering threads wait on their kernels and would let a running
    notebook finish (and start the queued ones) before an interrupt got
    through; the handler does not wait: the files already written are whole
    (every write is atomic), the partial ones are removed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        logging.disable(logging.CRITICAL)  # the rendering threads' "kernel died" lines are not news
        stop_kernels(reports_dir)
        sys.stdout.flush()
        sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "stabmon: interrupted\n")
        sys.stderr.flush()
        os._exit(INTERRUPTED_EXIT)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def render_folder(folder: Path, *, jobs: int = DEFAULT_JOBS, timeout: float = DEFAULT_CELL_TIMEOUT_SECONDS,
                  only: list[str] | None = None, all_services: bool = False, progress: bool = True,
                  previous_runs: list[str] | None = None, scheduler: str | None = None) -> None:
    """Render a run folder or a fleet folder (on the Dask ``scheduler`` when given) and print where the reports are."""
    with interrupt_stops_kernels(Path(folder).resolve() / store.REPORTS_DIR):
        _render_folder(folder, jobs=jobs, timeout=timeout, only=only, all_services=all_services,
                       progress=progress, previous_runs=previous_runs, scheduler=scheduler)


def _render_folder(folder: Path, *, jobs: int, timeout: float, only: list[str] | None, all_services: bool,
                   progress: bool, previous_runs: list[str] | None, scheduler: str | None) -> None:
    if is_fleet_folder(folder):
        rendered = render_fleet_reports(folder, all_services=all_services, jobs=jobs, timeout=timeout,
                                        progress=progress, notebooks=only, scheduler=scheduler)
        html = next((p for p in rendered["fleet"] if p.suffix == ".html"), None)
        print(f"fleet report: {html or folder / store.REPORTS_DIR}")
        for service, result in rendered["services"].items():
            print(f"  {service}: {result.index}")
        if not rendered["services"]:
            print("  no service flagged: no per-service notebooks rendered (--all renders them all)")
        return
    if scheduler is not None:
        from stabmon.report.remote import render_on_cluster

        run_dir = Path(folder).expanduser().resolve()
        with dask_client(scheduler) as client:
            results, failures, _ = render_on_cluster(client, scheduler, [(run_dir.name, run_dir)], jobs=jobs,
                                                     timeout=timeout, notebooks=only, progress=progress)
        if failures:
            raise ReportError("; ".join(failures))
        result = results[run_dir.name]
    else:
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
    scheduler = resolve_scheduler(args.scheduler)
    if previous and scheduler is not None:
        raise InputError("--previous reads earlier runs' folders on this machine: render without --scheduler "
                         f"(or unset {SCHEDULER_ENV})")
    if args.bundle and args.only and "retrospective" not in args.only \
            and not (folder / store.REPORTS_DIR / "retrospective.md").exists():
        raise InputError("--bundle needs the retrospective: add --only retrospective")
    render_folder(folder, jobs=args.jobs, timeout=args.timeout, only=args.only, all_services=args.all,
                  progress=not args.no_progress, previous_runs=previous or None, scheduler=scheduler)
    if args.bundle:
        from stabmon.report.bundle import write_bundle

        print(f"retrospective bundle: {write_bundle(folder / store.REPORTS_DIR)}")
    return 0
