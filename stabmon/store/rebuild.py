"""Rebuild a run folder's summaries from its raw snapshots (the I/O around analysis).

This is what ``stabmon analyze``, the end of ``stabmon monitor`` and
``stabmon demo`` share: read the raw snapshots, aggregate each day, build the
weekly summary and the Markdown report, and write them atomically.

The three steps are apart so the middle one can run where the folder is not
(a Dask worker): :func:`read_folder_contents` reads, :func:`build_summaries`
turns what was read into the files' bytes without touching the disk, and
:func:`rebuild_summaries` does all three.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from stabmon.core import anomaly, budget, compare, markdown
from stabmon import store
from stabmon.core.baseline import baseline_from_run_info
from stabmon.core.daily import aggregate_days
from stabmon.core.drift import apply_drift, compute_drift
from stabmon.core.errors import StoreError
from stabmon.core.model import Baseline, Snapshot, Window
from stabmon.core.settings import Settings
from stabmon.core.weekly import weekly_summary

log = logging.getLogger(__name__)


def preflight_findings(info: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The preflight findings recorded in ``run.json`` (key ``preflight``), or ``None`` when there are none.

    A run from before the preflight check, or a hand-made folder, has no such
    key: the verdict then rests on coverage alone. Entries that are not
    findings (no ``metric``/``severity``) are left out rather than trusted.
    """
    preflight = (info or {}).get("preflight")
    if not isinstance(preflight, dict):
        return None
    findings = preflight.get("findings")
    if not isinstance(findings, list):
        return None
    return [
        {"metric": str(f["metric"]), "severity": str(f["severity"]), "code": str(f.get("code") or ""),
         "message": str(f.get("message") or "")}
        for f in findings
        if isinstance(f, dict) and f.get("metric") is not None and f.get("severity") is not None
    ]


@dataclass
class RebuildResult:
    """What a rebuild made: the daily documents, the weekly one (if built), warnings, and the files.

    ``contents`` holds each file's bytes by its path relative to the run
    folder (in the order they are written); ``files`` the paths written.
    """

    window: Window
    daily: list[dict[str, Any]] = field(default_factory=list)
    weekly: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)


@dataclass
class FolderContents:
    """What a rebuild reads from a run folder: raw snapshots, the baseline window's, run.json, day figures."""

    snapshots: store.SnapshotFolder
    baseline_snapshots: store.SnapshotFolder
    info: dict[str, Any] | None = None
    day_latency: dict[int, dict[str, float | None]] = field(default_factory=dict)


def read_folder_contents(out_dir: str | Path, *, snapshots: Sequence[Snapshot] | None = None,
                         baseline_snapshots: Sequence[Snapshot] | None = None) -> FolderContents:
    """Read what :func:`build_summaries` needs from a run folder; snapshots given in memory are not read.

    Raises
    ------
    StoreError
        A ``run.json`` or ``day_latency.json`` that cannot be read.
    """
    out_dir = Path(out_dir)
    return FolderContents(
        snapshots=(store.SnapshotFolder(snapshots=sorted(snapshots, key=lambda s: s.timestamp))
                   if snapshots is not None else store.read_snapshots(out_dir)),
        baseline_snapshots=(store.SnapshotFolder(snapshots=list(baseline_snapshots))
                            if baseline_snapshots is not None else store.read_snapshots(out_dir, baseline_window=True)),
        info=store.read_run_info(out_dir),
        day_latency=store.read_day_latency(out_dir),
    )


def infer_window(snapshots: Sequence[Snapshot]) -> Window:
    """Guess a window from snapshot times when ``run.json`` is absent.

    The start is the first snapshot, the interval the smallest gap between
    consecutive snapshots, and the duration the span rounded up to whole days
    (or the span itself for runs shorter than a day).
    """
    times = sorted(s.timestamp for s in snapshots)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:]) if b > a]
    interval_s = min(gaps) if gaps else 1800.0
    span_h = ((times[-1] - times[0]).total_seconds() + interval_s) / 3600.0
    duration = span_h if span_h < 24 else 24.0 * math.ceil(round(span_h / 24.0, 6))
    return Window(start=times[0], duration_hours=duration, interval_minutes=interval_s / 60.0)


@dataclass(frozen=True)
class SummaryOptions:
    """What a rebuild of a folder's summaries is asked for: the keywords of :func:`rebuild_summaries`.

    Attributes
    ----------
    window
        The run's window; read from ``run.json`` when omitted, else inferred.
    baseline
        Baseline for drift and ``baseline_timestamp``; read from ``run.json`` when omitted.
    settings
        Thresholds; the seed's defaults when omitted.
    days
        Only write these days' summaries (the weekly summary still uses every day).
    weekly
        Also write ``weekly_summary.json`` and ``weekly_summary.md``.
    recompute_drift
        Recompute each snapshot's drift from ``baseline`` instead of using the stored one.
    generated_at
        Time stamped into ``_metadata.generated_at``; now when omitted.
    service
        The service named in the summaries; read from ``run.json`` when omitted.
    days_closed
        The window has not ended (a catch-up run): the days closed so far. The
        weekly summary is then the week so far (the closed days and the
        current one, ``window_complete: false``); ``None``: the whole window.
    """

    window: Window | None = None
    baseline: Baseline | None = None
    settings: Settings | None = None
    days: Sequence[int] | None = None
    weekly: bool = True
    recompute_drift: bool = False
    generated_at: datetime | None = None
    service: str | None = None
    days_closed: int | None = None


