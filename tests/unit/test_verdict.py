"""The three-state verdict, metric coverage, completeness and unknown trends (issue 11), numbers by hand."""

from __future__ import annotations

import pytest

from factories import START, make_snapshot, week_of

from stabmon.core import fleet_summary
from stabmon.core.daily import aggregate_days
from stabmon.core.errors import InputError
from stabmon.core.markdown import key_metrics_rows, weekly_markdown
from stabmon.core.model import Window
from stabmon.core.settings import Settings
from stabmon.core.trends import latency_trend, resource_trend, week_trends
from stabmon.core.weekly import weekly_summary
from stabmon.store import schemas
from stabmon.store.rebuild import preflight_findings

DAY = Window(start=START, duration_hours=24, interval_minutes=30)  # 48 snapshots
WEEK = Window(start=START, duration_hours=168, interval_minutes=30)  # 7 x 48 = 336 snapshots


def judge(snapshots, window=DAY, settings=Settings(), **kwargs):
    daily = aggregate_days(snapshots, window, settings)
    summary = weekly_summary(daily, window, None, settings, **kwargs)
    schemas.validate(summary, "weekly")
    return summary


def with_gaps(window, metric, gaps):
    """A healthy run whose first ``gaps`` snapshots have no value of ``metric``."""
    return [make_snapshot(t, **({metric: None} if k < gaps else {})) for k, t in enumerate(window.times())]


# ---------------------------------------------------------------------------- coverage and the verdict


class TestCoverageEdge:
    def test_43_of_48_is_inconclusive(self):
        # 43 / 48 = 0.895833... -> 89.58 % < 90 %.
        summary = judge(with_gaps(DAY, "error_rate", 5))
        assert summary["verdict"] == "inconclusive" and summary["rollback_recommended"] is False
        assert summary["inconclusive_reasons"] == [{
            "metric": "error_rate", "source": "coverage",
            "reason": "value in 43 of 48 snapshots (89.6 % < 90 %)"}]
        assert summary["metric_coverage_percent"]["error_rate"] == pytest.approx(89.5833)

    def test_44_of_48_passes(self):
        # 44 / 48 = 0.916666... -> 91.67 % >= 90 %.
        summary = judge(with_gaps(DAY, "error_rate", 4))
        assert summary["verdict"] == "pass" and summary["inconclusive_reasons"] == []
        assert summary["metric_coverage_percent"]["error_rate"] == pytest.approx(91.6667)

    def test_exactly_90_percent_is_enough(self):
        # 5 h at 30 min = 10 snapshots; 9 of 10 = 90 % exactly, and the rule is coverage >= 90 %.
        window = Window(start=START, duration_hours=5, interval_minutes=30)
        assert judge(with_gaps(window, "p99_latency_ms", 1), window)["verdict"] == "pass"
        # 8 of 10 = 80 % < 90 %.
        assert judge(with_gaps(window, "p99_latency_ms", 2), window)["verdict"] == "inconclusive"

    def test_absent_snapshots_count_as_expected_without_a_value(self):
        # 44 of the 48 expected snapshots on disk, every value present: 44 / 48 = 91.67 % -> pass;
        # 43 on disk: 43 / 48 = 89.58 % for every key metric -> inconclusive, three reasons.
        times = DAY.times()
        assert judge([make_snapshot(t) for t in times[:44]])["verdict"] == "pass"
        summary = judge([make_snapshot(t) for t in times[:43]])
        assert [r["metric"] for r in summary["inconclusive_reasons"]] == [
            "availability", "error_rate", "p99_latency_ms"]

    def test_a_non_key_metric_missing_does_not_matter(self):
        # CPU in 0 of 48 snapshots: not a key metric by default.
        summary = judge(week_of(DAY, cpu_percent=None))
        assert summary["verdict"] == "pass" and summary["metric_coverage_percent"]["cpu_percent"] == 0.0

    def test_key_metrics_is_a_setting(self):
        settings = Settings.from_mapping({"key_metrics": ["availability", "cpu_percent"], "min_coverage_percent": 50})
        assert judge(week_of(DAY, cpu_percent=None), settings=settings)["verdict"] == "inconclusive"
        # p99 no longer a key metric: 0 of 48 p99 values do not make the verdict inconclusive.
        assert judge(week_of(DAY, p99_latency_ms=None), settings=settings)["verdict"] == "pass"


