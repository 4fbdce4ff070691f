"""Deterministic, seeded synthetic post-release weeks (the embedded demo data).

A synthetic week is generated at *scrape level* first: every ``scrape_seconds``
the generator draws the requests served (diurnal traffic with noise), their
status codes, their latencies (as histogram buckets), the CPU seconds used and
the memory working set, and keeps counters as cumulative values the way an
exporter would expose them. The snapshots are then computed from those series
with the contract's default PromQL rules (section 2), so the same week, written
out as OpenMetrics or VictoriaMetrics import lines (the test tools in
``tests/support/synthetic_export.py``) and queried back with the default
expressions, gives the same numbers as :attr:`SyntheticWeek.snapshots`.

Scrapes are aligned on the snapshot grid (``t_k`` is a scrape time and the
interval is a whole number of scrapes), so Prometheus 2.x (whose range
selectors include the sample at ``t_k - interval``) and VictoriaMetrics (which
takes the last sample before the window as the base of ``rate``) compute the
exact increase ``C(t_k) - C(t_k - interval)`` without extrapolation.
Prometheus 3.x (left-open ranges) extrapolates over the one missing scrape and
differs by the noise of one scrape out of ``interval / scrape_seconds``.

A :class:`SyntheticWeek` keeps only its snapshot values, in a compact array;
its scrape series are regenerated (deterministically, from the same seed)
when it is written out, so a fleet of 1,000 services stays small.

Notes
-----
The noise comes from :class:`numpy.random.Generator` (PCG64) seeded from
``(seed, service name)``: a week is reproducible bit for bit with the same
numpy version; numpy does not promise the same streams across versions.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import ndtr

from stabmon.core.model import METRIC_FIELDS, Alert, Baseline, Snapshot, Window, format_time, utc

__all__ = [
    "SCENARIOS",
    "DEFAULT_START",
    "PlantedFacts",
    "SyntheticWeek",
    "day_histogram_quantiles",
    "generate_week",
]

#: A fixed Monday midnight UTC, so a week generated without ``start`` is reproducible.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=timezone.utc)

#: Scenario name -> one-line description.
SCENARIOS: dict[str, str] = {
    "healthy": "a quiet week: diurnal traffic, ~99.98 % availability, p99 ~250 ms, CPU ~40 %, memory ~30 %, no alerts",
    "incident": (
        "day 3 13:00-17:00 5xx incident (1-4 %), day 5 09:00-14:00 latency regression (p99 ~1 s), "
        "memory and CPU creeping up all week, two critical alerts and a warning across midnight day 4-5"
    ),
    "latency_regression": (
        "from day 4 12:00 to the end every request is ~3x slower (p99 ~650 ms), "
        "a critical alert firing until the end: days 4-7 degraded"
    ),
}

# --- the healthy service profile ------------------------------------------------
# Traffic follows a daily sine between these rates (req/s), lowest at 03:00 UTC.
TRAFFIC_MIN_RPS = 50.0
TRAFFIC_MAX_RPS = 300.0
TRAFFIC_PEAK_HOUR_UTC = 15.0
# 0.02 % of requests fail with a 5xx in a quiet week: far from the 99.9 % SLO even
# in a quiet night window (~90k requests, ~18 errors, Poisson noise ~25 %).
BASE_5XX_FRACTION = 0.0002
NOT_FOUND_FRACTION = 0.015
# Latencies are log-normal; the median rises a little with load.
LATENCY_MEDIAN_S = 0.045
LATENCY_SIGMA = 0.6
CPU_LIMIT_CORES = 2.0
CPU_PERIOD_US = 100_000
CPU_PERCENT = 40.0
MEMORY_LIMIT_BYTES = 2 * 1024**3
MEMORY_PERCENT = 30.0

STATUS_CODES: tuple[str, ...] = ("200", "404", "500", "503")
#: Upper bounds of the latency histogram (client_python's defaults) and their ``le`` labels.
BUCKET_BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf,
)
BUCKET_LABELS: tuple[str, ...] = tuple("+Inf" if math.isinf(b) else repr(float(b)) for b in BUCKET_BOUNDS)

# Metric families in output order: (family name, OpenMetrics type, help text).
_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("http_requests", "counter", "HTTP requests served, by status code."),
    ("http_request_duration_seconds", "histogram", "HTTP request latency."),
    ("container_cpu_usage_seconds", "counter", "Cumulative CPU time consumed by the container."),
    ("container_spec_cpu_quota", "gauge", "CPU quota of the container (microseconds per period)."),
    ("container_spec_cpu_period", "gauge", "CPU CFS period of the container (microseconds)."),
    ("container_memory_working_set_bytes", "gauge", "Working set of the container."),
    ("container_spec_memory_limit_bytes", "gauge", "Memory limit of the container."),
    ("ALERTS", "gauge", "Alerts pending or firing (Prometheus rule evaluation)."),
)
_FAMILY_INDEX = {name: i for i, (name, _, _) in enumerate(_FAMILIES)}

_HOUR = 3600.0
_DAY = 86400.0


# ---------------------------------------------------------------------------
# public data


@dataclass
class PlantedFacts:
    """Ground truth of a synthetic week, for tests and the demo's narrative.

    Attributes
    ----------
    degraded_days : set of int
        Days (1-based) that the planted incidents degrade under the seed's rules
        (availability or latency SLO compliance below 95 %, or a day's average
        error rate at or above 0.1 %). Empty for ``healthy``.
    incidents : list of dict
        One dict per incident inside the window: ``kind`` (``error_rate``,
        ``latency`` or ``resource_creep``), ``metric`` (the main metric),
        ``metrics`` (every metric it moves), ``start`` and ``end`` (aware UTC
        datetimes, clipped to the window), ``day_number`` (day of ``start``),
        ``degrades_days`` (list of int) and ``description``.
    alert_episodes : list of dict
        One dict per episode as the snapshots see it (docs/contract.md §3):
        ``alertname``, ``severity``, ``labels``, ``first_snapshot``,
        ``last_snapshot``, ``snapshot_count``, ``day_number`` (day of the first
        snapshot, the day that counts it), ``fired_at`` (first firing scrape)
        and ``resolved_at`` (first scrape no longer firing, ``None`` when still
        firing at the end of the window).
    resource_trend : str
        ``degrading`` when a resource creep is planted, else ``stable``.
    """

    degraded_days: set[int] = field(default_factory=set)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    alert_episodes: list[dict[str, Any]] = field(default_factory=list)
    resource_trend: str = "stable"

    def episodes_by_severity(self, severity: str) -> list[dict[str, Any]]:
        """The planted alert episodes of one severity, in time order."""
        return [e for e in self.alert_episodes if e["severity"] == severity]


@dataclass(frozen=True)
class _Spec:
    """Everything a week is regenerated from (the scrape series are not kept)."""

    scenario: str
    start_ms: int
    duration_hours: float
    interval_minutes: float
    seed: int
    service: str
    scrape_seconds: int
    purpose: int = 0  # 0: the week itself, 1: the release day behind the baseline

    @property
    def interval_seconds(self) -> int:
        return int(round(self.interval_minutes * 60.0))

    @property
    def window(self) -> Window:
        return Window(start=_dt(self.start_ms), duration_hours=self.duration_hours,
                      interval_minutes=self.interval_minutes)


@dataclass(eq=False)
class SyntheticWeek:
    """One service's synthetic run: its snapshots, baseline and planted facts.

    Attributes
    ----------
    window : Window
        The run's window (start, duration, interval).
    service : str
        Value of the ``service`` label of every series.
    scenario : str
        One of :data:`SCENARIOS`.
    baseline : Baseline
        Release-day KPIs of the healthy behaviour (means over the simulated
        day before the window), timestamped ``start - 6 h``.
    planted : PlantedFacts
        Ground truth: degraded days, incidents, alert episodes.
    snapshots : list of Snapshot
        One per ``t_k``, with the values the contract's default PromQL returns
        on the scrape data (``drift_percent`` empty). Built on first access and
        then kept, so a fleet that is only written out stays small.
    day_latency : dict
        ``{day_number: {"p95_latency_ms": .., "p99_latency_ms": ..}}``: each
        day's quantiles from its pooled histogram buckets, as the collector's
        ``day_p95_latency_ms`` / ``day_p99_latency_ms`` queries would give
        them (see :func:`day_histogram_quantiles`); ``None`` for a day with
        no request.
    """

    window: Window
    service: str
    scenario: str
    baseline: Baseline
    planted: PlantedFacts
    _spec: _Spec = field(repr=False)
    _values: np.ndarray = field(repr=False)
    _alerts: list[list[Alert]] = field(repr=False)
    day_latency: dict[int, dict[str, float | None]] = field(default_factory=dict)

    @cached_property
    def snapshots(self) -> list[Snapshot]:
        """The week's snapshots (see the class docstring)."""
        times = self.window.times()
        rows = self._values.tolist()
        return [
            Snapshot(timestamp=ts, values=dict(zip(METRIC_FIELDS, row)), alerts=list(alerts))
            for ts, row, alerts in zip(times, rows, self._alerts)
        ]


