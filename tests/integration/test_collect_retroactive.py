"""A past week collected at once with range queries, on Prometheus and VictoriaMetrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stabmon import store
from stabmon.collect.collector import Collector
from stabmon.collect.run import monitor
from stabmon.store import DAY_LATENCY_FILE
from stabmon.collect.queries import build_catalogue

from support.runs import HOSTILE_SERVICE, options
from collect_helpers import degraded_days, mismatches, read_folder, week_window

pytestmark = pytest.mark.server


def test_past_week_matches_the_generator(week_backend, incident_week, tmp_path):
    out = tmp_path / "run"
    outcome = monitor(options(week_backend.url, out, week_window(incident_week), baseline=incident_week.baseline))

    assert outcome.exit_code == 0
    assert outcome.collected == 336
    # 1 check + 9 range queries + 2 day-figure range queries.
    assert outcome.requests <= 30
    snapshots = read_folder(out)
    assert len(snapshots) == 336
    for want in incident_week.snapshots:
        got = snapshots[want.timestamp]
        assert not mismatches(got, want), (want.timestamp, mismatches(got, want))
        assert got.missing == []
        assert set(got.drift_percent) == set(incident_week.baseline.values)
    assert degraded_days(out, 7) == incident_week.planted.degraded_days
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert weekly["total_snapshots"] == 336
    assert (out / store.WEEKLY_MD).exists()


def test_day_figures_come_from_merged_histograms(week_backend, incident_week, tmp_path):
    out = tmp_path / "run"
    monitor(options(week_backend.url, out, week_window(incident_week), baseline=incident_week.baseline))
    figures = json.loads((out / DAY_LATENCY_FILE).read_text())
    assert sorted(figures, key=int) == [str(d) for d in range(1, 8)]
    for day, values in figures.items():
        assert set(values) == {"p95_latency_ms", "p99_latency_ms"}
        assert 0 < values["p95_latency_ms"] < values["p99_latency_ms"]
        # The demo works its day figures out from the same buckets by the same rule.
        assert values == pytest.approx(incident_week.day_latency[int(day)], rel=1e-6)
    # Day 5 holds the planted latency regression: its pooled p99 stands out.
    assert figures["5"]["p99_latency_ms"] > 2 * figures["4"]["p99_latency_ms"]
    summary = json.loads(store.day_summary_path(out, 5).read_text())
    assert summary["day_p99_latency_ms"] == pytest.approx(figures["5"]["p99_latency_ms"])


def test_hostile_service_name_is_a_value_not_query(week_backend, hostile_week):
    """A service name full of quotes, braces, backslashes and newlines only matches itself."""
    catalogue = build_catalogue(service=HOSTILE_SERVICE, interval_seconds=1800)
    with week_backend.client() as client:
        collector = Collector(client, catalogue, hostile_week.window)
        got = collector.range_snapshots(list(range(0, 336, 7)), [""])[""]
    for k, snapshot in got.items():
        assert not mismatches(snapshot, hostile_week.snapshots[k]), k


def test_hostile_selector_cannot_widen_the_query(week_backend, incident_week):
    """A value trying to close the matcher and OR in another vector matches nothing."""
    catalogue = build_catalogue(selector='service="checkout\\"} or vector(1) or x{a=\\"b"', interval_seconds=1800)
    with week_backend.client() as client:
        collector = Collector(client, catalogue, incident_week.window)
        got = collector.range_snapshots([10, 11], [""])[""]
    for snapshot in got.values():
        assert snapshot.values["requests"] is None
        assert "requests" in snapshot.missing


def test_cli_monitor_writes_the_full_layout(prometheus_week, week_files, incident_week, tmp_path):
    out = tmp_path / "cli-run"
    exe = Path(sys.executable).with_name("stabmon")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABMON_")}
    proc = subprocess.run(
        [str(exe), "monitor", "--baseline", str(week_files["baseline"]), "--prometheus-url",
         prometheus_week.url.replace("http://", "http://admin:hunter22@"), "--service", "checkout",
         "--start", "2026-01-05T00:00:00Z", "--duration", "168", "--output", str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(store.iter_snapshot_files(out)) == 336
    for d in range(1, 8):
        assert store.day_summary_path(out, d).exists()
    assert (out / store.WEEKLY_JSON).exists() and (out / store.WEEKLY_MD).exists()
    info = json.loads((out / store.RUN_FILE).read_text())
    assert info["prometheus_url"] == prometheus_week.url
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "hunter22" not in text, path
    assert "hunter22" not in proc.stderr + proc.stdout
