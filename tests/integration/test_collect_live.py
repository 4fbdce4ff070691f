"""Live mode: instant queries as each t_k comes, the same snapshots as a retroactive run."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import pytest

from stabmon import store
from stabmon.collect.collector import Collector
from stabmon.collect.run import monitor
from stabmon.collect.window import make_window
from stabmon.collect.queries import build_catalogue
from support.servers import SimulatedClock

from support.runs import options
from collect_helpers import LIVE_SERVICE, mismatches, read_folder, week_window

pytestmark = pytest.mark.server


def test_live_and_retroactive_give_the_same_snapshot(week_backend, incident_week, tmp_path):
    """A live run (simulated clock over the loaded week) equals range queries at the same t_k."""
    window = week_window(incident_week, start=incident_week.window.start + timedelta(days=2, hours=12),
                         duration_hours=6)
    clock = SimulatedClock(window.start - timedelta(seconds=5))
    out = tmp_path / "live"
    outcome = monitor(options(week_backend.url, out, window, baseline=incident_week.baseline), clock=clock)
    assert outcome.exit_code == 0
    assert len(clock.sleeps) >= window.snapshot_count  # every snapshot waited for its time
    live = read_folder(out)
    with week_backend.client() as client:
        retro = Collector(client, build_catalogue(service="checkout", interval_seconds=1800), window,
                          {"checkout": incident_week.baseline}).range_snapshots(
            list(range(window.snapshot_count)), ["checkout"])["checkout"]
    assert len(live) == len(retro) == 12
    by_time = {s.timestamp: s for s in incident_week.snapshots}
    for snapshot in retro.values():
        got = live[snapshot.timestamp]
        if week_backend.name == "prometheus":
            assert got.to_dict() == snapshot.to_dict()
        else:
            # VictoriaMetrics' instant and range engines may differ in the last bit.
            assert got.values == pytest.approx(snapshot.values, rel=1e-12, abs=1e-12)
            assert got.drift_percent == pytest.approx(snapshot.drift_percent, rel=1e-12)
            assert (got.missing, got.to_dict()["alerts"]) == (snapshot.missing, snapshot.to_dict()["alerts"])
        assert not mismatches(snapshot, by_time[snapshot.timestamp])


def test_behind_schedule_is_warned_and_caught_up(prometheus_week, incident_week, tmp_path, caplog):
    """Slow answers push the run past the next t_k: the seed's warning, and no snapshot lost."""
    window = week_window(incident_week, duration_hours=3)
    # Every clock read costs 20 minutes: each snapshot ends after the next one was due.
    clock = SimulatedClock(window.start - timedelta(seconds=1), query_cost=1200)
    with caplog.at_level("WARNING", logger="stabmon.collect.run"):
        outcome = monitor(options(prometheus_week.url, tmp_path / "run", window), clock=clock)
    assert outcome.exit_code == 0
    assert any("Behind schedule by" in r.getMessage() for r in caplog.records)
    assert len(read_folder(tmp_path / "run")) == 6


def _live_window(ready_at: float, seconds_before: int = 6, seconds_after: int = 15, interval_s: int = 3):
    now = time.time()
    start = math.ceil(max(now - seconds_before, ready_at + 4))
    count = (math.ceil(now) + seconds_after - start) // interval_s + 1
    return make_window(datetime.fromtimestamp(start, timezone.utc), count * interval_s / 3600.0, interval_s / 60.0)


def test_live_run_with_a_sub_minute_interval(live_backend, tmp_path):
    """Real time, 3 s interval, a window from a few seconds ago to ~15 s ahead."""
    window = _live_window(live_backend.ready_at)
    out = tmp_path / "live"
    started = time.time()
    outcome = monitor(options(live_backend.url, out, window, service=LIVE_SERVICE))
    assert outcome.exit_code == 0
    # The run lasts until its window ends: it really waited for each t_k.
    assert time.time() >= window.end.timestamp()
    assert time.time() - started < window.duration_hours * 3600 + 15
    snapshots = read_folder(out)
    assert len(snapshots) == window.snapshot_count
    for snapshot in snapshots.values():
        assert snapshot.missing == [], snapshot.to_dict()
        assert snapshot.values["availability"] == pytest.approx(99.0, abs=0.01)
        assert snapshot.values["error_rate"] == pytest.approx(1.0, abs=0.01)
        assert snapshot.values["cpu_percent"] == pytest.approx(40.0, rel=0.01)
        assert snapshot.values["memory_percent"] == pytest.approx(25.0, rel=1e-6)
        assert snapshot.values["requests"] == pytest.approx(300, rel=0.1)
        assert 100 <= snapshot.values["p95_latency_ms"] <= 251
    assert store.day_summary_path(out, 1).exists()
    assert (out / store.WEEKLY_JSON).exists()

    # Retroactive queries for the same t_k give the same snapshots.
    catalogue = build_catalogue(service=LIVE_SERVICE, interval_seconds=3)
    with live_backend.client() as client:
        collector = Collector(client, catalogue, window)
        ks = list(range(window.snapshot_count))
        again = {k: collector.instant_snapshots(k, [""], strict=True)[""] for k in ks}
        # VictoriaMetrics rewrites range points within -search.latencyOffset (30 s) of
        # now; stabmon never range-queries that close to now, so compare on Prometheus.
        ranged = collector.range_snapshots(ks, [""])[""] if live_backend.name == "prometheus" else again
    for k in ks:
        live = snapshots[window.time_of(k)]
        assert live.values == pytest.approx(again[k].values, rel=1e-9), k
        assert live.values == pytest.approx(ranged[k].values, rel=1e-9), k
