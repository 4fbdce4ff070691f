"""Chart functions: data and an ax in, the figure out, with the expected artists and titles."""

from __future__ import annotations

from datetime import timedelta

import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from factories import START, at, make_snapshot
from stabmon.core.daily import aggregate_days
from stabmon.core.weekly import weekly_summary
from stabmon.report import charts, rundata
from stabmon.core.model import Alert, Baseline, Window

DAY = Window(start=START, duration_hours=24, interval_minutes=30)
WEEK = Window(start=START, duration_hours=72, interval_minutes=60)


def frame_of(window: Window, **by_index) -> pd.DataFrame:
    """Snapshots of ``window``; ``by_index`` maps k to value overrides (``None`` drops the snapshot)."""
    snapshots = []
    for k, ts in enumerate(window.times()):
        overrides = by_index.get(f"k{k}", {})
        if overrides is None:
            continue
        snapshots.append(make_snapshot(ts, **overrides))
    return rundata.snapshots_frame(snapshots, window)


#: Matplotlib date numbers count days: a drawn edge within a second of a snapshot time is on it.
ONE_SECOND = 1.0 / 86400.0


def patch_extents(ax) -> list[tuple[float, float]]:
    """x-extent of every patch on ``ax`` (spans, bars), in matplotlib date numbers, left to right."""
    # axvspan draws a Rectangle (matplotlib >= 3.9) or a Polygon; the patch
    # transform maps either one's path into data coordinates.
    extents = []
    for patch in ax.patches:
        xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
        extents.append((float(xs.min()), float(xs.max())))
    return sorted(extents)


def at_num(window: Window, k: int) -> float:
    """Time ``t_k`` as a matplotlib date number."""
    return float(mdates.date2num(at(window, k)))


def assert_extents(ax, expected: list[tuple[float, float]]) -> None:
    extents = patch_extents(ax)
    assert len(extents) == len(expected), extents
    for drawn, wanted in zip(extents, expected):
        assert drawn == pytest.approx(wanted, rel=0, abs=ONE_SECOND)


def new_ax():
    figure = Figure()
    return figure, figure.add_subplot()


def test_availability_draws_on_the_given_ax_and_returns_its_figure():
    figure, ax = new_ax()
    snapshots = frame_of(DAY, k10={"availability": 99.0}, k11={"availability": 98.0})
    returned = charts.plot_availability(snapshots, ax, slo_percent=99.9)
    assert returned is figure
    assert "Availability" in ax.get_title(loc="left") and "99.9" in ax.get_title(loc="left")
    assert ax.get_ylabel() == "availability (%)"
    assert "UTC" in ax.get_xlabel()
    labels = [line.get_label() for line in ax.get_lines()]
    assert "availability" in labels and "SLO 99.9 %" in labels
    # One shaded span: snapshots 10 and 11 are below the SLO; each covers the
    # interval that ends at it, so together (t_9, t_11].
    assert_extents(ax, [(at_num(DAY, 9), at_num(DAY, 11))])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "below SLO" in legend


def test_non_compliant_intervals_are_merged_spans_from_the_interval_start():
    snapshots = frame_of(DAY, k10={"availability": 99.0}, k11={"availability": 98.0}, k20={"availability": 90.0})
    spans = rundata.interval_spans(snapshots["availability"] < 99.9, pd.Timedelta(minutes=30))
    assert spans == [
        (pd.Timestamp(at(DAY, 9)), pd.Timestamp(at(DAY, 11))),
        (pd.Timestamp(at(DAY, 19)), pd.Timestamp(at(DAY, 20))),
    ]


def test_missing_snapshots_are_gaps_not_zeros():
    snapshots = frame_of(DAY, k5=None, k6={"p99_latency_ms": None})
    assert not snapshots.loc[pd.Timestamp(at(DAY, 5)), "present"]
    assert pd.isna(snapshots.loc[pd.Timestamp(at(DAY, 5)), "p99_latency_ms"])
    assert pd.isna(snapshots.loc[pd.Timestamp(at(DAY, 6)), "p99_latency_ms"])
    figure = charts.plot_latency(snapshots, slo_p99_ms=500)
    ax = figure.axes[0]
    p99 = next(line for line in ax.get_lines() if line.get_label() == "p99")
    assert pd.isna(p99.get_ydata()[5]) and pd.isna(p99.get_ydata()[6])
    assert ax.get_ylim()[0] == 0


