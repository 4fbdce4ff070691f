"""The stack presets micrometer, istio, ingress-nginx and kubernetes, rendered and written out by hand.

Each expected expression is typed here from the stack's documentation (its
metric names, labels and units), not built from the preset's template. The
figures these expressions give on a week in the stacks' shapes are checked in
tests/integration/test_stack_presets.py.
"""

from __future__ import annotations

import re

import pytest

from stabmon.collect import preset as presets
from stabmon.collect.queries import build_catalogue
from stabmon.core.errors import InputError

STACKS = ("micrometer", "istio", "ingress-nginx", "kubernetes")
K8S = "[bcdfghjklmnpqrstvwxz2456789]"  # Kubernetes' alphabet of generated name parts
PODS = f"({K8S}{{1,10}}-{K8S}{{5}}|{K8S}{{5}}|[0-9]+)"


def test_the_stack_presets_load_with_their_kind_and_families():
    assert set(STACKS) <= set(presets.known_presets())
    kinds = {name: presets.load_preset(name).kind for name in STACKS}
    assert kinds == {"micrometer": "http", "istio": "http", "ingress-nginx": "http", "kubernetes": "resources"}
    assert set(presets.load_preset("istio").families) == {"istio_requests_total",
                                                          "istio_request_duration_milliseconds_bucket"}
    assert presets.load_preset("kubernetes").families["kube_pod_container_resource_limits"] == (
        "cpu_percent", "memory_percent")
    assert presets.load_preset("micrometer").families["http_server_requests_seconds_bucket"] == (
        "p95_latency_ms", "p99_latency_ms", "day_p95_latency_ms", "day_p99_latency_ms")


def test_micrometer_for_one_service_in_a_namespace():
    c = build_catalogue(service="checkout", namespace="shop", interval_seconds=1800, preset="micrometer")
    sel = 'application="checkout",namespace="shop",uri!~"/actuator/.*"'
    total = f"http_server_requests_seconds_count{{{sel}}}"
    fives = f'http_server_requests_seconds_count{{{sel},status=~"5.."}}'
    assert c.expression("availability") == (
        f"100 * (1 - (sum(rate({fives}[30m])) or (0 * sum(rate({total}[30m])))) / sum(rate({total}[30m])))")
    assert c.expression("errors") == f"sum(increase({fives}[30m])) or (0 * sum(increase({total}[30m])))"
    assert c.expression("p99_latency_ms") == (
        f"1000 * histogram_quantile(0.99, sum by (le) (rate(http_server_requests_seconds_bucket{{{sel}}}[30m])))")
    assert c.expression("day_p95_latency_ms") == (
        f"1000 * histogram_quantile(0.95, sum by (le) (increase(http_server_requests_seconds_bucket{{{sel}}}[24h])))")
    assert c.expression("alerts") == (
        'max_over_time(ALERTS{alertstate="firing",service="checkout",namespace="shop"}[30m])')


def test_istio_reads_the_destination_reporter_in_milliseconds():
    c = build_catalogue(service="checkout", namespace="shop", interval_seconds=600, preset="istio")
    sel = 'destination_workload="checkout",destination_workload_namespace="shop",reporter="destination"'
    total = f"istio_requests_total{{{sel}}}"
    fives = f'istio_requests_total{{{sel},response_code=~"5.."}}'
    assert c.expression("error_rate") == (
        f"100 * (sum(rate({fives}[10m])) or (0 * sum(rate({total}[10m])))) / sum(rate({total}[10m]))")
    assert c.expression("requests") == f"sum(increase({total}[10m]))"
    # Milliseconds already: no "1000 *".
    assert c.expression("p95_latency_ms") == (
        f"histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{sel}}}[10m])))")
    assert c.expression("day_p99_latency_ms", day_seconds=7200) == (
        f"histogram_quantile(0.99, sum by (le) (increase(istio_request_duration_milliseconds_bucket{{{sel}}}[2h])))")


def test_ingress_nginx_reads_the_exported_labels():
    c = build_catalogue(service="checkout", namespace="shop", interval_seconds=3600, preset="ingress-nginx")
    sel = 'exported_service="checkout",exported_namespace="shop"'
    total = f"nginx_ingress_controller_requests{{{sel}}}"
    fives = f'nginx_ingress_controller_requests{{{sel},status=~"5.."}}'
    assert c.expression("availability") == (
        f"100 * (1 - (sum(rate({fives}[1h])) or (0 * sum(rate({total}[1h])))) / sum(rate({total}[1h])))")
    assert c.expression("p99_latency_ms") == (
        "1000 * histogram_quantile(0.99, sum by (le) "
        f"(rate(nginx_ingress_controller_request_duration_seconds_bucket{{{sel}}}[1h])))")


