"""Anomalies that read right: an excursion and its return are one episode; the warm-up (issue 11, item 5)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from factories import make_snapshot
from matplotlib.collections import PathCollection

from stabmon import store
from stabmon.core.anomaly import (
    AnomalyDetector,
    daily_anomaly_counts,
    episodes_from_events,
    run_detection,
)
from stabmon.core.model import Snapshot, Window, format_time
from stabmon.core.weekly import anomaly_summary
from stabmon.report import charts, rundata, views
from stabmon.store import schemas
from stabmon.store.rebuild import rebuild_summaries

START = datetime(2026, 1, 7, tzinfo=timezone.utc)
STEP = timedelta(minutes=30)


def p99_series(values):
    window = Window(START, duration_hours=len(values) * 0.5, interval_minutes=30.0)
    return window, [Snapshot(window.time_of(k), {"p99_latency_ms": v}) for k, v in enumerate(values)]


def at(k):
    return format_time(START + k * STEP)


class TestOneEpisode:
    # 14 flat snapshots at 300 ms (12 of warm-up), 10 at 1000 ms (t14..t23), back to 300.
    # On the flat part the EWMA variance is 0, so sd = max(0, 0.001 * 300, 1e-6) = 0.3
    # and the step scores z = (1000 - 300) / 0.3 = 2333.3333 (high); the change 700 ms
    # clears the p99 floor 0.5 * 300 = 150. It lasts 4 snapshots (t14..t17): a level shift.
    # The seed then reported the return at t24 as a second high level shift (by then the
    # EWMA had absorbed the 1000 and 300 was a 70 % drop from it): two anomalies for one.
    VALUES = [300.0] * 14 + [1000.0] * 10 + [300.0] * 10

    def detection(self):
        window, snaps = p99_series(self.VALUES)
        return window, run_detection(snaps, window)

    def test_one_level_shift_line_and_one_recovery_line(self):
        _, found = self.detection()
        lines = [e.to_dict() for e in found.events]
        for line in lines:
            schemas.validate(line, "anomaly")
        assert [(e["type"], e["recovery"], e["timestamp"]) for e in lines] == [
            ("level_shift", False, at(14)),   # stamped at the excursion's first snapshot
            ("level_shift", True, at(24)),    # the first snapshot back to 300: the recovery
        ]
        assert {e["episode"] for e in lines} == {"p99_latency_ms@2026-01-07T07:00:00Z"}  # 14 * 30 min = 07:00
        recovery = lines[1]
        assert recovery["value"] == 300.0 and recovery["expected"] == 300.0  # back at the level before it
        assert recovery["severity"] == "high"  # repeats the episode's, so a filter keeps the pair

    def test_the_episode_row(self):
        _, found = self.detection()
        (episode,) = episodes_from_events(e.to_dict() for e in found.events)
        assert episode["start"] == at(14)
        assert episode["end"] == at(23)            # the last snapshot at 1000
        assert episode["recovered_at"] == at(24)
        assert episode["open"] is False
        assert episode["peak_value"] == 1000.0
        assert episode["peak_z"] == 2333.3333       # 700 / 0.3, rounded to 4 places
        assert episode["snapshots"] == 10
        assert episode["duration_minutes"] == 300.0  # (23 - 14) * 30 + 30: ten 30-minute snapshots
        assert episode["severity"] == "high"
        assert episode["events"] == 1               # the recovery is not an anomaly

    def test_counted_once(self):
        window, found = self.detection()
        # The seed counted two high anomalies here (the return was a second level shift).
        assert daily_anomaly_counts(found.events, window) == {1: {"low": 0, "medium": 0, "high": 1}}
        summary = anomaly_summary([e.to_dict() for e in found.events])
        assert summary["total"] == 1
        assert summary["by_severity"] == {"low": 0, "medium": 0, "high": 1}
        assert summary["by_metric"] == {"p99_latency_ms": 1}
        assert [e["episode"] for e in summary["episodes"]] == ["p99_latency_ms@2026-01-07T07:00:00Z"]

    def test_a_shift_that_never_returns_is_open(self):
        window, snaps = p99_series([300.0] * 14 + [1000.0] * 8)
        lines = [e.to_dict() for e in run_detection(snaps, window).events]
        assert [(e["type"], e["recovery"]) for e in lines] == [("level_shift", False)]
        (episode,) = episodes_from_events(lines)
        assert episode["open"] is True and episode["recovered_at"] is None

    def test_a_short_spike_is_one_line_and_one_episode(self):
        # Two snapshots at 900 (t14, t15), then 300 again: under 4 snapshots, a spike,
        # reported when the series comes back. Its peak is the first 900 (z = 600 / 0.3 = 2000;
        # the second has the same z against the frozen reference, not a larger one).
        window, snaps = p99_series([300.0] * 14 + [900.0] * 2 + [300.0] * 10)
        lines = [e.to_dict() for e in run_detection(snaps, window).events]
        assert [(e["type"], e["recovery"], e["timestamp"]) for e in lines] == [("spike", False, at(14))]
        (episode,) = episodes_from_events(lines)
        assert (episode["start"], episode["end"], episode["snapshots"]) == (at(14), at(15), 2)
        assert episode["duration_minutes"] == 60.0
        assert episode["peak_value"] == 900.0 and episode["peak_z"] == 2000.0
        assert episode["open"] is False


class TestWarmup:
    # An incident in the run's 3rd and 4th snapshots (900 ms against a flat 300).
    RUN = [300.0, 300.0, 900.0, 900.0, 300.0] + [300.0] * 15

    def baseline_window(self, count=20):
        return [Snapshot(START - (count - k) * STEP, {"p99_latency_ms": 300.0}) for k in range(count)]

    def test_found_when_the_baseline_window_primes_the_average(self):
        window, snaps = p99_series(self.RUN)
        found = run_detection(snaps, window, baseline_snapshots=self.baseline_window())
        assert [(e.type, format_time(e.timestamp)) for e in found.events] == [("spike", at(2))]
        assert found.unchecked == {"snapshots": 0, "until": None, "reason": None}

    def test_reported_as_unchecked_without_a_baseline_window(self):
        window, snaps = p99_series(self.RUN)
        found = run_detection(snaps, window)
        assert found.events == []
        # The first 12 values only train the average (the first seeds it): t0..t11.
        assert found.unchecked == {"snapshots": 12, "until": at(11), "reason": "warm-up: no baseline window"}

    def test_a_short_baseline_window_is_named(self):
        # 5 baseline values + 7 run values make the 12: t0..t6 unchecked.
        window, snaps = p99_series(self.RUN)
        found = run_detection(snaps, window, baseline_snapshots=self.baseline_window(5))
        assert found.unchecked["snapshots"] == 7 and found.unchecked["until"] == at(6)
        assert "baseline window gave 5 snapshots" in found.unchecked["reason"]

    def test_the_live_detector_primes_the_same_way(self):
        window, snaps = p99_series(self.RUN)
        detector = AnomalyDetector(window)
        assert detector.prime(self.baseline_window()) == 20
        live = [e for s in snaps for e in detector.observe(s)] + detector.flush()
        batch = run_detection(snaps, window, baseline_snapshots=self.baseline_window()).events
        assert [e.to_dict() for e in live] == [e.to_dict() for e in batch]


class TestReports:
    """One episode in the run folder, the tables and the charts (hourly, two days, no baseline window)."""

    @pytest.fixture()
    def run(self, tmp_path):
        # p99 300 ms, 1000 ms at k = 14..23 (hourly), back to 300: the 12 first hours are the warm-up.
        window = Window(START, duration_hours=48, interval_minutes=60)
        store.write_run_info(tmp_path, {"window": window.to_dict(), "service": "checkout"})
        for k, ts in enumerate(window.times()):
            snap = make_snapshot(ts, p99_latency_ms=1000.0 if 14 <= k <= 23 else 300.0)
            store.write_snapshot(tmp_path, window, snap, fsync=False)
        rebuild_summaries(tmp_path)
        return rundata.load_run(tmp_path)

    def test_weekly_summary_counts_one_episode_and_names_the_unchecked(self, run):
        summary = run.weekly["anomaly_summary"]
        assert summary["total"] == 1 and summary["by_severity"]["high"] == 1
        assert summary["unchecked"] == {"snapshots": 12, "until": "2026-01-07T11:00:00Z",
                                        "reason": "warm-up: no baseline window"}
        assert run.daily_documents[0]["anomaly_counts"] == {"low": 0, "medium": 0, "high": 1}

    def test_tables_show_the_episode(self, run):
        assert len(run.anomalies) == 1  # the recovery line is not an anomaly
        (row,) = run.anomaly_episodes.to_dict("records")
        assert row["start"] == pd.Timestamp("2026-01-07T14:00:00Z")
        assert row["end"] == pd.Timestamp("2026-01-07T23:00:00Z")
        assert row["recovered_at"] == pd.Timestamp("2026-01-08T00:00:00Z")
        assert row["duration_minutes"] == 600.0  # 9 h from start to end + the 1-hour interval
        text = views.anomalies_table(run).text
        assert "2026-01-08 00:00" in text and "level shift" in text
        assert "Not checked for anomalies: the first 12 snapshots" in text

    def test_chart_shades_the_episode_as_one_span(self, run):
        lines = rundata.read_anomalies(run.run_dir / store.ANOMALIES_FILE)
        figure = charts.plot_anomaly_timelines(run.snapshots, lines[~lines["recovery"]])
        ax = figure.axes[0]
        assert ax.get_title(loc="left").endswith(": 1 anomaly")
        assert len(ax.patches) == 1  # the span 14:00 - 23:00
        assert sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)) == 1

    def test_the_unchecked_note_is_on_the_days_it_concerns(self, run):
        # The 12 unchecked hours (00:00-11:00) are all on day 1.
        assert "Not checked" in views.anomalies_table(run, 1).text
        assert "Not checked" not in views.anomalies_table(run, 2).text
