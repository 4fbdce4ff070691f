"""An interrupted run resumes: what is on disk is kept, only the rest is fetched."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from stabmon import store
from stabmon.collect.run import monitor
from support.servers import SimulatedClock

from support.runs import options
from collect_helpers import mismatches, read_folder, week_window

pytestmark = pytest.mark.server


def test_resume_after_an_interrupted_run(week_backend, incident_week, tmp_path):
    window = week_window(incident_week)
    out = tmp_path / "run"

    def interrupt_on_fifth_sleep(clock, seconds):
        if len(clock.sleeps) == 4:
            raise KeyboardInterrupt

    # Three days and an hour into the week: catch up, go live, Ctrl+C.
    clock = SimulatedClock(window.start + timedelta(days=3, hours=1), on_sleep=interrupt_on_fifth_sleep)
    first = monitor(options(week_backend.url, out, window, baseline=incident_week.baseline), clock=clock)
    assert first.exit_code == 130 and first.interrupted
    taken = len(read_folder(out))
    assert 3 * 48 < taken < 4 * 48
    # Partial days were aggregated before exiting: day 4 is partial.
    day4 = json.loads(store.day_summary_path(out, 4).read_text())
    assert day4["_metadata"]["data_completeness"] == "partial"
    assert (out / store.WEEKLY_JSON).exists()

    # A lost file in the middle is fetched again; the others are not.
    lost = sorted(store.iter_snapshot_files(out))[50]
    lost.unlink()
    kept = {p: p.stat().st_mtime_ns for p in store.iter_snapshot_files(out)}

    again = monitor(options(week_backend.url, out, window, baseline=incident_week.baseline),
                    clock=SimulatedClock(window.end + timedelta(hours=1)))
    assert again.exit_code == 0
    assert again.resumed == taken - 1
    assert again.collected == 336 - taken + 1
    assert again.requests <= 30
    for path, mtime in kept.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"
    snapshots = read_folder(out)
    assert len(snapshots) == 336
    for want in incident_week.snapshots:
        assert not mismatches(snapshots[want.timestamp], want)
    day4 = json.loads(store.day_summary_path(out, 4).read_text())
    assert day4["_metadata"]["data_completeness"] == "complete"
