"""Any window length: durations in words, time axes that fit the window, titles from the window."""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.figure import Figure

from stabmon.core.budget import burndown_markdown_table
from stabmon.core.durations import duration_adjective, format_duration, period_name
from stabmon.demo.week import run_demo_week
from stabmon.report import charts, views
from stabmon.report.rundata import load_run


@pytest.mark.parametrize(("hours", "words"), [
    (10 / 60, "10 min"),
    (59 / 60, "59 min"),
    (1.0, "1 h"),
    (1.5, "1 h 30 min"),
    (24.0, "1 day"),
    (25.0, "1 day 1 h"),
    (30.5, "1 day 6 h 30 min"),
    (168.0, "7 days"),
    (336.0, "14 days"),
    # slo_burndown.json rounds window_days to 6 digits: 15 min is 0.010417 days,
    # 0.010417 * 24 = 0.250008 h = 15.0005 min, which reads 15 min.
    (0.010417 * 24, "15 min"),
    (30 / 3600, "30 s"),
])
def test_format_duration(hours: float, words: str) -> None:
    assert format_duration(hours) == words


@pytest.mark.parametrize(("hours", "adjective"), [
    (0.25, "15-minute"),
    (1.5, "90-minute"),      # 90 whole minutes, under two hours
    (2.0, "2-hour"),
    (2.5, "2 h 30 min"),     # 150 min is not read as minutes: the words instead
    (30.0, "30-hour"),
    (168.0, "7-day"),
    (336.0, "14-day"),
])
def test_duration_adjective(hours: float, adjective: str) -> None:
    assert duration_adjective(hours) == adjective


def test_duration_adjective_in_a_title_and_the_period_names() -> None:
    assert duration_adjective(168.0, title_case=True) == "7-Day"
    assert duration_adjective(2.0, title_case=True) == "2-Hour"
    assert period_name(168.0) == "the week"
    assert period_name(24.0) == "the day"
    assert period_name(2.0) == "the 2-hour window"
    assert period_name(336.0) == "the 14-day window"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


@pytest.mark.parametrize(("start", "end", "expected_major"), [
    # 10 min from 01:03: 10 / 9 > 1 min, so 2-minute steps on even minutes: 01:04 ... 01:12.
    ("2026-01-05 01:03", "2026-01-05 01:13", ["01:04", "01:06", "01:08", "01:10", "01:12"]),
    # 15 min from 00:59 (a 15-minute run at 1 min): 2-minute steps, 01:00 ... 01:14. The seed's
    # 3-hour ticks had none here.
    ("2026-01-05 00:59", "2026-01-05 01:14",
     ["01:00", "01:02", "01:04", "01:06", "01:08", "01:10", "01:12", "01:14"]),
    # 2 h from 00:50: 120 / 9 = 13.3 min, so 15-minute steps; 01:00 ... 02:45 is 8 ticks.
    ("2026-01-05 00:50", "2026-01-05 02:50",
     ["01:00", "01:15", "01:30", "01:45", "02:00", "02:15", "02:30", "02:45"]),
    # A day plus the lead interval: 24.5 / 9 = 2.7 h, so 3-hour steps from midnight: 9 ticks.
    ("2026-01-04 23:30", "2026-01-06 00:00",
     ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "00:00"]),
])
def test_time_ticks_of_windows_up_to_a_day_are_clock_times_inside_the_window(
        start: str, end: str, expected_major: list[str]) -> None:
    major, minor, fmt = charts.time_ticks(_ts(start), _ts(end))
    assert list(major.strftime("%H:%M")) == expected_major
    assert fmt == "%H:%M"
    assert ((major >= _ts(start)) & (major <= _ts(end))).all()
    assert ((minor >= _ts(start)) & (minor <= _ts(end))).all()
    assert not set(minor) & set(major)


def test_time_ticks_of_a_week_and_of_two_weeks_are_dates() -> None:
    # 7 days + 30 min: 168.5 h / 9 = 18.7 h, so daily ticks at midnight, 6-hour minor ticks.
    major, minor, fmt = charts.time_ticks(_ts("2026-01-04 23:30"), _ts("2026-01-12 00:00"))
    assert list(major.strftime("%d")) == ["05", "06", "07", "08", "09", "10", "11", "12"]
    assert fmt == "%a %d %b"
    assert list(minor.strftime("%d %H"))[:3] == ["05 06", "05 12", "05 18"]
    # 14 days + 1 h: 337 / 9 = 37.4 h, so 2-day ticks; on even days from the epoch
    # (2026-01-05 is day 20458 after 1970-01-01: even), Jan 5, 7, ..., 19.
    major, _, fmt = charts.time_ticks(_ts("2026-01-04 23:00"), _ts("2026-01-19 00:00"))
    assert list(major.strftime("%d")) == ["05", "07", "09", "11", "13", "15", "17", "19"]
    assert fmt == "%a %d %b"


def test_time_ticks_are_never_empty() -> None:
    # 61 days: 2-day steps would be 30 ticks, 7-day steps are 9 at most; a
    # 100-day span has no step in the list and gets ceil(100 / 9) = 12-day steps.
    for days in (61, 100):
        start = _ts("2026-01-05 05:00")
        major, _, _ = charts.time_ticks(start, start + pd.Timedelta(days=days))
        assert 1 <= len(major) <= 9
    # A span of one second still has a tick: the coarsest fit holds no boundary, so the start.
    major, _, _ = charts.time_ticks(_ts("2026-01-05 05:00:10"), _ts("2026-01-05 05:00:11"))
    assert list(major) == [_ts("2026-01-05 05:00:10")]


