"""Unit tests of stabmon.core.compare: Mann-Whitney on known samples, effect-size guard."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from stabmon.core.compare import CompareSettings, compare_days, compare_samples, hodges_lehmann_shift
from stabmon.core.errors import InputError
from stabmon.core.model import Snapshot, Window

START = datetime(2026, 1, 5, tzinfo=timezone.utc)


def test_mann_whitney_on_separated_samples():
    # Every day value (6..10) beats every baseline value (1..5): U_day = 5 * 5 = 25.
    # Exact two-sided p = 2 / C(10, 5) = 2/252 = 0.0079365 (only the two extreme
    # rank arrangements are as extreme).
    # Hodges-Lehmann: the 25 differences day - baseline run 1..9 with multiplicities
    # 1,2,3,4,5,4,3,2,1 -> median (13th) = 5. Baseline median 3 -> effect 5/3.
    r = compare_samples("p95_latency_ms", [1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert r["u_statistic"] == 25.0
    assert r["p_value"] == pytest.approx(2 / 252)
    assert r["shift"] == 5.0
    assert r["effect_size"] == pytest.approx(5 / 3)
    assert (r["verdict"], r["degraded"]) == ("high", True)
    assert (r["baseline_median"], r["day_median"], r["n_baseline"], r["n_day"]) == (3.0, 8.0, 5, 5)


def test_mann_whitney_u_with_a_tie():
    # day [2, 4, 5] vs baseline [1, 2, 3]: 2 beats 1 and ties 2 (1.5), 4 beats all (3),
    # 5 beats all (3) -> U = 7.5 of 9. Not significant with 3 + 3 values: pass.
    r = compare_samples("cpu_percent", [1, 2, 3], [2, 4, 5])
    assert r["u_statistic"] == 7.5
    assert r["p_value"] > 0.05
    assert r["verdict"] == "pass"


def test_tiny_but_significant_shift_passes_thanks_to_the_effect_size():
    # baseline 1000..1047, day = baseline + 20 (a 2 % shift).
    # U_day: day value i (= 1020 + i) beats i + 20 baseline values and ties one while
    # i + 20 <= 47: sum_{i=0}^{27} (i + 20.5) + 20 * 48 = 952 + 960 = 1912 (of 2304).
    baseline = [1000.0 + i for i in range(48)]
    day = [b + 20.0 for b in baseline]
    r = compare_samples("p95_latency_ms", baseline, day)
    assert r["u_statistic"] == 1912.0
    assert r["p_value"] < 1e-6                       # clearly significant ...
    assert r["shift"] == 20.0
    assert r["effect_size"] == pytest.approx(20 / 1023.5)  # ... but under 10 % (baseline median 1023.5)
    assert r["verdict"] == "pass"
    # Without the guard the same samples fail, so the guard is what passes them.
    bare = CompareSettings(min_relative_effect={}, min_absolute_effect={})
    assert compare_samples("p95_latency_ms", baseline, day, bare)["verdict"] == "high"
    # A 15 % shift of the same samples fails with the guard too.
    big = [b * 1.15 for b in baseline]
    assert compare_samples("p95_latency_ms", baseline, big)["verdict"] == "high"


def test_availability_drop_is_low_and_degraded():
    baseline = [99.95, 99.96, 99.97, 99.98, 99.99, 99.96, 99.97, 99.95]
    day = [99.5, 99.6, 99.4, 99.7, 99.55, 99.65, 99.45, 99.5]
    r = compare_samples("availability", baseline, day)
    assert r["verdict"] == "low"
    assert r["degraded"] is True
    assert r["shift"] < -0.1


def test_error_rate_needs_a_shift_in_points():
    # 0.02 -> 0.05 % is +150 % relative but only 0.03 points: pass.
    baseline = [0.02 + 0.001 * i for i in range(10)]
    day = [0.05 + 0.001 * i for i in range(10)]
    r = compare_samples("error_rate", baseline, day)
    assert r["p_value"] < 0.05
    assert r["verdict"] == "pass"
    worse = [0.5 + 0.001 * i for i in range(10)]
    assert compare_samples("error_rate", baseline, worse)["verdict"] == "high"


def test_identical_and_constant_samples_pass():
    r = compare_samples("cpu_percent", [40.0, 41.0, 42.0], [42.0, 40.0, 41.0])
    assert (r["verdict"], r["p_value"], r["shift"]) == ("pass", 1.0, 0.0)
    r = compare_samples("cpu_percent", [40.0] * 5, [40.0] * 7)
    assert (r["verdict"], r["p_value"]) == ("pass", 1.0)


def test_too_few_values_is_nodata():
    r = compare_samples("cpu_percent", [40.0, 41.0, 42.0], [90.0, 91.0])
    assert (r["verdict"], r["p_value"], r["n_day"]) == ("nodata", None, 2)
    r = compare_samples("cpu_percent", [], [40.0, 41.0, 42.0])
    assert (r["verdict"], r["baseline_median"]) == ("nodata", None)


def test_hodges_lehmann_is_the_median_of_pairwise_differences():
    # differences (day - baseline): 10-1, 10-2, 10-3, 11-1, 11-2, 11-3 = 9, 8, 7, 10, 9, 8 -> median 8.5
    assert hodges_lehmann_shift([10, 11], [1, 2, 3]) == 8.5


def test_compare_days_splits_days_and_skips_missing():
    window = Window(START, duration_hours=48.0, interval_minutes=360.0)  # 4 snapshots a day
    baseline = [Snapshot(START, {"p99_latency_ms": v, "cpu_percent": 40.0 + i})
                for i, v in enumerate([300.0, 310.0, 305.0, 295.0, 303.0])]
    run = []
    for k, (p99, cpu) in enumerate([(300, 40), (302, 41), (298, None), (301, 42),    # day 1: calm
                                    (900, 40), (950, 41), (920, 42), (980, None)]):  # day 2: slow
        run.append(Snapshot(window.time_of(k), {"p99_latency_ms": p99, "cpu_percent": cpu}))
    settings = CompareSettings(metrics=("p99_latency_ms", "cpu_percent"))
    rows = compare_days(baseline, run, window, settings)
    assert [(r["day_number"], r["metric"]) for r in rows] == [
        (1, "p99_latency_ms"), (1, "cpu_percent"), (2, "p99_latency_ms"), (2, "cpu_percent")]
    assert rows[0]["verdict"] == "pass"
    assert rows[1]["n_day"] == 3  # the None is left out, not read as 0
    assert rows[1]["verdict"] == "pass"
    # day 2's p99 900, 920, 950, 980: median (920 + 950) / 2 = 935
    assert (rows[2]["verdict"], rows[2]["degraded"], rows[2]["day_median"]) == ("high", True, 935.0)
    # U = 4 * 5 = 20, exact two-sided p = 2 / C(9, 4) = 2/126
    assert rows[2]["u_statistic"] == 20.0
    assert rows[2]["p_value"] == pytest.approx(2 / 126)
    assert set(rows[0]) >= {"day_number", "metric", "verdict", "p_value", "effect_size",
                            "baseline_median", "day_median", "n_baseline", "n_day"}


def test_settings_are_checked():
    with pytest.raises(InputError):
        CompareSettings(metrics=("alerts",))
    with pytest.raises(InputError):
        CompareSettings(p_value_threshold=1.5)
    merged = CompareSettings.from_mapping({"min_relative_effect": {"cpu_percent": 0.2}})
    assert merged.min_relative_effect["cpu_percent"] == 0.2
    assert merged.min_relative_effect["p99_latency_ms"] == 0.1
    with pytest.raises(InputError):
        CompareSettings.from_mapping({"bogus": 1})