def test_a_key_metric_missing_all_week_is_inconclusive_with_its_reason():
    summary = judge(week_of(WEEK, error_rate=None), WEEK)
    assert summary["verdict"] == "inconclusive"
    # 0 of 7 x 48 = 336 snapshots.
    assert summary["inconclusive_reasons"] == [
        {"metric": "error_rate", "source": "coverage", "reason": "value in 0 of 336 snapshots (0.0 % < 90 %)"}]
    text = weekly_markdown(summary)
    assert "**Verdict:** ⚠️ INCONCLUSIVE" in text and "error rate: value in 0 of 336 snapshots" in text
    assert "No rollback" not in text and "every signal met its target" not in text


def test_a_missing_day_counts_against_the_week():
    # Day 7 has no snapshot: 6 x 48 = 288 of 336 = 85.71 % for every key metric -> inconclusive.
    snaps = [s for s in week_of(WEEK) if s.timestamp < WEEK.day_bounds(7)[0]]
    summary = judge(snaps, WEEK)
    assert summary["verdict"] == "inconclusive"
    assert summary["inconclusive_reasons"][0]["reason"] == "value in 288 of 336 snapshots (85.7 % < 90 %)"
    # The score is computed from 6 days of data and says so.
    assert summary["stability_score"] is not None
    assert summary["score_basis"] == {"partial": True, "days": 7, "days_with_data": 6, "complete_days": 6}


def test_rollback_wins_over_inconclusive():
    # Availability 99.0 % all week (< 99.9 % rollback criterion) and no p99 at all: a rollback is evidence.
    summary = judge(week_of(WEEK, availability=99.0, p99_latency_ms=None), WEEK)
    assert summary["verdict"] == "rollback" and summary["rollback_recommended"] is True
    # The missing metric is still named.
    assert [r["metric"] for r in summary["inconclusive_reasons"]] == ["p99_latency_ms"]
    text = weekly_markdown(summary)
    assert "ROLLBACK RECOMMENDED" in text and "Also, key metrics without enough trustworthy data" in text


FINDING = {"metric": "error_rate", "severity": "error", "code": "error_label_absent",
           "message": "label code is not on http_requests_total: no errors cannot be told from a wrong label"}


class TestPreflight:
    def test_an_error_finding_on_a_key_metric_is_inconclusive(self):
        summary = judge(week_of(DAY), preflight=[FINDING])
        assert summary["verdict"] == "inconclusive"
        assert summary["inconclusive_reasons"] == [
            {"metric": "error_rate", "source": "preflight", "reason": FINDING["message"]}]
        assert summary["preflight_findings"] == [FINDING]
        # The error rate reads 0.000 %, but is not shown as PASS.
        rows = {metric: status for metric, *_, status in key_metrics_rows(summary)}
        assert rows["Error rate (request-weighted)"] == "inconclusive" and rows["Availability (mean of snapshots)"] == "pass"

    def test_a_warning_or_a_non_key_metric_does_not_change_the_verdict(self):
        warning = dict(FINDING, severity="warning")
        cpu = dict(FINDING, metric="cpu_percent")
        assert judge(week_of(DAY), preflight=[warning, cpu])["verdict"] == "pass"

    def test_run_json_without_preflight_is_tolerated(self):
        assert preflight_findings(None) is None
        assert preflight_findings({"service": "x"}) is None
        assert preflight_findings({"preflight": {"findings": "bad"}}) is None
        # An entry without metric or severity is left out rather than trusted.
        info = {"preflight": {"findings": [FINDING, {"message": "no metric"}, "text"]}}
        assert preflight_findings(info) == [FINDING]


# ---------------------------------------------------------------------------- the day


