"""A week of four stacks that cannot run here, in each stack's documented metric and label shapes.

Spring Boot with Micrometer, Istio, ingress-nginx, and Kubernetes (cAdvisor
from the kubelet, limits from kube-state-metrics) are written out as the series
a Prometheus stores after scraping them (exporter labels plus the target labels
a ServiceMonitor adds), with each stack's pitfalls planted beside the real
traffic: the series a naive query would count twice or count at all. Tests load
the OpenMetrics file with ``promtool tsdb create-blocks-from openmetrics`` into
a real Prometheus and compare the presets' figures with hand-written PromQL and
with the truth worked out here from the same per-step counts.

The week: day 0 is the release day (the baseline), days 1 .. 7 are judged. Two
services in namespace ``shop``: ``checkout`` (healthy all week) and
``payments`` (an incident on days 3 and 4: 5xx, slow requests, CPU and memory
near their limits). A ``checkout`` in namespace ``staging`` failing half its
requests is the decoy a query without the namespace would read.

Each step (:data:`STEP` seconds) adds fixed integer counts, constant within a
day, so every figure over whole steps is exact: counters sampled on the step
grid and windows that are whole multiples of it need no extrapolation.

Planted pitfalls, by stack:

- micrometer: ``uri="/actuator/prometheus"`` (Prometheus's own scrapes), an app
  (``inventory``) left without percentiles-histogram (no ``_bucket`` series),
  ``uri="UNKNOWN"`` 404s (kept: a filter's 500 lands there too), a restart on
  day 5 that resets every counter, ``_max`` gauges.
- istio: every request to ``checkout``/``payments`` reported a second time by
  the caller's sidecar (``reporter="source"``, slower: it adds the network),
  ``response_code="0"`` with ``response_flags="DC"`` (the client went away),
  the staging decoy.
- ingress-nginx: two controller pods (the second serves only 200s and 500s),
  ``status="499"`` (client closed),
  the ServiceMonitor's target labels ``namespace="ingress-nginx"`` and
  ``service="ingress-nginx-controller-metrics"`` that push the exporter's
  own ``namespace``/``service`` to ``exported_namespace``/``exported_service``,
  the staging decoy.
- kubernetes: the pod cgroup (``container=""``, no image: the sum of all
  containers), the pause container (``container="POD"`` under dockershim,
  ``container=""`` with the pause image under containerd), a sidecar without
  limits, an evicted pod whose limits kube-state-metrics still exports, a
  second kube-state-metrics replica exporting every limit again, a
  ``checkout-worker`` Deployment whose pods start with ``checkout-``, and the
  staging decoy.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

#: Seconds between two samples of every series.
STEP = 3600
#: Day 0 (the release day, the baseline) starts here; days 1 .. 7 follow.
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAYS = 8
WEEK_START = START + timedelta(days=1)
#: Snapshot interval the tests run stabmon with (a whole number of steps).
INTERVAL_MINUTES = 120
NAMESPACE = "shop"
DECOY_NAMESPACE = "staging"
HEALTHY = "checkout"
INCIDENT = "payments"
SERVICES = (HEALTHY, INCIDENT)
#: A Spring Boot app without percentiles-histogram (micrometer only): no buckets, so no p95/p99.
NO_BUCKETS = "inventory"
INCIDENT_DAYS = frozenset({3, 4})
STACKS = ("micrometer", "istio", "ingress-nginx", "kubernetes")
MICROMETER_RESTART_DAY = 5

_SAMPLES = DAYS * 86400 // STEP + 1  # samples at START + i * STEP, i = 0 .. _SAMPLES - 1


# --------------------------------------------------------------------------- traffic (the truth)


@dataclass(frozen=True)
class Traffic:
    """Requests per step of one service on one day, by outcome; latencies in seconds.

    ``ok``: (latency, count) of successful requests; ``errors`` 5xx (30 ms),
    ``not_found`` 404 (4 ms), ``gone``: the client left before the answer
    (Istio ``response_code="0"``, ingress-nginx ``499``; 1.5 s).
    """

    ok: tuple[tuple[float, int], ...]
    errors: int
    not_found: int
    gone: int

    def masses(self, outcome: str) -> tuple[tuple[float, int], ...]:
        return {"ok": self.ok, "errors": ((0.03, self.errors),), "not_found": ((0.004, self.not_found),),
                "gone": ((1.5, self.gone),)}[outcome]


_CALM = {
    HEALTHY: Traffic(ok=((0.018, 1200), (0.045, 500), (0.12, 170), (0.3, 25), (0.45, 5)), errors=1,
                     not_found=80, gone=4),
    INCIDENT: Traffic(ok=((0.025, 600), (0.07, 260), (0.16, 80), (0.3, 8), (0.45, 2)), errors=1,
                      not_found=30, gone=2),
}
_STORM = Traffic(ok=((0.05, 450), (0.2, 300), (0.6, 100), (1.5, 50)), errors=100, not_found=30, gone=10)
_DECOY = Traffic(ok=((0.01, 100),), errors=100, not_found=0, gone=0)


def traffic(service: str, day: int, namespace: str = NAMESPACE) -> Traffic:
    """The per-step counts of ``service`` on ``day`` (0 = release day)."""
    if namespace == DECOY_NAMESPACE:
        return _DECOY
    if service == INCIDENT and day in INCIDENT_DAYS:
        return _STORM
    return _CALM.get(service, _CALM[HEALTHY])


#: Per container: (CPU cores used, CPU limit cores, working set bytes, memory limit bytes); None: no limit.
_MI = 1024 * 1024


def container_use(service: str, container: str, day: int) -> tuple[float, float | None, int, int | None]:
    """What one container of one of the service's pods uses and may use on ``day``."""
    storm = service == INCIDENT and day in INCIDENT_DAYS
    if container == "app":
        return (0.45 if storm else 0.2), 0.5, (480 if storm else 300) * _MI, 512 * _MI
    if container == "istio-proxy":
        return 0.05, 0.25, 64 * _MI, 256 * _MI
    if container == "log-shipper":  # no limits: left out of both sides of the ratio
        return 0.3, None, 200 * _MI, None
    if container == "pause":
        return 0.001, None, 1 * _MI, None
    raise KeyError(container)


