"""Server faults during a live run, against the real Prometheus (issue 6, item 1).

Each test runs a 6-hour window (12 snapshots, 30 minutes apart) in live mode:
a :class:`~support.servers.SimulatedClock` makes every snapshot wait for its
time, so each is taken with instant queries as in a real week, but the run
takes a second. Faults go in at a chosen snapshot through the clock's
``on_sleep`` hook: either a :class:`~support.servers.FaultProxy` in front of
the shared server answers badly, or the test's own Prometheus is stopped and
started again.

The reference is the same window collected with range queries straight from
the server: a snapshot the fault did not touch must equal it exactly, one it
touched must hold ``null`` + ``missing`` + the reason, never a 0.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

import pytest

from stabmon import store
from stabmon.collect.collector import Collector
from stabmon.collect.run import monitor
from stabmon.collect.window import make_window
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from stabmon.collect.queries import build_catalogue
from support.servers import Fault, SimulatedClock

from support.runs import options
from .reliability_helpers import check_folder

pytestmark = pytest.mark.server

SETTLE = timedelta(seconds=2)  # default_settle(1800): live snapshots are queried 2 s after t_k
FAULTED = 4  # the snapshot a fault is aimed at
EMPTY = '{"status":"success","data":{"resultType":"vector","result":[]}}'


@pytest.fixture
def window(recent_data):
    # Two days back, 09:00-15:00: inside the data, away from the window's edges.
    return make_window(recent_data.midnight - timedelta(days=2) + timedelta(hours=9), 6, 30)


@pytest.fixture
def reference(prometheus, recent_data, window):
    """The window's snapshots from range queries, with no proxy in the way."""
    with PrometheusClient(ConnectionSettings.from_env(prometheus.url, env={})) as client:
        collector = Collector(client, build_catalogue(service="checkout", interval_seconds=1800), window,
                              {"checkout": recent_data.week.baseline})
        return collector.range_snapshots(list(range(window.snapshot_count)), ["checkout"])["checkout"]


def run_live(url: str, out, window, baseline, at_snapshot: dict[int, Callable[[], None]], *,
             timeout: float = 5.0, retries: int = 2):
    """Run ``window`` live through ``url``; call ``at_snapshot[k]()`` just before snapshot ``k`` is due.

    Returns the outcome, the snapshots by index and the backoff delays the client slept.
    """
    backoffs: list[float] = []

    def on_sleep(clock: SimulatedClock, seconds: float) -> None:
        k = window.index_of(clock.now() + timedelta(seconds=seconds) - SETTLE)
        action = at_snapshot.pop(k, None) if k is not None else None
        if action is not None:
            action()

    clock = SimulatedClock(window.start - timedelta(seconds=5), on_sleep=on_sleep)
    client = PrometheusClient(ConnectionSettings.from_env(url, env={}), timeout=timeout, retries=retries,
                              backoff=0.05, sleep=backoffs.append)
    with client:
        outcome = monitor(options(url, out, window, baseline=baseline), clock=clock, client=client)
    assert not at_snapshot, f"fault never injected: {at_snapshot}"
    by_time = {s.timestamp: s for s in store.read_snapshots(out).snapshots}
    check_folder(out, window)
    return outcome, {window.index_of(ts): s for ts, s in by_time.items()}, backoffs


def assert_untouched(got: dict, reference: dict, skip: set[int] = frozenset()) -> None:
    assert sorted(got) == sorted(reference)
    for k in reference:
        if k not in skip:
            assert got[k].to_dict() == reference[k].to_dict(), k


def assert_all_missing(snapshot, reason: str) -> None:
    data = snapshot.to_dict()
    assert snapshot.alerts is None and data["alerts"] is None
    assert all(data[m] is None for m in snapshot.missing), data
    assert set(snapshot.missing) == set(snapshot.missing_reasons) and len(snapshot.missing) >= 8, data
    assert all(reason in text for text in snapshot.missing_reasons.values()), data


# --------------------------------------------------------------------------- bursts absorbed by retries


@pytest.mark.parametrize("fault", [
    Fault("status", count=2, status=503),
    Fault("status", count=2, status=429, body='{"status":"error","errorType":"too_many_requests","error":"slow down"}'),
    Fault("status", count=2, status=502, body="<html>bad gateway</html>"),
    Fault("malformed", count=2),
    Fault("drop", count=2),
    Fault("slow", count=1, seconds=1.5),
], ids=["503x2", "429x2", "502-html-x2", "malformed-json-x2", "dropped-x2", "slow-once"])
def test_short_fault_is_retried_and_nothing_is_lost(proxy, recent_data, window, reference, tmp_path, fault):
    """A burst shorter than the retries costs backoff time, not data."""
    proxy_fault = Fault(**{**fault.__dict__})  # parametrized objects are shared; count is consumed
    outcome, got, backoffs = run_live(proxy.url, tmp_path / "run", window, recent_data.week.baseline,
                                      {FAULTED: lambda: proxy.inject(proxy_fault)}, timeout=0.5)
    assert outcome.exit_code == 0
    assert_untouched(got, reference)
    assert len(backoffs) == fault.count and all(0 < d < 1 for d in backoffs)