class TestDayCompleteness:
    def test_a_null_key_metric_makes_a_full_day_partial(self):
        # 48 of 48 snapshots, p99 null in one: 47 / 48 = 97.9167 %.
        day = aggregate_days(with_gaps(DAY, "p99_latency_ms", 1), DAY)[0]
        meta = day["_metadata"]
        assert meta["actual_snapshots"] == 48 and meta["data_completeness"] == "partial"
        assert meta["metric_coverage_percent"]["p99_latency_ms"] == pytest.approx(97.9167)
        assert meta["metric_value_counts"]["p99_latency_ms"] == 47
        assert meta["metric_coverage_percent"]["availability"] == 100.0

    def test_a_null_non_key_metric_keeps_the_day_complete(self):
        day = aggregate_days(week_of(DAY, memory_percent=None), DAY)[0]
        assert day["_metadata"]["data_completeness"] == "complete"
        assert day["_metadata"]["metric_coverage_percent"]["memory_percent"] == 0.0

    def test_coverage_is_over_expected_snapshots_not_the_ones_on_disk(self):
        # 24 of 48 snapshots on disk, each with every value: 24 / 48 = 50 %.
        day = aggregate_days([make_snapshot(t) for t in DAY.times()[:24]], DAY)[0]
        assert day["_metadata"]["data_completeness"] == "partial"
        assert day["_metadata"]["metric_coverage_percent"]["availability"] == 50.0

    def test_a_day_without_snapshots_is_missing_with_zero_coverage(self):
        day = aggregate_days([], DAY)[0]
        assert day["_metadata"]["data_completeness"] == "missing"
        assert day["_metadata"]["metric_coverage_percent"]["availability"] == 0.0
        schemas.validate(day, "daily")

    def test_a_mistyped_service_is_never_complete_nor_a_pass(self):
        # 48 snapshots, every metric null (what a selector matching nothing gives).
        nothing = {m: None for m in ("availability", "error_rate", "requests", "errors", "p95_latency_ms",
                                     "p99_latency_ms", "cpu_percent", "memory_percent")}
        summary = judge(week_of(DAY, **nothing))
        assert summary["daily_summaries"][0]["_metadata"]["data_completeness"] == "partial"
        assert summary["verdict"] == "inconclusive" and len(summary["inconclusive_reasons"]) == 3
        assert summary["stability_score"] is None and summary["stability_grade"] is None
        assert summary["latency_trend"] == "unknown"
        statuses = {metric: status for metric, *_, status in key_metrics_rows(summary)}
        assert statuses["Availability (mean of snapshots)"] == "no data"
        assert statuses["Error rate (request-weighted)"] == "no data" and statuses["P99 latency (mean of snapshot p99s)"] == "no data"
        # "0 days degraded" from no data is not a pass.
        assert statuses["Degraded days"] == "inconclusive"
        table = weekly_markdown(summary).split("## Key Metrics")[1].split("## Trends")[0]
        judged = [line for line in table.splitlines() if line.startswith(("| Availability", "| Error", "| P99",
                                                                          "| Degraded days"))]
        assert len(judged) == 6 and not any("PASS" in line for line in judged)


# ---------------------------------------------------------------------------- trends and the score


def _days(**series):
    return [{"day_number": i + 1, **{k: v[i] for k, v in series.items()}} for i in range(7)]


class TestUnknownTrends:
    def test_a_half_without_values_is_unknown(self):
        # Days 1-3 have no p99: the first half has no mean.
        days = _days(avg_p99_latency_ms=[None, None, None, 300, 310, 320, 330])
        assert latency_trend(days) == ("unknown", None)

    def test_resources_unknown_unless_a_rise_is_seen(self):
        # CPU 40 -> 30 (-25 %), memory unknown: improving needs both, so unknown.
        days = _days(avg_cpu_percent=[40, 40, 40, 0, 30, 30, 30], avg_memory_percent=[None] * 7)
        assert resource_trend(days)[0] == "unknown"
        # CPU 40 -> 50 (+25 % > 5 %): degrading on that evidence alone.
        days = _days(avg_cpu_percent=[40, 40, 40, 0, 50, 50, 50], avg_memory_percent=[None] * 7)
        assert resource_trend(days)[0] == "degrading"

    def test_one_day_gives_three_unknown_trends(self):
        trends = week_trends([{"day_number": 1, "avg_availability": 99.9, "avg_p99_latency_ms": 300,
                               "avg_cpu_percent": 40, "avg_memory_percent": 30}])
        assert (trends["availability_trend"], trends["latency_trend"], trends["resource_trend"]) == (
            "unknown", "unknown", "unknown")