def test_kubernetes_usage_over_the_limits_of_the_services_pods():
    c = build_catalogue(service="checkout", namespace="shop", interval_seconds=1800, preset="istio,kubernetes")
    pods = f'pod=~"checkout-{PODS}",namespace="shop"'
    usage = (f'sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{{pods},'
             f'container!="",container!="POD"}}[30m]))')
    limits = f'max by (namespace, pod, container) (kube_pod_container_resource_limits{{{pods},resource="cpu"}})'
    assert c.expression("cpu_percent") == (
        f"100 * sum({usage} and on (namespace, pod, container) {limits})"
        f" / sum({limits} and on (namespace, pod, container) {usage})")
    working = (f'max by (namespace, pod, container) (container_memory_working_set_bytes{{{pods},'
               f'container!="",container!="POD"}})')
    mem_limits = f'max by (namespace, pod, container) (kube_pod_container_resource_limits{{{pods},resource="memory"}})'
    assert c.expression("memory_percent") == (
        f"100 * sum({working} and on (namespace, pod, container) {mem_limits})"
        f" / sum({mem_limits} and on (namespace, pod, container) {working})")
    # The http queries of the same run keep their own labels.
    assert 'destination_workload="checkout"' in c.expression("requests")


@pytest.mark.parametrize("pod, mine", [
    ("checkout-7d9f8b6c5-x2x4z", True),       # Deployment: <name>-<pod-template-hash>-<suffix>
    ("checkout-5f4b9-bcdfg", True),           # a short hash
    ("checkout-0", True),                     # StatefulSet
    ("checkout-12", True),
    ("checkout-q8w7k", True),                 # DaemonSet
    ("checkout-worker-5c6d7f8b9-bcdfg", False),  # another Deployment whose name starts with checkout-
    ("checkout-worker-0", False),
    ("checkout-v2-7d9f8b6c5-x2x4z", False),   # checkout-v2 is another workload
    ("checkout", False),
    ("checkout-7d9f8b6c5-x2x4", False),       # a suffix is 5 long
    ("checkout-7d9f8b6c5-aeiou", False),      # vowels never appear in generated names
    ("xcheckout-7d9f8b6c5-x2x4z", False),
])
def test_the_pod_pattern_picks_the_workloads_pods_only(pod, mine):
    selector = presets.load_preset("kubernetes").service_selector
    pattern = re.search(r'=~"(.*)"', selector).group(1).replace("{service}", "checkout")
    assert bool(re.fullmatch(pattern, pod)) is mine  # PromQL anchors a regex matcher at both ends


def test_a_service_name_is_regex_escaped_in_the_pod_pattern():
    c = build_catalogue(service="api.v1", namespace="shop", interval_seconds=1800, preset="prometheus,kubernetes")
    assert f'pod=~"api\\\\.v1-{PODS}"' in c.expression("memory_percent")


def test_kubernetes_refuses_a_fleet_in_one_line():
    with pytest.raises(InputError) as caught:
        build_catalogue(fleet=True, interval_seconds=1800, preset="istio,kubernetes")
    message = str(caught.value)
    assert "\n" not in message
    assert "cpu_percent, memory_percent select a service by a service_selector" in message
    # The http presets alone make a fleet grouped by their service label.
    fleet = build_catalogue(fleet=True, interval_seconds=1800, preset="istio")
    assert fleet.label == "destination_workload"
    assert fleet.expression("requests", ["a", "b"]) == (
        'sum by (destination_workload) (increase(istio_requests_total{destination_workload=~"a|b",'
        'reporter="destination"}[30m]))')


@pytest.mark.parametrize("text", ['pod="{service}"', 'pod=~"{service}",namespace=~"x"', 'pod=~"x"'])
def test_a_bad_service_selector_is_one_line(tmp_path, text):
    path = tmp_path / "q.yaml"
    path.write_text(f"service_selector: '{text}'\n")
    with pytest.raises(InputError) as caught:
        build_catalogue(service="s", queries_file=path)
    assert "service_selector" in str(caught.value) and "\n" not in str(caught.value)
