"""Chart functions: data and an ax in, the figure out, with the expected artists and titles."""

from __future__ import annotations

import math
import warnings
from datetime import timedelta
from itertools import combinations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

from factories import START, at, make_snapshot
from stabmon.core.daily import aggregate_days
from stabmon.core.weekly import weekly_summary
from stabmon.demo.week import run_demo_week
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
    # The decades read as plain percentages (no 10^n mathtext), with no minor ticks between them.
    labels = [t.get_text() for t in huge.axes[0].get_xticklabels() if t.get_text()]
    assert {"1", "10", "100", "1,000"} <= set(labels) and not any("$" in label for label in labels)
    assert len(huge.axes[0].xaxis.get_minorticklocs()) == 0


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


# ---------------------------------------------------------------------------
# charts that read: every chart of the demo incident week, drawn with Agg


def draw(figure: Figure):
    """Draw ``figure`` with Agg (layout and label placement done) and return the renderer."""
    canvas = FigureCanvasAgg(figure)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        canvas.draw()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing  # a glyph the font lacks would show as a box
    return canvas.get_renderer()


def chart_axes(figure: Figure) -> list:
    """The axes that draw data: not colorbars, not the "not available" placeholders."""
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>" and ax.axison]


def marker_extents(ax, renderer) -> list[Bbox]:
    """A box around every marker: line markers and scatter points, from their sizes in points."""
    per_point = renderer.points_to_pixels(1.0)
    boxes = []
    for line in ax.lines:
        if line.get_visible() and line.get_marker() not in ("None", "", " ", None):
            r = line.get_markersize() / 2 * per_point
            boxes += [Bbox([[x - r, y - r], [x + r, y + r]]) for x, y in ax.transData.transform(line.get_xydata())
                      if math.isfinite(x) and math.isfinite(y)]
    for points in ax.collections:
        if isinstance(points, PathCollection):
            xy = points.get_offset_transform().transform(points.get_offsets())
            sizes = np.broadcast_to(points.get_sizes(), (len(xy),))
            boxes += [Bbox([[x - math.sqrt(s) / 2 * per_point, y - math.sqrt(s) / 2 * per_point],
                            [x + math.sqrt(s) / 2 * per_point, y + math.sqrt(s) / 2 * per_point]])
                      for (x, y), s in zip(xy, sizes)]
    return boxes


def assert_labels_readable(figure: Figure, renderer) -> None:
    """No two texts of an axes overlap; none overlaps its legend or sits on a marker."""
    for ax in chart_axes(figure):
        texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        for (a, box_a), (b, box_b) in combinations(boxes, 2):
            assert not box_a.overlaps(box_b), (ax.get_title(loc="left"), a, b)
        legend = ax.get_legend()
        if legend is not None:
            legend_box = legend.get_window_extent(renderer)
            assert not [text for text, box in boxes if box.overlaps(legend_box)], ax.get_title(loc="left")
        for marker in marker_extents(ax, renderer):
            assert not [text for text, box in boxes if box.overlaps(marker)], ax.get_title(loc="left")


def rgb(colour) -> tuple[float, float, float] | None:
    """A colour as rounded RGB, or ``None`` when it is fully transparent (nothing drawn)."""
    rgba = to_rgba(colour)
    return None if rgba[3] == 0 else tuple(round(c, 2) for c in rgba[:3])


def patch_colour(patch):
    # A hatched span has no face: its hatch is drawn in the edge colour.
    return rgb(patch.get_facecolor()) or rgb(patch.get_edgecolor())


def drawn_artists(ax):
    """``(artist, colours)`` of every data artist of ``ax`` a reader has to be told about."""
    for artist in [*ax.lines, *ax.patches, *ax.collections]:
        if not artist.get_visible() or artist.get_gid() == charts.IN_PLACE:
            continue
        if isinstance(artist, Line2D):
            if len(artist.get_xdata()) == 0:
                continue  # a legend proxy
            colours = {rgb(artist.get_color())}
        elif isinstance(artist, Patch):
            colours = {patch_colour(artist)}
        else:
            faces = [rgb(c) for c in artist.get_facecolor()]
            colours = set(faces) if any(faces) else {rgb(c) for c in artist.get_edgecolor()}
        yield artist, colours - {None}