@pytest.mark.parametrize("hours", [10 / 60, 2.0, 24.0, 168.0, 336.0])
def test_a_time_axis_has_ticks_inside_its_window(hours: float) -> None:
    start = _ts("2026-01-05 01:07")
    end = start + pd.Timedelta(hours=hours)
    ax = Figure().add_subplot()
    charts._time_axis(ax, start, end)
    ticks = ax.xaxis.get_majorticklocs()
    low, high = mdates.date2num(start.to_pydatetime()), mdates.date2num(end.to_pydatetime())
    assert len(ticks) >= 2
    assert all(low <= tick <= high for tick in ticks)
    assert ax.get_xlim() == pytest.approx((low, high))


def test_a_one_snapshot_bar_on_a_14_day_axis_stays_visible() -> None:
    start = _ts("2026-01-05 00:00")
    end = start + pd.Timedelta(days=14)
    # One hour of 336 is 1/336 of the axis, under the 1/250 floor: widened to 14/250 days.
    left, width = charts._bar_extent(start, start + pd.Timedelta(hours=1), start, end)
    assert left == mdates.date2num(start.to_pydatetime())
    assert width == pytest.approx(14 / 250)
    # A 10-hour bar is wider than the floor and keeps its width (10/24 day).
    _, width = charts._bar_extent(start, start + pd.Timedelta(hours=10), start, end)
    assert width == pytest.approx(10 / 24)


@pytest.fixture(scope="module")
def two_hour_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-hour test run at 10 minutes: 12 snapshots, one (partial) day."""
    folder = tmp_path_factory.mktemp("two-hours")
    run_demo_week(folder, fsync=False, duration_hours=2, interval_minutes=10)
    return folder


def test_a_2_hour_run_reads_as_2_hours(two_hour_run: Path) -> None:
    markdown = (two_hour_run / "weekly_summary.md").read_text(encoding="utf-8")
    assert markdown.startswith("# 2-Hour Post-Release Stability Summary: checkout\n")
    assert "7-Day" not in markdown
    assert "**Duration:** 2 h (12/12 snapshots every 10 min)" in markdown
    run = load_run(two_hour_run)
    assert "(UTC, 2 h), 12 of 12 snapshots every 10 min" in views.run_header(run).text
    note = views.trends_table(run).text
    assert "Not compared: a trend needs two days with data or more; the 2-hour window has 1." in note
    assert "days vs" not in note
    budget = views.burndown_table(run).text
    assert "% over 2 h; error budget" in budget


def test_the_budget_sentence_names_the_window_in_words() -> None:
    # window_days of a 15-minute window: 15 / 1440 = 0.010417 (6 digits).
    burndown = {"slo_target_percent": 99.9, "window_days": 0.010417, "error_budget_requests": 12.0,
                "days": [], "burn_rate_1h": None, "burn_rate_6h": None, "projected_exhaustion": None}
    text = burndown_markdown_table(burndown)
    assert "SLO 99.9 % over 15 min: error budget" in text
    assert "days" not in text.split("SLO 99.9 %")[1].split(":")[0]


def test_day_marks_of_a_short_window_stay_inside_it(two_hour_run: Path) -> None:
    run = load_run(two_hour_run)
    spans = charts.day_spans(run.daily)
    # The day of a 2-hour window ends with the window: 00:00 to 02:00.
    assert [(d, b.strftime("%H:%M"), e.strftime("%d %H:%M")) for d, b, e in spans] == [(1, "00:00", "05 02:00")]
    figure = charts.plot_availability(run.snapshots, daily=run.daily)
    ax = figure.axes[0]
    low, high = ax.get_xlim()
    labels = [t for t in ax.texts if t.get_text() == "day 1"]
    assert len(labels) == 1
    # The label sits at the middle of the day's part in the window: 01:00.
    x = mdates.date2num(labels[0].get_position()[0])
    assert x == pytest.approx(mdates.date2num(pd.Timestamp("2026-01-05 01:00")))
    assert low <= x <= high


def test_stabmon_demo_runs_any_length_and_refuses_an_interval_it_cannot_scrape(tmp_path: Path) -> None:
    from test_cli import assert_one_line_error, run

    out = tmp_path / "quarter-hour"
    proc = run("demo", "--no-report", "--duration", "0.25", "--interval", "1", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    # 15 min at 1 min: snapshots at 00:00 ... 00:14, one day.
    assert "demo (incident, 15 min): 15 snapshots, 1 daily summaries" in proc.stdout
    assert len(list(out.glob("day_01_raw/snapshot_*.json"))) == 15
    # 6 s is not a whole number of 15-second scrapes.
    assert_one_line_error(run("demo", "--no-report", "--duration", "1", "--interval", "0.1", "--output", str(out)),
                          "--interval 0.1: use a whole multiple of 15 seconds")
    assert_one_line_error(run("demo", "--no-report", "--duration", "0.25", "--interval", "30", "--output", str(out)),
                          "--interval 30 min is longer than --duration 0.25 h")
