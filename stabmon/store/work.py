"""One target's share of a run step: write its new files, rebuild its summaries.

A step of a run hands each target a :class:`TargetWork` (picklable, so the
work can run in worker processes): the snapshots just collected, the day
figures of the days that closed, and whether the weekly summary is due.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from stabmon.core.fleet_summary import fleet_entry
from stabmon.core.model import Baseline, Snapshot, Window
from stabmon.store.files import set_sync_each_write
from stabmon.store.folder import existing_snapshot_indexes, write_baseline_snapshot, write_day_latency, write_snapshot
from stabmon.store.rebuild import rebuild_summaries


@dataclass
class TargetWork:
    """What one target's folder needs written in one step of a run."""

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


@dataclass
class TargetResult:
    """What a step wrote for one target: its fleet entry when the weekly summary was rebuilt."""

    entry: dict[str, Any] | None = None
    empty: bool = False


def do_target_work(work: TargetWork) -> TargetResult:
    """Write a target's new snapshots and day figures, then rebuild the summaries that are due.

    Files are renamed into place whole but not fsynced one by one: the
    caller syncs once per step (one ``os.sync()``).
    """
    previous = set_sync_each_write(False)
    try:
        return _do_target_work(work)
    finally:
        set_sync_each_write(previous)


def _do_target_work(work: TargetWork) -> TargetResult:
    # Snapshots travel to the worker as objects: turning them into JSON here
    # spreads that work over the worker processes instead of the main one.
    for _, snapshot in work.snapshots:
        write_snapshot(work.folder, work.window, snapshot, fsync=False)
    for snapshot in work.baseline_snapshots:
        write_baseline_snapshot(work.folder, snapshot, fsync=False)
    if work.day_figures:
        write_day_latency(work.folder, work.day_figures)
    if not (work.final or work.days):
        return TargetResult()
    # A catch-up that wrote the whole window hands its snapshots over instead
    # of having them read back (a third of a fleet run's time otherwise).
    in_memory = len(work.snapshots) == work.window.snapshot_count
    if not in_memory and not existing_snapshot_indexes(work.folder, work.window):
        return TargetResult(entry=fleet_entry(work.service, work.folder.name, None) if work.final else None,
                            empty=True)
    result = rebuild_summaries(
        work.folder, window=work.window, baseline=work.baseline, settings=work.settings,
        days=None if work.final else work.days, weekly=work.final, service=work.service,
        snapshots=[snapshot for _, snapshot in work.snapshots] if in_memory else None,
        baseline_snapshots=list(work.baseline_snapshots) if work.baseline_snapshots else None,
    )
    return TargetResult(entry=fleet_entry(work.service, work.folder.name, result.weekly) if work.final else None)


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


def default_jobs() -> int:
    """Worker processes for per-target writing: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