def legend_colours(legend) -> set:
    colours = set()
    for handle in legend.legend_handles:
        if isinstance(handle, Line2D):
            colours |= {rgb(handle.get_color()), rgb(handle.get_markerfacecolor())}
        elif isinstance(handle, Patch):
            colours |= {rgb(handle.get_facecolor()), rgb(handle.get_edgecolor())}
        else:
            colours |= {rgb(c) for c in handle.get_facecolor()}
    return colours - {None}


def assert_legend_complete(figure: Figure) -> None:
    """Every labelled artist is in its legend, and every drawn colour is one of the legend's handles."""
    for ax in chart_axes(figure):
        drawn = list(drawn_artists(ax))
        if not drawn:
            continue
        legend = ax.get_legend()
        assert legend is not None, ax.get_title(loc="left")
        entries = {t.get_text() for t in legend.get_texts()}
        labels = {a.get_label() for a, _ in drawn if not (a.get_label() or "_").startswith("_")}
        assert labels <= entries, (ax.get_title(loc="left"), labels - entries)
        known = legend_colours(legend)
        for artist, colours in drawn:
            assert colours <= known, (ax.get_title(loc="left"), artist, colours - known)


def time_axes(figure: Figure) -> list:
    """The axes whose x axis is time (labelled "time (UTC), <date>" or "date (UTC)"; inner panels share theirs)."""
    shared = [ax for ax in chart_axes(figure) if "(UTC)" in ax.get_xlabel()]
    return [ax for ax in chart_axes(figure) if ax in shared or any(ax.sharex is not None and
                                                                   ax.get_shared_x_axes().joined(ax, s) for s in shared)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo incident week (7 days at 30 minutes) as the notebooks load it."""
    folder = tmp_path_factory.mktemp("demo")
    run_demo_week(folder, fsync=False, scrape_seconds=600)
    return rundata.load_run(folder)


def week_charts(run) -> dict:
    s = run.settings
    return {
        "stability score": lambda: charts.plot_stability_score(run.weekly),
        "slo compliance": lambda: charts.plot_slo_compliance(run.daily,
                                                        target_percent=s.degradation_compliance_percent),
        "week signals": lambda: charts.plot_week_signals(
            run.snapshots, run.daily, availability_slo_percent=s.availability_slo_percent,
            latency_slo_p99_ms=s.latency_slo_p99_ms, error_rate_threshold_percent=s.error_rate_degraded_percent,
            anomalies=run.anomalies),
        "drift heatmap": lambda: charts.plot_drift_heatmap(rundata.drift_matrix(run),
                                                           threshold_percent=s.drift_threshold_percent),
        "resource trend": lambda: charts.plot_resource_trend(run.daily, trend=run.weekly["resource_trend"]),
        "alert episodes": lambda: charts.plot_alert_episodes(run.episodes, daily=run.daily),
        "anomaly timelines": lambda: charts.plot_anomaly_timelines(run.snapshots, run.anomalies, daily=run.daily),
        "burn-down": lambda: charts.plot_burndown(run.burndown),
        "incident timeline": lambda: charts.plot_incident_timeline(
            run.snapshots, run.episodes, run.daily, anomalies=run.anomalies,
            availability_slo_percent=s.availability_slo_percent, latency_slo_p99_ms=s.latency_slo_p99_ms),
    }


def day_charts(run, day_number: int) -> dict:
    s = run.settings
    day = rundata.day_view(run, day_number)
    return {
        "availability": lambda: charts.plot_availability(day.snapshots, slo_percent=s.availability_slo_percent,
                                                         anomalies=day.anomalies),
        "error rate": lambda: charts.plot_error_rate(day.snapshots, threshold_percent=s.error_rate_degraded_percent,
                                                     anomalies=day.anomalies),
        "latency": lambda: charts.plot_latency(day.snapshots, slo_p99_ms=s.latency_slo_p99_ms,
                                               anomalies=day.anomalies),
        "resources": lambda: charts.plot_resources(day.snapshots, anomalies=day.anomalies),
        "alert episodes": lambda: charts.plot_alert_episodes(day.episodes, start=day.start, end=day.end),
        "drift": lambda: charts.plot_drift_by_metric(day.summary["drift_by_metric"],
                                                     threshold_percent=s.drift_threshold_percent),
    }


WEEK_CHARTS = ["stability score", "slo compliance", "week signals", "drift heatmap", "resource trend",
               "alert episodes", "anomaly timelines", "burn-down", "incident timeline"]
DAY_CHARTS = ["availability", "error rate", "latency", "resources", "alert episodes", "drift"]


def assert_within(ax, begin: pd.Timestamp, end: pd.Timestamp) -> None:
    low, high = ax.get_xlim()
    assert float(mdates.date2num(begin.tz_convert(None).to_pydatetime())) - ONE_SECOND <= low
    assert high <= float(mdates.date2num(end.tz_convert(None).to_pydatetime())) + ONE_SECOND


@pytest.mark.parametrize("name", WEEK_CHARTS)
def test_week_charts_of_the_demo_read(demo, name):
    figure = week_charts(demo)[name]()
    renderer = draw(figure)
    assert_labels_readable(figure, renderer)
    assert_legend_complete(figure)
    # The week's timelines span what its snapshots cover: (t_0 - interval, t_last].
    for ax in time_axes(figure):
        assert_within(ax, demo.snapshots.index.min() - demo.interval, demo.snapshots.index.max())


# Day 3: the 5xx incident; day 4: a warning that runs past midnight; day 5: the latency regression.
@pytest.mark.parametrize("day_number", [3, 4, 5])
@pytest.mark.parametrize("name", DAY_CHARTS)
def test_day_charts_of_the_demo_read(demo, name, day_number):
    figure = day_charts(demo, day_number)[name]()
    renderer = draw(figure)
    assert_labels_readable(figure, renderer)
    assert_legend_complete(figure)
    day = rundata.day_view(demo, day_number)
    for ax in time_axes(figure):
        assert_within(ax, day.start, day.end)
        # Every label stays on its axes (a duration label of an episode cut at midnight too).
        frame = ax.get_window_extent(renderer)
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            if text.get_transform() == ax.transData or isinstance(text, Annotation):
                assert frame.x0 <= box.x0 and box.x1 <= frame.x1, text.get_text()


def test_the_burn_rate_label_is_not_under_a_marker(demo):
    # Day 3 burns about 120 % of the budget (x8.4) and the cumulative line's marker sits some 6 points
    # over the bar's top, where the label went: the label is moved clear of it.
    day = next(d for d in demo.burndown["days"] if d["day_number"] == 3)
    assert day["cumulative_consumed_percent"] - day["budget_consumed_percent"] < 10
    figure = charts.plot_burndown(demo.burndown)
    renderer = draw(figure)
    ax = figure.axes[0]
    day3 = next(t for t in ax.texts if t.get_text() == f"×{day['burn_rate']:.1f}")
    markers = marker_extents(ax, renderer)
    assert not any(day3.get_window_extent(renderer).overlaps(m) for m in markers)


def test_labels_of_neighbouring_episodes_do_not_overlap():
    # Two 90-minute warnings 1 h apart on one row of a 3-day axis: "1 h 30 min" ends 1 h before the
    # next bar starts, far less than its own width, so the second label must move (the "9090min" bug).
    alert = Alert(alertname="DiskFilling", severity="warning",
                  labels={"alertname": "DiskFilling", "severity": "warning"})
    firing = set(range(10, 12)) | set(range(13, 15))  # snapshots 10-11 and 13-14, one hour each
    snapshots = [make_snapshot(t, alerts=[alert] if k in firing else []) for k, t in enumerate(WEEK.times())]
    episodes = rundata.episodes_frame(aggregate_days(snapshots, WEEK), WEEK)
    assert len(episodes) == 2
    figure = charts.plot_alert_episodes(episodes, daily=rundata.daily_frame(aggregate_days(snapshots, WEEK)))
    renderer = draw(figure)
    ax = figure.axes[0]
    labels = [t for t in ax.texts if t.get_text() == "2 h"]
    assert len(labels) == 2
    assert not labels[0].get_window_extent(renderer).overlaps(labels[1].get_window_extent(renderer))
    # Nor does a label sit on the other episode's bar.
    bars = [p.get_window_extent(renderer) for p in ax.patches if p.get_height() == pytest.approx(0.6)]
    assert len(bars) == 2
    assert not any(label.get_window_extent(renderer).overlaps(bar) for label in labels for bar in bars)
    assert_labels_readable(figure, renderer)
    assert_legend_complete(figure)


def test_slo_compliance_shows_every_slo_of_every_day():
    _, daily, _ = _week()
    daily = daily.copy()
    daily.loc[2, "latency_slo_compliance_percent"] = float("nan")  # day 2 measured availability only
    figure = charts.plot_slo_compliance(daily, target_percent=95)
    renderer = draw(figure)
    ax = figure.axes[0]
    bars = [p for p in ax.patches if p.get_visible() and p.get_width() == pytest.approx(0.38)]
    # Two bars a day (availability, latency) but day 2's latency, which says "no data" in its place.
    assert len(bars) == 5
    (missing,) = [t for t in ax.texts if t.get_text() == "no data"]
    assert missing.get_position()[0] == pytest.approx(1 + 0.38 / 2)
    assert_labels_readable(figure, renderer)
    assert_legend_complete(figure)


def test_fleet_and_release_charts_read():
    summary = {"services": [fleet_entry("svc-bad", 41.0, rollback=True), fleet_entry("svc-silent", None),
                            fleet_entry("svc-good", 97.5), fleet_entry("svc-full", 100.0)]}
    matrix = pd.DataFrame({"day 1": [1.0, 0.0], "day 2": [float("nan"), 0.0]}, index=["svc-a", "svc-b"])
    band = pd.DataFrame({"day_number": [1, 2, 3], "current": [250.0, 900.0, 240.0], "low": [230.0, 235.0, 228.0],
                         "high": [260.0, 262.0, 255.0], "previous": [245.0, 248.0, 241.0],
                         "status": ["same", "worse", "same"]})
    for figure in (charts.plot_score_ranking(summary), charts.plot_degradation_heatmap(matrix),
                   charts.plot_release_band(band, "p99_latency_ms")):
        renderer = draw(figure)
        assert_labels_readable(figure, renderer)
        assert_legend_complete(figure)
    # A full score's label does not leave the axes (100 of 105): it goes inside the bar's end or beside.
    ranking = charts.plot_score_ranking(summary)
    renderer = draw(ranking)
    ax = ranking.axes[0]
    frame = ax.get_window_extent(renderer)
    full = next(t for t in ax.texts if t.get_text() == "100")
    assert full.get_window_extent(renderer).x1 <= frame.x1


@pytest.mark.parametrize("hours", [37, 48, 72, 168])
def test_date_ticks_never_repeat_a_date(hours):
    # Beyond 36 h the ticks are dates: 72 h / 9 ticks would be 8 h steps, so 12 h ticks labelled
    # "Mon 05 Jan", "Mon 05 Jan", ...; whole days instead.
    start = pd.Timestamp("2026-01-04 23:00")
    major, _, fmt = charts.time_ticks(start, start + pd.Timedelta(hours=hours))
    labels = list(major.strftime(fmt))
    assert fmt == "%a %d %b" and len(labels) == len(set(labels)) >= 1
    assert all(tick == tick.normalize() for tick in major)


# ---------------------------------------------------------------------------
# the layout: every decoration on the figure, at the notebook's dpi and at the figure's


def all_charts(run) -> dict:
    """Every chart kind a report draws: the week's, day 3's and 5's, the fleet's and the releases'."""
    found = {f"week: {name}": make for name, make in week_charts(run).items()}
    for day_number in (3, 5):
        found.update({f"day {day_number}: {name}": make for name, make in day_charts(run, day_number).items()})
    summary = {"services": [fleet_entry("svc-bad", 41.0, rollback=True), fleet_entry("svc-silent", None),
                            fleet_entry("checkout-service-with-a-long-name", 97.5)]}
    band = pd.DataFrame({"day_number": [1, 2, 3], "current": [250.0, 900.0, 240.0], "low": [230.0, 235.0, 228.0],
                         "high": [260.0, 262.0, 255.0], "previous": [245.0, 248.0, 241.0],
                         "status": ["same", "worse", "same"]})

    def release_grid():
        # Two columns of panels, as release_views.release_band_figure draws them.
        figure = charts.new_figure((11.0, 5.6))
        for ax, metric in zip(figure.subplots(2, 2).ravel(), ["p99_latency_ms", "error_rate", "cpu_percent"]):
            charts.plot_release_band(band, metric, ax=ax)
        figure.axes[-1].set_axis_off()
        return figure

    found.update({
        "fleet: score ranking": lambda: charts.plot_score_ranking(summary),
        "fleet: degradation heatmap": lambda: charts.plot_degradation_heatmap(
            pd.DataFrame({"day 1": [1.0, 0.0], "day 2": [float("nan"), 0.0]}, index=["svc-a", "svc-b"])),
        "releases: grid": release_grid,
        "not available": lambda: charts.not_available(None, "Anomalies not available (no anomalies.jsonl)",
                                                      title="Anomalies"),
    })
    return found


def decorations(figure: Figure, renderer) -> list[tuple[str, Bbox]]:
    """What each axes draws (frame, tick and axis labels, titles at full width, texts, legend, colorbar), and the suptitle."""
    boxes = [(ax.get_title(loc="left") or ax.get_ylabel() or "axes", ax.get_tightbbox(renderer))
             for ax in figure.axes if ax.get_visible()]
    if figure._suptitle is not None:
        boxes.append(("suptitle", figure._suptitle.get_window_extent(renderer)))
    return [(name, box) for name, box in boxes if box is not None]


def assert_on_the_figure(figure: Figure, renderer) -> None:
    page = figure.bbox
    for name, box in decorations(figure, renderer):
        assert page.x0 - 0.5 <= box.x0 and box.x1 <= page.x1 + 0.5, (name, box.bounds, page.bounds)
        assert page.y0 - 0.5 <= box.y0 and box.y1 <= page.y1 + 0.5, (name, box.bounds, page.bounds)


def frames_apart(figure: Figure, renderer) -> None:
    """No two panels' decorated boxes overlap (a stack's titles clear the panel above)."""
    panels = [(ax.get_title(loc="left"), ax.get_tightbbox(renderer, for_layout_only=True))
              for ax in chart_axes(figure)]
    for (a, box_a), (b, box_b) in combinations(panels, 2):
        overlap = Bbox.intersection(box_a, box_b)
        assert overlap is None or overlap.width < 1 or overlap.height < 1, (a, b)


@pytest.mark.parametrize("name", ["week: week signals", "week: drift heatmap", "week: incident timeline",
                                  "week: stability score", "week: burn-down", "week: anomaly timelines",
                                  "day 3: availability", "day 5: alert episodes", "day 3: drift",
                                  "fleet: score ranking", "fleet: degradation heatmap", "releases: grid",
                                  "not available"])
def test_every_text_and_legend_lies_on_the_figure(demo, name):
    # Titles at their full width, tick and axis labels, outside legends, the colorbar and its label,
    # value labels and the suptitle: measured from what was drawn, once as the test's canvas draws
    # the figure (its dpi) and once as a notebook shows it (figure_png, 80 dpi).
    figure = all_charts(demo)[name]()
    renderer = draw(figure)
    assert_on_the_figure(figure, renderer)
    frames_apart(figure, renderer)
    png = charts.figure_png(figure, dpi=80)
    assert png.startswith(b"\x89PNG")
    figure.dpi = 80  # the state of the PNG's draw, measured at its dpi (no draw: that would lay it out again)
    renderer = FigureCanvasAgg(figure).get_renderer()
    assert_on_the_figure(figure, renderer)
    frames_apart(figure, renderer)


def test_the_layout_makes_room_for_what_sits_outside_the_axes(demo):
    # An outside legend and a long y tick label: the axes shrink so both fit, and the frame
    # keeps most of the figure (no slack of constrained layout's fixed fractions to fall back on).
    figure = charts.plot_incident_timeline(demo.snapshots, demo.episodes, demo.daily, anomalies=demo.anomalies)
    renderer = draw(figure)
    ax = figure.axes[0]
    frame, legend = ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    labels = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
    assert legend.x0 >= frame.x1 and legend.x1 <= figure.bbox.x1
    assert min(b.x0 for b in labels) >= 0 and max(b.x1 for b in labels) <= frame.x0
    # What is left between them and the figure's edges is the layout's small pad, not a margin.
    edge = charts._EDGE * figure.dpi
    assert min(b.x0 for b in labels) <= edge + 2 and figure.bbox.x1 - legend.x1 <= edge + 2


def test_minor_ticks_of_a_time_axis_are_drawn_between_the_major_ones():
    snapshots = frame_of(DAY)
    figure = charts.plot_availability(snapshots)
    ax = figure.axes[0]
    major, minor, _ = charts.time_ticks(*charts._frame_span(snapshots))
    (marks,) = [a for a in ax.artists if isinstance(a, charts._MinorTicks)]
    assert list(marks._marks.get_xdata()) == pytest.approx(list(mdates.date2num(minor.to_pydatetime())))
    assert len(minor) and not set(minor) & set(major)
    assert ax.xaxis.get_minorticklocs().size == 0  # no Tick object per minor mark
