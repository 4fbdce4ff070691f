"""Factories for hand-built snapshots: every test states its numbers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone



from stabmon.core.model import Alert, Snapshot, Window

START = datetime(2026, 1, 5, tzinfo=timezone.utc)

HEALTHY = {
    "availability": 100.0,
    "error_rate": 0.0,
    "requests": 1000.0,
    "errors": 0.0,
    "p95_latency_ms": 200.0,
    "p99_latency_ms": 300.0,
    "cpu_percent": 40.0,
    "memory_percent": 30.0,
}


def make_snapshot(ts: datetime, alerts: list[Alert] | None = None, drift: dict | None = None, **values) -> Snapshot:
    """A snapshot with healthy defaults, overridden by ``values`` (None means missing)."""
    merged = dict(HEALTHY)
    merged.update(values)
    return Snapshot(timestamp=ts, values=merged, alerts=[] if alerts is None else alerts,
                    drift_percent=dict(drift or {}))


def week_of(window: Window, **values) -> list[Snapshot]:
    """One snapshot per t_k of the window, all with the same values."""
    return [make_snapshot(t, **values) for t in window.times()]




def at(window: Window, k: int) -> datetime:
    return window.start + timedelta(minutes=k * window.interval_minutes)
