"""A fleet of synthetic services in one run, against the real Prometheus.

The fleet: two healthy services, one with an incident, one with a latency
regression, one that never served a 5xx (its 5xx series are removed from the
generator's output), a service with a hostile name, and a name with no data.
Scrapes every 30 minutes (the interval) keep promtool's load to about a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import servers
from stabmon import store
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions, monitor
from stabmon.store import FLEET_RUN_FILE, FLEET_SUMMARY_JSON, FLEET_SUMMARY_MD, service_folder
from stabmon.store.fleet import merge_fleet
from stabmon.collect.prom import ConnectionSettings
from stabmon.store.schemas import validate
from support.synthetic_export import generate_fleet, write_fleet_openmetrics

from support.runs import HOSTILE_SERVICE, options
from collect_helpers import week_window
from support.servers import need_binary

pytestmark = pytest.mark.server

FLEET = {
    "alpha": "healthy",
    "bravo": "incident",
    "charlie": "latency_regression",
    "delta": "healthy",
    "quiet": "healthy",  # its 5xx series are dropped: zero errors all week
    HOSTILE_SERVICE: "healthy",
}
QUIET = "quiet"
GHOST = "ghost"  # asked for, no data at all


def _without_5xx(path: Path, service: str) -> None:
    """Drop ``service``'s 5xx request counters from an OpenMetrics file."""
    marker = f'service="{service}"'
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines
            if not (line.startswith("http_requests_total{") and 'code="5' in line and marker in line)]
    path.write_text("".join(kept))


@pytest.fixture(scope="module")
def fleet_weeks():
    return {week.service: week for week in generate_fleet(FLEET, scrape_seconds=1800)}


@pytest.fixture(scope="module")
def fleet_prometheus(tmp_path_factory, fleet_weeks):
    need_binary("prometheus")
    need_binary("promtool")
    folder = tmp_path_factory.mktemp("fleet-prom")
    om = folder / "fleet.om"
    write_fleet_openmetrics(fleet_weeks.values(), om)
    _without_5xx(om, QUIET)
    servers.load_openmetrics_tsdb(om, folder / "tsdb")
    with servers.PrometheusServer(folder / "tsdb") as server:
        yield server


@pytest.fixture(scope="module")
def baselines(tmp_path_factory, fleet_weeks) -> Path:
    """One baseline per service except ``delta`` (it runs without drift) and the quiet one."""
    folder = tmp_path_factory.mktemp("baselines")
    for name, week in fleet_weeks.items():
        if name in ("delta", QUIET):
            continue
        (folder / f"{service_folder(name)}.json").write_text(json.dumps(week.baseline.to_dict()))
    return folder


def _fleet_options(url, out, window, services, **kw) -> RunOptions:
    return RunOptions(out_dir=Path(out), window=window,
                      catalogue=build_catalogue(label="service", interval_seconds=window.interval_minutes * 60),
                      connection=ConnectionSettings.from_env(url, env={}), services=services, progress=False, **kw)


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory, fleet_prometheus, fleet_weeks, baselines):
    out = tmp_path_factory.mktemp("fleet-run") / "fleet"
    window = week_window(fleet_weeks["alpha"])
    outcome = monitor(_fleet_options(fleet_prometheus.url, out, window, list(FLEET) + [GHOST],
                                           baseline_path=baselines, jobs=2))
    return out, outcome


def test_the_right_services_are_flagged(fleet_run, fleet_weeks):
    out, outcome = fleet_run
    assert outcome.exit_code == 0
    summary = json.loads((out / FLEET_SUMMARY_JSON).read_text())
    validate(summary, "fleet")
    assert set(summary["rollback_recommended"]) == {"bravo", "charlie"}
    assert summary["no_data"] == [GHOST]
    ranked = [e["service"] for e in summary["services"]]
    assert set(ranked[:2]) == {"bravo", "charlie"} and ranked[2] == GHOST
    by_name = {e["service"]: e for e in summary["services"]}
    for name, week in fleet_weeks.items():
        assert set(by_name[name]["degraded_days"]) == week.planted.degraded_days, name
    assert by_name["bravo"]["rollback_reasons"]
    assert not by_name["delta"]["has_baseline"] and by_name["alpha"]["has_baseline"]
    assert [e["rank"] for e in summary["services"]] == list(range(1, len(FLEET) + 2))
    table = (out / FLEET_SUMMARY_MD).read_text()
    assert "bravo" in table and "charlie" in table and "| rank |" in table


def test_a_fleet_week_costs_about_one_service_week(fleet_run):
    _, outcome = fleet_run
    # 1 check + 9 snapshot queries + 2 day figures (+ the baseline window's 9).
    assert outcome.requests <= 25


def test_zero_errors_is_zero_percent_not_missing(fleet_run):
    out, _ = fleet_run
    folder = store.read_snapshots(out / QUIET)
    assert len(folder.snapshots) == 336
    for snapshot in folder.snapshots:
        assert snapshot.values["error_rate"] == 0.0
        assert snapshot.values["errors"] == 0.0
        assert snapshot.values["availability"] == 100.0
        assert snapshot.missing == []


def test_hostile_service_name_gets_its_own_data(fleet_run, fleet_weeks):
    out, _ = fleet_run
    folder = out / service_folder(HOSTILE_SERVICE)
    assert folder.parent == out
    snapshots = store.read_snapshots(folder).snapshots
    want = fleet_weeks[HOSTILE_SERVICE].snapshots
    assert [s.values["requests"] for s in snapshots] == pytest.approx([s.values["requests"] for s in want])