# ---------------------------------------------------------------------------
# scenario plans


@dataclass(frozen=True)
class _Incident:
    kind: str
    metrics: tuple[str, ...]
    start: float  # epoch seconds
    end: float
    magnitude: float
    description: str
    degrades: bool = True


@dataclass(frozen=True)
class _AlertPlan:
    alertname: str
    severity: str
    pending_from: float
    firing_from: float
    firing_until: float


def _plan(spec: _Spec) -> tuple[list[_Incident], list[_AlertPlan], bool]:
    """Incidents, alerts and whether resources creep, for the spec's scenario.

    Times are offsets from the window start (day ``d`` begins at ``(d-1)*24 h``).
    Alert edges sit at odd minutes (hh:03, hh:07, ...) like a rule evaluation
    would, not on the snapshot grid. An incident is kept only when it starts
    inside the window and at least 4 h of it fall inside (clipped at the end),
    so a short window never gets a half-planted incident.
    """
    start = spec.start_ms / 1000.0
    end = start + spec.duration_hours * _HOUR
    minute = 60.0

    def at(day: int, hours: float, minutes: float = 0.0) -> float:
        return start + (day - 1) * _DAY + hours * _HOUR + minutes * minute

    incidents: list[_Incident] = []
    alerts: list[_AlertPlan] = []
    creep = False
    if spec.scenario == "incident":
        incidents = [
            _Incident("error_rate", ("error_rate", "availability", "errors"), at(3, 13), at(3, 17), 0.03,
                      "5xx incident: 1 % rising to 4 % of requests fail (mostly 503)"),
            _Incident("latency", ("p99_latency_ms", "p95_latency_ms"), at(5, 9), at(5, 14), 3.5,
                      "latency regression: median latency x4.5, p99 around 1 s"),
        ]
        alerts = [
            _AlertPlan("HighErrorRate", "critical", at(3, 13, 2), at(3, 13, 7), at(3, 17, 3)),
            _AlertPlan("HighLatencyP99", "critical", at(5, 9, 3), at(5, 9, 13), at(5, 14, 3)),
            _AlertPlan("CPUThrottlingHigh", "warning", at(4, 22, 48), at(4, 23, 3), at(5, 1, 7)),
        ]
        creep = True
    elif spec.scenario == "latency_regression":
        incidents = [
            _Incident("latency", ("p99_latency_ms", "p95_latency_ms"), at(4, 12), end, 2.0,
                      "latency regression that is never fixed: median latency x3, p99 ~650 ms"),
        ]
        alerts = [_AlertPlan("HighLatencyP99", "critical", at(4, 12, 3), at(4, 12, 13), end + _HOUR)]
    elif spec.scenario != "healthy":
        raise ValueError(f"unknown scenario {spec.scenario!r}; known: {', '.join(SCENARIOS)}")

    kept = [
        _Incident(i.kind, i.metrics, i.start, min(i.end, end), i.magnitude, i.description, i.degrades)
        for i in incidents
        if start <= i.start < end and min(i.end, end) - i.start >= 4 * _HOUR
    ]
    kept_alerts = [a for a in alerts if start <= a.firing_from < end]
    return kept, kept_alerts, creep


