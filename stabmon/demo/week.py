"""The embedded demo: a synthetic week through the whole pipeline, no server needed."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

from stabmon import store
from stabmon.core.drift import apply_drift
from stabmon.core.model import format_time
from stabmon.store.rebuild import RebuildResult, rebuild_summaries
from stabmon.core.settings import Settings
from stabmon.demo.synthetic import generate_week

def run_demo_week(
    out_dir: str | Path,
    *,
    scenario: str = "incident",
    seed: int = 42,
    settings: Settings | None = None,
    fsync: bool = True,
    service: str = "checkout",
    scrape_seconds: int = 60,
    duration_hours: float = 168.0,
    interval_minutes: float = 30.0,
    start: datetime | None = None,
    release: dict[str, str | None] | None = None,
) -> RebuildResult:
    """Generate a synthetic week and write the full run layout into ``out_dir``.

    Writes ``baseline.json``, ``run.json``, one raw snapshot per ``t_k``, the
    day quantiles of the pooled histograms (``day_latency.json``, as the
    collector's day queries would give them), the daily and weekly summaries
    and the weekly Markdown report. Snapshots of an
    earlier demo in the same folder are replaced, so the folder always holds
    exactly one run. ``duration_hours`` and ``interval_minutes`` set the
    window (a week at 30 minutes by default; a 15-minute test run at 1 minute
    works too: the planted incidents are kept only when the window holds them);
    ``start`` defaults to the generator's fixed Monday midnight; ``release``
    is the ``run.json`` release record (``name``, ``commit``, ``deployed_at``).

    Returns
    -------
    RebuildResult
        The daily and weekly documents that were written.
    """
    out_dir = Path(out_dir)
    week = generate_week(scenario, seed=seed, service=service, scrape_seconds=scrape_seconds,
                         duration_hours=duration_hours, interval_minutes=interval_minutes, start=start)
    # The release day before the window is the baseline's window: its snapshots
    # feed the statistical comparison (a healthy day of the same service).
    release_day = generate_week("healthy", start=week.window.start - timedelta(days=1), duration_hours=24,
                                interval_minutes=interval_minutes, seed=seed + 1, service=week.service,
                                scrape_seconds=scrape_seconds)
    baseline = dataclasses.replace(week.baseline, window={
        "start": format_time(release_day.window.start), "end": format_time(release_day.window.end)})
    week.baseline = baseline
    apply_drift(week.snapshots, week.baseline)
    old_files = store.iter_snapshot_files(out_dir)
    baseline_raw = out_dir / store.BASELINE_RAW_DIR
    if baseline_raw.is_dir():
        old_files += list(baseline_raw.glob("snapshot_*.json"))
    for old in old_files:
        old.unlink()
    # An earlier demo's day figures (a longer window has more days) must not survive.
    (out_dir / store.DAY_LATENCY_FILE).unlink(missing_ok=True)
    for snapshot in release_day.snapshots:
        store.write_baseline_snapshot(out_dir, snapshot, fsync=fsync)
    store.write_json_atomic(out_dir / store.BASELINE_FILE, week.baseline.to_dict(), schema="baseline", fsync=fsync)
    store.write_run_info(out_dir, {
        "window": week.window.to_dict(),
        "service": week.service,
        "selector": None,
        "source": f"synthetic:{scenario}:seed={seed}",
        "baseline": week.baseline.to_dict(),
        "release": release,
    })
    for snapshot in week.snapshots:
        store.write_snapshot(out_dir, week.window, snapshot, fsync=fsync)
    store.write_day_latency(out_dir, week.day_latency)
    return rebuild_summaries(out_dir, window=week.window, baseline=week.baseline, settings=settings,
                             service=week.service)