# --------------------------------------------------------------------------- faults that outlast the retries


@pytest.mark.parametrize("fault, reason", [
    (Fault("status", count=3, status=500), "HTTP 500"),
    (Fault("status", count=3, status=429, body='{"status":"error","errorType":"too_many_requests","error":"slow down"}'),
     "HTTP 429: too_many_requests: slow down"),
    (Fault("malformed", count=3), "malformed answer"),
    (Fault("drop", count=3), "connection closed"),
    (Fault("slow", count=3, seconds=1.2), "timed out"),
], ids=["500x3", "429x3", "malformed-json-x3", "dropped-x3", "slow-timeout-x3"])
def test_persistent_fault_makes_one_snapshot_missing_with_the_reason(proxy, recent_data, window, reference,
                                                                      tmp_path, fault, reason):
    """Timeout/status/garbage on every attempt: that snapshot is missing with the reason; the run goes on."""
    proxy_fault = Fault(**{**fault.__dict__})
    outcome, got, backoffs = run_live(proxy.url, tmp_path / "run", window, recent_data.week.baseline,
                                      {FAULTED: lambda: proxy.inject(proxy_fault)}, timeout=0.5)
    assert outcome.exit_code == 0
    assert_all_missing(got[FAULTED], reason)
    assert proxy.url.split("//")[1] in next(iter(got[FAULTED].missing_reasons.values()))
    assert_untouched(got, reference, skip={FAULTED})
    # 3 attempts (2 backoffs) on the first query; the rest of the snapshot is skipped, not retried again.
    assert len(backoffs) == 2
    weekly = store.read_json(tmp_path / "run" / store.WEEKLY_JSON)
    assert weekly["total_snapshots"] == window.snapshot_count


# --------------------------------------------------------------------------- odd values


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf"])
def test_nan_and_inf_values_are_missing_not_zero(proxy, recent_data, window, reference, tmp_path, value):
    """One metric answers NaN/Inf: that metric alone is null and listed missing (no reason: the server answered)."""
    fault = Fault("nan", count=1, body=value, path_contains="container_memory_working_set_bytes")
    outcome, got, _ = run_live(proxy.url, tmp_path / "run", window, recent_data.week.baseline,
                               {FAULTED: lambda: proxy.inject(fault)})
    assert outcome.exit_code == 0
    snapshot = got[FAULTED].to_dict()
    assert snapshot["memory_percent"] is None and snapshot["missing"] == ["memory_percent"]
    assert "memory_percent" not in snapshot["drift_percent"]
    want = reference[FAULTED].to_dict()
    assert {k: v for k, v in snapshot.items() if k not in ("memory_percent", "missing", "drift_percent")} == \
        {k: v for k, v in want.items() if k not in ("memory_percent", "missing", "drift_percent")}
    assert_untouched(got, reference, skip={FAULTED})


def test_empty_result_is_missing_not_zero(proxy, recent_data, window, reference, tmp_path):
    """An empty vector (no series) for p95 is recorded as missing, never as 0."""
    fault = Fault("status", count=1, status=200, body=EMPTY, path_contains="histogram_quantile%280.95")
    outcome, got, _ = run_live(proxy.url, tmp_path / "run", window, recent_data.week.baseline,
                               {FAULTED: lambda: proxy.inject(fault)})
    assert outcome.exit_code == 0
    snapshot = got[FAULTED].to_dict()
    assert snapshot["p95_latency_ms"] is None and snapshot["missing"] == ["p95_latency_ms"]
    assert snapshot["p99_latency_ms"] == reference[FAULTED].to_dict()["p99_latency_ms"]
    assert_untouched(got, reference, skip={FAULTED})


# --------------------------------------------------------------------------- outage of the real server


def test_server_stopped_and_restarted_mid_run(own_prometheus, recent_data, window, reference, tmp_path):
    """The real Prometheus goes down before snapshot 4 and is back before snapshot 7.

    Snapshots 4-6 are written with every metric missing and "connection
    refused"; 0-3 and 7-11 equal the reference; the run completes with all
    12 snapshots and the summaries.
    """
    server = own_prometheus
    outcome, got, _ = run_live(server.url, tmp_path / "run", window, recent_data.week.baseline,
                               {4: server.stop, 7: server.start}, retries=1)
    assert outcome.exit_code == 0
    for k in (4, 5, 6):
        assert_all_missing(got[k], "connection refused")
        assert server.url.split("//")[1] in got[k].missing_reasons["availability"]
    assert_untouched(got, reference, skip={4, 5, 6})
    daily = store.read_json(store.day_summary_path(tmp_path / "run", 1))
    assert daily["snapshot_count"] == 12
    assert (tmp_path / "run" / store.WEEKLY_JSON).exists()
