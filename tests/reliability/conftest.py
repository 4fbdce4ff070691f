"""Fixtures of the reliability suite: one real Prometheus holding recent synthetic data.

The data are the synthetic ``incident`` scenario for ``checkout`` plus a quiet
service with a hostile name, from nine days before today's UTC midnight up to
about half an hour ago, scraped every 5 minutes (small enough for promtool to
load in about a second). Because the data reach almost to "now", one server
serves both past windows (catch-up with range queries) and runs that go on
live and then wait for the next snapshot (the signal and lock tests).

The TSDB is built once into a template folder; every server runs on its own
copy, so a test that stops and restarts its server never disturbs the shared
one. Every process started here is stopped in a ``finally``.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from support import servers
from support.servers import need_binary
from support.synthetic_export import write_fleet_openmetrics
from stabmon.demo.synthetic import SyntheticWeek, generate_week

from support.runs import HOSTILE_SERVICE




@dataclass
class RecentData:
    """What the shared TSDB holds.

    Attributes
    ----------
    week
        The ``checkout`` data (its ``snapshots`` are the generator's truth).
    hostile
        The quiet service named :data:`HOSTILE_SERVICE`.
    midnight
        Today's UTC midnight when the data were made; windows are placed relative to it.
    end
        The last snapshot time with data (about 20-50 minutes ago).
    tsdb_template
        Blocks made by promtool; copy before serving.
    baseline
        A baseline JSON file for ``checkout``.
    """

    week: SyntheticWeek
    hostile: SyntheticWeek
    midnight: datetime
    end: datetime
    tsdb_template: Path
    baseline: Path


@pytest.fixture(scope="session")
def recent_data(tmp_path_factory) -> RecentData:
    need_binary("promtool")
    now = datetime.now(timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(days=9)
    # Up to a whole half hour at least 20 minutes ago: promtool refuses
    # nothing near "now", but the newest samples must be final.
    end = datetime.fromtimestamp(math.floor((now - timedelta(minutes=20)).timestamp() / 1800) * 1800, timezone.utc)
    hours = (end - start).total_seconds() / 3600.0
    week = generate_week("incident", start=start, duration_hours=hours, scrape_seconds=300)
    hostile = generate_week("healthy", start=start, duration_hours=hours, scrape_seconds=600, seed=7,
                            service=HOSTILE_SERVICE)
    folder = tmp_path_factory.mktemp("recent")
    om = folder / "recent.om"
    write_fleet_openmetrics([week, hostile], om)
    template = servers.load_openmetrics_tsdb(om, folder / "tsdb-template")
    om.unlink()
    baseline = folder / "baseline.json"
    baseline.write_text(json.dumps(week.baseline.to_dict()))
    return RecentData(week=week, hostile=hostile, midnight=midnight, end=end, tsdb_template=template,
                      baseline=baseline)


def serve_copy(data: RecentData, folder: Path) -> servers.PrometheusServer:
    """A started Prometheus on a private copy of the template TSDB (caller stops it)."""
    need_binary("prometheus")
    shutil.copytree(data.tsdb_template, folder / "tsdb")
    return servers.PrometheusServer(folder / "tsdb").start()


@pytest.fixture(scope="session")
def prometheus(recent_data, tmp_path_factory) -> Iterator[servers.PrometheusServer]:
    """The shared Prometheus (never stopped by a test)."""
    server = serve_copy(recent_data, tmp_path_factory.mktemp("prom-shared"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_prometheus(recent_data, tmp_path) -> Iterator[servers.PrometheusServer]:
    """A Prometheus for one test only, which the test may stop and restart."""
    server = serve_copy(recent_data, tmp_path / "own-prom")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy(prometheus) -> Iterator[servers.FaultProxy]:
    """A fault-injecting loopback proxy in front of the shared Prometheus."""
    with servers.FaultProxy(prometheus.url) as fault_proxy:
        yield fault_proxy
