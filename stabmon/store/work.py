"""One target's share of a run step: make its new files, then write them.

A step of a run hands each target a :class:`TargetWork` (picklable, so the
work can run in worker processes or on a Dask worker): the snapshots just
collected, the day figures of the days that closed, and whether the weekly
summary is due. The work is done in three parts so the middle one needs no
disk: :func:`read_target_contents` reads what the folder already holds (where
the folder is), :func:`make_target_files` turns it all into the files' bytes
(anywhere), :func:`write_target_files` writes them atomically (where the
folder is). :func:`do_target_work` does the three in one process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from stabmon.core.fleet_summary import fleet_entry
from stabmon.core.model import Baseline, Snapshot, Window
from stabmon.store.files import json_bytes, set_sync_each_write, write_files_atomic
from stabmon.store.folder import (
    SnapshotFolder,
    day_latency_figures,
    merge_day_latency,
    read_day_latency_document,
    read_run_info,
    read_snapshots,
)
from stabmon.store.layout import DAY_LATENCY_FILE, baseline_snapshot_name, snapshot_name
from stabmon.store.rebuild import FolderContents, SummaryOptions, build_summaries

log = logging.getLogger(__name__)


@dataclass
class TargetWork:
    """What one target's folder needs written in one step of a run.

    ``final``: the window has ended (every summary, the weekly one for the
    whole window); ``days_closed``: it has not, and the weekly summary is
    the week so far (``days`` are then the closed days and the current one).
    ``contents`` and ``day_latency`` are what the folder already holds, read
    by :func:`read_target_contents` before the files are made.
    """

    service: str
    folder: Path
    window: Window
    snapshots: list[tuple[int, Snapshot]] = field(default_factory=list)
    baseline_snapshots: list[Snapshot] = field(default_factory=list)
    day_figures: dict[int, dict[str, float | None]] = field(default_factory=dict)
    days: list[int] = field(default_factory=list)
    final: bool = False
    baseline: Baseline | None = None
    settings: Any = None
    days_closed: int | None = None
    contents: FolderContents | None = None
    day_latency: dict[str, Any] | None = None

    @property
    def summarises(self) -> bool:
        """Whether the step rebuilds summaries (a day closed, or the window's end)."""
        return self.final or bool(self.days)

    @property
    def weekly(self) -> bool:
        """Whether the step writes the weekly summary (the window's, or the week so far)."""
        return self.final or self.days_closed is not None


@dataclass
class TargetResult:
    """What a step did for one target: its fleet entry when the weekly summary was rebuilt.

    ``failure`` names why the target's files could not be made (the other
    targets go on); ``empty``: no snapshot to summarise.
    """

    entry: dict[str, Any] | None = None
    empty: bool = False
    failure: str | None = None


@dataclass
class TargetFiles:
    """The files a step made for one target (bytes by path relative to its folder) and its result."""

    files: dict[str, bytes]
    result: TargetResult


def read_target_contents(work: TargetWork) -> TargetWork:
    """Fill ``work.contents`` (and ``work.day_latency``) from the target's folder; return ``work``.

    Only what the step needs is read: nothing when it writes snapshots
    alone. A catch-up that collected the whole window hands its snapshots
    over instead of having them read back (a third of a fleet run's time
    otherwise). Snapshots collected in this step join those on disk.
    """
    if work.day_figures or work.summarises:
        work.day_latency = read_day_latency_document(work.folder)
    if not work.summarises:
        return work
    new = [snapshot for _, snapshot in work.snapshots]
    if len(new) == work.window.snapshot_count:
        snapshots = SnapshotFolder()
    else:
        snapshots = read_snapshots(work.folder)
    snapshots.snapshots = sorted(snapshots.snapshots + new, key=lambda s: s.timestamp)
    work.contents = FolderContents(
        snapshots=snapshots,
        baseline_snapshots=(SnapshotFolder(snapshots=list(work.baseline_snapshots)) if work.baseline_snapshots
                            else read_snapshots(work.folder, baseline_window=True)),
        info=read_run_info(work.folder),
    )
    return work


def make_target_files(work: TargetWork) -> TargetFiles:
    """The bytes of every file the step writes for a target, and its fleet entry; touches no disk.

    Needs :func:`read_target_contents` first when the step summarises or
    brings day figures.
    """
    files: dict[str, bytes] = {}
    for _, snapshot in work.snapshots:
        files[snapshot_name(work.window, snapshot.timestamp)] = json_bytes(snapshot.to_dict(), schema="snapshot",
                                                                           compact=True)
    for snapshot in work.baseline_snapshots:
        files[baseline_snapshot_name(snapshot.timestamp)] = json_bytes(snapshot.to_dict(), schema="snapshot",
                                                                       compact=True)
    day_latency = work.day_latency or {}
    if work.day_figures:
        day_latency = merge_day_latency(day_latency, work.day_figures)
        files[DAY_LATENCY_FILE] = json_bytes(day_latency)
    if not work.summarises:
        return TargetFiles(files, TargetResult())
    contents = work.contents
    if contents is None:
        raise ValueError(f"the folder of {work.service!r} was not read before its summaries were made")
    if not contents.snapshots.snapshots:
        entry = fleet_entry(work.service, work.folder.name, None) if work.final else None
        return TargetFiles(files, TargetResult(entry=entry, empty=True))
    contents.day_latency = day_latency_figures(day_latency)
    rebuilt = build_summaries(work.folder, contents, SummaryOptions(
        window=work.window, baseline=work.baseline, settings=work.settings, days=None if work.final else work.days,
        weekly=work.weekly, service=work.service, days_closed=work.days_closed,
    ))
    files.update(rebuilt.contents)
    entry = fleet_entry(work.service, work.folder.name, rebuilt.weekly) if work.weekly else None
    return TargetFiles(files, TargetResult(entry=entry))


def make_target_files_or_failure(work: TargetWork) -> TargetFiles:
    """:func:`make_target_files`, a failure turned into a result naming it (the other targets go on)."""
    try:
        return make_target_files(work)
    except Exception as exc:  # noqa: BLE001 - one target's failure must not end the fleet's run
        log.debug("making the files of %r failed:\n%s", work.service, traceback.format_exc())
        return TargetFiles({}, TargetResult(failure=f"{type(exc).__name__}: {exc}"))


def write_target_files(work: TargetWork, made: TargetFiles) -> TargetResult:
    """Write what :func:`make_target_files` made into the target's folder, each file atomically.

    Files are renamed into place whole but not fsynced one by one: the
    caller syncs once per step (one ``os.sync()``).
    """
    previous = set_sync_each_write(False)
    try:
        write_files_atomic(work.folder, made.files)
    finally:
        set_sync_each_write(previous)
    return made.result


def do_target_work(work: TargetWork) -> TargetResult:
    """Read, make and write one target's files of a step, in this process."""
    return write_target_files(work, make_target_files_or_failure(read_target_contents(work)))


#: Runs a step's works and returns their results in order (:func:`local_engine`, or a Dask cluster's).
Engine = Callable[[Sequence[TargetWork]], list[TargetResult]]


def _pool(jobs: int, tasks: int) -> contextlib.AbstractContextManager[Executor | None]:
    if jobs <= 1 or tasks <= 2:
        return contextlib.nullcontext(None)
    import multiprocessing  # only when a pool is worth starting

    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=min(jobs, tasks), mp_context=context)


def run_target_work(works: Sequence[TargetWork], jobs: int) -> list[TargetResult]:
    """Run :func:`do_target_work` over targets, on ``jobs`` processes (results in order)."""
    with _pool(jobs, len(works)) as pool:
        if pool is None:
            return [do_target_work(w) for w in works]
        chunk = max(1, len(works) // (jobs * 4))
        return list(pool.map(do_target_work, works, chunksize=chunk))


def local_engine(jobs: int) -> Engine:
    """The engine of a run without a cluster: :func:`run_target_work` on ``jobs`` local processes."""
    return lambda works: run_target_work(works, jobs)


def default_jobs() -> int:
    """Worker processes for per-target writing: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
