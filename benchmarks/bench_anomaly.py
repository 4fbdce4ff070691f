"""Benchmark of the anomaly detector: one week and 100 weeks of all metrics.

Run with ``python benchmarks/bench_anomaly.py``. Prints the median of several
runs beside the target: under 100 ms for one week (336 snapshots at 30 min).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from datetime import datetime, timezone

from stabmon.core.anomaly import AnomalySettings, detect_anomalies
from stabmon.core.model import METRIC_FIELDS, Snapshot, Window

#: Weeks -> target median in seconds (None: no target, the figure is for scale).
TARGETS = {1: 0.1, 100: None}


def synthetic_weeks(weeks: int, seed: int = 0) -> tuple[Window, list[Snapshot]]:
    """A noisy diurnal series over every metric, ``weeks`` weeks at 30 minutes."""
    rng = random.Random(seed)
    window = Window(datetime(2026, 1, 5, tzinfo=timezone.utc), duration_hours=168.0 * weeks)
    snaps = []
    for k in range(window.snapshot_count):
        t = window.time_of(k)
        diurnal = math.sin(2 * math.pi * (t.hour + t.minute / 60 - 9) / 24)
        requests = 6000 * (1 + 0.5 * diurnal) * (1 + rng.gauss(0, 0.03))
        error_rate = max(0.0, rng.gauss(0.05, 0.015))
        snaps.append(Snapshot(t, {
            "availability": 100 - error_rate, "error_rate": error_rate,
            "requests": requests, "errors": requests * error_rate / 100,
            "p95_latency_ms": 180 * (1 + rng.gauss(0, 0.04)),
            "p99_latency_ms": 300 * (1 + rng.gauss(0, 0.06)),
            "cpu_percent": 40 * (1 + 0.4 * diurnal) * (1 + rng.gauss(0, 0.04)),
            "memory_percent": 25 * (1 + rng.gauss(0, 0.01)),
        }))
    return window, snaps


def median_seconds(window: Window, snaps: list[Snapshot], settings: AnomalySettings, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detect_anomalies(snaps, window, settings)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    settings = AnomalySettings(metrics=METRIC_FIELDS)  # every numeric metric, the worst case
    for weeks, runs in ((1, 21), (100, 5)):
        window, snaps = synthetic_weeks(weeks)
        seconds = median_seconds(window, snaps, settings, runs)
        target = TARGETS[weeks]
        verdict = "" if target is None else f"  target < {target * 1000:.0f} ms: {'yes' if seconds < target else 'NO'}"
        print(f"anomaly detection, {weeks:>3} week(s), {len(snaps):>6} snapshots x "
              f"{len(settings.metrics)} metrics: {seconds * 1000:8.1f} ms (median of {runs} runs){verdict}")


if __name__ == "__main__":
    main()
