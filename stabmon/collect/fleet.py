"""Fleet runs: a whole fleet of services in one run, for the cost of one (issue 7).

``stabmon monitor --services a,b,c`` (or ``--all-services``) judges many
services over the same window. Each metric is fetched for every chosen
service in one range query grouped ``by (<service label>)``, chunked by time
(11,000 points per series, as for one service) and by batches of services
(a bounded ``service=~"a|b|c"`` matcher per request), so a fleet-week costs
about as many requests as a service-week.

Layout of a fleet folder::

    DIR/fleet_run.json          the fleet's window, services, shard, grouped queries
    DIR/<service>/              exactly the single-service layout (run.json,
                                day_NN_raw/, summaries, anomalies, burn-down ...),
                                written by the same pipeline.rebuild_summaries
    DIR/fleet_summary.json      every service ranked worst first, and the
                                services to roll back
    DIR/fleet_summary.md        the same as a table

``--shard I/N`` keeps the services whose stable hash falls in part ``I`` of
``N``; ``stabmon analyze --input DIR`` merges shard folders found under
``DIR`` into one fleet summary.

The grouped expressions differ from the contract's single-service ones only
where grouping changes the meaning: ``or vector(0)`` carries no service
label, so a service with no 5xx series gets its zero from
``0 * <its request rate>`` instead (error rate and availability), and its
``errors`` count is filled with 0 client-side exactly where the contract's
``... or vector(0)`` would give 0. Each service's snapshots are therefore the
ones a single-service run of it gives.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import math
import os
import re
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from stabmon import store
from stabmon.core.errors import BaselineError, InputError, PrometheusError, QueryError, StoreError
from stabmon.core.model import Alert, Baseline, Snapshot, Window, format_time, parse_time
from stabmon.collect.prom import ConnectionSettings, PrometheusClient, Series, UnreachableError, public_url
from stabmon.collect.queries import DEFAULT_QUERIES, SNAPSHOT_QUERIES, Matcher, QueryCatalogue, parse_selector, render

log = logging.getLogger(__name__)

DEFAULT_SERVICE_LABEL = "service"
FLEET_RUN_FILE = "fleet_run.json"
FLEET_SUMMARY_JSON = "fleet_summary.json"
FLEET_SUMMARY_MD = "fleet_summary.md"
REPORTS_DIR = "reports"
#: Names a service folder may not take (the fleet's own files live beside them).
RESERVED_NAMES = frozenset({REPORTS_DIR, FLEET_RUN_FILE, FLEET_SUMMARY_JSON, FLEET_SUMMARY_MD,
                            ".stabmon.lock", "baselines"})
#: Longest ``service=~"..."`` regex of one request (characters before URL
#: encoding): keeps a GET well under the 8 KiB URL limit of common proxies.
MAX_REGEX_CHARS = 2500
#: Most services in one request (bounds the answer's size and the server's work).
MAX_BATCH_SERVICES = 400
#: Metrics that a discovered service may have (``--all-services``).
DISCOVERY_METRICS = ("http_requests_total", "http_request_duration_seconds_bucket",
                     "container_cpu_usage_seconds_total", "container_memory_working_set_bytes")
#: Metrics the contract ends with ``or vector(0)``: absent means 0 (per service).
ZERO_WHEN_ABSENT = ("errors",)
DAY_LATENCY_QUERIES = {"day_p95_latency_ms": "p95_latency_ms", "day_p99_latency_ms": "p99_latency_ms"}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SAFE_FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
# RE2 (Prometheus, VictoriaMetrics) metacharacters; everything else is literal.
_RE2_META = frozenset("\\.+*?()|[]{}^$")

_FIVE_XX = 'code=~"5.."'
_TOTAL = "http_requests_total"
_BUCKET = "http_request_duration_seconds_bucket"


# --------------------------------------------------------------------------- services, folders, shards


def check_label_name(label: str, flag: str = "--service-label") -> str:
    """Return ``label`` when it is a valid Prometheus label name.

    Raises
    ------
    InputError
        Naming ``flag`` otherwise.
    """
    if not isinstance(label, str) or not _LABEL_NAME.match(label) or label == "__name__":
        raise InputError(f"{flag}: not a label name: {label!r}")
    return label


def parse_service_list(text: str) -> list[str]:
    """Split ``--services a,b,c`` into names (stripped, duplicates dropped, order kept).

    Raises
    ------
    InputError
        When the list or one of its names is empty.
    """
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            raise InputError(f"--services: empty service name in {text!r}")
        if name not in names:
            names.append(name)
    if not names:
        raise InputError("--services: no service given")
    return names


def service_folder(name: str) -> str:
    """The folder name of a service inside a fleet folder.

    Plain names (letters, digits, ``._-``, up to 200 characters) are used as
    they are. Any other name, or one that would collide with the fleet's own
    files, is percent-encoded starting with its first byte, so the result
    always starts with ``%`` (a plain name never does): every service gets
    its own folder and no name can reach outside ``DIR``.
    """
    if _SAFE_FOLDER.match(name) and name not in RESERVED_NAMES:
        return name
    raw = name.encode("utf-8")
    encoded = "%" + raw[:1].hex().upper() + "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_") else f"%{b:02X}" for b in raw[1:]
    )
    if len(encoded) > 200:
        encoded = encoded[:180] + "~" + hashlib.sha256(raw).hexdigest()[:16]
    return encoded


def shard_of(name: str, count: int) -> int:
    """The shard (1-based) of a service: a stable hash of its name, never its list position."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``--shard I/N`` (1 <= I <= N).

    Raises
    ------
    InputError
        When the text is not of that form.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise InputError(f"--shard: expected I/N such as 2/8, got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise InputError(f"--shard: need 1 <= I <= N, got {text!r}")
    return index, count


def select_shard(services: Iterable[str], index: int, count: int) -> list[str]:
    """The services of shard ``index`` of ``count``, in their given order."""
    return [s for s in services if shard_of(s, count) == index]


def regex_escape(value: str) -> str:
    """Escape ``value`` so an RE2 regex matches exactly it (PromQL quoting comes after)."""
    return "".join("\\" + c if c in _RE2_META else c for c in value)


def batch_services(services: Sequence[str], max_chars: int = MAX_REGEX_CHARS,
                   max_services: int = MAX_BATCH_SERVICES) -> list[list[str]]:
    """Split services into request batches by the length of their regex alternation."""
    batches: list[list[str]] = []
    current: list[str] = []
    length = 0
    for name in services:
        size = len(regex_escape(name)) + 1
        if current and (length + size > max_chars or len(current) >= max_services):
            batches.append(current)
            current, length = [], 0
        current.append(name)
        length += size
    if current:
        batches.append(current)
    return batches


# --------------------------------------------------------------------------- grouped queries


def fleet_templates(label: str) -> dict[str, str]:
    """The contract's expressions grouped ``by (<label>)`` (placeholders as in :mod:`stabmon.queries`).

    The single place the fleet's PromQL is defined.
    """
    by = f"by ({check_label_name(label)})"
    by_le = f"by ({label}, le)"
    errors_rate = f"sum {by} (rate({_TOTAL}{{sel,{_FIVE_XX}}}[w]))"
    total_rate = f"sum {by} (rate({_TOTAL}{{sel}}[w]))"
    # `or vector(0)` has no service label; zero a service's own traffic instead.
    errors_or_zero = f"({errors_rate} or (0 * {total_rate}))"
    return {
        "availability": f"100 * (1 - {errors_or_zero} / {total_rate})",
        "error_rate": f"100 * {errors_or_zero} / {total_rate}",
        "requests": f"sum {by} (increase({_TOTAL}{{sel}}[w]))",
        "errors": f"sum {by} (increase({_TOTAL}{{sel,{_FIVE_XX}}}[w]))",
        "p95_latency_ms": f"1000 * histogram_quantile(0.95, sum {by_le} (rate({_BUCKET}{{sel}}[w])))",
        "p99_latency_ms": f"1000 * histogram_quantile(0.99, sum {by_le} (rate({_BUCKET}{{sel}}[w])))",
        "cpu_percent": (
            f"100 * sum {by} (rate(container_cpu_usage_seconds_total{{sel}}[w]))"
            f" / sum {by} (container_spec_cpu_quota{{sel}} / container_spec_cpu_period{{sel}})"
        ),
        "memory_percent": (
            f"100 * sum {by} (container_memory_working_set_bytes{{sel}})"
            f" / sum {by} (container_spec_memory_limit_bytes{{sel}})"
        ),
        "alerts": 'max_over_time(ALERTS{alertstate="firing",sel}[w])',
        "day_p95_latency_ms": f"1000 * histogram_quantile(0.95, sum {by_le} (increase({_BUCKET}{{sel}}[d])))",
        "day_p99_latency_ms": f"1000 * histogram_quantile(0.99, sum {by_le} (increase({_BUCKET}{{sel}}[d])))",
    }


@dataclass(frozen=True)
class FleetCatalogue:
    """The fleet's grouped expressions and how to select a batch of services.

    Parameters
    ----------
    label
        The service label (``--service-label``).
    interval_seconds
        The snapshot interval.
    extra_selector
        Further matchers every series must match (``--selector``), rendered.
    """

    label: str = DEFAULT_SERVICE_LABEL
    interval_seconds: float = 1800.0
    extra_selector: str = ""

    @property
    def templates(self) -> dict[str, str]:
        return fleet_templates(self.label)

    def batch_selector(self, services: Sequence[str]) -> str:
        """Matchers selecting exactly ``services`` (regex- then PromQL-escaped) plus the extra ones."""
        regex = "|".join(regex_escape(s) for s in services)
        matcher = Matcher(self.label, "=~", regex).render()
        return f"{matcher},{self.extra_selector}" if self.extra_selector else matcher

    def expression(self, name: str, services: Sequence[str], *, day_seconds: float = 86400.0) -> str:
        """The rendered grouped PromQL of query ``name`` for one batch."""
        return render(self.templates[name], selector=self.batch_selector(services),
                      interval_seconds=self.interval_seconds, day_seconds=day_seconds)

    def service_selector(self, service: str) -> str:
        """The single-service selector equivalent to this fleet's view of ``service``."""
        matcher = Matcher(self.label, "=", service).render()
        return f"{matcher},{self.extra_selector}" if self.extra_selector else matcher

    def single_catalogue(self, service: str) -> QueryCatalogue:
        """The contract's catalogue of a single-service run of ``service`` (for its run.json)."""
        return QueryCatalogue(selector=self.service_selector(service), interval_seconds=self.interval_seconds,
                              templates=dict(DEFAULT_QUERIES))


def build_fleet_catalogue(label: str = DEFAULT_SERVICE_LABEL, interval_seconds: float = 1800.0,
                          selector: str | None = None) -> FleetCatalogue:
    """A :class:`FleetCatalogue` from the command-line inputs (``--selector`` adds matchers).

    Raises
    ------
    InputError
        A bad label name, or a ``--selector`` matching on the service label.
    """
    check_label_name(label)
    extra = ""
    if selector:
        matchers = parse_selector(selector)
        if any(m.name == label for m in matchers):
            raise InputError(f"--selector: cannot match on the service label {label!r} in a fleet run "
                             "(use --services)")
        extra = ",".join(m.render() for m in matchers)
    return FleetCatalogue(label=label, interval_seconds=interval_seconds, extra_selector=extra)


# --------------------------------------------------------------------------- collection


def _reject(name: str, expr: str, exc: QueryError) -> QueryError:
    shown = expr if len(expr) <= 400 else expr[:400] + "..."
    return QueryError(f"query for {name} rejected by Prometheus: {exc}; expression: {shown}")


class FleetCollector:
    """Snapshots of a batch of services from grouped queries.

    Parameters
    ----------
    client
        The Prometheus client (one server or any compatible front end).
    catalogue
        The grouped expressions.
    window
        The run's window.
    baselines
        Service -> baseline (``None``: no drift for that service).
    """

    def __init__(self, client: PrometheusClient, catalogue: FleetCatalogue, window: Window,
                 baselines: Mapping[str, Baseline | None] | None = None) -> None:
        self.client = client
        self.catalogue = catalogue
        self.window = window
        self.baselines = dict(baselines or {})
        self._missing_warned: set[str] = set()
        self._drift_warned: set[str] = set()

    @property
    def interval_seconds(self) -> float:
        return self.window.interval_minutes * 60.0

    def _by_service(self, series: list[Series], batch: set[str]) -> dict[str, list[Series]]:
        routed: dict[str, list[Series]] = {}
        for item in series:
            name = item.labels.get(self.catalogue.label)
            if name in batch:
                routed.setdefault(name, []).append(item)
        return routed

    def _one(self, name: str, expr: str, service: str, series: list[Series]) -> Series:
        if len(series) > 1:
            raise QueryError(f"query for {name} returned {len(series)} series for service {service!r} where one "
                             f"is expected; expression: {expr[:300]}")
        return series[0]

    def _finish(self, service: str, ts: datetime, values: dict[str, float | None], alerts: list[Alert] | None,
                reasons: dict[str, str]) -> Snapshot:
        if alerts is not None:
            alerts.sort(key=lambda a: a.identity)
        snapshot = Snapshot(timestamp=ts, values=values, alerts=alerts, missing_reasons=dict(reasons))
        for name in snapshot.missing:
            if name not in reasons and name != "alerts" and name not in self._missing_warned:
                self._missing_warned.add(name)
                log.warning("%s: no data for service %r at %s (recorded as missing; further gaps of this "
                            "metric are not logged)", name, service, format_time(ts))
        baseline = self.baselines.get(service)
        if baseline is not None:
            from stabmon.core.drift import compute_drift

            drift, warnings = compute_drift(snapshot.values, baseline)
            snapshot.drift_percent = drift
            for message in warnings:
                key = f"{service}: {message}"
                if key not in self._drift_warned:
                    self._drift_warned.add(key)
                    log.warning("%s", key)
        return snapshot

    def range_snapshots(self, services: Sequence[str], ks: Sequence[int], *, strict: bool = True,
                        on_query: Callable[[], None] | None = None) -> dict[str, dict[int, Snapshot]]:
        """Snapshots ``ks`` of ``services`` (one batch) from one range query per metric and time chunk.

        Parameters
        ----------
        strict
            When the server cannot be reached: raise (start of a run) or
            record every metric of the batch missing with the reason.
        """
        if not ks or not services:
            return {}
        wanted = sorted(set(ks))
        batch = set(services)
        start, end = self.window.time_of(wanted[0]), self.window.time_of(wanted[-1])
        values = {s: {k: {} for k in wanted} for s in services}
        alerts: dict[str, dict[int, list[Alert] | None]] = {s: {k: [] for k in wanted} for s in services}
        reasons: dict[str, str] = {}
        for name in SNAPSHOT_QUERIES:
            expr = self.catalogue.expression(name, services)
            try:
                series = self.client.range(expr, start, end, self.interval_seconds)
            except QueryError as exc:
                raise _reject(name, expr, exc) from None
            except UnreachableError as exc:
                if strict:
                    raise
                reasons[name] = str(exc)
                if name == "alerts":
                    alerts = {s: dict.fromkeys(wanted, None) for s in services}
                continue
            finally:
                if on_query is not None:
                    on_query()
            routed = self._by_service(series, batch)
            if name == "alerts":
                for service, items in routed.items():
                    for item in items:
                        alert = Alert.from_labels(item.labels)
                        for ts, value in item.points:
                            k = self.window.index_of_epoch(ts)
                            slot = alerts[service].get(k) if k is not None else None
                            if value is not None and slot is not None:
                                slot.append(alert)
                continue
            for service, items in routed.items():
                only = self._one(name, expr, service, items)
                per_k = values[service]
                for ts, value in only.points:
                    k = self.window.index_of_epoch(ts)
                    if k in per_k:
                        per_k[k][name] = value
            if name in ZERO_WHEN_ABSENT:
                for service in services:
                    for k in wanted:
                        values[service][k].setdefault(name, 0.0)
        return {
            s: {k: self._finish(s, self.window.time_of(k), values[s][k], alerts[s][k], reasons) for k in wanted}
            for s in services
        }

    def instant_snapshots(self, services: Sequence[str], k: int, *, strict: bool = False) -> dict[str, Snapshot]:
        """Snapshot ``k`` of ``services`` (one batch) from instant queries at ``t_k`` (live runs)."""
        ts = self.window.time_of(k)
        batch = set(services)
        values: dict[str, dict[str, float | None]] = {s: {} for s in services}
        alerts: dict[str, list[Alert] | None] = {s: [] for s in services}
        reasons: dict[str, str] = {}
        down: str | None = None
        for name in SNAPSHOT_QUERIES:
            if down is not None:
                reasons[name] = down
                if name == "alerts":
                    alerts = dict.fromkeys(services, None)
                continue
            expr = self.catalogue.expression(name, services)
            try:
                series = self.client.instant(expr, ts, step_seconds=self.interval_seconds)
            except QueryError as exc:
                raise _reject(name, expr, exc) from None
            except UnreachableError as exc:
                if strict:
                    raise
                down = reasons[name] = str(exc)
                if name == "alerts":
                    alerts = dict.fromkeys(services, None)
                continue
            routed = self._by_service(series, batch)
            if name == "alerts":
                for service, items in routed.items():
                    alerts[service] = [Alert.from_labels(i.labels) for i in items
                                       if i.points and i.points[-1][1] is not None]
                continue
            for service, items in routed.items():
                only = self._one(name, expr, service, items)
                values[service][name] = only.points[-1][1] if only.points else None
            if name in ZERO_WHEN_ABSENT:
                for service in services:
                    values[service].setdefault(name, 0.0)
        if down is not None:
            log.warning("snapshot %s: %s; metrics recorded as missing", format_time(ts), down)
        return {s: self._finish(s, ts, values[s], alerts[s], reasons) for s in services}

    def day_latency(self, services: Sequence[str], days: Sequence[int], *,
                    strict: bool = True) -> dict[str, dict[int, dict[str, float | None]]]:
        """Each service's day p95/p99 (ms) from the day's merged histogram buckets.

        Whole days share one range query per quantile (step 24 h); a shorter
        last day gets one instant query with a window of its length.
        """
        result: dict[str, dict[int, dict[str, float | None]]] = {s: {d: {} for d in days} for s in services}
        batch = set(services)

        def length(day: int) -> float:
            begin, end = self.window.day_bounds(day)
            return (end - begin).total_seconds()

        full = [d for d in days if length(d) == 86400.0]
        partial = [d for d in days if d not in full]
        for query, field_name in DAY_LATENCY_QUERIES.items():
            for run in _contiguous(full):
                expr = self.catalogue.expression(query, services, day_seconds=86400.0)
                start, end = self.window.day_bounds(run[0])[1], self.window.day_bounds(run[-1])[1]
                try:
                    series = self.client.range(expr, start, end, 86400.0)
                except QueryError as exc:
                    raise _reject(query, expr, exc) from None
                except UnreachableError as exc:
                    if strict:
                        raise
                    log.warning("day figures of days %s not available: %s", run, exc)
                    continue
                for service, items in self._by_service(series, batch).items():
                    points = {round(ts): v for ts, v in self._one(query, expr, service, items).points}
                    for d in run:
                        result[service][d][field_name] = points.get(round(self.window.day_bounds(d)[1].timestamp()))
            for d in partial:
                expr = self.catalogue.expression(query, services, day_seconds=length(d))
                try:
                    series = self.client.instant(expr, self.window.day_bounds(d)[1])
                except QueryError as exc:
                    raise _reject(query, expr, exc) from None
                except UnreachableError as exc:
                    if strict:
                        raise
                    log.warning("day figures of day %d not available: %s", d, exc)
                    continue
                for service, items in self._by_service(series, batch).items():
                    only = self._one(query, expr, service, items)
                    result[service][d][field_name] = only.points[-1][1] if only.points else None
        return {s: {d: {f: result[s][d].get(f) for f in DAY_LATENCY_QUERIES.values()} for d in days}
                for s in services}


def _contiguous(days: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def discover_services(client: PrometheusClient, catalogue: FleetCatalogue, window: Window,
                      now: datetime | None = None) -> list[str]:
    """Every value of the service label with series in the window (``--all-services``), sorted.

    One request to the label-values API, with a match per golden-signal metric
    (and the ``--selector`` matchers).

    Raises
    ------
    PrometheusError
        When the server refuses or cannot be reached.
    """
    end = min(window.end, now or datetime.now(timezone.utc))
    if end < window.start:
        end = window.start
    label = catalogue.label
    inner = f'{label}!=""' + (f",{catalogue.extra_selector}" if catalogue.extra_selector else "")
    matchers = [f"{metric}{{{inner}}}" for metric in DISCOVERY_METRICS]
    names = client.label_values(label, matchers, window.start - window.interval, end)
    return sorted({n for n in names if n})


# --------------------------------------------------------------------------- baselines


def load_fleet_baselines(path: str | Path | None, services: Sequence[str]) -> tuple[dict[str, Baseline | None], list[str]]:
    """Baselines of the services: one file for all, or a folder of ``<service>.json``.

    A service with no file in the folder gets ``None`` (no drift) and a
    warning; the run goes on.

    Returns
    -------
    (baselines, warnings)

    Raises
    ------
    BaselineError
        A file that exists but is not a valid baseline.
    """
    from stabmon.core.baseline import load_baseline

    if path is None:
        return dict.fromkeys(services), []
    path = Path(path)
    if not path.exists():
        raise BaselineError(f"baseline file or folder not found: {path}")
    if path.is_file():
        baseline = load_baseline(path)
        return dict.fromkeys(services, baseline), []
    baselines: dict[str, Baseline | None] = {}
    warnings: list[str] = []
    for service in services:
        candidates = [path / f"{service_folder(service)}.json"]
        if "/" not in service and "\0" not in service and service not in (".", ".."):
            candidates.insert(0, path / f"{service}.json")
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            baselines[service] = None
            warnings.append(f"no baseline for service {service!r} in {path}: no drift for it")
        else:
            baselines[service] = load_baseline(found)
    return baselines, warnings


# --------------------------------------------------------------------------- per-service work (worker processes)


@dataclass
class ServiceWork:
    """What one service's folder needs written in one step of a fleet run (picklable)."""

    service: str
    folder: Path
    window: Window
    snapshots: list[tuple[int, Snapshot]] = field(default_factory=list)
    baseline_snapshots: list[Snapshot] = field(default_factory=list)
    day_figures: dict[int, dict[str, float | None]] = field(default_factory=dict)
    days: list[int] = field(default_factory=list)
    final: bool = False
    baseline: Baseline | None = None
    settings: Any = None


def do_service_work(work: ServiceWork) -> dict[str, Any] | None:
    """Write a service's new snapshots and day figures, then rebuild its summaries.

    Returns the service's fleet entry when the weekly summary was rebuilt
    (``work.final``), else ``None``. Files are renamed into place whole but
    not fsynced one by one: the caller syncs once per batch of services.
    """
    previous = store.set_sync_each_write(False)
    try:
        return _do_service_work(work)
    finally:
        store.set_sync_each_write(previous)


def _do_service_work(work: ServiceWork) -> dict[str, Any] | None:
    from stabmon.collect.run import existing_snapshot_indexes, write_day_latency
    from stabmon.store.rebuild import rebuild_summaries

    # Snapshots travel to the worker as objects: turning them into JSON here
    # spreads that work over the worker processes instead of the main one.
    for _, snapshot in work.snapshots:
        store.write_snapshot(work.folder, work.window, snapshot, fsync=False)
    for snapshot in work.baseline_snapshots:
        store.write_baseline_snapshot(work.folder, snapshot, fsync=False)
    if work.day_figures:
        write_day_latency(work.folder, work.day_figures)
    if not (work.final or work.days):
        return None
    # A catch-up that wrote the whole window hands its snapshots over instead
    # of having them read back (a third of a fleet run's time otherwise).
    in_memory = len(work.snapshots) == work.window.snapshot_count
    if not in_memory and not existing_snapshot_indexes(work.folder, work.window):
        return fleet_entry(work.service, work.folder.name, None) if work.final else None
    result = rebuild_summaries(
        work.folder, window=work.window, baseline=work.baseline, settings=work.settings,
        days=None if work.final else work.days, weekly=work.final, service=work.service,
        snapshots=[snapshot for _, snapshot in work.snapshots] if in_memory else None,
        baseline_snapshots=list(work.baseline_snapshots) if work.baseline_snapshots else None,
    )
    return fleet_entry(work.service, work.folder.name, result.weekly) if work.final else None


def _pool(jobs: int, tasks: int) -> contextlib.AbstractContextManager[Executor | None]:
    if jobs <= 1 or tasks <= 2:
        return contextlib.nullcontext(None)
    import multiprocessing

    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=min(jobs, tasks), mp_context=context)


def run_service_work(works: Sequence[ServiceWork], jobs: int) -> list[dict[str, Any] | None]:
    """Run :func:`do_service_work` over services, on ``jobs`` processes (in order)."""
    with _pool(jobs, len(works)) as pool:
        if pool is None:
            return [do_service_work(w) for w in works]
        chunk = max(1, len(works) // (jobs * 4))
        return list(pool.map(do_service_work, works, chunksize=chunk))


def default_jobs() -> int:
    """Worker processes for per-service writing: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- fleet summary


def _day_status(daily: dict[str, Any]) -> str:
    completeness = (daily.get("_metadata") or {}).get("data_completeness")
    if completeness == "missing" or not daily.get("snapshot_count"):
        return "missing"
    return "degraded" if daily.get("degraded") else "ok"


def fleet_entry(service: str, folder: str, weekly: dict[str, Any] | None) -> dict[str, Any]:
    """One service's line of the fleet summary, from its weekly summary (``None``: no data)."""
    if weekly is None:
        return {
            "service": service, "folder": folder, "stability_score": None, "stability_grade": None,
            "rollback_recommended": False, "rollback_reasons": [], "degraded_days": [], "missing_days": [],
            "day_status": [], "total_snapshots": 0, "avg_availability": None, "avg_error_rate": None,
            "avg_p99_latency_ms": None, "total_critical_alerts": 0, "has_baseline": False, "no_data": True,
        }
    daily = weekly.get("daily_summaries") or []
    return {
        "service": service,
        "folder": folder,
        "stability_score": weekly.get("stability_score"),
        "stability_grade": weekly.get("stability_grade"),
        "rollback_recommended": bool(weekly.get("rollback_recommended")),
        "rollback_reasons": list(weekly.get("rollback_reasons") or []),
        "degraded_days": list(weekly.get("degraded_days") or []),
        "missing_days": list(weekly.get("missing_days") or []),
        "day_status": [_day_status(d) for d in daily],
        "total_snapshots": int(weekly.get("total_snapshots") or 0),
        "avg_availability": weekly.get("avg_availability"),
        "avg_error_rate": weekly.get("avg_error_rate"),
        "avg_p99_latency_ms": weekly.get("avg_p99_latency_ms"),
        "total_critical_alerts": int(weekly.get("total_critical_alerts") or 0),
        "has_baseline": weekly.get("baseline_timestamp") is not None,
        "no_data": not weekly.get("total_snapshots") or (
            weekly.get("avg_availability") is None and weekly.get("avg_p99_latency_ms") is None),
    }


def rank_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """Worst first: rollback verdicts, then no data, then lowest score, then most degraded days, then name."""
    score = entry.get("stability_score")
    return (
        not entry.get("rollback_recommended"),
        not entry.get("no_data"),
        math.inf if score is None else score,
        -len(entry.get("degraded_days") or []),
        entry["service"],
    )


def build_fleet_summary(entries: Sequence[dict[str, Any]], window: Window, *, service_label: str,
                        generated_at: datetime | None = None, shards: dict[str, Any] | None = None,
                        warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The fleet summary document (``fleet_summary.json``): services ranked worst first."""
    ranked = sorted(entries, key=rank_key)
    for rank, entry in enumerate(ranked, 1):
        entry["rank"] = rank
    grades = {g: 0 for g in ("A", "B", "C", "D", "F")}
    for entry in ranked:
        if entry.get("stability_grade") in grades:
            grades[entry["stability_grade"]] += 1
    generated_at = generated_at or datetime.now(timezone.utc).replace(microsecond=0)
    return {
        "generated_at": format_time(generated_at),
        "window": window.to_dict(),
        "service_label": service_label,
        "service_count": len(ranked),
        "rollback_recommended": [e["service"] for e in ranked if e["rollback_recommended"]],
        "no_data": [e["service"] for e in ranked if e.get("no_data")],
        "grade_counts": grades,
        "shards": shards,
        "warnings": list(warnings),
        "services": ranked,
    }


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def fleet_summary_markdown(summary: dict[str, Any]) -> str:
    """``fleet_summary.md``: the verdict and the ranked table."""
    window = summary["window"]
    lines = [
        "# Fleet stability summary",
        "",
        f"Window: {window['start']} .. {window.get('end', '')} ({window['duration_hours']:g} h, every "
        f"{window['interval_minutes']:g} min); {summary['service_count']} services "
        f"(label `{summary['service_label']}`); generated {summary['generated_at']}.",
        "",
    ]
    rollback = summary["rollback_recommended"]
    if rollback:
        lines.append(f"**Roll back ({len(rollback)}):** " + ", ".join(f"`{_md_cell(s)}`" for s in rollback))
    else:
        lines.append("**No service needs a rollback.**")
    if summary.get("no_data"):
        lines.append("")
        lines.append("**No data:** " + ", ".join(f"`{_md_cell(s)}`" for s in summary["no_data"]))
    shards = summary.get("shards")
    if shards and shards.get("missing"):
        lines += ["", f"**Incomplete:** shards {', '.join(map(str, shards['missing']))} of {shards['count']} missing."]
    lines += ["", "| rank | service | score | grade | rollback | degraded days | reasons |",
              "|---:|---|---:|:---:|:---:|---|---|"]
    for entry in summary["services"]:
        score = "n/a" if entry["stability_score"] is None else f"{entry['stability_score']:.1f}"
        days = ", ".join(str(d) for d in entry["degraded_days"]) or "-"
        reasons = "; ".join(entry["rollback_reasons"]) or ("no data" if entry.get("no_data") else "-")
        lines.append(
            f"| {entry['rank']} | {_md_cell(entry['service'])} | {score} | {entry['stability_grade'] or '-'} | "
            f"{'YES' if entry['rollback_recommended'] else 'no'} | {days} | {_md_cell(reasons)} |"
        )
    for warning in summary.get("warnings") or []:
        lines.append(f"\n> warning: {_md_cell(warning)}")
    return "\n".join(lines) + "\n"


def write_fleet_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    """Write ``fleet_summary.json`` (schema-checked) and ``fleet_summary.md`` atomically."""
    store.write_json_atomic(Path(out_dir) / FLEET_SUMMARY_JSON, summary, schema="fleet")
    store.write_text_atomic(Path(out_dir) / FLEET_SUMMARY_MD, fleet_summary_markdown(summary))


# --------------------------------------------------------------------------- the run


@dataclass
class FleetOptions:
    """Everything a fleet run needs, resolved from the command line.

    ``services`` is the explicit list (``--services``) or ``None`` for every
    service with data in the window (``--all-services``).
    """

    out_dir: Path
    window: Window
    catalogue: FleetCatalogue
    connection: ConnectionSettings
    services: list[str] | None = None
    baseline_path: Path | None = None
    shard: tuple[int, int] | None = None
    settings: Any = None
    settle_seconds: float | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    jobs: int | None = None
    report: bool = False
    report_all: bool = False
    max_regex_chars: int = MAX_REGEX_CHARS


@dataclass
class FleetOutcome:
    """What a fleet run did."""

    exit_code: int
    services: list[str] = field(default_factory=list)
    collected: int = 0
    requests: int = 0
    summary: dict[str, Any] | None = None
    interrupted: bool = False




def fleet_run_info(options: FleetOptions, services: Sequence[str]) -> dict[str, Any]:
    """The ``fleet_run.json`` document: window, service label, services, shard, grouped queries."""
    return {
        "window": options.window.to_dict(),
        "service_label": options.catalogue.label,
        "selector": options.catalogue.extra_selector or None,
        "all_services": options.services is None,
        "shard": {"index": options.shard[0], "count": options.shard[1]} if options.shard else None,
        "services": [{"service": s, "folder": service_folder(s)} for s in services],
        "source": "prometheus",
        "prometheus_url": public_url(options.connection.url),
        "baseline": str(options.baseline_path) if options.baseline_path else None,
        "queries": options.catalogue.templates,
    }


def read_fleet_run(out_dir: Path) -> dict[str, Any] | None:
    """``fleet_run.json`` of a fleet folder, or ``None``."""
    path = Path(out_dir) / FLEET_RUN_FILE
    if not path.exists():
        return None
    data = store.read_json(path)
    if not isinstance(data, dict) or "window" not in data or "services" not in data:
        raise StoreError(f"{path}: not a fleet run description")
    return data


class FleetRun:
    """The monitor loop over a fleet: catch up with grouped range queries, then live.

    Mirrors the single-service run: snapshots that have passed are collected
    at once, later ones when their time comes; each day's summaries are
    written when the day ends, the weekly ones and the fleet summary at the end.
    """

    def __init__(self, options: FleetOptions, services: Sequence[str], baselines: Mapping[str, Baseline | None], *,
                 clock: Any = None, client: PrometheusClient | None = None) -> None:
        from stabmon.collect.run import SystemClock, default_settle

        self.options = options
        self.window = options.window
        self.out_dir = Path(options.out_dir)
        self.services = list(services)
        self.baselines = dict(baselines)
        self.clock = clock or SystemClock()
        self.client = client or PrometheusClient(options.connection, timeout=options.timeout,
                                                 retries=options.retries, backoff=options.backoff)
        self.collector = FleetCollector(self.client, options.catalogue, self.window, self.baselines)
        self.batches = batch_services(self.services, options.max_regex_chars)
        interval_s = self.window.interval_minutes * 60.0
        self.settle = default_settle(interval_s) if options.settle_seconds is None else options.settle_seconds
        self.jobs = options.jobs or default_jobs()
        self.outcome = FleetOutcome(exit_code=0, services=list(self.services))
        self.entries: dict[str, dict[str, Any]] = {}

    def folder(self, service: str) -> Path:
        return self.out_dir / service_folder(service)

    def _due(self, k: int) -> datetime:
        return self.window.time_of(k) + timedelta(seconds=self.settle)

    def _day_due(self, day: int) -> datetime:
        return self.window.day_bounds(day)[1] + timedelta(seconds=self.settle)

    def _step(self, due: list[int], on_disk: dict[str, set[int]], ended: list[int], *, initial: bool,
              final: bool) -> None:
        """Collect ``due`` snapshots and close ``ended`` days, batch by batch of services."""
        from stabmon.collect.run import RANGE_HORIZON_SECONDS

        horizon = self.clock.now() - timedelta(seconds=RANGE_HORIZON_SECONDS)
        old = [k for k in due if self.window.time_of(k) <= horizon]
        recent = [k for k in due if self.window.time_of(k) > horizon]
        for batch in self.batches:
            snaps: dict[str, dict[int, Snapshot]] = {s: {} for s in batch}
            if old:
                for service, by_k in self.collector.range_snapshots(batch, old, strict=initial).items():
                    snaps[service].update(by_k)
            for k in recent:
                for service, snapshot in self.collector.instant_snapshots(batch, k, strict=initial).items():
                    snaps[service][k] = snapshot
            figures = self.collector.day_latency(batch, ended, strict=initial) if ended else {}
            works = []
            for service in batch:
                new = [(k, snaps[service][k]) for k in sorted(snaps[service]) if k not in on_disk[service]]
                self.outcome.collected += len(new)
                on_disk[service].update(snaps[service])
                works.append(ServiceWork(service=service, folder=self.folder(service), window=self.window,
                                         snapshots=new, day_figures=figures.get(service, {}), days=list(ended),
                                         final=final, baseline=self.baselines.get(service),
                                         settings=self.options.settings))
            del snaps
            for service, entry in zip(batch, run_service_work(works, self.jobs)):
                if entry is not None:
                    self.entries[service] = entry
            os.sync()

    def collect_baseline_windows(self) -> None:
        """Collect each service's baseline window into its ``baseline_raw/`` (once), as a single run does.

        Services whose baselines record the same window share grouped queries.
        """
        groups: dict[tuple[str, str], list[str]] = {}
        for service in self.services:
            baseline = self.baselines.get(service)
            recorded = (baseline.window or {}) if baseline is not None else {}
            if not recorded.get("start") or not recorded.get("end"):
                continue
            if any((self.folder(service) / store.BASELINE_RAW_DIR).glob("snapshot_*.json")):
                continue
            groups.setdefault((str(recorded["start"]), str(recorded["end"])), []).append(service)
        for (first, last), services in groups.items():
            try:
                start, end = parse_time(first), parse_time(last)
            except ValueError:
                log.warning("baseline window %s .. %s is not a pair of ISO times: no statistical comparison for "
                            "%d services", first, last, len(services))
                continue
            hours = (end - start).total_seconds() / 3600.0
            if hours <= 0 or end > self.clock.now():
                log.warning("baseline window %s .. %s is empty or not over: no statistical comparison for "
                            "%d services", first, last, len(services))
                continue
            window = Window(start=start, duration_hours=hours, interval_minutes=self.window.interval_minutes)
            collector = FleetCollector(self.client, self.options.catalogue, window, {})
            for batch in batch_services(services, self.options.max_regex_chars):
                got = collector.range_snapshots(batch, list(range(window.snapshot_count)), strict=True)
                works = [ServiceWork(service=s, folder=self.folder(s), window=self.window,
                                     baseline_snapshots=[got[s][k] for k in sorted(got[s])])
                         for s in batch]
                run_service_work(works, self.jobs)
            log.info("baseline window %s .. %s: collected for %d services", first, last, len(services))

    def write_partial(self) -> None:
        """Aggregate what is on disk (partial days included) for every service, and the fleet summary."""
        works = [ServiceWork(service=s, folder=self.folder(s), window=self.window, final=True,
                             baseline=self.baselines.get(s), settings=self.options.settings) for s in self.services]
        for service, entry in zip(self.services, run_service_work(works, self.jobs)):
            if entry is not None:
                self.entries[service] = entry
        self.write_summary()

    def write_summary(self) -> dict[str, Any]:
        entries = [self.entries.get(s) or fleet_entry(s, service_folder(s), None) for s in self.services]
        shards = None
        if self.options.shard:
            index, count = self.options.shard
            shards = {"count": count, "merged": [index], "missing": [i for i in range(1, count + 1) if i != index]}
        summary = build_fleet_summary(entries, self.window, service_label=self.options.catalogue.label,
                                      shards=shards)
        write_fleet_summary(self.out_dir, summary)
        self.outcome.summary = summary
        return summary

    def run(self) -> FleetOutcome:
        """Collect the whole window for every service, then write the summaries.

        Raises
        ------
        PrometheusError
            Unreachable or refusing at the start, a rejected query.
        KeyboardInterrupt
            After the partial days have been written (the caller exits 130).
        """
        from stabmon.collect.run import existing_snapshot_indexes

        window = self.window
        count = window.snapshot_count
        on_disk = {s: existing_snapshot_indexes(self.folder(s), window) for s in self.services}
        pending = [k for k in range(count) if any(k not in on_disk[s] for s in self.services)]
        open_days = list(range(1, window.day_count + 1))
        try:
            self.collect_baseline_windows()
            initial = True
            while pending or open_days:
                now = self.clock.now()
                targets = ([self._due(pending[0])] if pending else []) + (
                    [self._day_due(open_days[0])] if open_days else [])
                wait = (min(targets) - now).total_seconds()
                if wait > 0:
                    self.clock.sleep(wait)
                    initial = False
                    continue
                due = [k for k in pending if self._due(k) <= now]
                ended = [d for d in open_days if self._day_due(d) <= now]
                pending = [k for k in pending if k not in set(due)]
                open_days = [d for d in open_days if d not in ended]
                final = not pending and not open_days
                self._step(due, on_disk, ended, initial=initial, final=final)
                if final:
                    self.write_summary()
                initial = False
        except KeyboardInterrupt:
            self.outcome.interrupted = True
            self.outcome.exit_code = 130
            log.warning("interrupted: writing the partial days' summaries")
            self.write_partial()
            raise
        finally:
            self.outcome.requests = self.client.request_count
        return self.outcome


def fleet_monitor(options: FleetOptions, *, clock: Any = None, client: PrometheusClient | None = None) -> FleetOutcome:
    """Run a fleet: lock, choose services (shard), baselines, run.json files, the loop, reports.

    Raises
    ------
    StabmonError
        Expected failures (the command line prints one line and exits 1).
    """
    from stabmon.collect.run import MonitorOptions, run_info, run_lock, sigterm_as_interrupt

    own_client = client is None
    client = client or PrometheusClient(options.connection, timeout=options.timeout, retries=options.retries,
                                        backoff=options.backoff)
    try:
        with run_lock(options.out_dir), sigterm_as_interrupt():
            previous = read_fleet_run(options.out_dir)
            if previous is not None:
                _check_resume(options, previous)
            client.check()
            if options.services is None:
                services = discover_services(client, options.catalogue, options.window)
                if not services:
                    raise PrometheusError(f"--all-services: no value of label {options.catalogue.label!r} has "
                                          f"data in the window")
            else:
                services = list(options.services)
            if options.shard:
                services = select_shard(services, *options.shard)
            if not services:
                log.warning("no service in this shard")
            baselines, warnings = load_fleet_baselines(options.baseline_path, services)
            for message in warnings:
                log.warning("%s", message)
            store.write_json_atomic(Path(options.out_dir) / FLEET_RUN_FILE, fleet_run_info(options, services))
            for service in services:
                store.remove_stale_temp_files(Path(options.out_dir) / service_folder(service))
                single = MonitorOptions(out_dir=Path(options.out_dir) / service_folder(service), window=options.window,
                                        catalogue=options.catalogue.single_catalogue(service),
                                        connection=options.connection, baseline=baselines.get(service),
                                        service=service if options.catalogue.label == DEFAULT_SERVICE_LABEL
                                        and not options.catalogue.extra_selector else None)
                store.write_run_info(single.out_dir, run_info(single))
            runner = FleetRun(options, services, baselines, clock=clock, client=client)
            try:
                outcome = runner.run()
            except KeyboardInterrupt:
                return runner.outcome
    finally:
        if own_client:
            client.close()
    log.info("fleet of %d services: %d snapshots collected with %d requests", len(services), outcome.collected,
             outcome.requests)
    if options.report:
        render_fleet_reports(options.out_dir, all_services=options.report_all)
    return outcome


def _check_resume(options: FleetOptions, previous: dict[str, Any]) -> None:
    recorded = store.window_from_run_info(previous)
    if recorded.to_dict() != options.window.to_dict():
        raise InputError(f"--output {options.out_dir} holds a fleet run over a different window "
                         f"({format_time(recorded.start)}, {recorded.duration_hours:g} h every "
                         f"{recorded.interval_minutes:g} min); use another --output or the same window")
    if previous.get("service_label") != options.catalogue.label:
        raise InputError(f"--output {options.out_dir} holds a fleet run on label "
                         f"{previous.get('service_label')!r}; use another --output")
    shard = previous.get("shard")
    wanted = {"index": options.shard[0], "count": options.shard[1]} if options.shard else None
    if shard != wanted:
        raise InputError(f"--output {options.out_dir} holds another shard ({shard}); give each shard its own --output")


# --------------------------------------------------------------------------- merging shards / analyze


def is_fleet_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a fleet folder or holds shard folders (``stabmon analyze`` dispatch)."""
    folder = Path(folder)
    if (folder / FLEET_RUN_FILE).exists() or (folder / FLEET_SUMMARY_JSON).exists():
        return True
    return any((sub / FLEET_RUN_FILE).exists() for sub in _subfolders(folder))


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


@dataclass
class _Part:
    root: Path
    info: dict[str, Any]


def _fleet_parts(folder: Path) -> list[_Part]:
    parts = []
    own = read_fleet_run(folder)
    if own is not None:
        parts.append(_Part(folder, own))
    for sub in _subfolders(folder):
        info = read_fleet_run(sub)
        if info is not None:
            parts.append(_Part(sub, info))
    return parts


def merge_fleet(folder: str | Path, *, baseline_path: str | Path | None = None, settings: Any = None,
                rebuild: bool = True, jobs: int | None = None,
                generated_at: datetime | None = None) -> dict[str, Any]:
    """Rebuild a fleet folder's summaries, merging shard folders found directly under it.

    ``folder`` may be a fleet folder (``fleet_run.json``), a folder of shard
    folders (each a fleet folder), or both. Each service's summaries are
    rebuilt from its raw snapshots (``rebuild``), and one
    ``fleet_summary.json`` listing every service of every shard is written
    into ``folder``. A service found in two shards is kept once, with a
    warning; missing shards are named.

    Raises
    ------
    StoreError
        When no fleet folder is found.
    """
    folder = Path(folder)
    parts = _fleet_parts(folder)
    if not parts:
        raise StoreError(f"{folder}: no {FLEET_RUN_FILE} here or in its subfolders (not a fleet folder)")
    window = store.window_from_run_info(parts[0].info)
    label = parts[0].info.get("service_label") or DEFAULT_SERVICE_LABEL
    warnings: list[str] = []
    seen: dict[str, Path] = {}
    works: list[ServiceWork] = []
    shard_counts: set[int] = set()
    shard_indexes: set[int] = set()
    for part in parts:
        if store.window_from_run_info(part.info).to_dict() != window.to_dict():
            warnings.append(f"{part.root}: a different window from {parts[0].root}; merged anyway")
        if part.info.get("shard"):
            shard_counts.add(int(part.info["shard"]["count"]))
            shard_indexes.add(int(part.info["shard"]["index"]))
        else:
            shard_counts.add(1)
            shard_indexes.add(1)
        names = [(s["service"], s.get("folder") or service_folder(s["service"])) for s in part.info["services"]]
        baselines: dict[str, Baseline | None] = {}
        if baseline_path is not None:
            baselines, missing = load_fleet_baselines(baseline_path, [n for n, _ in names])
            warnings.extend(missing)
        for service, sub in names:
            if service in seen:
                warnings.append(f"service {service!r} is in {seen[service]} and {part.root}: kept the first")
                continue
            path = part.root / sub
            seen[service] = path
            works.append(ServiceWork(service=service, folder=path, window=window, final=True,
                                     baseline=baselines.get(service), settings=settings))
    if len(shard_counts) > 1:
        warnings.append(f"shards of different counts merged: {sorted(shard_counts)}")
    count = max(shard_counts)
    shards = None
    if count > 1:
        shards = {"count": count, "merged": sorted(shard_indexes),
                  "missing": [i for i in range(1, count + 1) if i not in shard_indexes]}
        if shards["missing"]:
            warnings.append(f"shards {shards['missing']} of {count} are missing: the fleet summary is incomplete")
    if rebuild:
        entries = _rebuild_entries(works, jobs or default_jobs(), baseline_path is not None)
    else:
        entries = [_entry_from_folder(w.service, w.folder) for w in works]
    for entry, work in zip(entries, works):
        entry["folder"] = os.path.relpath(work.folder, folder)
    for message in warnings:
        log.warning("%s", message)
    summary = build_fleet_summary(entries, window, service_label=label, shards=shards, warnings=warnings,
                                  generated_at=generated_at)
    write_fleet_summary(folder, summary)
    return summary


def _rebuild_entries(works: list[ServiceWork], jobs: int, recompute: bool) -> list[dict[str, Any]]:
    if recompute:
        # Drift from the given baselines: recomputed per service, in process.
        from stabmon.store.rebuild import rebuild_summaries

        entries = []
        for w in works:
            if not store.iter_snapshot_files(w.folder):
                entries.append(fleet_entry(w.service, w.folder.name, None))
                continue
            result = rebuild_summaries(w.folder, baseline=w.baseline, settings=w.settings, recompute_drift=True,
                                       service=w.service)
            entries.append(fleet_entry(w.service, w.folder.name, result.weekly))
        return entries
    # Rebuild with the window and baseline of each service's run.json.
    for w in works:
        info = store.read_run_info(w.folder) if (w.folder / store.RUN_FILE).exists() else None
        if info is not None:
            from stabmon.core.baseline import baseline_from_run_info

            w.window = store.window_from_run_info(info)
            w.baseline = baseline_from_run_info(info)
    return [e if e is not None else fleet_entry(w.service, w.folder.name, None)
            for e, w in zip(run_service_work(works, jobs), works)]


def _entry_from_folder(service: str, path: Path) -> dict[str, Any]:
    weekly_path = path / store.WEEKLY_JSON
    weekly = store.read_json(weekly_path) if weekly_path.exists() else None
    return fleet_entry(service, path.name, weekly)


def run_fleet_analyze(folder: str | Path, *, baseline_path: str | Path | None = None, settings: Any = None) -> int:
    """``stabmon analyze --input DIR`` on a fleet folder: rebuild and merge; print the verdict; return 0."""
    summary = merge_fleet(folder, baseline_path=baseline_path, settings=settings)
    _print_verdict(Path(folder), summary)
    return 0


def _print_verdict(folder: Path, summary: dict[str, Any]) -> None:
    rollback = summary["rollback_recommended"]
    print(f"fleet of {summary['service_count']} services in {folder}: "
          f"{len(rollback)} to roll back" + (f" ({', '.join(rollback[:10])}{' ...' if len(rollback) > 10 else ''})"
                                              if rollback else ""))
    print(f"fleet summary: {folder / FLEET_SUMMARY_MD}")


# --------------------------------------------------------------------------- command line


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fleet flags of ``stabmon monitor``: --services, --all-services, --service-label, --shard, --jobs."""
    group = parser.add_argument_group("fleet (many services in one run; --baseline may be a folder of "
                                      "<service>.json)")
    choose = group.add_mutually_exclusive_group()
    choose.add_argument("--services", metavar="A,B,C", default=None,
                        help="judge these services in one run (output: DIR/<service>/ and DIR/fleet_summary.json)")
    choose.add_argument("--all-services", action="store_true",
                        help="judge every value of the service label with data in the window")
    group.add_argument("--service-label", metavar="NAME", default=None,
                       help=f"label that names the service (default {DEFAULT_SERVICE_LABEL})")
    group.add_argument("--shard", metavar="I/N", default=None,
                       help="take only part I of N of the services (stable hash of the name); merge the shards' "
                       "folders with 'stabmon analyze --input DIR'")
    group.add_argument("--jobs", metavar="N", type=int, default=None,
                       help="processes writing the services' folders (default: the CPUs available)")


def is_fleet_request(args: argparse.Namespace) -> bool:
    """Whether ``stabmon monitor`` was asked for a fleet (``--services`` or ``--all-services``).

    Raises
    ------
    InputError
        Fleet-only flags without a fleet.
    """
    fleet = bool(getattr(args, "services", None)) or bool(getattr(args, "all_services", False))
    if not fleet:
        for flag, value in (("--shard", getattr(args, "shard", None)),
                            ("--service-label", getattr(args, "service_label", None))):
            if value is not None:
                raise InputError(f"{flag} needs --services or --all-services")
    return fleet


def resolve_fleet_options(args: argparse.Namespace, now: datetime) -> FleetOptions:
    """Resolve the command line of a fleet run (window rules as for one service).

    Raises
    ------
    InputError
        Conflicting or bad flags.
    """
    from stabmon.collect.run import DEFAULT_OUTPUT, resolve_window

    if getattr(args, "service", None) is not None:
        raise InputError("--service cannot be combined with --services/--all-services")
    if getattr(args, "queries", None):
        raise InputError("--queries applies to single-service runs; a fleet uses the grouped default expressions")
    label = check_label_name(args.service_label or DEFAULT_SERVICE_LABEL)
    services = None if args.all_services else parse_service_list(args.services)
    shard = parse_shard(args.shard) if args.shard else None
    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs: must be at least 1")
    out_dir = Path(args.output or DEFAULT_OUTPUT)
    previous = read_fleet_run(out_dir)
    window = resolve_window(args, previous, now)
    catalogue = build_fleet_catalogue(label, window.interval_minutes * 60.0, args.selector)
    return FleetOptions(
        out_dir=out_dir, window=window, catalogue=catalogue,
        connection=ConnectionSettings.from_env(args.prometheus_url), services=services,
        baseline_path=Path(args.baseline) if args.baseline else None, shard=shard, jobs=args.jobs,
        report=bool(getattr(args, "report", False)),
    )


def run_fleet_command(args: argparse.Namespace) -> int:
    """``stabmon monitor --services ...|--all-services``: run the fleet; return the exit code."""
    options = resolve_fleet_options(args, datetime.now(timezone.utc))
    if options.baseline_path is not None and not options.baseline_path.exists():
        raise BaselineError(f"baseline file or folder not found: {options.baseline_path}")
    outcome = fleet_monitor(options)
    if outcome.exit_code == 0 and outcome.summary is not None:
        _print_verdict(Path(options.out_dir), outcome.summary)
    return outcome.exit_code


# --------------------------------------------------------------------------- demo fleet (no server)


#: The embedded demo fleet's scenarios, cycled over the services.
DEMO_SCENARIOS = ("healthy", "healthy", "incident", "healthy", "latency_regression", "healthy")


def build_demo_fleet(out_dir: str | Path, services: int = 6, *, seed: int = 42,
                     jobs: int | None = None) -> dict[str, Any]:
    """Write a small synthetic fleet folder (no server) and its fleet summary.

    Services ``svc-01`` ... get the scenarios of :data:`DEMO_SCENARIOS` in
    turn; each folder is written like the single-service demo (run.json,
    snapshots with drift, summaries).

    Returns
    -------
    dict
        The fleet summary.
    """
    from stabmon.core.drift import apply_drift
    from stabmon.demo.synthetic import generate_week

    out_dir = Path(out_dir)
    names = [f"svc-{i:02d}" for i in range(1, services + 1)]
    window = None
    works = []
    for i, name in enumerate(names):
        week = generate_week(DEMO_SCENARIOS[i % len(DEMO_SCENARIOS)], service=name, seed=seed, scrape_seconds=600)
        window = week.window
        apply_drift(week.snapshots, week.baseline)
        folder = out_dir / service_folder(name)
        for old in store.iter_snapshot_files(folder):
            old.unlink()
        store.write_run_info(folder, {"window": week.window.to_dict(), "service": name, "selector": None,
                                      "source": f"synthetic:{week.scenario}:seed={seed}",
                                      "baseline": week.baseline.to_dict()})
        works.append(ServiceWork(service=name, folder=folder, window=week.window,
                                 snapshots=list(enumerate(week.snapshots)), final=True,
                                 baseline=week.baseline))
    assert window is not None
    store.write_json_atomic(out_dir / FLEET_RUN_FILE, {
        "window": window.to_dict(), "service_label": DEFAULT_SERVICE_LABEL, "selector": None, "all_services": False,
        "shard": None, "services": [{"service": n, "folder": service_folder(n)} for n in names],
        "source": f"synthetic fleet seed={seed}", "prometheus_url": None, "baseline": None,
        "queries": fleet_templates(DEFAULT_SERVICE_LABEL),
    })
    entries = run_service_work(works, jobs or 1)
    summary = build_fleet_summary([e for e in entries if e is not None], window, service_label=DEFAULT_SERVICE_LABEL)
    write_fleet_summary(out_dir, summary)
    return summary


# --------------------------------------------------------------------------- reports


def flagged_services(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Services that need a look: a rollback verdict or no data."""
    return [e for e in summary["services"] if e["rollback_recommended"] or e.get("no_data")]


FLEET_NOTEBOOK = "fleet_overview.ipynb"


def render_fleet_reports(folder: str | Path, *, all_services: bool = False, jobs: int = 2,
                         timeout: float = 600.0, progress: bool = False) -> dict[str, Any]:
    """Render the fleet notebook into ``DIR/reports/`` and the notebooks of the flagged services.

    Parameters
    ----------
    folder
        A fleet folder (or a folder of shard folders: merged first when it
        has no ``fleet_summary.json``).
    all_services
        Render every service's notebooks, not only those with a rollback
        verdict or no data.

    Returns
    -------
    dict
        ``fleet`` (files of the fleet notebook) and ``services`` (service ->
        :class:`stabmon.report.render.ReportResult`).

    Raises
    ------
    ReportError
        When a notebook fails (named with its cell).
    """
    from stabmon.core import paths
    from stabmon.report import render as report

    folder = Path(folder).expanduser().resolve()
    summary_path = folder / FLEET_SUMMARY_JSON
    summary = store.read_json(summary_path) if summary_path.exists() else merge_fleet(folder)
    reports_dir = folder / REPORTS_DIR
    reports_dir.mkdir(parents=True, exist_ok=True)
    job = report.NotebookJob(name="fleet_overview", kind="fleet", template=paths.NOTEBOOKS_DIR / FLEET_NOTEBOOK,
                             parameters={"fleet_dir": str(folder)}, title="Fleet overview")
    rendered: dict[str, Any] = {"fleet": report.render_job(job, reports_dir, timeout=timeout), "services": {}}
    chosen = summary["services"] if all_services else flagged_services(summary)
    for entry in chosen:
        service_dir = folder / entry["folder"]
        if not store.iter_snapshot_files(service_dir):
            continue
        rendered["services"][entry["service"]] = report.render_reports(service_dir, jobs=jobs, timeout=timeout,
                                                                       progress=progress)
    return rendered


def run_fleet_report_command(args: argparse.Namespace) -> int:
    """``stabmon report --input DIR`` on a fleet folder: render; print where the reports are; return 0."""
    folder = Path(args.input)
    rendered = render_fleet_reports(folder, all_services=bool(getattr(args, "all", False)),
                                    jobs=getattr(args, "jobs", 2), timeout=getattr(args, "timeout", 600.0),
                                    progress=not getattr(args, "no_progress", True))
    html = next((p for p in rendered["fleet"] if p.suffix == ".html"), None)
    print(f"fleet report: {html or folder / REPORTS_DIR}")
    for service, result in rendered["services"].items():
        print(f"  {service}: {result.index}")
    if not rendered["services"]:
        print("  no service flagged: no per-service notebooks rendered (--all renders them all)")
    return 0
