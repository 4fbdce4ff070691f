"""Signals and the run lock, on real ``stabmon monitor`` processes (issue 6, items 2 and 3).

The window starts 25 hours ago and lasts 48 hours: the run catches up on
about 50 past snapshots, closes day 1 and then waits, live, for the next
snapshot, which is where a Ctrl+C, a scheduler's SIGTERM or a second run
finds it.
"""

from __future__ import annotations

import math
import signal
from datetime import datetime, timedelta, timezone

import pytest

from stabmon import store
from stabmon.collect.window import make_window

from .reliability_helpers import Running, check_folder, monitor_args, one_line_error, run_cli, utc_now

pytestmark = pytest.mark.server


def live_window_start() -> datetime:
    now = utc_now()
    return datetime.fromtimestamp(math.floor(now.timestamp() / 1800) * 1800, timezone.utc) - timedelta(hours=25)


def assert_partial_run_written(out, window) -> None:
    """Day 1 complete, day 2 partial, the weekly summary written, every file whole."""
    files = check_folder(out, window)
    assert 48 < len(files) < 96
    day1 = store.read_json(store.day_summary_path(out, 1))
    day2 = store.read_json(store.day_summary_path(out, 2))
    assert day1["_metadata"]["data_completeness"] == "complete"
    assert day2["_metadata"]["data_completeness"] != "complete"
    assert day2["snapshot_count"] == len(files) - 48
    weekly = store.read_json(out / store.WEEKLY_JSON)
    assert weekly["total_snapshots"] == len(files)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_partial_days_and_exits_130(prometheus, recent_data, tmp_path, signum):
    """Ctrl+C and SIGTERM (what Kubernetes sends) both aggregate the partial days, then exit 130."""
    start = live_window_start()
    window = make_window(start, 48, 30)
    out = tmp_path / "run"
    with Running(monitor_args(prometheus.url, recent_data.baseline, out, start, 48), tmp_path / "log") as run:
        run.wait_for("day 1 complete")
        run.signal(signum)
        code = run.wait(timeout=60)
        output = run.output
    assert code == 130, output
    assert "interrupted: writing the partial days' summaries" in output
    assert "Traceback" not in output
    assert_partial_run_written(out, window)


def test_folder_in_use_is_refused_and_a_killed_run_leaves_no_stuck_lock(prometheus, recent_data, tmp_path):
    """A second run on a busy folder gets one clear line; after SIGKILL of the first, a rerun resumes."""
    start = live_window_start()
    window = make_window(start, 48, 30)
    out = tmp_path / "run"
    args = monitor_args(prometheus.url, recent_data.baseline, out, start, 48)
    with Running(args, tmp_path / "first.log") as first:
        first.wait_for("day 1 complete")
        line = one_line_error(run_cli(*args, timeout=60))
        assert f"output folder {out} is in use by another stabmon run (pid {first.process.pid})" in line
        first.process.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    collected = len(check_folder(out, window))

    # The kernel dropped the dead run's flock: the lock file is still there, not stuck.
    assert (out / ".stabmon.lock").exists()
    with Running(args, tmp_path / "second.log") as second:
        second.wait_for(f"resuming: {collected} of 96 snapshots already in {out}")
        second.wait_for("day 1 complete")
        second.signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 130, second.output
    assert_partial_run_written(out, window)
