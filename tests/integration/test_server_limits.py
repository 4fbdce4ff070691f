"""Queries that outgrow the server's limits are split and still give the unsplit run, against real Prometheus.

One TSDB holds two days of 20 light services (a scrape every 30 minutes)
and eight days of one heavy service (a scrape every 60 s: each 30-minute
window reads 30 samples per series). It is served by four ``prometheus`` processes, each on
its own copy of the blocks:

- unlimited: the reference runs;
- ``--query.max-samples=SAMPLE_LIMIT``: a light service's two days of latency
  buckets (15 series x 96 times = 1,440 points) are over the limit, one day
  (720 points) and a day figure (15 series x 49 samples = 735) are not, so a
  single run splits in time and a fleet run by services, then in time;
- ``--query.timeout``, calibrated on this machine as it runs (a fixed figure
  fits an idle machine or a busy one, not both): the geometric mean of the
  slowest evaluation of what cannot be split and the fastest of the whole
  query. For the heavy service, its eight days of latency (15 x 384 x 30 =
  172,800 samples read) against one day figure (15 x 1,440 = 21,600, which
  no split makes smaller): about 2.8 times either way. For the fleet, the 20
  light services' two days of latency (28,800 points) against one service's
  (1,440): about 4.5 times either way;
- ``--query.max-samples=5``: ``vector(1)`` (the start-up check) fits, one
  service's availability at one time (4 request series) does not.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from support import servers
from support.runs import options
from support.servers import need_binary
from support.synthetic_export import generate_fleet, generate_week, write_fleet_openmetrics
from stabmon.collect.prom import ConnectionSettings
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions, monitor
from stabmon.collect.window import make_window

from test_collect_errors import one_line_error, run_cli

pytestmark = pytest.mark.server

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
HOURS = 48
HEAVY_HOURS = 192
LIGHT = [f"svc{i:02d}" for i in range(20)]
HEAVY = "heavy"
SAMPLE_LIMIT = 1000
#: Fields that differ between two runs of the same data on two servers.
VARYING = {"generated_at", "prometheus_url"}
SPLIT_LOGGER = "stabmon.collect.limits"


@pytest.fixture(scope="module")
def tsdb(tmp_path_factory) -> Path:
    need_binary("prometheus")
    need_binary("promtool")
    folder = tmp_path_factory.mktemp("limits")
    weeks = generate_fleet(dict.fromkeys(LIGHT, "healthy"), start=START, duration_hours=HOURS, scrape_seconds=1800)
    weeks.append(generate_week("healthy", service=HEAVY, start=START, duration_hours=HEAVY_HOURS,
                               scrape_seconds=60))
    write_fleet_openmetrics(weeks, folder / "data.om")
    (folder / "baseline.json").write_text(json.dumps(weeks[3].baseline.to_dict()))
    return servers.load_openmetrics_tsdb(folder / "data.om", folder / "tsdb")


@pytest.fixture(scope="module")
def prometheus(tsdb, tmp_path_factory):
    """Start a Prometheus with the given flags on its own copy of the TSDB; all stopped at the end."""
    started: list[servers.PrometheusServer] = []

    def start(*flags: str) -> servers.PrometheusServer:
        data = tmp_path_factory.mktemp("prom") / "tsdb"
        shutil.copytree(tsdb, data)
        server = servers.PrometheusServer(data, extra_args=flags)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def unlimited(prometheus):
    return prometheus()


def window(hours: float = HOURS):
    return make_window(START, hours, 30)


def _seconds(url: str, path: str, params: dict, best) -> float:
    """The fastest (``best=min``) or slowest (``max``) of five answers to one query, in seconds."""
    query = urllib.parse.urlencode(params)
    took = []
    for _ in range(5):
        began = time.perf_counter()
        with urllib.request.urlopen(f"{url}{path}?{query}", timeout=60) as answer:
            assert json.load(answer)["status"] == "success"
        took.append(time.perf_counter() - began)
    return best(took)


def whole_range(expr: str, hours: float) -> dict:
    times = window(hours).times()
    return {"query": expr, "start": times[0].timestamp(), "end": times[-1].timestamp(), "step": 1800}


def calibrated_timeout(url: str, whole: dict, smallest: tuple[str, dict]) -> str:
    """A ``--query.timeout`` that the ``whole`` range query overruns here and now and the ``smallest`` fits.

    The geometric mean of the smallest query's slowest answer and the whole
    one's fastest, in whole milliseconds (Prometheus' unit), at least 1 ms.
    """
    small = _seconds(url, smallest[0], smallest[1], max)
    big = _seconds(url, "/api/v1/query_range", whole, min)
    assert big > 2 * small, f"the whole query ({big:.4f} s) is not much slower than its smallest part ({small:.4f} s)"
    return f"{max(1, int(1000 * (small * big) ** 0.5))}ms"


def single_run(url: str, out: Path, service: str, hours: float = HOURS):
    return monitor(options(url, out, window(hours), service=service, jobs=1))


def fleet_run(url: str, out: Path, services: list[str]):
    return monitor(RunOptions(out_dir=out, window=window(), services=services, progress=False, jobs=1,
                              catalogue=build_catalogue(label="service", interval_seconds=1800),
                              connection=ConnectionSettings.from_env(url, env={})))


def _without(value, keys):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def documents(folder: Path) -> dict[str, object]:
    """Every JSON (and JSON Lines) file of a run folder, parsed, without the fields that vary between servers."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            found[str(path.relative_to(folder))] = _without(json.loads(path.read_text()), VARYING)
        elif path.suffix == ".jsonl":
            found[str(path.relative_to(folder))] = [_without(json.loads(line), VARYING)
                                                    for line in path.read_text().splitlines() if line]
    return found


