"""A real service, as a new user would try stabmon on it (issue 11).

A FastAPI app instrumented with prometheus-fastapi-instrumentator (its
defaults: ``status="5xx"``, no ``code`` label, buckets 0.1/0.5/1 s) runs
under uvicorn on loopback; a real Prometheus scrapes it every second, adds
``service="checkout"`` through the scrape config, and evaluates the
``CheckoutHighErrorRate`` alerting rule itself; a bounded load generator
sends the traffic. The default queries cannot tell "no errors" from "wrong
label" on this app: ``check`` must say so and exit 1, and ``monitor`` must
record the error figures as missing with that reason, never 100 %
availability, while 10 % of the requests fail.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from stabmon import store
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from stabmon.collect.run import monitor
from stabmon.collect.window import make_window
from support import servers
from support.runs import options
from support.servers import need_binary

apps = pytest.importorskip("support.apps", reason="fastapi/uvicorn/instrumentator: pip install -e '.[dev]'")

#: The load: batches of this many requests ...
BATCH = 8
#: ... every this many seconds, until the generator has sent its fixed number of batches.
PAUSE = 0.1


class Traffic:
    """A bounded load generator in a thread: ``batches`` batches of :data:`BATCH` requests, then it stops."""

    def __init__(self, url: str, batches: int) -> None:
        self.url = url
        self.batches = batches
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkout-load", daemon=True)

    def _run(self) -> None:
        for _ in range(self.batches):
            if self._stop.is_set():
                return
            for status, count in apps.run_load(self.url, BATCH, threads=4).items():
                self.statuses[status] = self.statuses.get(status, 0) + count
            time.sleep(PAUSE)

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def real_app(tmp_path_factory):
    """The app, its Prometheus (1 s scrapes, the alerting rule) and traffic already visible in queries."""
    need_binary("prometheus")
    folder = tmp_path_factory.mktemp("real-app")
    with apps.CheckoutApp(folder) as app:
        target = servers.ScrapeTarget(app.address, job="checkout", interval="1s", labels=(("service", "checkout"),))
        with servers.PrometheusServer(folder / "tsdb", targets=[target], rules=apps.ALERT_RULES,
                                      evaluation_interval="1s") as prometheus:
            # Enough batches for the whole module (about 90 s at most); the generator stops by itself.
            with Traffic(f"{app.url}/checkout", batches=600) as traffic:
                _wait_for_traffic(prometheus.url)
                yield app, prometheus, traffic


def _wait_for_traffic(url: str, timeout: float = 30.0) -> None:
    with PrometheusClient(ConnectionSettings.from_env(url, env={}), retries=0) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = datetime.now(timezone.utc)
            got = client.instant('sum(rate(http_requests_total{service="checkout"}[5s]))', now)
            if got and got[0].points[-1][1]:
                return
            time.sleep(0.5)
    raise AssertionError("Prometheus never saw the app's traffic")


def _check(url: str, service: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stabmon.cli.main", "check", "--prometheus-url", url,
                           "--service", service, "--interval", "0.1"],
                          capture_output=True, text=True, timeout=60)


def test_check_flags_the_default_error_expression_on_the_instrumentator(real_app):
    _, prometheus, _ = real_app
    proc = _check(prometheus.url, "checkout")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    flagged = [line for line in lines if "[error_label_absent]" in line]
    assert {line.split()[1] for line in flagged} == {"availability", "error_rate", "errors"}
    assert all("did you mean status?" in line for line in flagged)
    assert "key metrics that cannot be read: availability, error_rate" in lines[-1]
    # The requests themselves are read: one series, a value.
    assert any(line.startswith("requests: 1 series, value ") for line in lines)
    # The instrumentator's 0.1/0.5/1 s buckets: p99 is interpolated inside 0-100 ms.
    assert any("[quantile_interpolated]" in line and "0-100 ms" in line for line in lines), proc.stdout


def test_check_names_the_right_service_for_a_mistyped_one(real_app):
    _, prometheus, _ = real_app
    proc = _check(prometheus.url, "chekout")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("  ERROR p99_latency_ms [value_absent]") and "did you mean checkout?" in line
               for line in lines), proc.stdout
    assert "key metrics that cannot be read: availability, error_rate, p99_latency_ms" in lines[-1]


def test_live_run_through_an_error_and_a_latency_burst_never_reads_100_percent(real_app, tmp_path):
    app, prometheus, traffic = real_app
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
    window = make_window(start, 0.01, 0.1)  # 36 s, a snapshot every 6 s: 6 snapshots

    def bursts() -> None:
        time.sleep(8)
        app.set_mode(error_percent=10)  # every 10th request fails: 10 %
        time.sleep(12)
        app.set_mode(delay_ms=300)  # 0.1..0.5 s bucket: p99 far above the 0..100 ms of the calm
        time.sleep(12)
        app.set_mode()

    switcher = threading.Thread(target=bursts, daemon=True)
    switcher.start()
    try:
        outcome = monitor(options(prometheus.url, tmp_path / "run", window, service="checkout"))
    finally:
        switcher.join(timeout=30)
        app.set_mode()
    assert outcome.exit_code == 0
    assert traffic.statuses.get(500, 0) > 0  # the app did fail requests during the run

    snapshots = store.read_snapshots(tmp_path / "run").snapshots
    assert len(snapshots) == window.snapshot_count
    for snapshot in snapshots:
        data = snapshot.to_dict()
        # The error figures are missing with the preflight's reason: never 0 errors, never 100 %.
        for metric in ("availability", "error_rate", "errors"):
            assert data[metric] is None, data
            assert data["missing_reasons"][metric].startswith("preflight: the error matcher code=~"), data
        assert data["requests"] and data["requests"] > 0, data
    p99 = [s.values["p99_latency_ms"] for s in snapshots if s.values["p99_latency_ms"] is not None]
    assert p99 and min(p99) < 100.0 < max(p99), p99  # the latency burst is seen, the calm too
    fired = {a.alertname for s in snapshots for a in (s.alerts or [])}
    assert "CheckoutHighErrorRate" in fired  # the real alert fired while the errors were unreadable

    info = store.read_json(tmp_path / "run" / store.RUN_FILE)
    codes = {(f["metric"], f["code"]) for f in info["preflight"]["findings"]}
    assert {("availability", "error_label_absent"), ("error_rate", "error_label_absent"),
            ("errors", "error_label_absent")} <= codes
    weekly = store.read_json(tmp_path / "run" / store.WEEKLY_JSON)
    assert weekly["avg_availability"] is None
    # Never green on data it did not see: the verdict names both unreadable key metrics.
    assert weekly["verdict"] == "inconclusive" and weekly["rollback_recommended"] is False
    doubted = {reason["metric"] for reason in weekly["inconclusive_reasons"]}
    assert {"availability", "error_rate"} <= doubted, weekly["inconclusive_reasons"]
