"""Shared helpers of the collection tests (options, comparisons)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import time
from datetime import datetime, timezone

from support import servers
from stabmon import store
from support.servers import need_binary
from stabmon.collect.window import make_window
from stabmon.core.model import METRIC_FIELDS, Snapshot
from stabmon.collect.prom import ConnectionSettings, PrometheusClient

#: Prometheus 2.x and VictoriaMetrics both compute the exact increase on the
#: generator's scrape grid; what is left is float noise of the two engines.
REL_TOLERANCE = 1e-6

LIVE_SERVICE = "live"


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


def wait_for_live_data(url: str, timeout: float = 30.0) -> None:
    """Wait until a server scraping the live exporter answers with data."""
    client = PrometheusClient(ConnectionSettings.from_env(url, env={}), retries=0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.instant(f'sum(rate(http_requests_total{{service="{LIVE_SERVICE}"}}[3s]))',
                              datetime.now(timezone.utc).replace(microsecond=0)):
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no live data in {url} after {timeout}s")


def start_live_prometheus(folder: Path, exporter: servers.LiveExporter, port: int | None = None):
    """A Prometheus scraping ``exporter`` every second (caller stops it)."""
    need_binary("prometheus")
    target = servers.ScrapeTarget(exporter.address, interval="1s")
    return servers.PrometheusServer(folder / "tsdb", targets=[target], port=port).start()


def start_live_victoria(folder: Path, exporter: servers.LiveExporter, port: int | None = None):
    """A VictoriaMetrics scraping ``exporter`` every second (caller stops it)."""
    need_binary("victoria-metrics")
    target = servers.ScrapeTarget(exporter.address, interval="1s")
    return servers.VictoriaMetricsServer(folder / "data", targets=[target], port=port).start()
