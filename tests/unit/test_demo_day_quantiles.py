"""The demo's day quantiles: each day's pooled histogram, the contract's day_p95/day_p99 rule (§2.3)."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import pytest

from factories import START
from support.synthetic_export import generate_week
from test_synthetic import bucket_quantile, parse_samples

from stabmon import store
from stabmon.core.model import Window
from stabmon.demo.synthetic import day_histogram_quantiles
from stabmon.demo.week import run_demo_week

BOUNDS = (0.1, 0.25, 0.5, math.inf)


def test_day_quantiles_pool_the_buckets_between_the_day_boundaries():
    window = Window(start=START, duration_hours=72, interval_minutes=60)
    s = START.timestamp()
    times = np.array([s - 3600, s, s + 12 * 3600, s + 24 * 3600, s + 48 * 3600, s + 72 * 3600])
    counters = np.array([
        [5, 5, 5, 5],          # before the window: not part of day 1
        [10, 12, 12, 12],      # day 1 starts
        [50, 60, 61, 61],      # mid-day scrape: only the edges count
        [100, 110, 112, 112],  # day 1 ends: increase [90, 98, 100, 100]
        [100, 110, 112, 122],  # day 2: 10 requests, all over 0.5 s
        [100, 110, 112, 122],  # day 3: no request
    ])
    figures = day_histogram_quantiles(window, times, counters, BOUNDS)
    # Day 1, 100 requests. p95: rank 95 falls in (0.1, 0.25] holding 98 - 90 = 8,
    # 5 of them in: 0.1 + 0.15 * 5/8 = 0.19375 s. p99: rank 99 falls in (0.25, 0.5]
    # holding 2, 1 in: 0.25 + 0.25 * 1/2 = 0.375 s.
    assert figures[1]["p95_latency_ms"] == pytest.approx(193.75)
    assert figures[1]["p99_latency_ms"] == pytest.approx(375.0)
    # Day 2: every rank in +Inf, so the highest finite bound (PromQL's rule).
    assert figures[2] == {"p95_latency_ms": pytest.approx(500.0), "p99_latency_ms": pytest.approx(500.0)}
    # Day 3: no request, no quantile (not 0).
    assert figures[3] == {"p95_latency_ms": None, "p99_latency_ms": None}


def test_day_quantiles_equal_promql_on_the_exported_samples():
    week = generate_week("incident", scrape_seconds=600)
    series = parse_samples(line for line in week.iter_vm_import_lines()
                           if line.startswith("http_request_duration_seconds_bucket"))
    for day in range(1, 8):
        begin, end = (t.timestamp() for t in week.window.day_bounds(day))

        def at(samples, t):
            return next(v for ts, v in samples if ts == t)

        pooled = [(float(dict(labels)["le"]), at(samples, end) - at(samples, begin))
                  for (_, labels), samples in series.items()]
        for name, q in (("p95_latency_ms", 0.95), ("p99_latency_ms", 0.99)):
            assert week.day_latency[day][name] == pytest.approx(1000 * bucket_quantile(q, pooled), rel=1e-12)
    # Day 5 holds the planted latency regression: its pooled p99 stands out.
    assert week.day_latency[5]["p99_latency_ms"] > 2 * week.day_latency[4]["p99_latency_ms"]


def test_demo_writes_its_day_quantiles_and_drops_an_earlier_runs(tmp_path):
    result = run_demo_week(tmp_path, duration_hours=48, scrape_seconds=600, fsync=False)
    week = generate_week("incident", duration_hours=48, scrape_seconds=600)
    written = json.loads((tmp_path / store.DAY_LATENCY_FILE).read_text())
    assert sorted(written) == ["1", "2"]
    for daily in result.daily:
        day = daily["day_number"]
        assert written[str(day)]["p99_latency_ms"] == pytest.approx(week.day_latency[day]["p99_latency_ms"])
        assert daily["day_p95_latency_ms"] == pytest.approx(week.day_latency[day]["p95_latency_ms"], abs=5e-4)
        assert daily["day_p99_latency_ms"] == pytest.approx(week.day_latency[day]["p99_latency_ms"], abs=5e-4)
    run_demo_week(tmp_path, duration_hours=24, scrape_seconds=600, fsync=False,
                  start=START + timedelta(days=7))
    assert sorted(json.loads((tmp_path / store.DAY_LATENCY_FILE).read_text())) == ["1"]


def test_the_weekly_table_shows_each_slo_and_the_day_p99_of_each_demo_day(tmp_path):
    result = run_demo_week(tmp_path, scrape_seconds=600, fsync=False)
    table = [line for line in (tmp_path / store.WEEKLY_MD).read_text().splitlines() if line.startswith("| Day 5 |")]
    (row,) = table
    cells = [c.strip() for c in row.strip("|").split("|")]
    day5 = next(d for d in result.daily if d["day_number"] == 5)
    # Day 5 met the availability SLO all day but not the latency one: both show, and its pooled p99.
    assert cells[4] == f"{day5['day_p99_latency_ms']:.0f} ms" and cells[4] != "n/a"
    assert cells[6] == f"{day5['slo_compliance_percent']:.1f} %" == "100.0 %"
    assert cells[7] == f"{day5['latency_slo_compliance_percent']:.1f} %" != "100.0 %"
