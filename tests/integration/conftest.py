"""Real servers for the collection tests: Prometheus and VictoriaMetrics.

Session fixtures load the synthetic ``incident`` week (service ``checkout``)
plus a small week for a service with a hostile name into each backend, and
run a second pair of servers scraping a live exporter (data around "now")
for the live-mode tests. Missing binaries skip the tests with the reason, or
fail them when ``CI`` is set. Every process is stopped at the end, also when
a test fails.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from support import servers
from support.servers import need_binary
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from support.synthetic_export import generate_week, write_fleet_openmetrics

from support.runs import HOSTILE_SERVICE
from collect_helpers import LIVE_SERVICE, start_live_prometheus, start_live_victoria, wait_for_live_data




@dataclass
class Backend:
    """A running server and what it holds."""

    name: str
    url: str
    server: object

    def client(self, **kwargs) -> PrometheusClient:
        return PrometheusClient(ConnectionSettings.from_env(self.url, env={}), **kwargs)


@pytest.fixture(scope="session")
def incident_week():
    """The synthetic incident week of ``checkout`` (2026-01-05 .. 2026-01-12, 30 min)."""
    return generate_week("incident", service="checkout")


@pytest.fixture(scope="session")
def hostile_week():
    """A healthy week for :data:`HOSTILE_SERVICE`, coarse scrapes to stay small."""
    return generate_week("healthy", service=HOSTILE_SERVICE, scrape_seconds=600, seed=7)


@pytest.fixture(scope="session")
def week_files(tmp_path_factory, incident_week, hostile_week) -> dict[str, Path]:
    """The weeks as OpenMetrics, and the incident week's baseline JSON."""
    folder = tmp_path_factory.mktemp("week")
    om = folder / "weeks.om"
    write_fleet_openmetrics([incident_week, hostile_week], om)
    baseline = folder / "baseline.json"
    baseline.write_text(json.dumps(incident_week.baseline.to_dict()))
    return {"openmetrics": om, "baseline": baseline}


@pytest.fixture(scope="session")
def prometheus_week(tmp_path_factory, week_files) -> Iterator[Backend]:
    need_binary("prometheus")
    need_binary("promtool")
    folder = tmp_path_factory.mktemp("prom-week")
    servers.load_openmetrics_tsdb(week_files["openmetrics"], folder / "tsdb")
    with servers.PrometheusServer(folder / "tsdb") as server:
        yield Backend("prometheus", server.url, server)


@pytest.fixture(scope="session")
def victoria_week(tmp_path_factory, incident_week, hostile_week) -> Iterator[Backend]:
    need_binary("victoria-metrics")
    folder = tmp_path_factory.mktemp("vm-week")
    with servers.VictoriaMetricsServer(folder / "data") as server:
        for week in (incident_week, hostile_week):
            server.import_lines(line.rstrip("\n") for line in week.iter_vm_import_lines())
        yield Backend("victoriametrics", server.url, server)


@pytest.fixture(scope="session", params=["prometheus", "victoriametrics"])
def week_backend(request) -> Backend:
    """Each backend in turn, loaded with the weeks."""
    return request.getfixturevalue("prometheus_week" if request.param == "prometheus" else "victoria_week")


# --------------------------------------------------------------------------- live data


@pytest.fixture(scope="session")
def live_exporter() -> Iterator[servers.LiveExporter]:
    with servers.LiveExporter(service=LIVE_SERVICE) as exporter:
        yield exporter



@dataclass
class LiveBackend(Backend):
    ready_at: float = 0.0




@pytest.fixture(scope="session", params=["prometheus", "victoriametrics"])
def live_backend(request, tmp_path_factory, live_exporter) -> Iterator[LiveBackend]:
    """Each backend in turn, scraping the live exporter every second."""
    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    start = start_live_prometheus if request.param == "prometheus" else start_live_victoria
    server = start(folder, live_exporter)
    try:
        wait_for_live_data(server.url)
        yield LiveBackend(request.param, server.url, server, ready_at=time.time())
    finally:
        server.stop()
