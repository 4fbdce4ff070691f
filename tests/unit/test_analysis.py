"""Every rule of the contract (sections 1 and 3) with numbers worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import START, make_snapshot, week_of

from stabmon.core.alerts import alert_episodes
from stabmon.core.daily import DayContext, aggregate_day, aggregate_days
from stabmon.core.drift import compute_drift
from stabmon.core.score import grade_for, stability_score
from stabmon.core.trends import availability_trend, latency_trend, resource_trend
from stabmon.core.weekly import weekly_summary
from stabmon.core.model import Alert, Baseline, Window
from stabmon.core.settings import Settings

DAY = Window(start=START, duration_hours=24, interval_minutes=30)
WEEK = Window(start=START, duration_hours=168, interval_minutes=30)
#: 24 h at the 30-minute interval of DAY and WEEK.
PER_DAY = 48


def day_summary(snapshots, window=DAY, day=1, settings=Settings(), baseline=None):
    context = DayContext(day_number=day, window=window, episodes=alert_episodes(snapshots, window),
                         baseline=baseline)
    return aggregate_day(snapshots, context, settings)


# --------------------------------------------------------------------- timeline


class TestTimeline:
    def test_week_at_30_minutes_has_336_snapshots_48_a_day(self):
        assert WEEK.snapshot_count == 7 * PER_DAY == 336
        assert WEEK.day_count == 7
        assert [WEEK.expected_snapshots(d) for d in range(1, 8)] == [PER_DAY] * 7
        # Seed layout: day 1 holds 00:00 ... 23:30.
        assert WEEK.time_of(47) == START + timedelta(hours=23, minutes=30)
        assert WEEK.day_of(WEEK.time_of(47)) == 1
        assert WEEK.day_of(WEEK.time_of(48)) == 2

    def test_two_hour_test_run_at_10_minutes_expects_12(self):
        window = Window(start=START, duration_hours=2, interval_minutes=10)
        assert window.snapshot_count == 12
        assert window.day_count == 1
        assert window.expected_snapshots(1) == 12

    def test_completeness_at_10_minute_interval(self):
        window = Window(start=START, duration_hours=24, interval_minutes=10)
        assert window.expected_snapshots(1) == 144
        snaps = week_of(window)[:108]  # 108 of 144 = 75 %
        meta = day_summary(snaps, window)["_metadata"]
        assert meta["expected_snapshots"] == 144
        assert meta["actual_snapshots"] == 108
        assert meta["completeness_percent"] == 75.0
        assert meta["data_completeness"] == "partial"

    def test_completeness_at_30_minute_interval(self):
        snaps = week_of(DAY)
        meta = day_summary(snaps)["_metadata"]
        assert (meta["expected_snapshots"], meta["actual_snapshots"], meta["data_completeness"]) == (48, 48, "complete")
        meta = day_summary(snaps[:47])["_metadata"]
        assert meta["data_completeness"] == "partial"
        assert meta["completeness_percent"] == pytest.approx(47 / 48 * 100, abs=1e-4)

    def test_window_not_starting_at_midnight_splits_days_from_the_start(self):
        start = START + timedelta(hours=18)  # 18:00
        window = Window(start=start, duration_hours=30, interval_minutes=30)
        # Day 1: 18:00 .. 17:30 next day (48); day 2: the remaining 6 h (12).
        assert window.day_count == 2
        assert window.expected_snapshots(1) == 48
        assert window.expected_snapshots(2) == 12
        assert window.day_of(start + timedelta(hours=23, minutes=59)) == 1
        assert window.day_of(start + timedelta(hours=24)) == 2

    def test_fractional_minute_interval(self):
        window = Window(start=START, duration_hours=0.05, interval_minutes=0.25)  # 3 min at 15 s
        assert window.snapshot_count == 12
        assert window.index_of(START + timedelta(seconds=45)) == 3
        assert window.index_of(START + timedelta(seconds=50)) is None

    def test_empty_day_is_missing_not_zeros(self):
        summary = day_summary([], DAY)
        assert summary["_metadata"]["data_completeness"] == "missing"
        assert summary["snapshot_count"] == 0
        assert summary["avg_availability"] is None
        assert summary["total_requests"] is None
        assert summary["slo_compliance_percent"] is None
        assert summary["degraded"] is False


# --------------------------------------------------------------------- daily


class TestDaily:
    def test_slo_compliance_and_degradation_at_exactly_95_percent(self):
        # 20 snapshots (10 h at 30 min): 19 at 99.95 % and 1 at 99.0 % -> 19/20 = 95 % -> not degraded.
        window = Window(start=START, duration_hours=10, interval_minutes=30)
        snaps = [make_snapshot(t, availability=99.95) for t in window.times()]
        snaps[7] = make_snapshot(snaps[7].timestamp, availability=99.0)
        summary = day_summary(snaps, window)
        assert summary["slo_compliance_percent"] == 95.0
        assert summary["availability_degraded"] is False
        # One more failing snapshot: 18/20 = 90 % < 95 % -> degraded.
        snaps[8] = make_snapshot(snaps[8].timestamp, availability=99.0)
        summary = day_summary(snaps, window)
        assert summary["slo_compliance_percent"] == 90.0
        assert summary["availability_degraded"] is True
        assert summary["degraded"] is True

    def test_availability_slo_is_inclusive_at_99_9(self):
        snaps = [make_snapshot(t, availability=99.9) for t in DAY.times()]
        assert day_summary(snaps)["slo_compliance_percent"] == 100.0

    def test_latency_slo_is_strict_below_500(self):
        # 48 snapshots: 45 at 300 ms, 3 at exactly 500 ms (not < 500) -> 45/48 = 93.75 % -> degraded.
        snaps = [make_snapshot(t) for t in DAY.times()]
        for k in (10, 11, 12):
            snaps[k] = make_snapshot(snaps[k].timestamp, p99_latency_ms=500.0)
        summary = day_summary(snaps)
        assert summary["latency_slo_compliance_percent"] == 93.75
        assert summary["latency_degraded"] is True
        assert summary["max_p99_latency_ms"] == 500.0
        # avg p99 = (45*300 + 3*500)/48 = 15000/48 = 312.5
        assert summary["avg_p99_latency_ms"] == 312.5

    def test_error_rate_degraded_at_0_1(self):
        # mean of 0.05 and 0.15 is exactly 0.1 -> degraded (>=).
        snaps = [make_snapshot(t, error_rate=0.05 if k % 2 else 0.15) for k, t in enumerate(DAY.times())]
        summary = day_summary(snaps)
        assert summary["avg_error_rate"] == pytest.approx(0.1)
        assert summary["error_rate_degraded"] is True
        snaps = [make_snapshot(t, error_rate=0.099) for t in DAY.times()]
        assert day_summary(snaps)["error_rate_degraded"] is False

    def test_request_weighted_figures_beside_the_mean(self):
        window = Window(start=START, duration_hours=1, interval_minutes=30)
        t0, t1 = window.times()
        snaps = [
            make_snapshot(t0, availability=100.0, error_rate=0.0, requests=1000.0, errors=0.0),
            make_snapshot(t1, availability=50.0, error_rate=50.0, requests=10.0, errors=5.0),
        ]
        summary = day_summary(snaps, window)
        # Mean of snapshot percentages: (100 + 50)/2 = 75; weighted: 100 * (1 - 5/1010) = 99.504950...
        assert summary["avg_availability"] == 75.0
        assert summary["request_weighted_availability"] == pytest.approx(99.504950, abs=1e-6)
        assert summary["request_weighted_error_rate"] == pytest.approx(0.495050, abs=1e-6)
        assert summary["total_requests"] == 1010
        assert summary["total_errors"] == 5

    def test_missing_values_are_left_out_and_warned_not_zero(self):
        window = Window(start=START, duration_hours=2, interval_minutes=30)
        times = window.times()
        snaps = [
            make_snapshot(times[0], availability=99.0, cpu_percent=40.0),
            make_snapshot(times[1], availability=None, cpu_percent=None),
            make_snapshot(times[2], availability=100.0, cpu_percent=60.0),
            make_snapshot(times[3], availability=None, cpu_percent=50.0),
        ]
        summary = day_summary(snaps, window)
        assert summary["avg_availability"] == 99.5  # (99 + 100)/2, not (99 + 0 + 100 + 0)/4
        assert summary["min_availability"] == 99.0
        assert summary["slo_compliance_percent"] == 50.0  # 1 of the 2 known
        assert summary["avg_cpu_percent"] == 50.0  # (40 + 60 + 50)/3
        warnings = summary["_metadata"]["warnings"]
        assert "availability missing in 2 of 4 snapshots" in warnings
        assert "cpu_percent missing in 1 of 4 snapshots" in warnings

    def test_drift_average_max_and_metrics_over_threshold(self):
        window = Window(start=START, duration_hours=1, interval_minutes=30)
        t0, t1 = window.times()
        # The threshold list reads the regression drift, so the values move the
        # harmful way: p99 300 -> 360 (+20 %) and 312 (+4 %), CPU 40 -> 43.2 (+8 %).
        baseline = Baseline(timestamp=START, values={"availability": 100.0, "p99_latency_ms": 300.0,
                                                     "cpu_percent": 40.0})
        snaps = [
            make_snapshot(t0, drift={"availability": 0.0, "p99_latency_ms": 20.0},  # snapshot mean 10
                          p99_latency_ms=360.0, cpu_percent=None),
            make_snapshot(t1, drift={"availability": 0.0, "p99_latency_ms": 4.0, "cpu_percent": 8.0},  # mean 4
                          p99_latency_ms=312.0, cpu_percent=43.2),
        ]
        summary = day_summary(snaps, window, baseline=baseline)
        assert summary["avg_drift_percent"] == 7.0  # (10 + 4)/2
        assert summary["max_drift_percent"] == 20.0
        # day averages: availability 0, p99 (20+4)/2 = 12 > 10, cpu 8
        assert summary["drift_by_metric"] == {"availability": 0.0, "p99_latency_ms": 12.0, "cpu_percent": 8.0}
        assert summary["metrics_exceeding_drift_threshold"] == ["p99_latency_ms"]
        assert summary["regression_drift_by_metric"] == pytest.approx(
            {"availability": 0.0, "p99_latency_ms": 12.0, "cpu_percent": 8.0})

    def test_snapshot_order_does_not_matter(self):
        snaps = [make_snapshot(t, availability=99.0 + (k % 7) / 10) for k, t in enumerate(DAY.times())]
        forward = day_summary(snaps)
        backward = day_summary(list(reversed(snaps)))
        forward["_metadata"].pop("generated_at")
        backward["_metadata"].pop("generated_at")
        assert forward == backward


# --------------------------------------------------------------------- drift


class TestDrift:
    def test_drift_formula(self):
        baseline = Baseline(timestamp=START, values={"p99_latency_ms": 300.0, "availability": 99.97})
        drift, warnings = compute_drift({"p99_latency_ms": 360.0, "availability": 99.87, "cpu_percent": 50.0}, baseline)
        assert drift["p99_latency_ms"] == pytest.approx(20.0)  # |360-300|/300*100
        assert drift["availability"] == pytest.approx(0.1 / 99.97 * 100)
        assert "cpu_percent" not in drift  # not in the baseline
        assert warnings == []

    def test_zero_baseline_is_skipped_with_a_warning(self):
        baseline = Baseline(timestamp=START, values={"error_rate": 0.0, "cpu_percent": 40.0})
        drift, warnings = compute_drift({"error_rate": 0.02, "cpu_percent": 30.0}, baseline)
        assert drift == {"cpu_percent": 25.0}
        assert warnings == ["baseline error_rate is 0: drift not computed for it"]

    def test_missing_value_gives_no_drift(self):
        baseline = Baseline(timestamp=START, values={"cpu_percent": 40.0})
        assert compute_drift({"cpu_percent": None}, baseline) == ({}, [])


# --------------------------------------------------------------------- alerts


def _alert(name="HighErrorRate", severity="critical", **labels):
    return Alert(alertname=name, severity=severity, labels={"alertname": name, "severity": severity, **labels})


class TestAlertEpisodes:
    def test_episode_spanning_midnight_counts_on_the_day_it_starts(self):
        window = Window(start=START, duration_hours=48, interval_minutes=30)
        warn = _alert("DiskFilling", "warning", instance="a")
        # Fires 23:00, 23:30, 00:00, 00:30 (k = 46..49).
        snaps = [make_snapshot(t, alerts=[warn] if 46 <= k <= 49 else []) for k, t in enumerate(window.times())]
        episodes = alert_episodes(snaps, window)
        assert len(episodes) == 1
        assert (episodes[0].first_index, episodes[0].last_index, episodes[0].day_number) == (46, 49, 1)
        days = aggregate_days(snaps, window)
        assert days[0]["total_warning_alerts"] == 1
        assert days[1]["total_warning_alerts"] == 0
        # Alert-free hours: day 1 has 2 snapshots with a warning -> 46 * 0.5 = 23.0; day 2 likewise.
        assert days[0]["alert_free_hours"] == 23.0
        assert days[1]["alert_free_hours"] == 23.0

    def test_same_alert_twice_with_a_gap_is_two_episodes(self):
        crit = _alert()
        snaps = [make_snapshot(t, alerts=[crit] if k in (3, 4, 7) else []) for k, t in enumerate(DAY.times())]
        summary = day_summary(snaps)
        assert summary["total_critical_alerts"] == 2
        assert [e["snapshots"] for e in summary["alert_episodes"]] == [2, 1]

    def test_different_label_sets_are_different_alerts(self):
        a = _alert(instance="a")
        b = _alert(instance="b")
        info = _alert("Deploy", "info")
        snaps = [make_snapshot(t, alerts=[a, b, info] if k in (1, 2) else []) for k, t in enumerate(DAY.times())]
        summary = day_summary(snaps)
        assert (summary["total_critical_alerts"], summary["total_info_alerts"]) == (2, 1)
        # info alerts do not reduce alert-free hours: 46 quiet snapshots -> 23 h.
        assert summary["alert_free_hours"] == 23.0

    def test_an_absent_snapshot_breaks_an_episode(self):
        crit = _alert()
        snaps = [make_snapshot(t, alerts=[crit]) for k, t in enumerate(DAY.times()) if k in (0, 1, 3)]
        assert len(alert_episodes(snaps, DAY)) == 2

    def test_alert_free_hours_at_10_minute_interval(self):
        window = Window(start=START, duration_hours=2, interval_minutes=10)
        crit = _alert()
        snaps = [make_snapshot(t, alerts=[crit] if k < 3 else []) for k, t in enumerate(window.times())]
        # 9 quiet snapshots * 10/60 h = 1.5 h
        assert day_summary(snaps, window)["alert_free_hours"] == 1.5


# --------------------------------------------------------------------- score, grade


class TestScore:
    def test_score_formula(self):
        # 0.4*90 + 0.4*80 + 0.2*(100-5) = 36 + 32 + 19 = 87
        assert stability_score(90.0, 80.0, 5.0) == pytest.approx(87.0)

    def test_drift_penalty_is_capped_at_20(self):
        # 0.4*100 + 0.4*100 + 0.2*(100-20) = 96
        assert stability_score(100.0, 100.0, 35.0) == pytest.approx(96.0)
        assert stability_score(100.0, 100.0, 20.0) == pytest.approx(96.0)

    def test_no_baseline_means_no_drift_penalty(self):
        assert stability_score(100.0, 100.0, None) == pytest.approx(100.0)

    @pytest.mark.parametrize(
        "score, grade",
        [(100.0, "A"), (90.0, "A"), (89.99, "B"), (80.0, "B"), (79.99, "C"), (70.0, "C"),
         (69.99, "D"), (60.0, "D"), (59.99, "F"), (0.0, "F")],
    )
    def test_grade_boundaries(self, score, grade):
        assert grade_for(score) == grade


# --------------------------------------------------------------------- trends


def _days(**series):
    """Seven fake daily summaries with the given per-day values."""
    out = []
    for i in range(7):
        d = {"day_number": i + 1}
        for key, values in series.items():
            d[key] = values[i]
        out.append(d)
    return out


class TestTrends:
    def test_availability_trend_edges(self):
        # Days 1-3 mean 99.0, days 5-7 mean 99.5: +0.5 exactly -> stable (needs more than 0.5).
        days = _days(avg_availability=[99.0, 99.0, 99.0, 10.0, 99.5, 99.5, 99.5])
        assert availability_trend(days) == ("stable", pytest.approx(0.5))
        days = _days(avg_availability=[99.0, 99.0, 99.0, 10.0, 99.51, 99.51, 99.51])
        assert availability_trend(days)[0] == "improving"
        days = _days(avg_availability=[99.51, 99.51, 99.51, 10.0, 99.0, 99.0, 99.0])
        assert availability_trend(days)[0] == "degrading"
        days = _days(avg_availability=[99.5, 99.5, 99.5, 10.0, 99.0, 99.0, 99.0])
        assert availability_trend(days)[0] == "stable"

    def test_latency_trend_edges(self):
        days = _days(avg_p99_latency_ms=[300, 300, 300, 900, 310, 310, 310])
        assert latency_trend(days) == ("stable", pytest.approx(10.0))
        days = _days(avg_p99_latency_ms=[300, 300, 300, 900, 310.01, 310.01, 310.01])
        assert latency_trend(days)[0] == "degrading"
        days = _days(avg_p99_latency_ms=[310.01, 310.01, 310.01, 900, 300, 300, 300])
        assert latency_trend(days)[0] == "improving"

    def test_resource_trend_edges(self):
        flat_mem = [30.0] * 7
        # CPU 40 -> 42 is +5.0 % exactly -> stable.
        days = _days(avg_cpu_percent=[40, 40, 40, 99, 42, 42, 42], avg_memory_percent=flat_mem)
        assert resource_trend(days)[0] == "stable"
        days = _days(avg_cpu_percent=[40, 40, 40, 99, 42.01, 42.01, 42.01], avg_memory_percent=flat_mem)
        assert resource_trend(days)[0] == "degrading"
        # Memory alone rising past 5 % degrades even when CPU falls.
        days = _days(avg_cpu_percent=[40, 40, 40, 0, 30, 30, 30], avg_memory_percent=[20, 20, 20, 0, 21.1, 21.1, 21.1])
        assert resource_trend(days)[0] == "degrading"
        # Both falling past 5 % -> improving; only one falling -> stable.
        days = _days(avg_cpu_percent=[40, 40, 40, 0, 37.9, 37.9, 37.9], avg_memory_percent=[20, 20, 20, 0, 18.9, 18.9, 18.9])
        assert resource_trend(days)[0] == "improving"
        days = _days(avg_cpu_percent=[40, 40, 40, 0, 37.9, 37.9, 37.9], avg_memory_percent=flat_mem)
        assert resource_trend(days)[0] == "stable"

    def test_trend_with_fewer_than_two_days_is_unknown(self):
        # Issue 11: a trend with no half to compare is unknown, not stable.
        one = [{"day_number": 1, "avg_availability": 90.0}]
        assert availability_trend(one) == ("unknown", None)


# --------------------------------------------------------------------- weekly, rollback


def _weekly(snapshots, window=WEEK, baseline=None, settings=Settings()):
    days = aggregate_days(snapshots, window, settings, baseline=baseline)
    return weekly_summary(days, window, baseline, settings)


class TestRollback:
    def test_healthy_week_no_rollback_no_recommendations(self):
        summary = _weekly(week_of(WEEK))
        assert summary["stability_score"] == 100.0
        assert summary["stability_grade"] == "A"
        assert summary["rollback_recommended"] is False
        assert summary["rollback_reasons"] == []
        assert summary["recommendations"] == []
        assert summary["action_items"] == []

    def test_availability_below_slo_alone(self):
        # Every snapshot 99.95 % except day 4 entirely at 99.59 %: the weekly mean of
        # day means is (6*99.95 + 99.59)/7 = 99.8986, just below 99.9 (99.6 would give
        # 99.9 exactly, which does not fire).
        snaps = [make_snapshot(t, availability=99.59 if WEEK.day_of(t) == 4 else 99.95) for t in WEEK.times()]
        summary = _weekly(snaps)
        assert summary["avg_availability"] == pytest.approx((6 * 99.95 + 99.59) / 7, abs=1e-4)
        assert summary["days_with_degradation"] == 1  # only day 4
        assert summary["rollback_recommended"] is True
        assert [e["criterion"] for e in summary["rollback_evidence"]] == ["availability"]
        assert "99.899 %" in summary["rollback_reasons"][0] and "day 4" in summary["rollback_reasons"][0]

    def test_availability_exactly_at_slo_does_not_fire(self):
        snaps = [make_snapshot(t, availability=99.9) for t in WEEK.times()]
        assert _weekly(snaps)["rollback_recommended"] is False

    def test_drift_over_15_alone(self):
        # The criterion reads the regression drift: p99 300 -> 346.5 ms is +15.5 %
        # (46.5 / 300), 345 ms is +15 % exactly, which does not fire.
        baseline = Baseline(timestamp=START, values={"p99_latency_ms": 300.0})
        snaps = [make_snapshot(t, drift={"p99_latency_ms": 15.5}, p99_latency_ms=346.5) for t in WEEK.times()]
        summary = _weekly(snaps, baseline=baseline)
        assert summary["avg_drift_percent"] == 15.5
        assert [e["criterion"] for e in summary["rollback_evidence"]] == ["drift"]
        snaps = [make_snapshot(t, drift={"p99_latency_ms": 15.0}, p99_latency_ms=345.0) for t in WEEK.times()]
        assert _weekly(snaps, baseline=baseline)["rollback_recommended"] is False

    def test_two_degraded_days_alone(self):
        # Days 2 and 6 average error rate 0.2 % (degraded), availability stays at 100 in the snapshots.
        snaps = [make_snapshot(t, error_rate=0.2 if WEEK.day_of(t) in (2, 6) else 0.0) for t in WEEK.times()]
        summary = _weekly(snaps)
        assert summary["degraded_days"] == [2, 6]
        assert [e["criterion"] for e in summary["rollback_evidence"]] == ["degraded_days"]
        one = [make_snapshot(t, error_rate=0.2 if WEEK.day_of(t) == 2 else 0.0) for t in WEEK.times()]
        assert _weekly(one)["rollback_recommended"] is False

    def test_more_than_five_critical_alerts_alone(self):
        crit = _alert()

        def snaps_with(episodes):
            # Each episode: one snapshot firing, separated by a quiet one (k = 10, 12, 14, ...).
            firing = {10 + 2 * i for i in range(episodes)}
            return [make_snapshot(t, alerts=[crit] if k in firing else []) for k, t in enumerate(WEEK.times())]

        summary = _weekly(snaps_with(6))
        assert summary["total_critical_alerts"] == 6
        assert [e["criterion"] for e in summary["rollback_evidence"]] == ["critical_alerts"]
        assert _weekly(snaps_with(5))["rollback_recommended"] is False

    def test_missing_day_is_left_out(self):
        snaps = [make_snapshot(t) for t in WEEK.times() if WEEK.day_of(t) != 3]
        summary = _weekly(snaps)
        assert summary["missing_days"] == [3]
        assert summary["total_snapshots"] == 6 * PER_DAY  # the six days with data
        assert summary["daily_summaries"][2]["_metadata"]["data_completeness"] == "missing"
        assert summary["avg_availability"] == 100.0


class TestRecommendations:
    def test_each_recommendation_only_when_its_condition_holds(self):
        crit = _alert()
        snaps = []
        for k, t in enumerate(WEEK.times()):
            day = WEEK.day_of(t)
            snaps.append(make_snapshot(
                t,
                p99_latency_ms=650.0 if day == 5 else 300.0,
                cpu_percent=40.0 if day <= 3 else 50.0,
                alerts=[crit] if k == 200 else [],
            ))
        summary = _weekly(snaps)
        recs = summary["recommendations"]
        assert any("P99 latency above the 500 ms SLO (days 5; peak 650 ms on day 5)" in r for r in recs)
        # CPU: days 1-3 at 40 %, days 5-7 at 50 % -> (50 - 40) / 40 = +25 % second half vs first.
        assert any("capacity planning" in r and "CPU +25.0%" in r for r in recs)
        assert any("1 critical alert episode(s) fired (days 5)" in r for r in recs)
        assert not any("investigate service health" in r for r in recs)
        assert not any("drift" in r.lower() for r in recs)
        assert "Run EXPLAIN ANALYZE on slow queries from day 5" in summary["action_items"]
        assert "Review HPA settings and node autoscaling thresholds" in summary["action_items"]
        assert "Prepare rollback plan for the previous version" not in summary["action_items"]
        assert summary["action_items"][-1] == "Schedule post-release retrospective meeting"

    def test_low_score_asks_for_review(self):
        # Availability 99 % everywhere: compliance 0 -> score 0.4*0 + 0.4*100 + 0.2*100 = 60 (D).
        snaps = [make_snapshot(t, availability=99.0) for t in WEEK.times()]
        summary = _weekly(snaps)
        assert summary["stability_score"] == 60.0
        assert summary["stability_grade"] == "D"
        assert any("Stability score 60.0 (grade D) is below 70" in r for r in summary["recommendations"])
        assert any("consider rollback" in r for r in summary["recommendations"])


def test_settings_override_thresholds():
    settings = Settings.from_mapping({"availability_slo_percent": 99.0, "rollback_availability_percent": 99.0})
    snaps = [make_snapshot(t, availability=99.5) for t in WEEK.times()]
    assert _weekly(snaps, settings=settings)["rollback_recommended"] is False
    assert _weekly(snaps)["rollback_recommended"] is True


def test_settings_reject_unknown_key():
    from stabmon.core.errors import InputError

    with pytest.raises(InputError, match="unknown setting 'nope'"):
        Settings.from_mapping({"nope": 1})
