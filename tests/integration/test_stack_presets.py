"""Presets for stacks that cannot run here, proven on a week in their exact shapes in a real Prometheus.

:mod:`support.stack_weeks` writes a week of Spring Boot (Micrometer), Istio,
ingress-nginx and Kubernetes (cAdvisor + kube-state-metrics) series, pitfalls
planted beside the real traffic; promtool loads it into a real Prometheus. For
each preset, each day's figures from stabmon's own run (the preset's rendered
PromQL) are checked three ways: against PromQL written here by hand for that
stack and evaluated by the same Prometheus, and against the counts the
generator put in. Then ``stabmon monitor --preset istio,kubernetes --namespace
shop`` judges the healthy service a pass and the one with an incident a
rollback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from statistics import fmean

import pytest

from stabmon import store
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions, monitor
from stabmon.core.model import Window
from support import servers, stack_weeks as weeks
from support.servers import need_binary

pytestmark = pytest.mark.server

INTERVAL = weeks.INTERVAL_MINUTES * 60
HTTP_PRESETS = ("micrometer", "istio", "ingress-nginx")
PODS = {  # the pods of each service the generator ran, by hand (not the preset's pattern)
    weeks.HEALTHY: 'pod=~"checkout-7d9f8b6c5-(x2x4z|q8w7k)"',
    weeks.INCIDENT: 'pod=~"payments-7d9f8b6c5-(x2x4z|q8w7k)"',
}
# Each stack's requests of one service, written by hand: {service} and {ns} filled per test.
HAND_REQUESTS = {
    "micrometer": 'http_server_requests_seconds_count{{application="{service}",namespace="{ns}",'
                  'uri!="/actuator/prometheus"{extra}}}',
    "istio": 'istio_requests_total{{reporter="destination",destination_workload="{service}",'
             'destination_workload_namespace="{ns}"{extra}}}',
    "ingress-nginx": 'nginx_ingress_controller_requests{{exported_service="{service}",'
                     'exported_namespace="{ns}"{extra}}}',
}
HAND_BUCKETS = {
    "micrometer": ('http_server_requests_seconds_bucket{{application="{service}",namespace="{ns}",'
                   'uri!="/actuator/prometheus"}}', 1000.0),
    "istio": ('istio_request_duration_milliseconds_bucket{{reporter="destination",destination_workload="{service}",'
              'destination_workload_namespace="{ns}"}}', 1.0),
    "ingress-nginx": ('nginx_ingress_controller_request_duration_seconds_bucket{{exported_service="{service}",'
                      'exported_namespace="{ns}"}}', 1000.0),
}
# The error label and its 5xx values, as each stack spells them.
HAND_ERRORS = {"micrometer": ',outcome="SERVER_ERROR"', "istio": ',response_code=~"5[0-9][0-9]"',
               "ingress-nginx": ',status=~"5[0-9][0-9]"'}


def window(days: int = 7) -> Window:
    return Window(weeks.WEEK_START, duration_hours=24.0 * days, interval_minutes=weeks.INTERVAL_MINUTES)


@pytest.fixture(scope="module")
def stack_prometheus(tmp_path_factory):
    need_binary("prometheus")
    need_binary("promtool")
    folder = tmp_path_factory.mktemp("stacks")
    om = weeks.write_openmetrics(folder / "stacks.om")
    servers.load_openmetrics_tsdb(om, folder / "tsdb")
    om.unlink()
    with servers.PrometheusServer(folder / "tsdb") as server:
        yield server


@pytest.fixture(scope="module")
def client(stack_prometheus) -> PrometheusClient:
    return PrometheusClient(ConnectionSettings.from_env(stack_prometheus.url, env={}))


def value(client: PrometheusClient, expr: str, at: datetime) -> float | None:
    """The one value ``expr`` answers at ``at`` (None: no series)."""
    series = client.instant(expr, at)
    assert len(series) <= 1, (expr, series)
    return series[0].points[0][1] if series else None


@pytest.fixture(scope="module")
def runs(stack_prometheus, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """stabmon's own runs: every http preset with kubernetes, for both services (no baseline needed)."""
    out = {}
    for preset in HTTP_PRESETS:
        for service in weeks.SERVICES:
            folder = tmp_path_factory.mktemp(f"{preset}-{service}")
            catalogue = build_catalogue(service=service, namespace=weeks.NAMESPACE, interval_seconds=INTERVAL,
                                        preset=f"{preset},kubernetes")
            outcome = monitor(RunOptions(out_dir=folder, window=window(), catalogue=catalogue,
                                         connection=ConnectionSettings.from_env(stack_prometheus.url, env={}),
                                         service=service, progress=False))
            assert outcome.exit_code == 0, (preset, service)
            out[(preset, service)] = folder
    return out


def day_summary(folder: Path, day: int) -> dict:
    return json.loads(store.day_summary_path(folder, day).read_text())


def day_span(day: int) -> tuple[datetime, datetime]:
    start = weeks.WEEK_START + timedelta(days=day - 1)
    return start, start + timedelta(days=1)


