"""Drift with direction: an improvement is never a regression (issue 11, item 4)."""

from __future__ import annotations

import pytest
from factories import START, make_snapshot

from stabmon.core.daily import aggregate_days
from stabmon.core.drift import compute_drift, compute_regression_drift, regression_floor
from stabmon.core.model import Baseline, Window
from stabmon.core.settings import Settings
from stabmon.core.weekly import weekly_summary

WEEK = Window(start=START, duration_hours=168, interval_minutes=30)


def _both(metric, base, value):
    baseline = Baseline(timestamp=START, values={metric: base})
    absolute, _ = compute_drift({metric: value}, baseline)
    return absolute[metric], compute_regression_drift({metric: value}, baseline)[metric]


class TestDirectionPerMetric:
    def test_availability_down_is_a_regression(self):
        # 99.9 -> 99.5: 0.4 points down (>= the 0.2-point floor); 0.4 / 99.9 * 100 = 0.4004 %
        absolute, regression = _both("availability", 99.9, 99.5)
        assert absolute == pytest.approx(0.4004004)
        assert regression == pytest.approx(0.4004004)

    def test_availability_up_is_none(self):
        # 99.9 -> 99.95: 0.05 / 99.9 = 0.05 % absolute drift, but availability rose
        absolute, regression = _both("availability", 99.9, 99.95)
        assert absolute == pytest.approx(0.0500501)
        assert regression == 0.0

    def test_error_rate_halved_is_none(self):
        # 1.0 -> 0.5 % errors: |0.5 - 1| / 1 = 50 % absolute, an improvement
        assert _both("error_rate", 1.0, 0.5) == (pytest.approx(50.0), 0.0)

    def test_latency_up_20_percent(self):
        # 300 -> 360 ms: 60 / 300 = 20 %, the harmful direction, no absolute floor for latency
        assert _both("p99_latency_ms", 300.0, 360.0) == (pytest.approx(20.0), pytest.approx(20.0))
        assert _both("p95_latency_ms", 300.0, 360.0) == (pytest.approx(20.0), pytest.approx(20.0))

    def test_latency_down_is_none(self):
        assert _both("p99_latency_ms", 300.0, 240.0) == (pytest.approx(20.0), 0.0)

    def test_cpu_down_is_none_and_memory_up_is_one(self):
        # CPU 40 -> 30: 25 % absolute, an improvement; memory 30 -> 36: +20 %
        assert _both("cpu_percent", 40.0, 30.0) == (pytest.approx(25.0), 0.0)
        assert _both("memory_percent", 30.0, 36.0) == (pytest.approx(20.0), pytest.approx(20.0))


class TestPracticalFloor:
    def test_floors_are_the_detectors_absolute_points(self):
        assert regression_floor("error_rate") == 0.2
        assert regression_floor("availability") == 0.2
        assert regression_floor("p99_latency_ms") == 0.0

    def test_tiny_error_rate_rise_is_not_a_problem(self):
        # 0.03 -> 0.033 %: 0.003 / 0.03 = 10 % absolute drift, but 0.003 points < 0.2
        assert _both("error_rate", 0.03, 0.033) == (pytest.approx(10.0), 0.0)

    def test_rise_over_the_floor_counts(self):
        # 0.1 -> 0.35 %: 0.25 points >= 0.2: (0.35 - 0.1) / 0.1 = 250 %
        assert _both("error_rate", 0.1, 0.35) == (pytest.approx(250.0), pytest.approx(250.0))

    def test_availability_dip_under_the_floor(self):
        # 99.9 -> 99.8: 0.1 points down < 0.2: 0.1001 % absolute, 0 regression
        assert _both("availability", 99.9, 99.8) == (pytest.approx(0.1001001), 0.0)


def _week(baseline, **values):
    snaps = []
    for t in WEEK.times():
        snap = make_snapshot(t, **values)
        snap.drift_percent, _ = compute_drift(snap.values, baseline)
        snaps.append(snap)
    days = aggregate_days(snaps, WEEK, Settings(), baseline=baseline)
    return days, weekly_summary(days, WEEK, baseline, Settings())


class TestDailyAndRollback:
    def test_improvements_are_not_over_the_threshold_and_never_roll_back(self):
        # The example: CPU 40 -> 20 (50 % below) and error rate 0.1 -> 0 %
        # (100 % below) give an absolute drift of (50 + 100) / 2 = 75 % per snapshot.
        baseline = Baseline(timestamp=START, values={"cpu_percent": 40.0, "error_rate": 0.1})
        days, summary = _week(baseline, cpu_percent=20.0, error_rate=0.0)
        assert days[0]["avg_drift_percent"] == 75.0
        assert days[0]["drift_by_metric"] == {"error_rate": 100.0, "cpu_percent": 50.0}
        assert days[0]["regression_drift_by_metric"] == {"error_rate": 0.0, "cpu_percent": 0.0}
        assert days[0]["avg_regression_drift_percent"] == 0.0
        assert days[0]["metrics_exceeding_drift_threshold"] == []
        assert summary["avg_drift_percent"] == 75.0  # the seed's figure is kept
        assert summary["rollback_recommended"] is False
        assert not any("drift" in r.lower() for r in summary["recommendations"])

    def test_regression_rolls_back_and_is_cited(self):
        # p99 300 -> 360 (+20 %) and CPU 40 -> 20 (-50 %): absolute (20 + 50) / 2 = 35 %,
        # regression (20 + 0) / 2 = 10 % per snapshot; by metric p99 20 > 10 (listed).
        baseline = Baseline(timestamp=START, values={"p99_latency_ms": 300.0, "cpu_percent": 40.0})
        days, summary = _week(baseline, p99_latency_ms=360.0, cpu_percent=20.0)
        assert days[0]["avg_drift_percent"] == 35.0
        assert days[0]["avg_regression_drift_percent"] == 10.0
        assert days[0]["metrics_exceeding_drift_threshold"] == ["p99_latency_ms"]
        # 10 % is under the 15 % rollback criterion and not over the 10 % advice threshold.
        assert summary["rollback_recommended"] is False
        # p99 -> 390 (+30 %): regression (30 + 0) / 2 = 15 %, still not > 15; 393 (+31 %) -> 15.5 %
        days, summary = _week(baseline, p99_latency_ms=393.0, cpu_percent=20.0)
        assert days[0]["avg_regression_drift_percent"] == 15.5
        evidence = summary["rollback_evidence"]
        assert [e["criterion"] for e in evidence] == ["drift"]
        assert evidence[0]["value"] == 15.5 and evidence[0]["days"] == [1, 2, 3, 4, 5, 6, 7]
        assert any("regression drift" in r and "p99_latency_ms" in r for r in summary["recommendations"])

    def test_no_baseline_no_regression_figures(self):
        days, summary = _week(None)
        assert days[0]["avg_regression_drift_percent"] is None
        assert days[0]["regression_drift_by_metric"] == {}
        assert summary["rollback_recommended"] is False
