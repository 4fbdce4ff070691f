"""Shared helpers of the collection tests (options, comparisons)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from stabmon import store
from stabmon.collect import MonitorOptions, make_window
from stabmon.model import METRIC_FIELDS, Snapshot
from stabmon.prom import ConnectionSettings
from stabmon.queries import build_catalogue

#: Prometheus 2.x and VictoriaMetrics both compute the exact increase on the
#: generator's scrape grid; what is left is float noise of the two engines.
REL_TOLERANCE = 1e-6

#: A service name made to break a naively built query.
HOSTILE_SERVICE = 'we"ird} or vector(1) # {x=~".*"}\\ \n[w]'
LIVE_SERVICE = "live"


def options(url, out_dir, window, *, baseline=None, service="checkout", selector=None, queries=None, **kw):
    """MonitorOptions for a test run (no credentials from the environment)."""
    return MonitorOptions(
        out_dir=Path(out_dir),
        window=window,
        catalogue=build_catalogue(service=service, selector=selector,
                                  interval_seconds=window.interval_minutes * 60, queries_file=queries),
        connection=ConnectionSettings.from_env(url, env={}),
        baseline=baseline,
        service=service,
        selector=selector,
        progress=False,
        **kw,
    )


def week_window(week, **overrides):
    args = dict(start=week.window.start, duration_hours=week.window.duration_hours,
                interval_minutes=week.window.interval_minutes)
    args.update(overrides)
    return make_window(args["start"], args["duration_hours"], args["interval_minutes"])


def close(a, b, rel=REL_TOLERANCE, abs_tol=1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def mismatches(got: Snapshot, want: Snapshot) -> list[str]:
    """What differs between a collected snapshot and the generator's (values and alerts)."""
    out = [f"{m}: {got.values[m]} != {want.values[m]}" for m in METRIC_FIELDS
           if not close(got.values[m], want.values[m])]
    got_alerts = sorted(a.identity for a in got.alerts or [])
    want_alerts = sorted(a.identity for a in want.alerts or [])
    if got_alerts != want_alerts:
        out.append(f"alerts: {got_alerts} != {want_alerts}")
    return out


def read_folder(out_dir) -> dict:
    """Snapshots of a run folder by timestamp."""
    folder = store.read_snapshots(Path(out_dir))
    assert not folder.warnings, folder.warnings
    return {s.timestamp: s for s in folder.snapshots}


def degraded_days(out_dir, days: int) -> set[int]:
    found = set()
    for d in range(1, days + 1):
        summary = json.loads(store.day_summary_path(Path(out_dir), d).read_text())
        if summary["availability_degraded"] or summary["latency_degraded"] or summary["error_rate_degraded"]:
            found.add(d)
    return found
