"""Catch-up runs for schedulers (issue 14): hourly ``monitor --catch-up`` runs equal one run.

A past window of the loaded incident week, and a simulated clock set to each
hour of it: every catch-up run sees only the snapshots whose time has passed
at that hour, writes the closed days, the current day as partial and the
week so far, and returns. Against the real Prometheus.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stabmon import store
from stabmon.cli.main import main
from stabmon.collect.run import monitor
from stabmon.store.lock import run_lock

from support.runs import options
from support.servers import SimulatedClock
from collect_helpers import week_window

pytestmark = pytest.mark.server

#: Day 3 of the incident week: its 13:00-17:00 5xx incident falls on day 1 of this window.
START = datetime(2026, 1, 7, tzinfo=timezone.utc)
HOURS = 30.0


def catch_up_window(week):
    return week_window(week, start=START, duration_hours=HOURS)


def catch_up_at(url: str, out: Path, week, hour: float):
    """One catch-up run with the clock at ``START + hour`` hours (plus five minutes, as a cron line at :05)."""
    clock = SimulatedClock(START + timedelta(hours=hour, minutes=5))
    return monitor(options(url, out, catch_up_window(week), baseline=week.baseline, catch_up=True), clock=clock)


def folder_contents(folder: Path) -> dict[str, object]:
    """Every file of a run folder, parsed, without what only says when it was written."""
    contents: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        name = str(path.relative_to(folder))
        if path.suffix == ".json":
            document = json.loads(path.read_text())
            if isinstance(document, dict):
                (document.get("_metadata") or {}).pop("generated_at", None)
                (document.get("preflight") or {}).pop("checked_at", None)
            contents[name] = document
        else:
            contents[name] = path.read_text()
    return contents


def test_hourly_catch_up_runs_equal_one_run(prometheus_week, incident_week, tmp_path):
    """Cron every hour over the window leaves exactly the folder one run leaves."""
    hourly = tmp_path / "hourly"
    for hour in range(int(HOURS) + 1):
        outcome = catch_up_at(prometheus_week.url, hourly, incident_week, hour)
        assert outcome.exit_code == 0
        # One hour at 30 minutes is two snapshots; the first run takes t_0 alone, the last t_59 (29:30).
        assert outcome.collected == (1 if hour in (0, HOURS) else 2), hour
        assert outcome.window_complete == (hour >= HOURS)
    one = tmp_path / "one"
    assert monitor(options(prometheus_week.url, one, catch_up_window(incident_week),
                           baseline=incident_week.baseline)).exit_code == 0

    got, want = folder_contents(hourly), folder_contents(one)
    assert sorted(got) == sorted(want)
    assert len([n for n in got if n.startswith("day_01_raw/")]) == 48
    assert len([n for n in got if n.startswith("day_02_raw/")]) == 12
    for name in want:
        assert got[name] == want[name], name
    weekly = got[store.WEEKLY_JSON]
    assert weekly["window_complete"] is True and weekly["days_closed"] == 2


def test_week_so_far_is_partial_and_never_a_pass(prometheus_week, incident_week, tmp_path):
    out = tmp_path / "run"
    # 10:05 on day 1: t_0 .. t_20 (00:00 .. 10:00) have passed; no day has closed.
    outcome = catch_up_at(prometheus_week.url, out, incident_week, 10)
    assert (outcome.collected, outcome.window_complete, outcome.days_closed) == (21, False, [])
    day1 = json.loads(store.day_summary_path(out, 1).read_text())
    assert day1["_metadata"]["data_completeness"] == "partial"
    assert day1["snapshot_count"] == 21
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert (weekly["window_complete"], weekly["days_closed"]) == (False, 0)
    assert weekly["total_snapshots"] == 21
    assert [d["day_number"] for d in weekly["daily_summaries"]] == [1]
    # Ten healthy hours: everything measured, nothing fired, and still no pass before the end.
    assert weekly["verdict"] == "inconclusive"
    assert {"metric": "window", "source": "window",
            "reason": "the window is not over: 0 of 2 days closed"} in weekly["inconclusive_reasons"]
    assert not store.day_summary_path(out, 2).exists()

    # 24:05: day 1 (with the 13:00-17:00 incident) has closed; day 2 has one snapshot.
    outcome = catch_up_at(prometheus_week.url, out, incident_week, 24)
    assert outcome.collected == 28 and outcome.days_closed == [1]
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert (weekly["window_complete"], weekly["days_closed"]) == (False, 1)
    assert json.loads(store.day_summary_path(out, 1).read_text())["_metadata"]["data_completeness"] == "complete"
    assert json.loads(store.day_summary_path(out, 2).read_text())["snapshot_count"] == 1
    # A rollback may come early: the incident day is evidence already.
    assert weekly["verdict"] == "rollback" and weekly["rollback_evidence"]


def test_a_window_in_the_future_has_nothing_to_catch_up(tmp_path, capsys):
    out = tmp_path / "future"
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"timestamp": "2026-01-01T00:00:00Z", "availability": 99.9}))
    start = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code = main(["monitor", "--catch-up", "--baseline", str(baseline), "--service", "checkout",
                 "--prometheus-url", "http://127.0.0.1:9", "--start", start, "--output", str(out)])
    printed = capsys.readouterr()
    assert code == 0
    assert printed.out == f"{out}: nothing has passed yet: the window starts at {start}\n"
    assert not out.exists()


def test_overlapping_catch_up_runs_are_refused_by_the_lock(prometheus_week, incident_week, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(incident_week.baseline.to_dict()))
    with run_lock(out):
        code = main(["monitor", "--catch-up", "--baseline", str(baseline), "--service", "checkout",
                     "--prometheus-url", prometheus_week.url, "--start", "2026-01-07T00:00:00Z",
                     "--duration", "30", "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith(f"stabmon: error: output folder {out} is in use by another stabmon run (pid ")
    assert not (out / store.RUN_FILE).exists()
