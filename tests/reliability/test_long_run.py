"""The long run: a whole 168-hour live run under an injected clock (issue 6, item 4).

The run is live from its first snapshot (the clock starts just before the
window), so every snapshot waits for its time and is taken with instant
queries against the real Prometheus, except where the clock plays a week's
hiccups:

- the machine is suspended for 3 hours across the night from day 3 to day 4
  (one sleep returns late): the snapshots missed meanwhile are caught up
  with range queries and day 3 is closed during the catch-up;
- work is slow for a stretch across the night from day 5 to day 6 (every
  clock read costs 40 minutes, longer than the interval): the seed's
  "Behind schedule by Xs" path, with a day boundary crossed while behind.

The same assertions hold for a window starting at midnight and for one
starting at 13:45.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from stabmon import store
from stabmon.collect.collector import Collector
from stabmon.collect.run import monitor
from stabmon.collect.window import make_window
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from stabmon.collect.queries import build_catalogue
from support.servers import SimulatedClock

from support.runs import options
from .reliability_helpers import check_folder

pytestmark = [pytest.mark.server, pytest.mark.slow]


class HiccupClock(SimulatedClock):
    """A simulated clock with one oversleep and one slow stretch.

    Parameters
    ----------
    start
        Simulated "now" at the beginning.
    suspend_at, suspend_for
        The first sleep that ends after ``suspend_at`` ends ``suspend_for`` later.
    slow_from, slow_until
        While "now" is in this range, every :meth:`now` call costs ``slow_cost`` seconds.
    """

    def __init__(self, start: datetime, *, suspend_at: datetime, suspend_for: timedelta,
                 slow_from: datetime, slow_until: datetime, slow_cost: float) -> None:
        super().__init__(start)
        self.suspend_at, self.suspend_for = suspend_at, suspend_for
        self.slow_from, self.slow_until, self.slow_cost = slow_from, slow_until, slow_cost
        self.suspended = False

    def now(self) -> datetime:
        current = super().now()
        self.query_cost = self.slow_cost if self.slow_from <= current < self.slow_until else 0.0
        return current

    def sleep(self, seconds: float) -> None:
        before = super().now()
        if not self.suspended and before + timedelta(seconds=seconds) >= self.suspend_at:
            self.suspended = True
            seconds += self.suspend_for.total_seconds()
        super().sleep(seconds)


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(hours=13, minutes=45)], ids=["midnight", "13h45"])
def test_a_whole_week_live(prometheus, recent_data, tmp_path, caplog, offset):
    start = recent_data.midnight - timedelta(days=8) + offset
    window = make_window(start, 168, 30)
    day = timedelta(days=1)
    clock = HiccupClock(
        window.start - timedelta(seconds=5),
        suspend_at=start + 3 * day - timedelta(hours=1, minutes=30), suspend_for=timedelta(hours=3),
        slow_from=start + 5 * day - timedelta(hours=2), slow_until=start + 5 * day + timedelta(hours=2),
        slow_cost=2400.0,
    )
    out = tmp_path / "week"
    with caplog.at_level(logging.INFO, logger="stabmon.collect.run"):
        outcome = monitor(options(prometheus.url, out, window, baseline=recent_data.week.baseline), clock=clock)
    messages = [r.getMessage() for r in caplog.records]

    assert outcome.exit_code == 0 and outcome.collected == 336
    assert outcome.days_closed == [1, 2, 3, 4, 5, 6, 7]
    assert clock.suspended
    assert any(m.startswith("Behind schedule by") for m in messages), messages
    assert any("catching up on 6 past snapshots" in m for m in messages), messages  # the suspend
    assert len(clock.sleeps) >= 300  # live: nearly every snapshot waited for its time

    # 336 snapshots, each once, in the day folder of its time (check_folder), 48 a day.
    files = check_folder(out, window)
    assert sorted(files) == window.times()
    for d in range(1, 8):
        begin, end = start + (d - 1) * day, start + d * day
        in_day = sorted(ts for ts in files if begin <= ts < end)
        assert len(in_day) == 48 and in_day[0] == begin and in_day[-1] == end - timedelta(minutes=30)
        assert all(files[ts].parent.name == f"day_{d:02d}_raw" for ts in in_day)
        summary = store.read_json(store.day_summary_path(out, d))
        meta = summary["_metadata"]
        assert summary["snapshot_count"] == 48 and meta["data_completeness"] == "complete"
        assert (meta["day_start"], meta["day_end"]) == (f"{begin:%Y-%m-%dT%H:%M:%SZ}", f"{end:%Y-%m-%dT%H:%M:%SZ}")
    weekly = store.read_json(out / store.WEEKLY_JSON)
    assert weekly["total_snapshots"] == 336

    # Live, caught-up and late snapshots all equal range queries at the same t_k.
    with PrometheusClient(ConnectionSettings.from_env(prometheus.url, env={})) as client:
        reference = Collector(client, build_catalogue(service="checkout", interval_seconds=1800), window,
                              {"checkout": recent_data.week.baseline}).range_snapshots(list(range(336)),
                                                                                       ["checkout"])["checkout"]
    got = {s.timestamp: s for s in store.read_snapshots(out).snapshots}
    for k, want in reference.items():
        assert got[window.time_of(k)].to_dict() == want.to_dict(), k
    assert sum(1 for s in got.values() if not s.missing) > 300  # real data, not a week of nulls