def _degraded_days(incidents: list[_Incident], spec: _Spec) -> dict[int, list[int]]:
    """Days each incident degrades: the days holding at least 4 h of it.

    At 30-minute snapshots 4 h is 8 of 48 snapshots out of SLO (83 %
    compliance), far below the 95 % rule; a day that holds less of an
    incident is not claimed as degraded.
    """
    start = spec.start_ms / 1000.0
    out: dict[int, list[int]] = {}
    for n, inc in enumerate(incidents):
        days = []
        first = int((inc.start - start) // _DAY) + 1
        last = int((inc.end - 1e-6 - start) // _DAY) + 1
        for d in range(first, last + 1):
            lo = max(inc.start, start + (d - 1) * _DAY)
            hi = min(inc.end, start + d * _DAY)
            if hi - lo >= 4 * _HOUR:
                days.append(d)
        out[n] = days if inc.degrades else []
    return out


# ---------------------------------------------------------------------------
# scrape-level simulation


@dataclass
class _Series:
    family: int
    name: str
    labels: tuple[tuple[str, str], ...]
    values: np.ndarray
    integer: bool = False
    index: np.ndarray | None = None  # scrape indices with a sample; None = every scrape


@dataclass
class _Scrapes:
    times_ms: np.ndarray
    times_s: np.ndarray
    series: list[_Series]
    # the raw arrays the snapshots are computed from
    code_counters: np.ndarray      # (n, codes) cumulative
    bucket_counters: np.ndarray    # (n, buckets) cumulative, le order
    cpu_seconds: np.ndarray        # (n,) cumulative
    cpu_quota: float
    cpu_period: float
    memory_bytes: np.ndarray       # (n,)
    memory_limit: float
    alert_masks: list[tuple[dict[str, str], np.ndarray]]  # firing series only
    lead_seconds: int


def _check(spec: _Spec) -> None:
    if spec.scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {spec.scenario!r}; known: {', '.join(SCENARIOS)}")
    if isinstance(spec.scrape_seconds, bool) or not isinstance(spec.scrape_seconds, (int, np.integer)) \
            or spec.scrape_seconds <= 0:
        raise ValueError(f"scrape_seconds must be a positive integer, got {spec.scrape_seconds!r}")
    if not spec.duration_hours > 0:
        raise ValueError("duration_hours must be positive")
    interval_s = spec.interval_minutes * 60.0
    if not interval_s > 0 or abs(interval_s - round(interval_s)) > 1e-9:
        raise ValueError("interval_minutes must be a positive whole number of seconds")
    # The snapshot grid must be a scrape time, otherwise rate() extrapolates and
    # the snapshots would no longer equal what Prometheus returns.
    if spec.interval_seconds % spec.scrape_seconds:
        raise ValueError(
            f"the interval ({spec.interval_seconds} s) must be a multiple of scrape_seconds ({spec.scrape_seconds})"
        )
    if spec.seed < 0:
        raise ValueError("seed must be >= 0")


def _rngs(spec: _Spec, count: int) -> list[np.random.Generator]:
    # Keyed by service name so a fleet's services differ and adding one does not
    # change the others; one stream per component so a scenario's incident (which
    # changes how many draws the error stream takes) leaves traffic untouched.
    name_key = zlib.crc32(spec.service.encode("utf-8"))
    root = np.random.SeedSequence([int(spec.seed), name_key, spec.purpose])
    return [np.random.default_rng(child) for child in root.spawn(count)]


def _ar1(rng: np.random.Generator, n: int, step_s: float, corr_s: float, std: float) -> np.ndarray:
    """Stationary AR(1) noise: slow wiggles, not white noise that averages out."""
    phi = math.exp(-step_s / corr_s)
    eps = rng.standard_normal(n) * std * math.sqrt(1.0 - phi * phi)
    eps[0] = rng.standard_normal() * std  # start in the stationary distribution
    return _ar1_filter(eps, phi)


def _ar1_filter(eps: np.ndarray, phi: float) -> np.ndarray:
    """``y[t] = phi * y[t-1] + eps[t]`` vectorised (scipy.signal.lfilter costs 2 s to import).

    Within a block, ``y[k] = phi**k * (phi * y_prev + cumsum(eps[i] / phi**i))``;
    blocks are short enough that ``phi**-k`` stays below 1e12, so no precision is lost.
    """
    if phi < 1e-9:
        return eps.copy()
    out = np.empty_like(eps)
    block = max(1, int(12 * math.log(10) / -math.log(phi))) if phi < 1.0 else len(eps)
    previous = 0.0
    for begin in range(0, len(eps), block):
        chunk = eps[begin:begin + block]
        powers = phi ** np.arange(len(chunk))
        values = powers * (phi * previous + np.cumsum(chunk / powers))
        out[begin:begin + block] = values
        previous = values[-1]
    return out


def _pulse(t: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """0 outside ``[start, end)``, 1 inside, with linear ramps of ``ramp`` seconds."""
    up = np.clip((t - start) / ramp, 0.0, 1.0)
    down = np.clip((end - t) / ramp, 0.0, 1.0)
    inside = (t >= start) & (t < end)
    return np.where(inside, np.minimum(up, down), 0.0)


def _labels(spec: _Spec) -> tuple[dict[str, str], dict[str, str]]:
    """Label sets of the application's and the container's series."""
    h = zlib.crc32(spec.service.encode("utf-8"))
    pod = f"{spec.service}-{h % 0xFFFFFF:06x}-{'abcdefghjkmnpqrstvwxz'[h % 21]}{h % 1000:03d}"
    instance = f"10.{(h >> 16) & 0xFF}.{(h >> 8) & 0xFF}.{(h & 0xFF) or 1}:8080"
    app = {"job": spec.service, "instance": instance, "namespace": "production", "pod": pod, "service": spec.service}
    container = {"job": "kubelet", "namespace": "production", "pod": pod, "container": spec.service,
                 "service": spec.service}
    return app, container


def _simulate(spec: _Spec) -> _Scrapes:
    """Draw the scrape-level series of one service (deterministic in ``spec``)."""
    s = int(spec.scrape_seconds)
    interval_s = spec.interval_seconds
    # Lead-in: at least an hour (and one interval) of samples before the window so
    # the first snapshot's rate has data; a whole number of scrapes keeps t_k on the grid.
    lead = int(math.ceil(max(3600, interval_s) / s)) * s
    start_ms = spec.start_ms
    end_ms = start_ms + int(round(spec.duration_hours * 3_600_000))
    n = (end_ms - (start_ms - lead * 1000)) // (s * 1000) + 1
    times_ms = start_ms - lead * 1000 + np.arange(n, dtype=np.int64) * (s * 1000)
    t = times_ms / 1000.0
    start = start_ms / 1000.0
    end = end_ms / 1000.0

    incidents, alert_plans, creep = _plan(spec)
    r_traffic, r_codes, r_latency, r_cpu, r_mem, r_init = _rngs(spec, 6)

    # --- traffic: daily sine, slow multiplicative noise, Poisson counts
    # An increment sampled at t covers (t - s, t]: rates are evaluated at its middle,
    # so an incident starting at 13:00 does not leak into the 12:30-13:00 window.
    tm = t - s / 2.0
    hour = np.mod(tm, _DAY) / _HOUR
    load = np.sin(2.0 * math.pi * (hour - (TRAFFIC_PEAK_HOUR_UTC - 6.0)) / 24.0)  # -1 .. 1
    mid = (TRAFFIC_MAX_RPS + TRAFFIC_MIN_RPS) / 2.0
    amp = (TRAFFIC_MAX_RPS - TRAFFIC_MIN_RPS) / 2.0
    rps = (mid + amp * load) * np.clip(1.0 + _ar1(r_traffic, n, s, 1200.0, 0.04), 0.5, 1.5)
    requests = r_traffic.poisson(rps * s)

    # --- status codes
    p5xx = np.full(n, BASE_5XX_FRACTION)
    share_500 = np.full(n, 0.6)
    latency_factor = np.ones(n)
    sigma = np.full(n, LATENCY_SIGMA)
    cpu_factor = np.ones(n)
    for inc in incidents:
        shape = _pulse(tm, inc.start, inc.end, 900.0)
        if inc.kind == "error_rate":
            # 1 % at the edges, peak 1 % + magnitude half-way: an overload that
            # builds up and is mitigated.
            u = np.clip((tm - inc.start) / (inc.end - inc.start), 0.0, 1.0)
            active = (tm >= inc.start) & (tm < inc.end)
            p5xx = np.where(active, BASE_5XX_FRACTION + 0.01 + inc.magnitude * np.sin(math.pi * u), p5xx)
            share_500 = np.where(active, 0.3, share_500)  # overload shows as 503s
        elif inc.kind == "latency":
            latency_factor = latency_factor * (1.0 + inc.magnitude * shape)
            sigma = sigma + 0.05 * shape
            cpu_factor = cpu_factor * (1.0 + 0.1 * shape)
    n5xx = r_codes.binomial(requests, p5xx)
    n500 = r_codes.binomial(n5xx, share_500)
    n503 = n5xx - n500
    n404 = r_codes.binomial(requests - n5xx, NOT_FOUND_FRACTION / (1.0 - BASE_5XX_FRACTION))
    n200 = requests - n5xx - n404
    code_inc = np.stack([n200, n404, n500, n503], axis=1).astype(np.int64)

    # --- latency histogram (per-request log-normal, counted into buckets)
    median = LATENCY_MEDIAN_S * (1.0 + 0.05 * load) * latency_factor
    finite = np.log(np.asarray(BUCKET_BOUNDS[:-1]))
    cdf = ndtr((finite[None, :] - np.log(median)[:, None]) / sigma[:, None])
    probs = np.diff(np.concatenate([np.zeros((n, 1)), cdf, np.ones((n, 1))], axis=1), axis=1)
    probs = np.clip(probs, 0.0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    bucket_inc = r_latency.multinomial(requests, probs).astype(np.int64)
    mean_latency = median * np.exp(sigma**2 / 2.0)
    sum_inc = requests * mean_latency * (1.0 + 0.02 * r_latency.standard_normal(n))

    # --- CPU and memory
    u_window = np.clip((t - start) / (end - start), 0.0, 1.0)
    cpu_creep = 1.0 + (0.25 * u_window if creep else 0.0)
    # A large fixed share (runtime, background work) keeps CPU within ~±12 % of its
    # mean over the day although traffic varies six-fold.
    cpu_pct = CPU_PERCENT * (1.0 + 0.12 * load) * cpu_factor * cpu_creep * (1.0 + _ar1(r_cpu, n, s, 600.0, 0.05))
    cpu_inc = np.clip(cpu_pct, 1.0, 100.0) / 100.0 * CPU_LIMIT_CORES * s
    mem_pct = MEMORY_PERCENT + 1.0 * load + _ar1(r_mem, n, s, 3600.0, 0.4) + (28.0 * u_window if creep else 0.0)
    mem_bytes = np.round(np.clip(mem_pct, 1.0, 99.0) / 100.0 * MEMORY_LIMIT_BYTES / 4096.0) * 4096.0

    # --- the process has been up for a while: counters start well above zero
    uptime = float(r_init.uniform(2.0, 48.0)) * _HOUR
    init_requests = int(mid * uptime)
    init_codes = r_init.multinomial(
        init_requests, [1.0 - BASE_5XX_FRACTION - NOT_FOUND_FRACTION, NOT_FOUND_FRACTION,
                        BASE_5XX_FRACTION * 0.6, BASE_5XX_FRACTION * 0.4])
    base_probs = np.diff(np.concatenate([[0.0], ndtr((finite - math.log(LATENCY_MEDIAN_S)) / LATENCY_SIGMA), [1.0]]))
    init_buckets = r_init.multinomial(init_requests, base_probs / base_probs.sum())
    code_inc[0] = init_codes
    bucket_inc[0] = init_buckets
    sum_inc[0] = init_requests * LATENCY_MEDIAN_S * math.exp(LATENCY_SIGMA**2 / 2.0)
    cpu_inc[0] = CPU_PERCENT / 100.0 * CPU_LIMIT_CORES * uptime

    code_counters = np.cumsum(code_inc, axis=0)
    bucket_counters = np.cumsum(np.cumsum(bucket_inc, axis=1), axis=0)  # cumulative in le, then in time
    count_counter = code_counters.sum(axis=1)
    sum_counter = np.cumsum(sum_inc)
    cpu_seconds = np.cumsum(cpu_inc)

    app, container = _labels(spec)
    series: list[_Series] = []
    fam = _FAMILY_INDEX
    for j, code in enumerate(STATUS_CODES):
        series.append(_Series(fam["http_requests"], "http_requests_total",
                              _label_tuple(app, code=code), code_counters[:, j], integer=True))
    for j, le in enumerate(BUCKET_LABELS):
        series.append(_Series(fam["http_request_duration_seconds"], "http_request_duration_seconds_bucket",
                              _label_tuple(app, le=le), bucket_counters[:, j], integer=True))
    series.append(_Series(fam["http_request_duration_seconds"], "http_request_duration_seconds_sum",
                          _label_tuple(app), sum_counter))
    series.append(_Series(fam["http_request_duration_seconds"], "http_request_duration_seconds_count",
                          _label_tuple(app), count_counter, integer=True))
    series.append(_Series(fam["container_cpu_usage_seconds"], "container_cpu_usage_seconds_total",
                          _label_tuple(container), cpu_seconds))
    quota = CPU_LIMIT_CORES * CPU_PERIOD_US
    series.append(_Series(fam["container_spec_cpu_quota"], "container_spec_cpu_quota",
                          _label_tuple(container), np.full(n, quota), integer=True))
    series.append(_Series(fam["container_spec_cpu_period"], "container_spec_cpu_period",
                          _label_tuple(container), np.full(n, float(CPU_PERIOD_US)), integer=True))
    series.append(_Series(fam["container_memory_working_set_bytes"], "container_memory_working_set_bytes",
                          _label_tuple(container), mem_bytes, integer=True))
    series.append(_Series(fam["container_spec_memory_limit_bytes"], "container_spec_memory_limit_bytes",
                          _label_tuple(container), np.full(n, float(MEMORY_LIMIT_BYTES)), integer=True))

    alert_masks: list[tuple[dict[str, str], np.ndarray]] = []
    snap_offset_ms = (times_ms - start_ms) % (interval_s * 1000)
    for plan in alert_plans:
        base = {"alertname": plan.alertname, "namespace": "production", "service": spec.service,
                "severity": plan.severity}
        pending = (t >= plan.pending_from) & (t < plan.firing_from)
        firing = (t >= plan.firing_from) & (t < plan.firing_until)
        idx = np.flatnonzero(firing)
        # Prometheus 2.x range selectors include the sample at t_k - interval, the
        # contract's window (t_k - interval, t_k] does not: if the last firing
        # sample sat on a snapshot time the next snapshot would disagree, so fire
        # one scrape longer (an alert resolves at an arbitrary evaluation anyway).
        if idx.size and snap_offset_ms[idx[-1]] == 0 and idx[-1] + 1 < n:
            firing[idx[-1] + 1] = True
        for state, mask in (("pending", pending), ("firing", firing)):
            if not mask.any():
                continue
            labels = dict(base, alertstate=state)
            where = np.flatnonzero(mask)
            series.append(_Series(fam["ALERTS"], "ALERTS", _label_tuple(labels), np.ones(where.size),
                                  integer=True, index=where))
            if state == "firing":
                alert_masks.append((labels, mask))

    return _Scrapes(times_ms=times_ms, times_s=t, series=series, code_counters=code_counters,
                    bucket_counters=bucket_counters, cpu_seconds=cpu_seconds, cpu_quota=quota,
                    cpu_period=float(CPU_PERIOD_US), memory_bytes=mem_bytes,
                    memory_limit=float(MEMORY_LIMIT_BYTES), alert_masks=alert_masks, lead_seconds=lead)


def _label_tuple(labels: dict[str, str], **extra: str) -> tuple[tuple[str, str], ...]:
    merged = dict(labels, **extra)
    return tuple(sorted(merged.items()))


# ---------------------------------------------------------------------------
# snapshots from scrapes: the contract's default PromQL, in numpy


def histogram_quantile(q: float, upper_bounds: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """PromQL's ``histogram_quantile`` (Prometheus 2.x rules) over rows of buckets.

    Parameters
    ----------
    q : float
        The quantile, 0..1.
    upper_bounds : ndarray, shape (B,)
        Sorted ``le`` bounds, the last one ``+Inf``.
    cumulative : ndarray, shape (K, B)
        Cumulative bucket rates (or counts) per row.

    Returns
    -------
    ndarray, shape (K,)
        The estimate per row: linear interpolation inside the bucket holding
        rank ``q * count``, the lower bound 0 for the first bucket, the
        highest finite bound when the rank falls in ``+Inf``; NaN when a row
        has no observations.
    """
    counts = np.maximum.accumulate(np.asarray(cumulative, dtype=float), axis=1)  # ensureMonotonic
    upper = np.asarray(upper_bounds, dtype=float)
    nb = upper.size
    total = counts[:, -1]
    rank = q * total
    reached = counts[:, :-1] >= rank[:, None]
    b = np.where(reached.any(axis=1), reached.argmax(axis=1), nb - 1)
    rows = np.arange(counts.shape[0])
    prev = np.maximum(b - 1, 0)
    bucket_start = np.where(b > 0, upper[prev], 0.0)
    bucket_end = upper[np.minimum(b, nb - 1)]
    count = counts[rows, np.minimum(b, nb - 1)] - np.where(b > 0, counts[rows, prev], 0.0)
    local_rank = rank - np.where(b > 0, counts[rows, prev], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = bucket_start + (bucket_end - bucket_start) * (local_rank / count)
    value = np.where(b == nb - 1, upper[nb - 2], value)
    value = np.where((b == 0) & (upper[0] <= 0), upper[0], value)
    return np.where(total > 0, value, np.nan)


def day_histogram_quantiles(
    window: Window, times_s: np.ndarray, bucket_counters: np.ndarray,
    upper_bounds: tuple[float, ...] = BUCKET_BOUNDS,
) -> dict[int, dict[str, float | None]]:
    """Each day's p95 and p99 (ms) from its pooled histogram buckets (docs/contract.md §2.3).

    The contract's ``day_p95_latency_ms`` / ``day_p99_latency_ms`` rule:
    ``1000 * histogram_quantile(q, sum by (le) (increase(bucket[d])))``
    evaluated at the day's end, with ``[d]`` the day's length (a short last
    day is shorter). The increase is the counters' change from the last
    scrape at or before the day's start to the last one at or before its
    end (scrapes sit on the day boundaries, so Prometheus 2.x and
    VictoriaMetrics compute exactly that, without extrapolation).

    Parameters
    ----------
    window : Window
        The run's window: its days are the rows of the result.
    times_s : ndarray, shape (n,)
        Scrape times in Unix seconds, ascending.
    bucket_counters : ndarray, shape (n, B)
        Cumulative bucket counters at each scrape, in ``le`` order.
    upper_bounds : tuple of float
        The ``le`` bounds, the last one ``+Inf``.

    Returns
    -------
    dict
        ``{day: {"p95_latency_ms": .., "p99_latency_ms": ..}}``; a value is
        ``None`` when the day has no request or no scrape before its start.
    """
    days = range(1, window.day_count + 1)
    bounds = [window.day_bounds(d) for d in days]
    first = np.searchsorted(times_s, [b.timestamp() for b, _ in bounds], side="right") - 1
    last = np.searchsorted(times_s, [e.timestamp() for _, e in bounds], side="right") - 1
    counters = np.asarray(bucket_counters, dtype=float)
    pooled = counters[np.maximum(last, 0)] - counters[np.maximum(first, 0)]
    pooled[first < 0] = 0.0  # no scrape at the day's start: no increase to take
    figures: dict[int, dict[str, float | None]] = {d: {} for d in days}
    for name, q in (("p95_latency_ms", 0.95), ("p99_latency_ms", 0.99)):
        values = 1000 * histogram_quantile(q, np.asarray(upper_bounds), pooled)
        for d, value in zip(days, values):
            figures[d][name] = None if math.isnan(value) else float(value)
    return figures


def _snapshot_values(spec: _Spec, scrapes: _Scrapes) -> tuple[np.ndarray, list[list[Alert]]]:
    """Snapshot values (K x METRIC_FIELDS) and the alerts firing in each snapshot."""
    window = spec.window
    k = np.arange(window.snapshot_count)
    s = spec.scrape_seconds
    w = spec.interval_seconds
    end_idx = (scrapes.lead_seconds + k * w) // s
    begin_idx = end_idx - w // s

    def increase(counter: np.ndarray) -> np.ndarray:
        return counter[end_idx] - counter[begin_idx]

    code_inc = increase(scrapes.code_counters).astype(float)  # (K, codes)
    # rate() with samples on both range edges: no extrapolation, increase / range.
    code_rate = code_inc / float(w)
    err_cols = [i for i, c in enumerate(STATUS_CODES) if c.startswith("5")]
    total_rate = code_rate.sum(axis=1)
    err_rate = code_rate[:, err_cols].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        availability = 100 * (1 - err_rate / total_rate)
        error_rate = 100 * err_rate / total_rate
    requests = code_inc.sum(axis=1)
    errors = code_inc[:, err_cols].sum(axis=1)
    bucket_rate = increase(scrapes.bucket_counters).astype(float) / float(w)
    bounds = np.asarray(BUCKET_BOUNDS)
    p95 = 1000 * histogram_quantile(0.95, bounds, bucket_rate)
    p99 = 1000 * histogram_quantile(0.99, bounds, bucket_rate)
    cpu = 100 * (increase(scrapes.cpu_seconds) / float(w)) / (scrapes.cpu_quota / scrapes.cpu_period)
    memory = 100 * scrapes.memory_bytes[end_idx] / scrapes.memory_limit
    values = np.stack([availability, error_rate, requests, errors, p95, p99, cpu, memory], axis=1)

    # max_over_time(ALERTS{alertstate="firing"}[w]): fired at any scrape in (t_k - w, t_k].
    alerts: list[list[Alert]] = [[] for _ in k]
    for labels, mask in sorted(scrapes.alert_masks, key=lambda item: item[0]["alertname"]):
        csum = np.concatenate([[0], np.cumsum(mask)])
        fired = (csum[end_idx + 1] - csum[begin_idx + 1]) > 0
        alert = Alert.from_labels(labels)
        for i in np.flatnonzero(fired):
            alerts[i].append(alert)
    return values, alerts


def _episodes(window: Window, alerts: list[list[Alert]], scrapes: _Scrapes) -> list[dict[str, Any]]:
    """Alert episodes as runs of consecutive snapshots (docs/contract.md §3)."""
    times = window.times()
    runs: dict[tuple, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for k, firing in enumerate(alerts):
        seen = set()
        for alert in firing:
            key = alert.identity
            seen.add(key)
            run = runs.get(key)
            if run is None or run["_last_k"] != k - 1:
                if run is not None:
                    done.append(run)
                run = {"alertname": alert.alertname, "severity": alert.severity, "labels": dict(alert.labels),
                       "first_snapshot": times[k], "day_number": window.day_of(times[k]), "_first_k": k}
                runs[key] = run
            run["_last_k"] = k
            run["last_snapshot"] = times[k]
        for key in list(runs):
            if key not in seen and runs[key]["_last_k"] < k:
                done.append(runs.pop(key))
    done.extend(runs.values())
    masks = {tuple(sorted(labels.items())): mask for labels, mask in scrapes.alert_masks}
    for run in done:
        run["snapshot_count"] = run.pop("_last_k") - run.pop("_first_k") + 1
        mask = masks.get(tuple(sorted(run["labels"].items())))
        fired_at = resolved_at = None
        if mask is not None:
            lo = run["first_snapshot"].timestamp() - window.interval_minutes * 60.0
            hi = run["last_snapshot"].timestamp()
            idx = np.flatnonzero(mask & (scrapes.times_s > lo) & (scrapes.times_s <= hi))
            if idx.size:
                fired_at = _dt(scrapes.times_ms[idx[0]])
                quiet = np.flatnonzero(~mask[idx[0]:])
                if quiet.size and scrapes.times_s[idx[0] + quiet[0]] <= window.end.timestamp():
                    resolved_at = _dt(scrapes.times_ms[idx[0] + quiet[0]])
        run["fired_at"] = fired_at
        run["resolved_at"] = resolved_at
    done.sort(key=lambda r: (r["first_snapshot"], r["alertname"]))
    return done


def _dt(ms: int | np.integer) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(ms))


# ---------------------------------------------------------------------------
# public API


def generate_week(
    scenario: str = "healthy",
    *,
    start: datetime | None = None,
    duration_hours: float = 168.0,
    interval_minutes: float = 30.0,
    seed: int = 42,
    service: str = "checkout",
    scrape_seconds: int = 60,
) -> SyntheticWeek:
    """Generate one service's post-release run, deterministically from ``seed``.

    Parameters
    ----------
    scenario : str
        One of :data:`SCENARIOS` (``healthy``, ``incident``, ``latency_regression``).
    start : datetime, optional
        Window start (naive means UTC); default :data:`DEFAULT_START`
        (2026-01-05T00:00:00Z, a Monday), never the clock.
    duration_hours, interval_minutes : float
        The window (docs/contract.md §1). The interval must be a whole number of
        seconds and a multiple of ``scrape_seconds``.
    seed : int
        Non-negative seed; the noise is drawn from ``(seed, service)``.
    service : str
        Value of the ``service`` label (and the job, pod and container names).
    scrape_seconds : int
        Spacing of the scrape-level samples (60 by default). Larger values make
        the OpenMetrics output proportionally smaller.

    Returns
    -------
    SyntheticWeek

    Raises
    ------
    ValueError
        For an unknown scenario or an inconsistent window / scrape spacing.
    """
    start_dt = utc(start) if start is not None else DEFAULT_START
    start_ms = int(round(start_dt.timestamp() * 1000))
    spec = _Spec(scenario=scenario, start_ms=start_ms, duration_hours=float(duration_hours),
                 interval_minutes=float(interval_minutes), seed=int(seed), service=str(service),
                 scrape_seconds=scrape_seconds)
    _check(spec)
    window = spec.window
    scrapes = _simulate(spec)
    values, alerts = _snapshot_values(spec, scrapes)

    incidents, _, creep = _plan(spec)
    per_incident_days = _degraded_days(incidents, spec)
    degraded: set[int] = set()
    incident_dicts: list[dict[str, Any]] = []
    for n, inc in enumerate(incidents):
        days = per_incident_days[n]
        degraded.update(days)
        inc_start = _dt(int(inc.start * 1000))
        incident_dicts.append({
            "kind": inc.kind, "metric": inc.metrics[0], "metrics": list(inc.metrics), "start": inc_start,
            "end": _dt(int(inc.end * 1000)), "day_number": window.day_of(inc_start), "degrades_days": days,
            "description": inc.description,
        })
    if creep:
        incident_dicts.append({
            "kind": "resource_creep", "metric": "memory_percent", "metrics": ["memory_percent", "cpu_percent"],
            "start": window.start, "end": window.end, "day_number": 1, "degrades_days": [],
            "description": "memory +28 points and CPU +25 % (relative) linearly over the window",
        })
    planted = PlantedFacts(degraded_days=degraded, incidents=incident_dicts,
                           alert_episodes=_episodes(window, alerts, scrapes),
                           resource_trend="degrading" if creep else "stable")
    day_latency = day_histogram_quantiles(window, scrapes.times_s, scrapes.bucket_counters)
    del scrapes  # only the compact snapshot values are kept
    return SyntheticWeek(window=window, service=spec.service, scenario=scenario,
                         baseline=_baseline(spec), planted=planted, _spec=spec, _values=values, _alerts=alerts,
                         day_latency=day_latency)


def _baseline(spec: _Spec) -> Baseline:
    """Release-day KPIs: means over a simulated healthy day before the window.

    The release day has its own noise (``purpose=1``) but the healthy profile,
    so drift is measured against what a quiet day of this service looks like.
    """
    day = _Spec(scenario="healthy", start_ms=spec.start_ms - 86_400_000, duration_hours=24.0,
                interval_minutes=spec.interval_minutes, seed=spec.seed, service=spec.service,
                scrape_seconds=spec.scrape_seconds, purpose=1)
    values, _ = _snapshot_values(day, _simulate(day))
    means = np.nanmean(values, axis=0)
    fields = ("availability", "error_rate", "p95_latency_ms", "p99_latency_ms", "cpu_percent", "memory_percent")
    kpis = {name: round(float(means[METRIC_FIELDS.index(name)]), 4 if name in ("availability", "error_rate") else 2)
            for name in fields}
    start = spec.window.start
    return Baseline(timestamp=start - timedelta(hours=6), values=kpis, service=spec.service,
                    window={"start": format_time(start - timedelta(days=1)), "end": format_time(start)})
