"""The evidence a run gathers beside the snapshots: live anomalies and the baseline window."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from stabmon.store import schemas
from stabmon import store
from stabmon.collect.run import monitor
from stabmon.core.model import format_time
from support.servers import SimulatedClock

from support.runs import options
from collect_helpers import week_window

pytestmark = pytest.mark.server


def _events(out):
    path = out / store.ANOMALIES_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_live_run_appends_anomalies_as_they_are_found(prometheus_week, incident_week, tmp_path):
    """Day 3's 5xx incident (13:00-17:00) is in anomalies.jsonl while the run is still going."""
    start = incident_week.window.start + timedelta(days=2, hours=6)  # day 3, 06:00
    window = week_window(incident_week, start=start, duration_hours=18)
    out = tmp_path / "live"
    seen_mid_run: list[tuple[str, list[dict]]] = []

    def watch(clock, seconds):
        # Look at the file at 15:00 and 16:00, while the incident is still going on.
        now = clock.now()
        if now.hour in (15, 16) and not any(stamp.startswith(format_time(now)[:13]) for stamp, _ in seen_mid_run):
            seen_mid_run.append((format_time(now), _events(out)))

    clock = SimulatedClock(start - timedelta(seconds=5), on_sleep=watch)
    outcome = monitor(options(prometheus_week.url, out, window, baseline=incident_week.baseline), clock=clock)
    assert outcome.exit_code == 0
    assert seen_mid_run, "the clock never passed 15:00"
    stamp, events = seen_mid_run[0]
    error_events = [e for e in events if e["metric"] == "error_rate" and e["severity"] == "high"]
    assert error_events, f"no high error_rate event in anomalies.jsonl at {stamp}: {events}"
    assert error_events[0]["timestamp"].startswith("2026-01-07T13:")  # the incident's first snapshot
    # After the run the file is rebuilt whole: same events, every line schema-valid.
    final = _events(out)
    for event in final:
        schemas.validate(event, "anomaly")
    assert error_events[0] in final


def test_baseline_window_is_collected_and_compared(prometheus_week, incident_week, tmp_path):
    """A baseline that records its window gets that window's snapshots and a per-day comparison."""
    day1 = incident_week.window.start
    baseline = dataclasses.replace(incident_week.baseline, window={
        "start": format_time(day1), "end": format_time(day1 + timedelta(days=1))})
    window = week_window(incident_week, start=day1 + timedelta(days=1), duration_hours=72)  # days 2-4
    out = tmp_path / "run"
    outcome = monitor(options(prometheus_week.url, out, window, baseline=baseline))
    assert outcome.exit_code == 0
    reference = store.read_snapshots(out, baseline_window=True).snapshots
    assert len(reference) == 48
    assert reference[0].timestamp == day1
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    rows = weekly["baseline_comparison"]
    assert {r["day_number"] for r in rows} == {1, 2, 3}
    memory = {r["day_number"]: r for r in rows if r["metric"] == "memory_percent"}
    # Memory creeps up all week: calendar day 4 (run day 3) is clearly above day 1.
    assert memory[3]["verdict"] == "high"
    assert memory[3]["day_median"] > memory[3]["baseline_median"]
    assert any("release-day baseline" in r for r in weekly["recommendations"])
    # A rerun does not fetch the baseline window again: it costs what a rerun
    # with a window-less baseline costs (readiness check and day figures).
    again = monitor(options(prometheus_week.url, out, window, baseline=baseline))
    plain = monitor(options(prometheus_week.url, out, window, baseline=incident_week.baseline))
    assert again.collected == 0
    assert again.requests == plain.requests