def test_latency_shades_p99_over_the_slo_and_marks_anomalies():
    snapshots = frame_of(DAY, k30={"p99_latency_ms": 900.0}, k31={"p99_latency_ms": 950.0})
    anomalies = rundata.anomalies_frame([{
        "timestamp": "2026-01-05T15:00:00Z", "day_number": 1, "metric": "p99_latency_ms", "value": 900.0,
        "expected": 300.0, "z_score": 9.0, "severity": "high", "type": "level_shift", "confidence": 1.0,
    }])
    figure = charts.plot_latency(snapshots, slo_p99_ms=500, anomalies=anomalies)
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.get_lines()][:2] == ["p95", "p99"]
    assert_extents(ax, [(at_num(DAY, 29), at_num(DAY, 31))])  # snapshots 30 and 31 over the SLO
    assert any(isinstance(c, PathCollection) for c in ax.collections)  # the anomaly marker
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "p99 over SLO" in legend and "anomaly: level shift (high)" in legend
    assert ax.get_ylabel() == "latency (ms)"


def test_error_rate_and_resources_have_units():
    snapshots = frame_of(DAY)
    assert charts.plot_error_rate(snapshots).axes[0].get_ylabel() == "error rate (% of requests)"
    figure = charts.plot_resources(snapshots)
    assert figure.axes[0].get_ylabel() == "% of limit"
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["CPU", "memory"]


def _episodes(alertname: str = "HighErrorRate", severity: str = "critical") -> pd.DataFrame:
    alert = Alert(alertname=alertname, severity=severity, labels={"alertname": alertname, "severity": severity,
                                                                  "pod": "api-1"})
    snapshots = [make_snapshot(t, alerts=[alert] if 10 <= k <= 12 else []) for k, t in enumerate(DAY.times())]
    daily = aggregate_days(snapshots, DAY)
    return rundata.episodes_frame(daily, DAY)


def test_alert_episodes_are_spans_one_row_per_alert():
    episodes = _episodes()
    assert len(episodes) == 1
    assert episodes.loc[0, "span_start"] == pd.Timestamp(at(DAY, 9))  # one interval before the first firing
    assert episodes.loc[0, "duration_minutes"] == 90
    figure = charts.plot_alert_episodes(episodes, start=DAY.start, end=DAY.end)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["HighErrorRate"]
    assert_extents(ax, [(at_num(DAY, 9), at_num(DAY, 12))])  # one bar: firing at snapshots 10 to 12
    assert ax.get_title(loc="left") == "Alert episodes (1)"


def test_alert_names_with_dollars_do_not_break_mathtext():
    episodes = _episodes(alertname="Cost$Spike$Alert")
    figure = charts.plot_alert_episodes(episodes, start=DAY.start, end=DAY.end)
    figure.canvas.draw()  # would raise on an unbalanced mathtext expression
    assert "Cost" in figure.axes[0].get_yticklabels()[0].get_text()


def test_no_alerts_says_so():
    figure = charts.plot_alert_episodes(rundata.episodes_frame([], DAY), start=DAY.start, end=DAY.end)
    assert "No alert fired" in " ".join(t.get_text() for t in figure.axes[0].texts)


def test_drift_by_metric_colours_metrics_over_the_threshold():
    figure = charts.plot_drift_by_metric({"cpu_percent": 25.0, "availability": 0.1, "p99_latency_ms": 5.0},
                                         threshold_percent=10)
    ax = figure.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 3
    red = [b for b in bars if b.get_facecolor()[:3] == pytest.approx((0xC0 / 255, 0x39 / 255, 0x2B / 255), abs=0.01)]
    assert len(red) == 1  # only CPU
    assert ax.get_xscale() == "linear"
    huge = charts.plot_drift_by_metric({"error_rate": 2400.0, "availability": 0.5}, threshold_percent=10)
    assert huge.axes[0].get_xscale() == "log"


def test_drift_without_baseline_is_not_available():
    figure = charts.plot_drift_by_metric({})
    assert "no baseline" in " ".join(t.get_text() for t in figure.axes[0].texts)


# ---------------------------------------------------------------------------
# weekly


