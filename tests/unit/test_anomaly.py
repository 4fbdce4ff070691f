"""Unit tests of stabmon.core.anomaly: EWMA math by hand, planted anomalies, healthy weeks."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from stabmon.store import schemas
from stabmon.core.anomaly import (
    AnomalyDetector,
    AnomalySettings,
    daily_anomaly_counts,
    detect_anomalies,
)
from stabmon.core.errors import InputError
from stabmon.core.model import Snapshot, Window

START = datetime(2026, 1, 5, tzinfo=timezone.utc)


def series_snapshots(values, metric="p95_latency_ms", interval_minutes=30.0):
    """One snapshot per value of ``metric`` (other metrics missing)."""
    window = Window(START, duration_hours=len(values) * interval_minutes / 60.0,
                    interval_minutes=interval_minutes)
    snaps = [Snapshot(window.time_of(k), {metric: v}) for k, v in enumerate(values)]
    return window, snaps


#: Hand-math settings: alpha 0.5, no floors, no sigma floor worth mentioning.
HAND = AnomalySettings(alpha=0.5, warmup=3, min_relative_change={}, min_error_rate_points=0.0,
                       min_sigma_relative=0.0, metrics=("p95_latency_ms",))

#: The hand series 10, 12, 10, 12 then 30 (worked in test_ewma_and_z_worked_by_hand):
#: before the 30 the EWMA mean is 11.25 and its variance 0.9375.
SPIKE_EXPECTED = 11.25
SPIKE_Z = (30 - SPIKE_EXPECTED) / math.sqrt(0.9375)  # 18.75 / 0.96825 = 19.3649


def healthy_week(seed: int, days: int = 7, interval: float = 30.0) -> tuple[Window, list[Snapshot]]:
    """A healthy, noisy week over all metrics: gaussian noise plus diurnal traffic.

    Traffic swings 3:1 between 15:00 and 03:00 UTC; errors are Poisson counts at
    0.05 %; p95/p99 jitter by 4 % / 6 % and rise 10-12 % with load; CPU follows
    traffic (+-40 %) with 4 % noise; memory creeps up slowly with noise.
    """
    rng = np.random.default_rng(seed)
    window = Window(START, duration_hours=days * 24.0, interval_minutes=interval)
    snaps = []
    memory = 25.0
    for k in range(window.snapshot_count):
        t = window.time_of(k)
        diurnal = math.sin(2 * math.pi * (t.hour + t.minute / 60.0 - 9.0) / 24.0)
        requests = 6000.0 * (interval / 30.0) * (1 + 0.5 * diurnal) * (1 + rng.normal(0, 0.03))
        errors = float(rng.poisson(requests * 0.0005))
        error_rate = 100.0 * errors / requests
        memory += rng.normal(0.002, 0.05)
        snaps.append(Snapshot(t, {
            "availability": 100.0 - error_rate,
            "error_rate": error_rate,
            "requests": requests,
            "errors": errors,
            "p95_latency_ms": 180.0 * (1 + 0.10 * diurnal) * (1 + rng.normal(0, 0.04)),
            "p99_latency_ms": 300.0 * (1 + 0.12 * diurnal) * (1 + rng.normal(0, 0.06)),
            "cpu_percent": 40.0 * (1 + 0.4 * diurnal) * (1 + rng.normal(0, 0.04)),
            "memory_percent": memory * (1 + rng.normal(0, 0.01)),
        }))
    return window, snaps


def with_values(snapshot: Snapshot, **changes: float) -> Snapshot:
    values = dict(snapshot.values)
    values.update(changes)
    return Snapshot(snapshot.timestamp, values)


# ---------------------------------------------------------------------------
# EWMA and z, by hand

def test_ewma_and_z_worked_by_hand():
    # alpha = 0.5; update: diff = x - m; m += alpha*diff; v = (1-alpha)*(v + diff*alpha*diff)
    # x0 = 10 -> seeds m = 10, v = 0
    # x1 = 12 -> diff 2,    m = 11,    v = 0.5*(0 + 2*1)          = 1
    # x2 = 10 -> diff -1,   m = 10.5,  v = 0.5*(1 + (-1)*(-0.5))  = 0.75
    # (warm-up 3: x0..x2 only train)
    # x3 = 12 -> z = (12 - 10.5)/sqrt(0.75) = 1.5/0.8660 = 1.732 < 2: nothing
    #            diff 1.5, m = 11.25, v = 0.5*(0.75 + 1.5*0.75) = 0.9375
    # x4 = 30 -> z = (30 - 11.25)/sqrt(0.9375) = 18.75/0.96825 = 19.365: high
    # x5 = 11 -> back under the reference 11.25: the excursion lasted 1 snapshot -> spike at x4
    window, snaps = series_snapshots([10, 12, 10, 12, 30, 11])
    events = detect_anomalies(snaps, window, HAND)
    assert len(events) == 1
    event = events[0]
    assert event.timestamp == window.time_of(4)
    assert event.value == 30
    assert event.expected == pytest.approx(SPIKE_EXPECTED)
    assert event.z_score == pytest.approx(SPIKE_Z, abs=1e-4)
    assert (event.severity, event.type, event.day_number) == ("high", "spike", 1)
    # confidence = erf(19.36/sqrt 2) * (0.5 + 0.5 * 1/4) = 1 * 0.625
    assert event.confidence == pytest.approx(0.625)


def test_z_is_scored_before_the_update_and_medium_severity():
    # Same state before x4 (m = 11.25, sd = 0.96825); x4 = 13.75:
    # z = 2.5/0.96825 = 2.582 -> medium (>= 2.5, < 3.0)
    window, snaps = series_snapshots([10, 12, 10, 12, 13.75, 11])
    events = detect_anomalies(snaps, window, HAND)
    assert [(e.severity, e.type) for e in events] == [("medium", "spike")]
    assert events[0].z_score == pytest.approx(2.5 / math.sqrt(0.9375), abs=1e-4)


def test_warmup_raises_nothing():
    # With warm-up 5, x4 = 30 is the fifth value: it only trains the EWMA.
    window, snaps = series_snapshots([10, 12, 10, 12, 30, 11])
    assert detect_anomalies(snaps, window, AnomalySettings(
        alpha=0.5, warmup=5, min_relative_change={}, min_error_rate_points=0.0,
        metrics=("p95_latency_ms",))) == []


def test_missing_values_are_skipped_not_zero():
    # The hand series with gaps: None neither updates the EWMA nor reads as 0
    # (a 0 would be a huge drop and would change the spike's expected value).
    window, snaps = series_snapshots([10, None, 12, 10, None, None, 12, 30, None, 11])
    events = detect_anomalies(snaps, window, HAND)
    assert len(events) == 1
    assert events[0].timestamp == window.time_of(7)
    assert events[0].expected == pytest.approx(SPIKE_EXPECTED)
    assert events[0].z_score == pytest.approx(SPIKE_Z, abs=1e-4)


def test_severity_thresholds_are_the_seeds():
    s = AnomalySettings()
    assert [s.severity(z) for z in (1.99, 2.0, 2.49, 2.5, -2.99, 3.0, -7.0)] == [
        None, "low", "low", "medium", "medium", "high", "high"]


def test_floor_of_practical_significance():
    s = AnomalySettings()
    assert s.floor("p99_latency_ms", 300.0) == pytest.approx(150.0)   # 50 %
    assert s.floor("error_rate", 0.05) == pytest.approx(0.2)           # points win near 0
    assert s.floor("error_rate", 2.0) == pytest.approx(1.0)            # 50 % of 2 %
    assert s.floor("availability", 99.9) == pytest.approx(0.2)         # points only


def test_confidence_grows_with_z_and_duration():
    s = AnomalySettings()
    assert s.confidence(2.0, 1) == pytest.approx(math.erf(2 / math.sqrt(2)) * 0.625, abs=1e-4)
    assert s.confidence(3.0, 1) > s.confidence(2.0, 1)
    assert s.confidence(3.0, 2) > s.confidence(3.0, 1)
    assert s.confidence(10.0, 4) == pytest.approx(1.0)
    assert 0.0 <= s.confidence(0.0, 0) <= 1.0


def test_settings_are_checked():
    with pytest.raises(InputError):
        AnomalySettings(alpha=0.0)
    with pytest.raises(InputError):
        AnomalySettings(z_low=3.0, z_medium=2.5)
    with pytest.raises(InputError):
        AnomalySettings(metrics=("alerts",))
    with pytest.raises(InputError):
        AnomalySettings.from_mapping({"no_such": 1})
    merged = AnomalySettings.from_mapping({"min_relative_change": {"cpu_percent": 0.8}, "warmup": 4})
    assert merged.min_relative_change["cpu_percent"] == 0.8
    assert merged.min_relative_change["p99_latency_ms"] == 0.5
    assert merged.warmup == 4


# ---------------------------------------------------------------------------
# planted anomalies in a noisy week

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_spike_found_at_the_right_time_with_the_right_severity(seed):
    window, snaps = healthy_week(seed)
    k = 150
    snaps[k] = with_values(snaps[k], p99_latency_ms=snaps[k].values["p99_latency_ms"] * 2.5)
    events = [e for e in detect_anomalies(snaps, window) if e.severity != "low"]
    assert len(events) == 1
    event = events[0]
    assert (event.metric, event.type, event.severity) == ("p99_latency_ms", "spike", "high")
    assert event.timestamp == window.time_of(k)
    assert event.day_number == 4  # k = 150 is 3 days (3 x 48 = 144 snapshots) + 3 h
    assert event.value == snaps[k].values["p99_latency_ms"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_drop_in_traffic(seed):
    window, snaps = healthy_week(seed)
    k = 200
    snaps[k] = with_values(snaps[k], requests=snaps[k].values["requests"] * 0.2)
    events = [e for e in detect_anomalies(snaps, window) if e.severity != "low"]
    assert [(e.metric, e.type, e.timestamp) for e in events] == [("requests", "drop", window.time_of(k))]


#: healthy_week's error rate: Poisson errors at 0.05 % of requests.
HEALTHY_ERROR_RATE = 0.05
#: The planted step in error rate, in points.
ERROR_STEP = 2.0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_step_change_is_one_level_shift(seed):
    window, snaps = healthy_week(seed)
    k0 = 200
    for k in range(k0, window.snapshot_count):
        snaps[k] = with_values(snaps[k], error_rate=snaps[k].values["error_rate"] + ERROR_STEP)
    events = detect_anomalies(snaps, window)
    error_events = [e for e in events if e.metric == "error_rate"]
    assert len(error_events) == 1, [e.to_dict() for e in error_events]
    event = error_events[0]
    assert (event.type, event.severity) == ("level_shift", "high")
    assert event.timestamp == window.time_of(k0)
    # One snapshot's error rate is the level +- its Poisson noise (about 0.05 points).
    assert event.value == pytest.approx(HEALTHY_ERROR_RATE + ERROR_STEP, abs=0.05)  # the new level
    assert event.expected == pytest.approx(HEALTHY_ERROR_RATE, abs=0.05)            # the old one
    assert event.confidence > 0.99
    assert [e for e in events if e.metric != "error_rate" and e.severity != "low"] == []


def test_step_down_in_latency_is_one_level_shift():
    window, snaps = healthy_week(7)
    for k in range(100, window.snapshot_count):
        snaps[k] = with_values(snaps[k], p95_latency_ms=snaps[k].values["p95_latency_ms"] * 0.4)
    events = [e for e in detect_anomalies(snaps, window) if e.metric == "p95_latency_ms"]
    assert [(e.type, e.timestamp) for e in events] == [("level_shift", window.time_of(100))]
    assert events[0].z_score < -3.0


def test_level_shift_reported_once_and_a_second_step_again():
    # alpha 0.5: 10, 12, 10, 12, 10, 12 -> m = 10, 11, 10.5, 11.25, 10.625, 11.3125
    #   v = 0, 1, 0.75, 0.9375, 0.5*(0.9375 + 1.25*0.625) = 0.859375,
    #       0.5*(0.859375 + 1.375*0.6875) = 0.90234375 -> sd 0.949918
    # 30 x 4: one excursion against that frozen reference -> level_shift at t_6,
    #   new level 30, z = (30 - 11.3125)/0.949918 = 19.6728. The EWMA lags behind
    #   (28.83 after the fourth 30) but the same shift is not reported again.
    # 40 x 8 from t_10: a second step, measured from the new level 30 -> a second level shift.
    window, snaps = series_snapshots([10, 12, 10, 12, 10, 12] + [30] * 4 + [40] * 8)
    events = detect_anomalies(snaps, window, HAND)
    assert [(e.type, window.index_of(e.timestamp)) for e in events] == [("level_shift", 6), ("level_shift", 10)]
    first, second = events
    assert (first.value, first.expected) == (30.0, pytest.approx(11.3125))
    assert first.z_score == pytest.approx(18.6875 / math.sqrt(0.90234375), abs=1e-4)
    assert (second.value, second.expected) == (40.0, 30.0)


def test_constant_new_level_is_reported_once():
    window, snaps = series_snapshots([10, 12, 10, 12, 10, 12] + [30] * 20)
    events = detect_anomalies(snaps, window, HAND)
    assert [(e.type, window.index_of(e.timestamp)) for e in events] == [("level_shift", 6)]


@pytest.mark.parametrize("seed", range(10))
def test_healthy_noisy_week_has_no_medium_or_high_events(seed):
    window, snaps = healthy_week(seed)
    events = detect_anomalies(snaps, window)
    serious = [e.to_dict() for e in events if e.severity in ("medium", "high")]
    assert len(serious) == 0, serious


def test_the_floors_are_what_keeps_the_healthy_week_quiet():
    # Without floors the same weeks raise many medium/high events (about 140
    # each for these seeds): the generator is noisy enough for the test above
    # to fail without them. At least one a day is plainly "many".
    bare = AnomalySettings(min_relative_change={}, min_error_rate_points=0.0)
    counts = []
    for seed in range(3):
        window, snaps = healthy_week(seed)
        counts.append(sum(e.severity != "low" for e in detect_anomalies(snaps, window, bare)))
    assert min(counts) >= window.day_count


# ---------------------------------------------------------------------------
# live vs batch, output shape, counts

def test_live_detector_agrees_with_batch():
    window, snaps = healthy_week(11)
    snaps[60] = with_values(snaps[60], cpu_percent=95.0)
    for k in range(250, 336):
        snaps[k] = with_values(snaps[k], p95_latency_ms=snaps[k].values["p95_latency_ms"] * 2)
    detector = AnomalyDetector(window)
    live = []
    for snap in snaps:
        live.extend(detector.observe(snap))
    live.extend(detector.flush())
    batch = detect_anomalies(list(reversed(snaps)), window)  # batch sorts by time
    assert [e.to_dict() for e in live] == [e.to_dict() for e in batch]
    assert {e.metric for e in batch} >= {"cpu_percent", "p95_latency_ms"}


def test_spike_reported_when_the_series_comes_back_or_at_flush():
    window, snaps = series_snapshots([10, 12, 10, 12, 11, 30])
    detector = AnomalyDetector(window, HAND)
    reported = [detector.observe(s) for s in snaps]
    assert all(r == [] for r in reported)  # the last value's excursion is still open
    flushed = detector.flush()
    assert [(e.type, e.timestamp) for e in flushed] == [("spike", window.time_of(5))]
    assert detector.flush() == []


def test_observe_rejects_out_of_order_snapshots():
    window, snaps = series_snapshots([10, 12, 10])
    detector = AnomalyDetector(window, HAND)
    detector.observe(snaps[1])
    with pytest.raises(ValueError):
        detector.observe(snaps[0])


def test_to_dict_has_exactly_the_contract_keys_and_validates():
    window, snaps = series_snapshots([10, 12, 10, 12, 30, 11])
    event = detect_anomalies(snaps, window, HAND)[0]
    data = event.to_dict()
    assert list(data) == ["timestamp", "day_number", "metric", "value", "expected", "z_score",
                          "severity", "type", "confidence", "episode", "recovery", "episode_end",
                          "episode_peak_value", "episode_peak_z", "episode_snapshots",
                          "episode_duration_minutes", "episode_open"]
    assert data["timestamp"] == "2026-01-05T02:00:00Z"
    schemas.validate(data, "anomaly")
    bad = dict(data, severity="critical")
    with pytest.raises(schemas.SchemaError):
        schemas.validate(bad, "anomaly")


def test_daily_anomaly_counts():
    window, snaps = healthy_week(5, days=3)
    snaps[20] = with_values(snaps[20], p99_latency_ms=2000.0)   # day 1
    snaps[70] = with_values(snaps[70], cpu_percent=150.0)       # day 2
    snaps[75] = with_values(snaps[75], p95_latency_ms=900.0)    # day 2
    events = detect_anomalies(snaps, window)
    counts = daily_anomaly_counts(events, window)
    assert counts == {1: {"low": 0, "medium": 0, "high": 1},
                      2: {"low": 0, "medium": 0, "high": 2},
                      3: {"low": 0, "medium": 0, "high": 0}}
