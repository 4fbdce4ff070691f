"""The week so far (issue 14): window_complete, days_closed, no early pass; which reports are due."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from stabmon.cli.main import build_parser, main
from stabmon.cli.monitor import release_info
from stabmon.core.daily import aggregate_days
from stabmon.core.errors import InputError
from stabmon.core.model import Window
from stabmon.core.weekly import days_closed_at, weekly_summary
from stabmon.demo.week import run_demo_week
from stabmon.report.due import due_reports, week_kinds_due

from factories import START, make_snapshot, week_of

#: Two days every 6 hours: 4 snapshots a day.
WINDOW = Window(start=START, duration_hours=48.0, interval_minutes=360.0)


def test_a_healthy_window_passes_only_once_it_is_over():
    daily = aggregate_days(week_of(WINDOW), WINDOW)
    whole = weekly_summary(daily, WINDOW, None)
    assert (whole["window_complete"], whole["days_closed"], whole["verdict"]) == (True, 2, "pass")
    so_far = weekly_summary(daily[:2], WINDOW, None, days_closed=1)
    assert (so_far["window_complete"], so_far["days_closed"]) == (False, 1)
    assert so_far["verdict"] == "inconclusive" and not so_far["rollback_recommended"]
    assert so_far["inconclusive_reasons"] == [
        {"metric": "window", "source": "window", "reason": "the window is not over: 1 of 2 days closed"}]


def test_a_rollback_may_come_before_the_window_ends():
    # Day 1 at 90 % availability (10 % errors): the rollback criteria fire on the first day.
    snapshots = [make_snapshot(t, availability=90.0, error_rate=10.0, errors=100.0) for t in WINDOW.times()[:4]]
    so_far = weekly_summary(aggregate_days(snapshots, WINDOW)[:2], WINDOW, None, days_closed=1)
    assert so_far["verdict"] == "rollback" and so_far["rollback_evidence"]
    assert so_far["window_complete"] is False


def test_reports_are_due_when_their_inputs_change():
    current = {"day_01": "a", "day_02": "b", "week": "w2"}
    # Nothing rendered yet, the window over: both days and both week reports.
    due = due_reports([1, 2], week_kinds_due(True, False), current, {})
    assert (due.days, due.kinds) == ([1, 2], ["weekly", "retrospective"])
    # Day 1 unchanged, day 2 changed; the week rendered from these inputs already.
    rendered = {"day_01": "a", "day_02": "old", "weekly": "w2", "retrospective": "w2"}
    due = due_reports([1, 2], week_kinds_due(True, False), current, rendered)
    assert (due.days, due.kinds) == ([2], [])
    # A live run before the end renders no week report; a catch-up renders the weekly one (the week so far).
    assert due_reports([1], week_kinds_due(False, False), current, {}).kinds == []
    assert due_reports([1], week_kinds_due(False, True), current, {}).kinds == ["weekly"]
    # A day without a summary yet is not due.
    assert due_reports([3], ["weekly"], current, {}).days == []


def test_release_flags_make_the_run_json_record():
    parser = build_parser()
    base = ["monitor", "--baseline", "b.json", "--catch-up"]
    args = parser.parse_args(base + ["--release", "v1.4.2", "--deployed-at", "2026-11-20T10:30:00+01:00"])
    assert args.catch_up
    assert release_info(args) == {"name": "v1.4.2", "commit": None, "deployed_at": "2026-11-20T09:30:00Z"}
    # No flag on a resumed run: the recorded release stands.
    recorded = {"release": {"name": "v1.4.1", "commit": "abc", "deployed_at": None}}
    assert release_info(parser.parse_args(base), recorded) == recorded["release"]
    assert release_info(parser.parse_args(base)) is None
    with pytest.raises(InputError, match=r"^--deployed-at 'tuesday' is not an ISO 8601 time"):
        release_info(parser.parse_args(base + ["--deployed-at", "tuesday"]))


def test_days_closed_at():
    assert days_closed_at(WINDOW, START) == 0
    assert days_closed_at(WINDOW, START + timedelta(hours=24)) == 1
    assert days_closed_at(WINDOW, START + timedelta(hours=47, minutes=59)) == 1
    assert days_closed_at(WINDOW, START + timedelta(hours=48)) is None


def test_analyze_judges_an_unfinished_window_as_the_week_so_far(tmp_path, capsys):
    # A healthy demo window that started 30 hours ago and lasts 48: one day closed, never a pass yet.
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    run_demo_week(tmp_path, scenario="healthy", duration_hours=48, interval_minutes=60, start=start, fsync=False)
    assert main(["analyze", "--input", str(tmp_path)]) == 0
    weekly = json.loads((tmp_path / "weekly_summary.json").read_text())
    assert (weekly["window_complete"], weekly["days_closed"], weekly["verdict"]) == (False, 1, "inconclusive")
    assert "verdict: INCONCLUSIVE" in capsys.readouterr().out