def test_a_complete_week_scores_on_full_data():
    summary = judge(week_of(WEEK), WEEK)
    assert summary["verdict"] == "pass"
    assert summary["score_basis"] == {"partial": False, "days": 7, "days_with_data": 7, "complete_days": 7}
    assert "partial data" not in weekly_markdown(summary)


# ---------------------------------------------------------------------------- settings


class TestSettings:
    def test_defaults_and_json(self):
        s = Settings()
        assert s.key_metrics == ("availability", "error_rate", "p99_latency_ms") and s.min_coverage_percent == 90.0
        assert s.to_dict()["key_metrics"] == ["availability", "error_rate", "p99_latency_ms"]
        # The weekly document's settings read back into the same settings.
        assert Settings.from_mapping(s.to_dict()) == s

    @pytest.mark.parametrize("overrides, fragment", [
        ({"key_metrics": ["latency"]}, "unknown key metric(s): latency"),
        ({"key_metrics": []}, "at least one"),
        ({"key_metrics": 3}, "list of metric names"),
        ({"min_coverage_percent": 0}, "min_coverage_percent"),
        ({"min_coverage_percent": 101}, "min_coverage_percent"),
        ({"min_coverage_percent": "high"}, "must be a number"),
    ])
    def test_bad_values_are_one_clear_error(self, overrides, fragment):
        with pytest.raises(InputError, match=None) as caught:
            Settings.from_mapping(overrides)
        assert fragment in str(caught.value)


# ---------------------------------------------------------------------------- the fleet


def _entry(name, score, verdict="pass", reasons=()):
    days = [{"day_number": 1, "snapshot_count": 48, "degraded": False,
             "_metadata": {"data_completeness": "complete"}}]
    return fleet_summary.fleet_entry(name, name, {
        "stability_score": score, "stability_grade": "A" if score >= 90 else "C", "verdict": verdict,
        "rollback_recommended": verdict == "rollback", "rollback_reasons": ["why"] if verdict == "rollback" else [],
        "inconclusive_reasons": [{"metric": "error_rate", "source": "coverage", "reason": r} for r in reasons],
        "degraded_days": [], "missing_days": [], "daily_summaries": days, "total_snapshots": 48,
        "avg_availability": 99.95, "avg_error_rate": 0.0, "avg_p99_latency_ms": 200.0, "total_critical_alerts": 0,
        "baseline_timestamp": None,
    })


def test_fleet_ranks_inconclusive_right_after_rollbacks_never_as_healthy():
    # "blind" has the best score (99.9) but no error rate: it is ranked after the rollback, before "meh" (75).
    entries = [_entry("ok", 95.0), _entry("meh", 75.0), _entry("bad", 90.0, "rollback"),
               _entry("blind", 99.9, "inconclusive", ["value in 0 of 48 snapshots (0.0 % < 90 %)"]),
               fleet_summary.fleet_entry("gone", "gone", None)]
    summary = fleet_summary.build_fleet_summary(entries, DAY, service_label="service")
    schemas.validate(summary, "fleet")
    assert [e["service"] for e in summary["services"]] == ["bad", "gone", "blind", "meh", "ok"]
    assert summary["inconclusive"] == ["gone", "blind"] and summary["rollback_recommended"] == ["bad"]
    assert summary["verdict"] == "rollback"
    text = fleet_summary.fleet_summary_markdown(summary)
    assert "## INCONCLUSIVE (2)" in text
    assert "- `blind`: error rate: value in 0 of 48 snapshots" in text


def test_fleet_verdict_is_its_worst_service():
    assert fleet_summary.fleet_verdict([_entry("a", 95.0), _entry("b", 80.0)]) == "pass"
    assert fleet_summary.fleet_verdict([_entry("a", 95.0), _entry("b", 99.0, "inconclusive", ["x"])]) == "inconclusive"
    assert fleet_summary.fleet_verdict([_entry("a", 95.0, "rollback"), _entry("b", 99.0, "inconclusive", ["x"])]) \
        == "rollback"