@pytest.mark.parametrize("service", weeks.SERVICES)
@pytest.mark.parametrize("preset", HTTP_PRESETS)
def test_request_figures_match_hand_promql_and_the_generator(preset, service, runs, client):
    folder = runs[(preset, service)]
    for day in range(1, 8):
        start, end = day_span(day)
        summary = day_summary(folder, day)
        # The day's snapshots cover (start - I, end - I]: their windows trail t_k.
        truth = weeks.http_totals(preset, service, start - timedelta(seconds=INTERVAL),
                                  end - timedelta(seconds=INTERVAL))
        at = end - timedelta(seconds=INTERVAL)
        requests = HAND_REQUESTS[preset].format(service=service, ns=weeks.NAMESPACE, extra="")
        errors = HAND_REQUESTS[preset].format(service=service, ns=weeks.NAMESPACE, extra=HAND_ERRORS[preset])
        hand_requests = value(client, f"sum(increase({requests}[24h]))", at)
        hand_errors = value(client, f"sum(increase({errors}[24h]))", at)
        assert hand_requests == pytest.approx(truth["requests"], rel=1e-9), (preset, service, day)
        assert hand_errors == pytest.approx(truth["errors"], rel=1e-9), (preset, service, day)
        assert summary["total_requests"] == truth["requests"], (preset, service, day)
        assert summary["total_errors"] == truth["errors"], (preset, service, day)
        rate = 100.0 * truth["errors"] / truth["requests"]
        assert summary["request_weighted_error_rate"] == pytest.approx(rate, abs=1e-6)
        assert summary["request_weighted_availability"] == pytest.approx(100.0 - rate, abs=1e-6)


@pytest.mark.parametrize("service", weeks.SERVICES)
@pytest.mark.parametrize("preset", HTTP_PRESETS)
def test_day_quantiles_in_ms_match_hand_promql_and_the_generator(preset, service, runs, client):
    folder = runs[(preset, service)]
    buckets, to_ms = HAND_BUCKETS[preset]
    selector = buckets.format(service=service, ns=weeks.NAMESPACE)
    for day in range(1, 8):
        start, end = day_span(day)
        summary = day_summary(folder, day)
        truth = weeks.http_totals(preset, service, start, end)["buckets"]
        for q, field in ((0.95, "day_p95_latency_ms"), (0.99, "day_p99_latency_ms")):
            hand = value(client, f"{to_ms} * histogram_quantile({q}, sum by (le) (increase({selector}[24h])))", end)
            expected = weeks.histogram_quantile(q, truth)
            assert hand == pytest.approx(expected, rel=1e-9), (preset, service, day, q)
            assert summary[field] == pytest.approx(expected, abs=1e-3), (preset, service, day, q)


@pytest.mark.parametrize("service", weeks.SERVICES)
@pytest.mark.parametrize("preset", HTTP_PRESETS)
def test_every_snapshot_matches_the_generator(preset, service, runs):
    """Each snapshot's requests, error rate, p95 and p99 (ms) over its trailing interval."""
    snapshots = store.read_snapshots(runs[(preset, service)]).snapshots
    assert len(snapshots) == 7 * 24 * 3600 // INTERVAL
    for snap in snapshots:
        truth = weeks.http_totals(preset, service, snap.timestamp - timedelta(seconds=INTERVAL), snap.timestamp)
        assert snap.missing == [], snap.timestamp
        assert snap.values["requests"] == pytest.approx(truth["requests"], rel=1e-9)
        assert snap.values["error_rate"] == pytest.approx(100.0 * truth["errors"] / truth["requests"], rel=1e-6)
        for q, name in ((0.95, "p95_latency_ms"), (0.99, "p99_latency_ms")):
            expected = weeks.histogram_quantile(q, truth["buckets"])
            assert snap.values[name] == pytest.approx(expected, rel=1e-6), (snap.timestamp, name)