def _files(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".stabmon.lock":
            text = path.read_text()
            # generated_at / "Generated by stabmon at" are the only fields that may differ.
            lines = [line for line in text.splitlines() if "generated_at" not in line.lower()
                     and "generated by stabmon at" not in line.lower()]
            out[str(path.relative_to(folder))] = "\n".join(lines)
    return out


@pytest.mark.slow
def test_each_service_folder_is_what_a_single_run_gives(fleet_run, fleet_prometheus, fleet_weeks, baselines,
                                                        tmp_path):
    out, _ = fleet_run
    window = week_window(fleet_weeks["alpha"])
    for name in ("bravo", "delta", QUIET, HOSTILE_SERVICE):
        baseline_file = baselines / f"{service_folder(name)}.json"
        baseline = fleet_weeks[name].baseline if baseline_file.exists() else None
        single = tmp_path / service_folder(name)
        monitor(options(fleet_prometheus.url, single, window, service=name, baseline=baseline))
        fleet_files, single_files = _files(out / service_folder(name)), _files(single)
        assert sorted(fleet_files) == sorted(single_files), name
        for rel, text in single_files.items():
            assert fleet_files[rel] == text, (name, rel)


@pytest.mark.slow
def test_shards_cover_the_fleet_once_and_merge(fleet_prometheus, fleet_weeks, tmp_path):
    window = week_window(fleet_weeks["alpha"])
    names = list(FLEET)
    root = tmp_path / "shards"
    seen: list[str] = []
    for index in (1, 2, 3):
        outcome = monitor(_fleet_options(fleet_prometheus.url, root / f"shard-{index}", window, names,
                                               shard=(index, 3), jobs=1))
        info = json.loads((root / f"shard-{index}" / FLEET_RUN_FILE).read_text())
        assert [s["service"] for s in info["services"]] == outcome.services
        seen.extend(outcome.services)
    assert sorted(seen) == sorted(names)  # every service exactly once
    summary = merge_fleet(root)
    assert summary["service_count"] == len(names)
    assert summary["shards"] == {"count": 3, "merged": [1, 2, 3], "missing": []}
    assert set(summary["rollback_recommended"]) == {"bravo", "charlie"}
    for entry in summary["services"]:
        assert (root / entry["folder"] / store.WEEKLY_JSON).exists()

    # The CLI merges the same way.
    exe = Path(sys.executable).with_name("stabmon")
    proc = subprocess.run([str(exe), "analyze", "--input", str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 to roll back" in proc.stdout


def test_all_services_cli_discovers_the_fleet(fleet_prometheus, fleet_weeks, baselines, tmp_path):
    out = tmp_path / "all"
    exe = Path(sys.executable).with_name("stabmon")
    proc = subprocess.run(
        [str(exe), "monitor", "--baseline", str(baselines), "--prometheus-url", fleet_prometheus.url,
         "--all-services", "--start", "2026-01-05T00:00:00Z", "--duration", "48", "--output", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no baseline for service 'delta'" in proc.stderr
    summary = json.loads((out / FLEET_SUMMARY_JSON).read_text())
    assert sorted(e["service"] for e in summary["services"]) == sorted(FLEET)
    for name in FLEET:
        assert len(store.iter_snapshot_files(out / service_folder(name))) == 96


def test_a_fleet_takes_a_queries_file_like_one_service(fleet_prometheus, fleet_weeks, tmp_path):
    """``--queries`` with ``{by}`` reads each service's own series in a fleet, as in a single run."""
    queries = tmp_path / "queries.yaml"
    # The default `requests`, written once for both shapes, and a deliberately different p95 (a p50).
    queries.write_text(
        "requests: 'sum{by}(increase(http_requests_total{sel}[w]))'\n"
        "p95_latency_ms: '1000 * histogram_quantile(0.50, sum{by:le}(rate(http_request_duration_seconds_bucket{sel}[w])))'\n"
    )
    window = week_window(fleet_weeks["alpha"], duration_hours=24)
    names = ["alpha", "bravo"]
    fleet_out, single_out = tmp_path / "fleet", tmp_path / "single"
    catalogue = build_catalogue(label="service", interval_seconds=1800, queries_file=queries)
    outcome = monitor(RunOptions(out_dir=fleet_out, window=window, catalogue=catalogue, services=names,
                                 connection=ConnectionSettings.from_env(fleet_prometheus.url, env={}),
                                 progress=False, jobs=1))
    assert outcome.exit_code == 0
    monitor(options(fleet_prometheus.url, single_out, window, service="bravo", queries=queries))
    fleet_snaps = store.read_snapshots(fleet_out / "bravo").snapshots
    single_snaps = store.read_snapshots(single_out).snapshots
    assert len(fleet_snaps) == len(single_snaps) == 48
    for got, want in zip(fleet_snaps, single_snaps):
        assert got.values == want.values
    alpha = store.read_snapshots(fleet_out / "alpha").snapshots
    assert [s.values["requests"] for s in alpha] == pytest.approx(
        [s.values["requests"] for s in fleet_weeks["alpha"].snapshots[:48]])
    # The override took effect: a median is below the default p95.
    assert all(s.values["p95_latency_ms"] < s.values["p99_latency_ms"] for s in alpha)