def _week():
    snapshots = []
    for k, ts in enumerate(WEEK.times()):
        day = WEEK.day_of(ts)
        values = {"availability": 99.0, "error_rate": 1.0} if day == 2 and k % 24 < 6 else {}
        snapshots.append(make_snapshot(ts, drift={"cpu_percent": 5.0 * day, "availability": 0.1}, **values))
    baseline = Baseline(timestamp=START - timedelta(hours=6), values={"availability": 99.95, "cpu_percent": 40.0})
    daily = aggregate_days(snapshots, WEEK)
    weekly = weekly_summary(daily, WEEK, baseline)
    return rundata.snapshots_frame(snapshots, WEEK), rundata.daily_frame(daily), weekly


def test_slo_compliance_bars_with_the_target_line_and_degraded_days():
    _, daily, _ = _week()
    figure = charts.plot_slo_compliance(daily, target_percent=95)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["day 1", "day 2", "day 3"]
    assert any(line.get_label() == "target 95 %" for line in ax.get_lines())
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "degraded" in texts and "availability" in texts
    assert "SLO compliance per day" in ax.get_title(loc="left")


def test_week_signals_has_four_panels_with_day_boundaries():
    snapshots, daily, _ = _week()
    figure = charts.plot_week_signals(snapshots, daily)
    assert len(figure.axes) == 4
    assert [ax.get_title(loc="left") for ax in figure.axes] == ["Availability", "Error rate", "Latency p95 / p99",
                                                                "CPU and memory"]
    day_labels = [t.get_text() for t in figure.axes[0].texts]
    assert day_labels == ["day 1", "day 2", "day 3"]
    assert figure.axes[-1].get_xlabel() == "date (UTC)"


def test_drift_heatmap_day_by_metric():
    _, daily, _ = _week()
    matrix = daily[["drift_availability", "drift_cpu_percent"]].rename(
        columns={"drift_availability": "availability", "drift_cpu_percent": "cpu_percent"})
    figure = charts.plot_drift_heatmap(matrix, threshold_percent=10)
    ax = figure.axes[0]
    assert len(ax.images) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["day 1", "day 2", "day 3"]
    cells = [t for t in ax.texts]
    assert len(cells) == 6
    assert any(t.get_text() == "15.0" and t.get_fontweight() == "bold" for t in cells)  # day 3 CPU


def test_stability_score_shows_score_and_grade():
    _, _, weekly = _week()
    figure = charts.plot_stability_score(weekly)
    title = figure.axes[0].get_title(loc="left")
    assert f"{weekly['stability_score']:.1f}" in title and f"grade {weekly['stability_grade']}" in title
    assert charts.plot_stability_score({"stability_score": None}).axes[0].texts  # not available


def test_resource_trend_names_the_trend():
    _, daily, weekly = _week()
    figure = charts.plot_resource_trend(daily, trend="degrading", cpu_change_percent=12.0, memory_change_percent=1.0)
    title = figure.axes[0].get_title(loc="left")
    assert "degrading" in title and "CPU +12.0 %" in title
    assert figure.axes[0].get_ylabel() == "% of limit"


# ---------------------------------------------------------------------------
# retrospective


def test_incident_timeline_rows():
    snapshots, daily, _ = _week()
    episodes = rundata.episodes_frame([], WEEK)
    figure = charts.plot_incident_timeline(snapshots, episodes, daily, anomalies=None)
    ax = figure.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["degraded days", "availability < SLO", "p99 latency ≥ SLO", "anomalies"]
    assert "not available" in " ".join(t.get_text() for t in ax.texts)


def test_burndown_when_present_and_not_available_when_absent():
    absent = charts.plot_burndown(None)
    assert "not available" in " ".join(t.get_text() for t in absent.axes[0].texts)
    burndown = {
        "slo_target_percent": 99.9, "window_days": 30, "error_budget_requests": 1000.0,
        "days": [
            {"day_number": 1, "requests": 1e5, "errors": 100, "budget_consumed_percent": 10.0,
             "cumulative_consumed_percent": 10.0, "budget_remaining_percent": 90.0, "burn_rate": 3.0},
            {"day_number": 2, "requests": 1e5, "errors": 200, "budget_consumed_percent": 20.0,
             "cumulative_consumed_percent": 30.0, "budget_remaining_percent": 70.0, "burn_rate": 6.0},
        ],
        "projected_exhaustion": "2026-01-12T00:00:00Z",
    }
    figure = charts.plot_burndown(burndown)
    ax = figure.axes[0]
    assert "99.9 % SLO" in ax.get_title(loc="left") and "2026-01-12" in ax.get_title(loc="left")
    assert {line.get_label() for line in ax.get_lines()} >= {"consumed so far", "remaining", "budget exhausted"}
    assert ax.get_ylabel() == "% of the error budget"