def rebuild_summaries(
    out_dir: str | Path,
    *,
    snapshots: Sequence[Snapshot] | None = None,
    baseline_snapshots: Sequence[Snapshot] | None = None,
    **options: Any,
) -> RebuildResult:
    """Read a run folder's raw snapshots and (re)write its summaries.

    Parameters
    ----------
    out_dir
        The run folder (docs/contract.md §4 layout).
    options
        The fields of :class:`SummaryOptions` (``window``, ``baseline``, ``settings``, ``days``, ``weekly`` ...).
    snapshots, baseline_snapshots
        The folder's raw snapshots (and its baseline window's) when the caller
        has just written them all and holds them in memory: they are not read
        back from disk. Omitted, the folder is read (the usual case: resumed
        runs, ``stabmon analyze``).

    Raises
    ------
    StoreError
        When the folder holds no raw snapshot or a file cannot be written.
    """
    out_dir = Path(out_dir)
    contents = read_folder_contents(out_dir, snapshots=snapshots, baseline_snapshots=baseline_snapshots)
    result = build_summaries(out_dir, contents, SummaryOptions(**options))
    store.write_files_atomic(out_dir, result.contents)
    result.files = [out_dir / name for name in result.contents]
    return result


def build_summaries(out_dir: Path, contents: FolderContents, options: SummaryOptions) -> RebuildResult:
    """The summaries of a run folder's contents, as documents and as the files' bytes; writes nothing.

    ``out_dir`` only names the folder in warnings.

    Raises
    ------
    StoreError
        When the folder holds no raw snapshot.
    """
    window, baseline, service = options.window, options.baseline, options.service
    days, weekly, days_closed = options.days, options.weekly, options.days_closed
    settings = options.settings or Settings()
    generated_at = options.generated_at or datetime.now(timezone.utc).replace(microsecond=0)
    folder, info = contents.snapshots, contents.info
    if not folder.snapshots:
        raise StoreError(f"no raw snapshots in {out_dir} (expected day_NN_raw/snapshot_*.json)")
    warnings = list(folder.warnings)
    if window is None:
        if info is not None:
            window = store.window_from_run_info(info)
        else:
            window = infer_window(folder.snapshots)
            warnings.append(f"no {store.RUN_FILE} in {out_dir}: window inferred from the snapshots")
    if baseline is None:
        baseline = baseline_from_run_info(info)
    if service is None and info is not None:
        service = info.get("service")
    snapshots = [s for s in folder.snapshots if window.index_of(s.timestamp) is not None]
    if len(snapshots) < len(folder.snapshots):
        warnings.append(f"{len(folder.snapshots) - len(snapshots)} snapshots outside the window's times ignored")
    if options.recompute_drift:
        warnings.extend(apply_drift(snapshots, baseline))
    elif baseline is not None:
        # Zero baselines are skipped when drift is computed; say so in every day.
        warnings.extend(compute_drift(dict.fromkeys(baseline.values, 1.0), baseline)[1])

    all_daily = aggregate_days(
        snapshots, window, settings, day_latency=contents.day_latency, warnings=warnings, generated_at=generated_at,
        baseline=baseline,
    )
    result = RebuildResult(window=window, daily=all_daily, warnings=warnings)

    # Anomalies and the error budget are rebuilt from the same snapshots, so a
    # rerun gives the same files as the live run that appended them.
    baseline_folder = contents.baseline_snapshots
    warnings.extend(baseline_folder.warnings)
    # The baseline window trains the detector first (as the live run does), so
    # detection starts at the first snapshot; without one, the summary names
    # the snapshots the warm-up left unchecked.
    detection = anomaly.run_detection(snapshots, window, baseline_snapshots=baseline_folder.snapshots)
    found = detection.events
    events = sorted((e.to_dict() for e in found), key=lambda e: (e["timestamp"], e["metric"]))
    counts = anomaly.daily_anomaly_counts(found, window)
    for daily in all_daily:
        daily["anomaly_counts"] = counts[daily["day_number"]]
    burndown = budget.compute_burndown(snapshots, window, settings.availability_slo_percent)
    comparison = (
        compare.compare_days(baseline_folder.snapshots, snapshots, window) if baseline_folder.snapshots else None
    )
    files = result.contents
    files[store.ANOMALIES_FILE] = store.jsonl_bytes(events, schema="anomaly")
    files[store.BURNDOWN_FILE] = store.json_bytes(burndown, schema="burndown")
    wanted = set(days) if days is not None else None
    for daily in all_daily:
        if wanted is not None and daily["day_number"] not in wanted:
            continue
        files[store.day_summary_path(Path(), daily["day_number"]).name] = store.json_bytes(daily, schema="daily")
    if weekly:
        so_far = all_daily if days_closed is None else all_daily[:days_closed + 1]
        summary = weekly_summary(
            so_far, window, baseline, settings, generated_at=generated_at, service=service,
            anomalies=events, burndown=burndown, comparison=comparison, preflight=preflight_findings(info),
            days_closed=days_closed,
        )
        if summary.get("anomaly_summary") is not None:
            summary["anomaly_summary"]["unchecked"] = detection.unchecked
        result.weekly = summary
        files[store.WEEKLY_JSON] = store.json_bytes(summary, schema="weekly")
        files[store.WEEKLY_MD] = markdown.weekly_markdown(
            summary, burndown=burndown).encode("utf-8")
    return result