@pytest.mark.parametrize("service", weeks.SERVICES)
def test_cpu_and_memory_of_the_services_pods_over_their_limits(service, runs, client):
    folder = runs[("istio", service)]
    pods = PODS[service]
    containers = f'container=~"{service}|istio-proxy"'
    cpu = (f'100 * sum(rate(container_cpu_usage_seconds_total{{namespace="shop",{pods},{containers}}}[2h]))'
           f' / sum(max by (pod, container) (kube_pod_container_resource_limits{{namespace="shop",{pods},'
           f'{containers},resource="cpu"}}))')
    memory = (f'100 * sum(container_memory_working_set_bytes{{namespace="shop",{pods},{containers}}})'
              f' / sum(max by (pod, container) (kube_pod_container_resource_limits{{namespace="shop",{pods},'
              f'{containers},resource="memory"}}))')
    for day in range(1, 8):
        start, _ = day_span(day)
        times = [start + timedelta(seconds=INTERVAL * k) for k in range(24 * 3600 // INTERVAL)]
        truth = [weeks.resource_percent(service, t, INTERVAL) for t in times]
        hand_cpu = [p[1] for p in client.range(cpu, times[0], times[-1], INTERVAL)[0].points]
        hand_memory = [p[1] for p in client.range(memory, times[0], times[-1], INTERVAL)[0].points]
        assert hand_cpu == pytest.approx([t[0] for t in truth], rel=1e-9), (service, day)
        assert hand_memory == pytest.approx([t[1] for t in truth], rel=1e-9), (service, day)
        summary = day_summary(folder, day)
        assert summary["avg_cpu_percent"] == pytest.approx(fmean(t[0] for t in truth), abs=1e-3), (service, day)
        assert summary["avg_memory_percent"] == pytest.approx(fmean(t[1] for t in truth), abs=1e-3)


def test_the_pitfalls_would_have_changed_the_figures(client):
    """Without the presets' filters the same week reads differently: the pitfalls are really there."""
    start, end = day_span(3)
    truth = weeks.http_totals("istio", weeks.INCIDENT, start, end)
    both = value(client, 'sum(increase(istio_requests_total{destination_workload="payments"}[24h]))', end)
    assert both > truth["requests"]  # reporter="source" counted the successful requests again
    decoy = value(client, 'sum(increase(nginx_ingress_controller_requests{exported_service="checkout"}[24h]))', end)
    assert decoy > weeks.http_totals("ingress-nginx", weeks.HEALTHY, start, end)["requests"]  # staging's
    assert value(client, 'sum(nginx_ingress_controller_requests{namespace="shop"})', end) is None  # target label
    pod_level = value(client, 'sum(container_memory_working_set_bytes{namespace="shop",pod=~"checkout-.*"})', end)
    _, memory = weeks.resource_percent(weeks.HEALTHY, end, INTERVAL)
    counted = memory / 100 * 2 * (512 + 256) * 1024 * 1024
    assert pod_level > 2 * counted  # pod cgroups, pause, log-shipper and checkout-worker on top
    scrapes = value(client, 'sum(increase(http_server_requests_seconds_count{application="checkout",'
                            'uri="/actuator/prometheus"}[24h]))', end)
    assert scrapes == 120 * 24


def test_a_pod_without_limits_gives_missing_resources_never_zero(client):
    """The log-shipper has usage but no limit: alone, the kubernetes preset has no figure for it."""
    catalogue = build_catalogue(service="checkout", namespace="shop", interval_seconds=INTERVAL,
                                preset="istio,kubernetes")
    expr = catalogue.expression("cpu_percent").replace('container!="POD"', 'container="log-shipper"')
    _, end = day_span(2)
    assert value(client, expr, end) is None


def test_check_names_the_missing_buckets_of_an_app_without_percentiles_histogram(stack_prometheus):
    done = _stabmon("check", "--prometheus-url", stack_prometheus.url, "--preset", "micrometer,kubernetes",
                    "--service", weeks.NO_BUCKETS, "--namespace", weeks.NAMESPACE,
                    "--start", weeks.WEEK_START.isoformat(), "--duration", "168",
                    "--interval", str(weeks.INTERVAL_MINUTES))
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout + done.stderr
    assert 'p99_latency_ms [value_absent]: no http_server_requests_seconds_bucket series has ' \
           'application="inventory"' in text, text
    assert "key metrics that cannot be read: p99_latency_ms" in text
    # Its requests and errors are read all the same.
    assert "error_rate: 1 series" in text and "availability [" not in text, text


def _stabmon(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("stabmon")), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("service,verdict,code", [(weeks.HEALTHY, "pass", 0), (weeks.INCIDENT, "rollback", 2)])
def test_monitor_istio_kubernetes_judges_the_week(service, verdict, code, stack_prometheus, tmp_path):
    common = ["--prometheus-url", stack_prometheus.url, "--service", service, "--namespace", weeks.NAMESPACE,
              "--preset", "istio,kubernetes", "--interval", str(weeks.INTERVAL_MINUTES)]
    baseline = tmp_path / "baseline.json"
    # The release day's snapshots from its first full interval (t_0's window would precede the data).
    first = weeks.START + timedelta(seconds=INTERVAL)
    done = _stabmon("baseline", *common, "--start", first.isoformat(), "--duration", str(24 - INTERVAL // 3600),
                    "--output", str(baseline))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "run"
    done = _stabmon("monitor", *common, "--baseline", str(baseline), "--start", weeks.WEEK_START.isoformat(),
                    "--duration", "168", "--output", str(out), "--gate")
    assert done.returncode in (0, 2, 3), done.stderr[-2000:]
    weekly = json.loads((out / "weekly_summary.json").read_text())
    assert weekly["verdict"] == verdict, (weekly["rollback_reasons"], weekly.get("inconclusive_reasons"))
    assert done.returncode == code
    if verdict == "rollback":
        assert set(weekly["degraded_days"]) >= weeks.INCIDENT_DAYS
    run = json.loads((out / "run.json").read_text())
    assert "reporter=\\\"destination\\\"" in json.dumps(run) or 'reporter="destination"' in json.dumps(run)