def test_anomaly_timelines_one_panel_per_metric():
    snapshots, daily, _ = _week()
    assert "not available" in charts.plot_anomaly_timelines(snapshots, None).axes[0].texts[0].get_text()
    empty = rundata.anomalies_frame([])
    assert "No anomaly" in charts.plot_anomaly_timelines(snapshots, empty).axes[0].texts[0].get_text()
    events = rundata.anomalies_frame([
        {"timestamp": "2026-01-06T02:00:00Z", "day_number": 2, "metric": m, "value": 1.0, "expected": 0.1,
         "z_score": 5.0, "severity": "high", "type": "spike", "confidence": 0.9}
        for m in ("error_rate", "cpu_percent")
    ])
    figure = charts.plot_anomaly_timelines(snapshots, events, daily=daily)
    assert len(figure.axes) == 2
    assert figure.axes[0].get_title(loc="left") == "error rate: 1 anomaly"


def fleet_entry(service: str, score: float | None, *, rollback: bool = False) -> dict:
    return {"service": service, "stability_score": score, "rollback_recommended": rollback}


def top_to_bottom(ax) -> list[str]:
    """The y tick labels in the order a reader sees them."""
    ticks = zip(ax.get_yticks(), [label.get_text() for label in ax.get_yticklabels()])
    return [label for _, label in sorted(ticks, reverse=True)]


def test_score_ranking_draws_a_missing_score_as_a_gap_not_as_zero():
    figure, ax = new_ax()
    summary = {"services": [fleet_entry("svc-bad", 41.0, rollback=True), fleet_entry("svc-silent", None),
                            fleet_entry("svc-good", 97.5)]}
    assert charts.plot_score_ranking(summary, ax) is figure
    rows = dict(zip([label.get_text() for label in ax.get_yticklabels()], ax.get_yticks()))
    assert top_to_bottom(ax) == ["svc-bad", "svc-silent", "svc-good"]  # worst first, as in the summary
    (bars,) = ax.containers
    drawn = {round(bar.get_y() + bar.get_height() / 2): bar for bar in bars}
    # Two bars, none on the no-data row, and none of zero or NaN width.
    assert sorted(drawn) == sorted([rows["svc-bad"], rows["svc-good"]])
    assert drawn[rows["svc-bad"]].get_width() == 41.0 and drawn[rows["svc-good"]].get_width() == 97.5
    assert drawn[rows["svc-bad"]].get_facecolor() != drawn[rows["svc-good"]].get_facecolor()  # rollback in red
    no_data = [t for t in ax.texts if t.get_text() == "no data"]
    assert len(no_data) == 1 and no_data[0].get_position()[1] == rows["svc-silent"]


def test_score_ranking_top_n_and_an_empty_fleet():
    figure, ax = new_ax()
    summary = {"services": [fleet_entry(f"svc-{i}", float(i)) for i in range(5)]}
    charts.plot_score_ranking(summary, ax, top_n=2)
    assert top_to_bottom(ax) == ["svc-0", "svc-1"]
    assert len(ax.containers[0]) == 2
    empty = charts.plot_score_ranking({"services": []})
    assert "No service" in empty.axes[0].texts[0].get_text()


def test_degradation_heatmap_greys_out_days_without_data():
    figure, ax = new_ax()
    matrix = pd.DataFrame({"day 1": [1.0, 0.0], "day 2": [float("nan"), 0.0]}, index=["svc-$a", "svc-b"])
    assert charts.plot_degradation_heatmap(matrix, ax) is figure
    (image,) = ax.get_images()
    rgba = image.to_rgba(image.get_array())
    # The colours a reader sees: degraded red, fine green, no data grey (not the colour of 0).
    assert to_hex(rgba[0, 0]) == charts.BREACH_COLOR.lower()
    assert to_hex(rgba[1, 0]) == to_hex(rgba[1, 1]) == charts.OK_COLOR.lower()
    assert to_hex(rgba[0, 1]) == charts.NO_DATA_COLOR.lower()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["degraded", "fine", "no data"]
    assert [label.get_text() for label in ax.get_yticklabels()] == [r"svc-\$a", "svc-b"]