def assert_same_run(got: Path, want: Path) -> None:
    got_docs, want_docs = documents(got), documents(want)
    assert sorted(got_docs) == sorted(want_docs)
    assert len(want_docs) > 10
    for name, doc in want_docs.items():
        assert got_docs[name] == doc, name


def split_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SPLIT_LOGGER]


def assert_split_logged_once(caplog, *kinds: str, maybe: tuple[str, ...] = ()) -> None:
    """Each kind of split said exactly once (``fewer services`` / ``shorter time ranges``), ``maybe`` at most once."""
    lines = split_lines(caplog)
    for kind in kinds:
        assert sum(kind in line for line in lines) == 1, lines
    for kind in maybe:
        assert sum(kind in line for line in lines) <= 1, lines
    assert len(kinds) <= len(lines) <= len(kinds) + len(maybe), lines


@pytest.fixture(scope="module")
def reference(unlimited, tmp_path_factory):
    """The runs against the unlimited server (they split nothing)."""
    root = tmp_path_factory.mktemp("reference")
    runs = {"light": root / "light", "heavy": root / "heavy", "fleet": root / "fleet"}
    assert single_run(unlimited.url, runs["light"], LIGHT[3]).exit_code == 0
    assert single_run(unlimited.url, runs["heavy"], HEAVY, HEAVY_HOURS).exit_code == 0
    assert fleet_run(unlimited.url, runs["fleet"], LIGHT).exit_code == 0
    return runs


def test_sample_limit_splits_a_single_run_in_time(prometheus, reference, tmp_path, caplog):
    server = prometheus(f"--query.max-samples={SAMPLE_LIMIT}")
    with caplog.at_level(logging.WARNING, logger=SPLIT_LOGGER):
        outcome = single_run(server.url, tmp_path / "run", LIGHT[3])
    assert outcome.exit_code == 0
    assert_split_logged_once(caplog, "shorter time ranges")
    assert "--query.max-samples" in split_lines(caplog)[0]
    assert_same_run(tmp_path / "run", reference["light"])


def test_sample_limit_splits_a_fleet_by_services_then_time(prometheus, reference, tmp_path, caplog):
    server = prometheus(f"--query.max-samples={SAMPLE_LIMIT}")
    with caplog.at_level(logging.WARNING, logger=SPLIT_LOGGER):
        outcome = fleet_run(server.url, tmp_path / "fleet", LIGHT)
    assert outcome.exit_code == 0
    assert_split_logged_once(caplog, "fewer services per request", "shorter time ranges")
    assert_same_run(tmp_path / "fleet", reference["fleet"])


def test_query_timeout_splits_single_and_fleet_runs(prometheus, unlimited, reference, tmp_path, caplog):
    heavy = build_catalogue(service=HEAVY, interval_seconds=1800)
    day_end = window(HEAVY_HOURS).start.timestamp() + 86400
    timeout = calibrated_timeout(unlimited.url, whole_range(heavy.expression("p95_latency_ms"), HEAVY_HOURS),
                                 ("/api/v1/query", {"query": heavy.expression("day_p95_latency_ms"), "time": day_end}))
    server = prometheus(f"--query.timeout={timeout}")
    with caplog.at_level(logging.WARNING, logger=SPLIT_LOGGER):
        assert single_run(server.url, tmp_path / "heavy", HEAVY, HEAVY_HOURS).exit_code == 0
    assert_split_logged_once(caplog, "shorter time ranges")
    said = split_lines(caplog)[0]
    assert "--query.timeout" in said and ("query timed out" in said or "context deadline exceeded" in said)
    assert_same_run(tmp_path / "heavy", reference["heavy"])

    fleet = build_catalogue(label="service", interval_seconds=1800)
    timeout = calibrated_timeout(unlimited.url, whole_range(fleet.expression("p95_latency_ms", LIGHT), HOURS),
                                 ("/api/v1/query_range",
                                  whole_range(fleet.expression("p95_latency_ms", LIGHT[:1]), HOURS)))
    server = prometheus(f"--query.timeout={timeout}")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SPLIT_LOGGER):
        assert fleet_run(server.url, tmp_path / "fleet", LIGHT).exit_code == 0
    # One service's two days may or may not be evaluated in time on a busy machine: a split in time may follow.
    assert_split_logged_once(caplog, "fewer services per request", maybe=("shorter time ranges",))
    assert_same_run(tmp_path / "fleet", reference["fleet"])


def test_a_limit_not_even_one_service_at_one_time_fits_is_one_line(prometheus, tsdb, tmp_path):
    server = prometheus("--query.max-samples=5")
    line = one_line_error(run_cli("monitor", "--prometheus-url", server.url, "--service", LIGHT[3],
                                  "--baseline", str(tsdb.parent / "baseline.json"),
                                  "--start", "2026-01-05T00:00:00Z", "--duration", "24",
                                  "--output", str(tmp_path / "out")))
    assert re.search(r"query for availability rejected by Prometheus: still refused for one target at one time "
                     r"\(2026-01-0\dT\d\d:\d\d:00Z\)", line), line
    assert "would load too many samples" in line and "--query.max-samples" in line
    assert f'service="{LIGHT[3]}"' in line  # the expression of the refused piece