def step_day(i: int) -> int:
    """The day of the increments that step ``i`` adds (the step ending at sample ``i``)."""
    return ((i - 1) * STEP) // 86400


def sample_day(i: int) -> int:
    """The day of the time of sample ``i`` (what a gauge reads there)."""
    return min((i * STEP) // 86400, DAYS - 1)


def _step_range(start: datetime, end: datetime) -> range:
    """The steps whose increments fall in ``(start, end]`` (both on the step grid)."""
    a = int((start - START).total_seconds())
    b = int((end - START).total_seconds())
    if a % STEP or b % STEP:
        raise ValueError("span ends must lie on the step grid")
    return range(a // STEP + 1, b // STEP + 1)


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class Stream:
    """One request stream: the series of one label set, fed by one outcome of a service's traffic.

    ``counted``: the preset must count it (False for a planted pitfall).
    ``latency_scale``: a factor on every latency (a source-side report adds the network).
    ``reset_day``: the counters restart from 0 at the first step of that day.
    """

    stack: str
    service: str
    outcome: str
    labels: Mapping[str, str]
    counted: bool = True
    namespace: str = NAMESPACE
    latency_scale: float = 1.0
    reset_day: int | None = None
    buckets: bool = True

    def masses(self, day: int) -> tuple[tuple[float, int], ...]:
        return tuple((latency * self.latency_scale, n)
                     for latency, n in traffic(self.service, day, self.namespace).masses(self.outcome) if n)


@dataclass
class Family:
    name: str
    kind: str  # OpenMetrics type
    help: str
    lines: list[str] = field(default_factory=list)


# Bounds of each stack's histogram, in the unit of its name.
ISTIO_BOUNDS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
                   1800000, 3600000)
NGINX_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def micrometer_bounds(minimum: float = 0.025, maximum: float = 1.0) -> tuple[float, ...]:
    """Micrometer's percentiles-histogram bounds (seconds) between the expected minimum and maximum.

    Micrometer's ``PercentileHistogramBuckets`` (nanoseconds: 1, 2, 3 .. then
    in every power-of-4 range a third of the range apart), kept between
    ``minimum-expected-value`` and ``maximum-expected-value`` as Spring Boot's
    ``management.metrics.distribution.{minimum,maximum}-expected-value``
    properties trim them (here 25 ms and 1 s; the default 1 ms .. 30 s gives
    about 70 buckets per series).
    """
    bounds = [1, 2, 3]
    exp = 2
    while exp < 64:
        current = 1 << exp
        delta = current // 3
        nxt = (current << 2) - delta
        while current < nxt:
            bounds.append(current)
            current += delta
        exp += 2
    lo, hi = minimum * 1e9, maximum * 1e9
    inside = [b for b in bounds if lo <= b <= hi]
    above = [b for b in bounds if b > hi][:1]  # the bucket that holds the maximum
    return tuple(b / 1e9 for b in inside + above)


MICROMETER_BOUNDS_S = micrometer_bounds()


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(labels: Mapping[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())


def _write_series(family: Family, name: str, labels: Mapping[str, str], values: Sequence[float]) -> None:
    prefix = f"{name}{{{_labels(labels)}}} "
    start = int(START.timestamp())
    family.lines.append("".join(f"{prefix}{_fmt(v)} {start + i * STEP}\n" for i, v in enumerate(values)))


def _cumulative(per_step: Callable[[int], float], reset_day: int | None = None, base: float = 0.0) -> list[float]:
    """Counter values at every sample: ``base`` plus the steps so far; 0 again at a restart."""
    out, total = [], base
    reset_step = None if reset_day is None else reset_day * 86400 // STEP + 1
    for i in range(_SAMPLES):
        if i == reset_step:
            total = 0.0
        if i > 0:
            total += per_step(i)
        out.append(total)
    return out


def _write_histogram(families: dict[str, Family], name: str, stream: Stream, bounds: Sequence[float],
                     unit: float, base: float) -> None:
    """``name``_bucket/_count/_sum of one stream; ``unit`` converts seconds to the histogram's unit."""
    fam = families[name]
    for bound in [*bounds, float("inf")] if stream.buckets else []:
        def per_step(i: int, bound: float = bound) -> float:
            return sum(n for lat, n in stream.masses(step_day(i)) if lat * unit <= bound)
        le = "+Inf" if bound == float("inf") else _fmt(bound)
        _write_series(fam, f"{name}_bucket", {**stream.labels, "le": le},
                      _cumulative(per_step, stream.reset_day, base))
    _write_series(fam, f"{name}_count", stream.labels,
                  _cumulative(lambda i: sum(n for _, n in stream.masses(step_day(i))), stream.reset_day, base))
    _write_series(fam, f"{name}_sum", stream.labels,
                  _cumulative(lambda i: sum(lat * unit * n for lat, n in stream.masses(step_day(i))),
                              stream.reset_day))


# --------------------------------------------------------------------------- the four stacks


def micrometer_streams() -> list[Stream]:
    """Spring Boot 3 (Micrometer) ``http.server.requests``, as the ServiceMonitor stores it."""
    out = []
    for service, namespace in ((HEALTHY, NAMESPACE), (INCIDENT, NAMESPACE)):
        pod = f"{service}-7d9f8b6c5-x2x4z"
        target = {"application": service, "container": service, "endpoint": "http", "instance": "10.0.1.12:8080",
                  "job": service, "namespace": namespace, "pod": pod, "service": service}
        decoy = namespace == DECOY_NAMESPACE
        reset = None if decoy else MICROMETER_RESTART_DAY
        tags = {"ok": ("GET", "/api/orders", "200", "SUCCESS", "none"),
                "errors": ("POST", "/api/orders", "500", "SERVER_ERROR", "IllegalStateException"),
                "not_found": ("GET", "UNKNOWN", "404", "CLIENT_ERROR", "none")}
        for outcome, (method, uri, status, result, error) in tags.items():
            if decoy and outcome == "not_found":
                continue
            labels = {**target, "error": error, "exception": error, "method": method, "outcome": result,
                      "status": status, "uri": uri}
            out.append(Stream("micrometer", service, outcome, labels, counted=not decoy, namespace=namespace,
                              reset_day=reset))
        if not decoy:  # Prometheus scraping /actuator/prometheus every 15 s: 120 fast requests a step
            labels = {**target, "error": "none", "exception": "none", "method": "GET", "outcome": "SUCCESS",
                      "status": "200", "uri": "/actuator/prometheus"}
            out.append(_ScrapeStream("micrometer", service, "ok", labels, counted=False, reset_day=reset))
    # An app left with Spring Boot's default: no percentiles-histogram, so _count and _sum only.
    target = {"application": NO_BUCKETS, "container": NO_BUCKETS, "endpoint": "http", "instance": "10.0.1.30:8080",
              "job": NO_BUCKETS, "namespace": NAMESPACE, "pod": f"{NO_BUCKETS}-6f5d4c7b8-m9n8p",
              "service": NO_BUCKETS}
    for outcome, status, result in (("ok", "200", "SUCCESS"), ("errors", "500", "SERVER_ERROR")):
        labels = {**target, "error": "none", "exception": "none", "method": "GET", "outcome": result,
                  "status": status, "uri": "/api/stock"}
        out.append(Stream("micrometer", NO_BUCKETS, outcome, labels, buckets=False))
    return out


@dataclass(frozen=True)
class _ScrapeStream(Stream):
    """Prometheus's own scrapes of the app: 120 a step at 2 ms, whatever the day."""

    def masses(self, day: int) -> tuple[tuple[float, int], ...]:
        return ((0.002, 120),)


def istio_streams() -> list[Stream]:
    """Istio's standard ``istio_requests_total`` / ``istio_request_duration_milliseconds`` labels."""
    out = []
    for service, namespace in ((HEALTHY, NAMESPACE), (INCIDENT, NAMESPACE), (HEALTHY, DECOY_NAMESPACE)):
        decoy = namespace == DECOY_NAMESPACE
        common = {
            "connection_security_policy": "mutual_tls", "destination_app": service,
            "destination_canonical_revision": "v1", "destination_canonical_service": service,
            "destination_cluster": "Kubernetes", "destination_principal":
                f"spiffe://cluster.local/ns/{namespace}/sa/{service}",
            "destination_service": f"{service}.{namespace}.svc.cluster.local", "destination_service_name": service,
            "destination_service_namespace": namespace, "destination_version": "v1",
            "destination_workload": service, "destination_workload_namespace": namespace,
            "grpc_response_status": "", "request_protocol": "http", "source_app": "frontend",
            "source_canonical_revision": "v1", "source_canonical_service": "frontend", "source_cluster": "Kubernetes",
            "source_principal": f"spiffe://cluster.local/ns/{namespace}/sa/frontend", "source_version": "v1",
            "source_workload": "frontend", "source_workload_namespace": namespace,
        }
        codes = {"ok": ("200", "-"), "errors": ("500", "-"), "not_found": ("404", "NR"), "gone": ("0", "DC")}
        for reporter in ("destination", "source"):
            pod = f"{service if reporter == 'destination' else 'frontend'}-7d9f8b6c5-x2x4z"
            target = {"instance": "10.0.1.12:15020" if reporter == "destination" else "10.0.1.40:15020",
                      "job": "kubernetes-pods", "namespace": namespace, "pod": pod}
            for outcome, (code, flags) in codes.items():
                if (decoy and (reporter == "source" or outcome not in ("ok", "errors"))) or \
                        (reporter == "source" and outcome != "ok"):
                    continue
                labels = {**common, **target, "reporter": reporter, "response_code": code, "response_flags": flags}
                out.append(Stream("istio", service, outcome, labels, counted=reporter == "destination" and not decoy,
                                  namespace=namespace, latency_scale=1.0 if reporter == "destination" else 1.6))
    return out


def nginx_streams() -> list[Stream]:
    """ingress-nginx's ``nginx_ingress_controller_requests`` / ``..._request_duration_seconds``, as stored
    after a ServiceMonitor's scrape."""
    out = []
    codes = {"ok": "200", "errors": "500", "not_found": "404", "gone": "499"}
    for k, controller in enumerate(("ingress-nginx-controller-6b7f9d4c8-bcdfg",
                                    "ingress-nginx-controller-6b7f9d4c8-kq2wn")):
        target = {"container": "controller", "endpoint": "metrics", "instance": f"10.0.3.{k + 7}:10254",
                  "job": "ingress-nginx-controller-metrics", "namespace": "ingress-nginx", "pod": controller,
                  "service": "ingress-nginx-controller-metrics"}
        for service, namespace in ((HEALTHY, NAMESPACE), (INCIDENT, NAMESPACE), (HEALTHY, DECOY_NAMESPACE)):
            decoy = namespace == DECOY_NAMESPACE
            for outcome, status in codes.items():
                if (decoy and k == 1) or (outcome not in ("ok", "errors") and (decoy or k == 1)):
                    continue
                labels = {**target, "canary": "", "controller_class": "k8s.io/ingress-nginx",
                          "controller_namespace": "ingress-nginx", "controller_pod": controller,
                          "exported_namespace": namespace, "exported_service": service,
                          "host": f"{namespace}.example.com",
                          "ingress": service, "method": "GET", "path": f"/{service}", "status": status}
                out.append(Stream("ingress-nginx", service, outcome, labels, counted=not decoy, namespace=namespace))
    return out


@dataclass(frozen=True)
class Container:
    """One cAdvisor container of a pod and whether the kubernetes preset must count it."""

    namespace: str
    pod: str
    service: str  # whose usage profile it follows
    container: str  # the cAdvisor container label ("" for the pod cgroup and containerd's pause)
    role: str  # app, istio-proxy, log-shipper, pause, pod
    image: str
    counted: bool
    limits: bool  # kube-state-metrics exports its limits


_PAUSE_IMAGE = "registry.k8s.io/pause:3.9"


def containers() -> list[Container]:
    """Every cAdvisor container series of the week (pods of both services, pitfalls, decoys)."""
    out: list[Container] = []

    def pod(namespace: str, name: str, service: str, counted: bool, *, runtime: str, log_shipper: bool = False):
        app = name.rsplit("-", 2)[0]  # the Deployment's name, the app container's name
        roles = ["app", "istio-proxy"] + (["log-shipper"] if log_shipper else [])
        for role in roles:
            cname = app if role == "app" else role
            out.append(Container(namespace, name, service, cname, role,
                                 f"registry.example/{namespace}/{cname}:1.4.2", counted and role != "log-shipper",
                                 role != "log-shipper"))
        if runtime == "docker":
            out.append(Container(namespace, name, service, "POD", "pause", _PAUSE_IMAGE, False, False))
        else:
            out.append(Container(namespace, name, service, "", "pause", _PAUSE_IMAGE, False, False))
        out.append(Container(namespace, name, service, "", "pod", "", False, False))

    for service in SERVICES:
        pod(NAMESPACE, f"{service}-7d9f8b6c5-x2x4z", service, True, runtime="docker")
        pod(NAMESPACE, f"{service}-7d9f8b6c5-q8w7k", service, True, runtime="containerd", log_shipper=True)
    # a Deployment named checkout-worker: its pods begin with "checkout-"
    pod(NAMESPACE, "checkout-worker-5c6d7f8b9-bcdfg", INCIDENT, False, runtime="containerd")
    pod(DECOY_NAMESPACE, "checkout-7d9f8b6c5-zz5k2", INCIDENT, False, runtime="containerd")
    return out


#: Pods kube-state-metrics still exports limits for, with no cAdvisor series (evicted: phase Failed).
EVICTED = (Container(NAMESPACE, "checkout-7d9f8b6c5-h7j9k", HEALTHY, HEALTHY, "app", "", False, True),)


def _pod_use(c: Container, day: int) -> tuple[float, int]:
    """CPU cores and working set of one cAdvisor series on ``day``."""
    if c.role != "pod":
        cpu, _, mem, _ = container_use(c.service, c.role, day)
        return cpu, mem
    parts = [x for x in containers() if x.namespace == c.namespace and x.pod == c.pod and x.role != "pod"]
    uses = [_pod_use(x, day) for x in parts]
    return sum(u[0] for u in uses), sum(u[1] for u in uses)


def _crc(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _kubernetes_families(families: dict[str, Family]) -> None:
    cpu, mem, lim = (families[n] for n in ("container_cpu_usage_seconds", "container_memory_working_set_bytes",
                                           "kube_pod_container_resource_limits"))
    target = {"endpoint": "https-metrics", "instance": "10.0.0.5:10250", "job": "kubelet",
              "metrics_path": "/metrics/cadvisor", "node": "node-a", "service": "kubelet"}
    for c in containers():
        uid = f"{_crc(c.namespace, c.pod):08x}-1111-2222-3333-444455556666"
        cgroup = f"/kubepods/burstable/pod{uid}" + ("" if c.role == "pod" else f"/{_crc(c.pod, c.role):08x}")
        labels = {**target, "container": c.container, "id": cgroup, "image": c.image,
                  "name": "" if c.role == "pod" else f"k8s_{c.container or 'POD'}_{c.pod}_{c.namespace}",
                  "namespace": c.namespace, "pod": c.pod}
        _write_series(cpu, "container_cpu_usage_seconds_total", labels,
                      _cumulative(lambda i, c=c: _pod_use(c, step_day(i))[0] * STEP, base=1000.0))
        _write_series(mem, "container_memory_working_set_bytes", labels,
                      [_pod_use(c, sample_day(i))[1] for i in range(_SAMPLES)])
    for c in [x for x in containers() if x.limits] + list(EVICTED):
        for replica in ("10.0.2.9:8080", "10.0.2.10:8080"):  # two kube-state-metrics replicas (HA)
            for resource, unit, index in (("cpu", "core", 1), ("memory", "byte", 3)):
                labels = {"container": c.container, "instance": replica, "job": "kube-state-metrics",
                          "namespace": c.namespace, "node": "node-a", "pod": c.pod, "resource": resource,
                          "uid": f"{_crc(c.namespace, c.pod):08x}-1111-2222-3333-444455556666", "unit": unit}
                _write_series(lim, "kube_pod_container_resource_limits", labels,
                              [container_use(c.service, c.role, sample_day(i))[index] for i in range(_SAMPLES)])


def streams(stack: str) -> list[Stream]:
    """The request streams of an HTTP stack."""
    return {"micrometer": micrometer_streams, "istio": istio_streams, "ingress-nginx": nginx_streams}[stack]()


def write_openmetrics(path: str | os.PathLike[str], stacks: Iterable[str] = STACKS) -> Path:
    """Write the week of ``stacks`` as one OpenMetrics file (timestamps in seconds, ``# EOF``); return it.

    Families whose exposition is a counter without ``_total``
    (``nginx_ingress_controller_requests``) are typed ``unknown``: OpenMetrics
    requires ``_total`` on a counter's samples, and the backfilled TSDB keeps
    no type anyway.
    """
    stacks = list(stacks)
    families: dict[str, Family] = {}

    def family(name: str, kind: str, help_text: str) -> None:
        families[name] = Family(name, kind, help_text)

    if "micrometer" in stacks:
        family("http_server_requests_seconds", "histogram", "Duration of HTTP server request handling")
        family("http_server_requests_seconds_max", "gauge", "Duration of HTTP server request handling")
        for s in micrometer_streams():
            _write_histogram(families, "http_server_requests_seconds", s, MICROMETER_BOUNDS_S, 1.0, 0.0)
            _write_series(families["http_server_requests_seconds_max"], "http_server_requests_seconds_max", s.labels,
                          [max((lat for lat, _ in s.masses(sample_day(i))), default=0.0) for i in range(_SAMPLES)])
    if "istio" in stacks:
        family("istio_requests", "counter", "Istio request count")
        family("istio_request_duration_milliseconds", "histogram", "Istio request duration")
        for s in istio_streams():
            _write_series(families["istio_requests"], "istio_requests_total", s.labels,
                          _cumulative(lambda i, s=s: sum(n for _, n in s.masses(step_day(i))), base=5000.0))
            _write_histogram(families, "istio_request_duration_milliseconds", s, ISTIO_BOUNDS_MS, 1000.0, 5000.0)
    if "ingress-nginx" in stacks:
        family("nginx_ingress_controller_requests", "unknown", "The total number of client requests")
        family("nginx_ingress_controller_request_duration_seconds", "histogram",
               "The request processing time in milliseconds")
        for s in nginx_streams():
            _write_series(families["nginx_ingress_controller_requests"], "nginx_ingress_controller_requests",
                          s.labels, _cumulative(lambda i, s=s: sum(n for _, n in s.masses(step_day(i)))))
            _write_histogram(families, "nginx_ingress_controller_request_duration_seconds", s, NGINX_BOUNDS_S,
                             1.0, 0.0)
    if "kubernetes" in stacks:
        family("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds.")
        family("container_memory_working_set_bytes", "gauge", "Current working set in bytes.")
        family("kube_pod_container_resource_limits", "gauge",
               "The number of requested limit resource by a container.")
        _kubernetes_families(families)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for fam in families.values():
            out.write(f"# HELP {fam.name} {fam.help}\n# TYPE {fam.name} {fam.kind}\n")
            out.writelines(fam.lines)
        out.write("# EOF\n")
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- truth for the tests


def http_totals(stack: str, service: str, start: datetime, end: datetime) -> dict[str, object]:
    """What the preset must count for ``service`` over ``(start, end]``: requests, errors, merged buckets.

    ``buckets``: (upper bound in ms, cumulative count) ending with +Inf.
    """
    steps = _step_range(start, end)
    counted = [s for s in streams(stack) if s.counted and s.service == service]
    requests = errors = 0
    latencies: dict[float, int] = {}
    for i in steps:
        day = step_day(i)
        for s in counted:
            for lat, n in s.masses(day):
                requests += n
                errors += n if s.outcome == "errors" else 0
                latencies[lat] = latencies.get(lat, 0) + n
    bounds_ms = {"micrometer": [b * 1000 for b in MICROMETER_BOUNDS_S], "istio": list(ISTIO_BOUNDS_MS),
                 "ingress-nginx": [b * 1000 for b in NGINX_BOUNDS_S]}[stack]
    buckets = [(b, sum(n for lat, n in latencies.items() if lat * 1000 <= b + 1e-9)) for b in bounds_ms]
    buckets.append((float("inf"), requests))
    return {"requests": requests, "errors": errors, "buckets": buckets}


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's ``histogram_quantile`` over cumulative (upper bound, count) buckets ending with +Inf."""
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    b = next((k for k in range(len(buckets) - 1) if buckets[k][1] >= rank), len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    lower = buckets[b - 1][0] if b > 0 else 0.0
    prev = buckets[b - 1][1] if b > 0 else 0.0
    upper, count = buckets[b][0], buckets[b][1] - prev
    return lower + (upper - lower) * (rank - prev) / count


def resource_percent(service: str, at: datetime, interval_seconds: int) -> tuple[float, float]:
    """(CPU %, memory %) the kubernetes preset must read for ``service`` at ``at``: the counted
    containers' usage over ``(at - interval, at]`` and working set at ``at``, over their limits."""
    counted = [c for c in containers() if c.counted and c.service == service and c.namespace == NAMESPACE]
    steps = _step_range(at - timedelta(seconds=interval_seconds), at)
    sample = int((at - START).total_seconds()) // STEP
    cpu = sum(container_use(service, c.role, step_day(i))[0] * STEP for c in counted for i in steps)
    cpu_limit = sum(container_use(service, c.role, sample_day(sample))[1] for c in counted)
    mem = sum(container_use(service, c.role, sample_day(sample))[2] for c in counted)
    mem_limit = sum(container_use(service, c.role, sample_day(sample))[3] for c in counted)
    return 100.0 * cpu / interval_seconds / cpu_limit, 100.0 * mem / mem_limit
