"""Collection from Prometheus: ``stabmon monitor`` and ``stabmon baseline``.

One collection path serves both modes (contract section 1). For the snapshot
times ``t_k`` that have passed, each metric is one range query (per 11,000-point
chunk) with ``step = interval`` aligned to ``t_k``; a ``t_k`` still to come is
taken with instant queries when its time arrives. Both evaluate the same
expressions at the same times, so they give the same snapshot.

The monitor run is the seed's ``run()``: catch up on the past, then go on live,
sleeping to each ``t_k`` and warning "Behind schedule by Xs" when late; each
raw snapshot is written as it is taken, each day's summary when the day ends,
the weekly summary at the end. A run on a folder that already holds snapshots
resumes: those are not fetched again.

Time comes from a :class:`Clock` so tests can drive a week-long live run in
seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from stabmon import store
from stabmon.core.errors import InputError, PrometheusError, QueryError, StoreError
from stabmon.core.model import (
    DRIFT_METRICS,
    Alert,
    Baseline,
    Snapshot,
    Window,
    format_time,
    parse_time,
    utc,
)
from stabmon.collect.prom import (
    ConnectionSettings,
    PrometheusClient,
    Series,
    UnreachableError,
    public_url,
)
from stabmon.collect.queries import QueryCatalogue, build_catalogue

log = logging.getLogger(__name__)

#: Snapshots newer than this are taken with instant queries even when
#: catching up: VictoriaMetrics replaces range points within its
#: ``-search.latencyOffset`` (30 s) of now with the previous value, and fresh
#: samples may still be on their way into any TSDB.
RANGE_HORIZON_SECONDS = 60.0
#: The longest wait after ``t_k`` before it is queried (see :func:`default_settle`).
MAX_SETTLE_SECONDS = 2.0
DAY_LATENCY_FIELDS = {"day_p95_latency_ms": "p95_latency_ms", "day_p99_latency_ms": "p99_latency_ms"}
LOCK_FILE = ".stabmon.lock"
DEFAULT_OUTPUT = "outputs/stability/"


# --------------------------------------------------------------------------- time


class Clock(Protocol):
    """Where a run gets the time and how it waits; tests inject a fake."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock (UTC) and :func:`time.sleep`."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def default_settle(interval_seconds: float) -> float:
    """How long after ``t_k`` a live snapshot is queried (still evaluated *at* ``t_k``).

    A sample scraped just before ``t_k`` may not be queryable at ``t_k`` itself;
    waiting a moment lets the live snapshot see what a later retroactive run
    will see. A third of the interval, at most :data:`MAX_SETTLE_SECONDS`.
    """
    return min(MAX_SETTLE_SECONDS, interval_seconds / 3.0)


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


# --------------------------------------------------------------------------- collector


@dataclass
class Collector:
    """Turns query answers into :class:`~stabmon.core.model.Snapshot` objects for one window.

    Parameters
    ----------
    client
        The Prometheus client.
    catalogue
        The run's rendered expressions.
    window
        The run's window (snapshot times).
    baseline
        For drift; ``None`` means no drift.
    """

    client: PrometheusClient
    catalogue: QueryCatalogue
    window: Window
    baseline: Baseline | None = None
    _missing_warned: set[str] = field(default_factory=set)
    _drift_warned: set[str] = field(default_factory=set)

    @property
    def interval_seconds(self) -> float:
        return self.window.interval_minutes * 60.0

    # -- helpers -------------------------------------------------------------

    def _reject(self, name: str, expr: str, exc: QueryError) -> QueryError:
        return QueryError(f"query for {name} rejected by Prometheus: {exc}; expression: {expr}")

    def _one_series(self, name: str, expr: str, series: list[Series]) -> Series | None:
        if not series:
            return None
        if len(series) > 1:
            shown = "; ".join(
                "{" + ",".join(f"{k}={v!r}" for k, v in sorted(s.labels.items())) + "}" for s in series[:3]
            )
            more = f" and {len(series) - 3} more" if len(series) > 3 else ""
            raise QueryError(
                f"query for {name} returned {len(series)} series where one is expected "
                f"(aggregate it, e.g. with sum()): {shown}{more}; expression: {expr}"
            )
        return series[0]

    def _warn_missing(self, name: str, ts: datetime, expr: str) -> None:
        if name not in self._missing_warned:
            self._missing_warned.add(name)
            log.warning(
                "%s: no data at %s (recorded as missing; further gaps of this metric are not logged); expression: %s",
                name, format_time(ts), expr,
            )

    def _finish(self, ts: datetime, values: dict[str, float | None], alerts: list[Alert] | None,
                reasons: dict[str, str]) -> Snapshot:
        snapshot = Snapshot(timestamp=ts, values=values, alerts=alerts, missing_reasons=reasons)
        for name in snapshot.missing:
            if name not in reasons and name != "alerts":
                self._warn_missing(name, ts, self.catalogue.expression(name))
        if self.baseline is not None:
            from stabmon.core.drift import compute_drift

            drift, warnings = compute_drift(snapshot.values, self.baseline)
            snapshot.drift_percent = drift
            for message in warnings:
                if message not in self._drift_warned:
                    self._drift_warned.add(message)
                    log.warning("%s", message)
        return snapshot

    # -- snapshots -----------------------------------------------------------

    def range_snapshots(self, ks: Sequence[int], *, strict: bool = True,
                        on_query: Callable[[], None] | None = None) -> dict[int, Snapshot]:
        """Snapshots ``ks`` from range queries over ``min(ks)..max(ks)`` (one per metric and chunk).

        Parameters
        ----------
        strict
            When the server cannot be reached: raise (``True``, the start of a
            run) or return the snapshots with every metric missing and the
            reason (``False``, the middle of a live run).
        """
        if not ks:
            return {}
        wanted = sorted(set(ks))
        start = self.window.time_of(wanted[0])
        end = self.window.time_of(wanted[-1])
        step = self.interval_seconds
        by_k: dict[int, dict[str, float | None]] = {k: {} for k in wanted}
        alerts_by_k: dict[int, list[Alert] | None] = {k: [] for k in wanted}
        reasons: dict[str, str] = {}
        for name, expr in self.catalogue.snapshot_expressions().items():
            try:
                series = self.client.range(expr, start, end, step)
            except QueryError as exc:
                raise self._reject(name, expr, exc) from None
            except UnreachableError as exc:
                if strict:
                    raise
                reasons[name] = str(exc)
                if name == "alerts":
                    alerts_by_k = dict.fromkeys(wanted, None)
                continue
            finally:
                if on_query is not None:
                    on_query()
            if name == "alerts":
                for item in series:
                    alert = Alert.from_labels(item.labels)
                    for ts, value in item.points:
                        k = self.window.index_of_epoch(ts)
                        if value is not None and k in alerts_by_k and alerts_by_k[k] is not None:
                            alerts_by_k[k].append(alert)  # type: ignore[union-attr]
                continue
            only = self._one_series(name, expr, series)
            if only is None:
                continue
            for ts, value in only.points:
                k = self.window.index_of_epoch(ts)
                if k in by_k:
                    by_k[k][name] = value
        result: dict[int, Snapshot] = {}
        for k in wanted:
            alerts = alerts_by_k[k]
            if alerts is not None:
                alerts.sort(key=lambda a: a.identity)
            snap_reasons = {name: reasons[name] for name in reasons}
            result[k] = self._finish(self.window.time_of(k), by_k[k], alerts, snap_reasons)
        return result

    def instant_snapshot(self, k: int, *, strict: bool = False) -> Snapshot:
        """Snapshot ``k`` from instant queries evaluated at ``t_k``.

        When the server cannot be reached, the metrics not yet fetched are
        recorded missing with the reason (or the error is raised when
        ``strict``); the queries left are skipped rather than each waiting
        through its own retries.
        """
        ts = self.window.time_of(k)
        values: dict[str, float | None] = {}
        alerts: list[Alert] | None = []
        reasons: dict[str, str] = {}
        down: str | None = None
        for name, expr in self.catalogue.snapshot_expressions().items():
            if down is not None:
                reasons[name] = down
                if name == "alerts":
                    alerts = None
                continue
            try:
                series = self.client.instant(expr, ts, step_seconds=self.interval_seconds)
            except QueryError as exc:
                raise self._reject(name, expr, exc) from None
            except UnreachableError as exc:
                if strict:
                    raise
                down = str(exc)
                reasons[name] = down
                if name == "alerts":
                    alerts = None
                continue
            if name == "alerts":
                alerts = sorted(
                    (Alert.from_labels(s.labels) for s in series if s.points and s.points[-1][1] is not None),
                    key=lambda a: a.identity,
                )
                continue
            only = self._one_series(name, expr, series)
            values[name] = only.points[-1][1] if only is not None and only.points else None
        if down is not None:
            log.warning("snapshot %s: %s; metrics recorded as missing", format_time(ts), down)
        return self._finish(ts, values, alerts, reasons)

    # -- day figures ---------------------------------------------------------

    def day_latency(self, days: Sequence[int], *, strict: bool = True) -> dict[int, dict[str, float | None]]:
        """The day's p95/p99 (ms) from the day's merged histogram buckets, at the day's end.

        Whole days share one range query per quantile (step 24 h); a shorter
        last day gets its own instant query with a window of its length.
        """
        result: dict[int, dict[str, float | None]] = {d: {} for d in days}
        full = [d for d in days if _seconds(self._day_length(d)) == 86400.0]
        partial = [d for d in days if d not in full]
        for query, field_name in DAY_LATENCY_FIELDS.items():
            for run in _contiguous(full):
                expr = self.catalogue.expression(query, day_seconds=86400.0)
                start = self.window.day_bounds(run[0])[1]
                end = self.window.day_bounds(run[-1])[1]
                try:
                    series = self.client.range(expr, start, end, 86400.0)
                except QueryError as exc:
                    raise self._reject(query, expr, exc) from None
                except UnreachableError as exc:
                    if strict:
                        raise
                    log.warning("day figures of days %s not available: %s", run, exc)
                    continue
                only = self._one_series(query, expr, series)
                points = {round(ts): value for ts, value in (only.points if only else [])}
                for d in run:
                    result[d][field_name] = points.get(round(self.window.day_bounds(d)[1].timestamp()))
            for d in partial:
                length = _seconds(self._day_length(d))
                expr = self.catalogue.expression(query, day_seconds=length)
                try:
                    series = self.client.instant(expr, self.window.day_bounds(d)[1])
                except QueryError as exc:
                    raise self._reject(query, expr, exc) from None
                except UnreachableError as exc:
                    if strict:
                        raise
                    log.warning("day figures of day %d not available: %s", d, exc)
                    continue
                only = self._one_series(query, expr, series)
                result[d][field_name] = only.points[-1][1] if only and only.points else None
        return {d: {f: result[d].get(f) for f in DAY_LATENCY_FIELDS.values()} for d in days}

    def _day_length(self, day: int) -> timedelta:
        begin, end = self.window.day_bounds(day)
        return end - begin


def _contiguous(days: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


# --------------------------------------------------------------------------- run folder


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run folder for the life of a run.

    ``flock`` locks die with their process, so a killed run never leaves the
    folder stuck.

    Raises
    ------
    StoreError
        When another process holds the lock.
    """
    import fcntl

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write {out_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StoreError(f"cannot lock {out_dir}: {exc.strerror or exc}") from None
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StoreError(f"output folder {out_dir} is in use by another stabmon run (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def existing_snapshot_indexes(out_dir: Path, window: Window) -> set[int]:
    """Indexes ``k`` of the snapshots already on disk (read from file names, not contents)."""
    found: set[int] = set()
    for path in store.iter_snapshot_files(out_dir):
        match = store.SNAPSHOT_RE.match(path.name)
        if not match:
            continue
        day, hh, mm, ss = match.groups()
        try:
            ts = datetime.strptime(f"{day} {hh}:{mm}:{ss}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        k = window.index_of(ts)
        if k is not None and store.snapshot_path(out_dir, window, ts) == path:
            found.add(k)
    return found


def write_day_latency(out_dir: Path, figures: dict[int, dict[str, float | None]]) -> None:
    """Merge day figures into ``DIR/day_latency.json`` (``{"<day>": {"p95_latency_ms": .., ...}}``)."""
    from stabmon.store.rebuild import DAY_LATENCY_FILE

    path = Path(out_dir) / DAY_LATENCY_FILE
    current: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = store.read_json(path)
            current = loaded if isinstance(loaded, dict) else {}
        except StoreError as exc:
            log.warning("%s; rewriting it", exc)
    for day, values in figures.items():
        current[str(day)] = {k: (None if v is None else round(v * 1.0, 6)) for k, v in values.items()}
    store.write_json_atomic(path, dict(sorted(current.items(), key=lambda kv: int(kv[0]))))


# --------------------------------------------------------------------------- monitor


@dataclass
class MonitorOptions:
    """Everything a monitor run needs, resolved from the command line."""

    out_dir: Path
    window: Window
    catalogue: QueryCatalogue
    connection: ConnectionSettings
    baseline: Baseline | None = None
    service: str | None = None
    selector: str | None = None
    settings: Any = None
    settle_seconds: float | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    progress: bool | None = None
    report: bool = False


@dataclass
class MonitorOutcome:
    """What a monitor run did."""

    exit_code: int
    collected: int = 0
    resumed: int = 0
    requests: int = 0
    days_closed: list[int] = field(default_factory=list)
    interrupted: bool = False


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same graceful path as Ctrl+C."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise :class:`KeyboardInterrupt` in the main thread for the block's duration."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class MonitorRun:
    """The seed's ``run()`` loop over one window, against one server.

    Parameters
    ----------
    options
        The resolved run options.
    clock
        Time source; :class:`SystemClock` when omitted.
    client
        A ready client (tests); built from ``options.connection`` when omitted.
    """

    def __init__(self, options: MonitorOptions, *, clock: Clock | None = None,
                 client: PrometheusClient | None = None) -> None:
        self.options = options
        self.window = options.window
        self.out_dir = Path(options.out_dir)
        self.clock = clock or SystemClock()
        self.client = client or PrometheusClient(
            options.connection,
            timeout=options.timeout,
            retries=options.retries,
            backoff=options.backoff,
        )
        self.collector = Collector(self.client, options.catalogue, self.window, options.baseline)
        interval_s = self.window.interval_minutes * 60.0
        self.settle = default_settle(interval_s) if options.settle_seconds is None else options.settle_seconds
        self.outcome = MonitorOutcome(exit_code=0)
        self._closed_days: set[int] = set()
        self._detector: Any = None

    # -- pieces --------------------------------------------------------------

    def _due(self, k: int) -> datetime:
        return self.window.time_of(k) + timedelta(seconds=self.settle)

    def _day_due(self, day: int) -> datetime:
        return self.window.day_bounds(day)[1] + timedelta(seconds=self.settle)

    def _write(self, snapshots: dict[int, Snapshot], *, batch: bool) -> None:
        # In a catch-up batch the per-file fsync is the slowest part; files
        # are still renamed into place whole, and one sync at the end makes
        # the batch durable.
        for k in sorted(snapshots):
            store.write_snapshot(self.out_dir, self.window, snapshots[k], fsync=not batch)
            self.outcome.collected += 1
        if batch and snapshots:
            os.sync()
        if not batch:
            for k in sorted(snapshots):
                self._observe_anomalies(snapshots[k])

    def _observe_anomalies(self, snapshot: Snapshot) -> None:
        """Append the anomalies a live snapshot reveals to ``anomalies.jsonl`` as they are found.

        The detector is primed once from the snapshots already on disk. Each
        event is one ``O_APPEND`` write; a torn last line from a killed run is
        skipped by readers, and every summary rebuild rewrites the file whole.
        """
        from stabmon.core.anomaly import AnomalyDetector

        if self._detector is None:
            self._detector = AnomalyDetector(self.window)
            for earlier in store.read_snapshots(self.out_dir).snapshots:
                if earlier.timestamp < snapshot.timestamp:
                    self._detector.observe(earlier)
        last = self._detector.last_timestamp
        if last is not None and snapshot.timestamp <= last:
            return
        lines = "".join(store.dumps_line(event.to_dict()) for event in self._detector.observe(snapshot))
        if lines:
            store.append_text(self.out_dir / store.ANOMALIES_FILE, lines)

    def collect_baseline_window(self) -> None:
        """Collect the snapshots of the baseline's window into ``baseline_raw/`` (once).

        The statistical comparison (Mann-Whitney per day and metric) needs the
        baseline window's distribution, not only its averages. Skipped when the
        baseline records no window, or the folder already holds its snapshots.
        """
        baseline = self.options.baseline
        recorded = (baseline.window or {}) if baseline is not None else {}
        if not recorded.get("start") or not recorded.get("end"):
            return
        if store.read_snapshots(self.out_dir, baseline_window=True).snapshots:
            return
        try:
            start, end = parse_time(recorded["start"]), parse_time(recorded["end"])
        except ValueError:
            log.warning("baseline window %r is not a pair of ISO times: no statistical comparison", recorded)
            return
        hours = (end - start).total_seconds() / 3600.0
        if hours <= 0 or end > self.clock.now():
            log.warning("baseline window %s .. %s is empty or not over: no statistical comparison",
                        recorded["start"], recorded["end"])
            return
        window = Window(start=start, duration_hours=hours, interval_minutes=self.window.interval_minutes)
        collector = Collector(self.client, self.options.catalogue, window, None)
        snapshots = collector.range_snapshots(list(range(window.snapshot_count)), strict=True)
        for snapshot in snapshots.values():
            store.write_baseline_snapshot(self.out_dir, snapshot, fsync=False)
        log.info("baseline window: %d snapshots collected for the statistical comparison", len(snapshots))

    def _collect(self, due: list[int], now: datetime, *, initial: bool) -> None:
        horizon = now - timedelta(seconds=RANGE_HORIZON_SECONDS)
        old = [k for k in due if self.window.time_of(k) <= horizon]
        recent = [k for k in due if k not in set(old)]
        if old:
            if len(old) > 1:
                log.info("catching up on %d past snapshots (%s .. %s) with range queries", len(old),
                         format_time(self.window.time_of(old[0])), format_time(self.window.time_of(old[-1])))
            with self._progress(len(self.options.catalogue.snapshot_expressions()), "catching up") as bar:
                snapshots = self.collector.range_snapshots(
                    old, strict=initial, on_query=(lambda: bar.update(1)) if bar is not None else None
                )
            self._write(snapshots, batch=len(snapshots) > 1)
        for k in recent:
            snapshot = self.collector.instant_snapshot(k, strict=initial)
            self._write({k: snapshot}, batch=False)

    @contextlib.contextmanager
    def _progress(self, total: int, desc: str) -> Iterator[Any]:
        enabled = self.options.progress
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            yield None
            return
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="query", file=sys.stderr, leave=False)
        try:
            yield bar
        finally:
            bar.close()

    def _close_days(self, days: list[int], *, initial: bool, final: bool) -> None:
        from stabmon.store.rebuild import rebuild_summaries

        if days:
            figures = self.collector.day_latency(days, strict=initial)
            write_day_latency(self.out_dir, figures)
        on_disk = existing_snapshot_indexes(self.out_dir, self.window)
        if not on_disk:
            log.warning("no snapshot collected: no summary written")
            return
        if final:
            rebuild_summaries(self.out_dir, window=self.window, baseline=self.options.baseline,
                              settings=self.options.settings, weekly=True)
        elif days:
            rebuild_summaries(self.out_dir, window=self.window, baseline=self.options.baseline,
                              settings=self.options.settings, days=days, weekly=False)
        self._closed_days.update(days)
        self.outcome.days_closed.extend(days)
        for d in days:
            log.info("day %d complete: summary written", d)

    def write_partial(self) -> None:
        """Aggregate what is on disk (partial days included) and write every summary."""
        from stabmon.store.rebuild import rebuild_summaries

        if not existing_snapshot_indexes(self.out_dir, self.window):
            return
        rebuild_summaries(self.out_dir, window=self.window, baseline=self.options.baseline,
                          settings=self.options.settings, weekly=True)

    # -- the loop ------------------------------------------------------------

    def run(self) -> MonitorOutcome:
        """Collect the whole window (catching up first), then write the weekly summary.

        Raises
        ------
        PrometheusError
            Unreachable or refusing at the start, a rejected query, failed authentication.
        KeyboardInterrupt
            After the partial days have been written (the caller exits 130).
        """
        window = self.window
        count = window.snapshot_count
        on_disk = existing_snapshot_indexes(self.out_dir, window)
        self.outcome.resumed = len(on_disk)
        pending = [k for k in range(count) if k not in on_disk]
        open_days = list(range(1, window.day_count + 1))
        if on_disk:
            log.info("resuming: %d of %d snapshots already in %s", len(on_disk), count, self.out_dir)
        try:
            self.client.check()
            self.collect_baseline_window()
            initial = True
            slept = True
            while pending or open_days:
                now = self.clock.now()
                targets = []
                if pending:
                    targets.append(self._due(pending[0]))
                if open_days:
                    targets.append(self._day_due(open_days[0]))
                wait = _seconds(min(targets) - now)
                if wait > 0:
                    self.clock.sleep(wait)
                    # Past the first sleep the run is live: a failing server
                    # now means missing metrics, not the end of the run.
                    slept, initial = True, False
                    continue
                if not slept and not initial:
                    log.warning("Behind schedule by %.1fs", -wait)
                due = [k for k in pending if self._due(k) <= now]
                if due:
                    self._collect(due, now, initial=initial)
                    done = set(due)
                    pending = [k for k in pending if k not in done]
                ended = [d for d in open_days if self._day_due(d) <= now]
                if ended:
                    open_days = [d for d in open_days if d not in ended]
                    self._close_days(ended, initial=initial, final=not open_days and not pending)
                initial = False
                slept = False
        except KeyboardInterrupt:
            self.outcome.interrupted = True
            self.outcome.exit_code = 130
            log.warning("interrupted: writing the partial days' summaries")
            self.write_partial()
            raise
        finally:
            self.outcome.requests = self.client.request_count
        return self.outcome


# --------------------------------------------------------------------------- command line


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prometheus-url", metavar="URL", default=None,
                        help="Prometheus (or compatible) base URL (default: $STABMON_PROMETHEUS_URL, "
                        "else http://localhost:9090); credentials come only from the environment")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--service", metavar="NAME", default=None, help='the service: matches service="NAME"')
    who.add_argument("--selector", metavar="MATCHERS", default=None,
                     help='any PromQL matcher list instead of --service, e.g. job="api",env="prod"')
    parser.add_argument("--queries", metavar="FILE", default=None,
                        help="YAML file overriding expressions by metric name (placeholders {sel}, [w], [d])")


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stabmon monitor`` flags (contract section 5) to ``parser``."""
    parser.add_argument("--baseline", metavar="FILE", required=True, help="release-day baseline JSON")
    _add_target_arguments(parser)
    parser.add_argument("--start", metavar="ISO8601", default=None,
                        help="window start (UTC unless an offset is given); default: now, or the "
                        "start recorded in --output when resuming")
    parser.add_argument("--duration", metavar="HOURS", type=_number("--duration"), default=None,
                        help="window length in hours (default 168)")
    parser.add_argument("--interval", metavar="MINUTES", type=_number("--interval"), default=None,
                        help="minutes between snapshots, fractions allowed (e.g. 0.5 = 30 s; default 30)")
    parser.add_argument("--output", metavar="DIR", default=None, help=f"run folder (default {DEFAULT_OUTPUT})")
    parser.add_argument("--test-mode", action="store_true",
                        help="with --duration <= 2, take a snapshot every 10 minutes")
    parser.add_argument("--report", action="store_true", help="render the notebooks when the run ends")
    from stabmon.collect.fleet import add_fleet_arguments  # fleet runs (issue 7): --services, --all-services, --shard

    add_fleet_arguments(parser)


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stabmon baseline`` flags to ``parser``."""
    _add_target_arguments(parser)
    parser.add_argument("--start", metavar="ISO8601", required=True, help="start of the release-day window")
    end = parser.add_mutually_exclusive_group()
    end.add_argument("--end", metavar="ISO8601", default=None, help="end of the window")
    end.add_argument("--duration", metavar="HOURS", type=_number("--duration"), default=None,
                     help="window length in hours (default 24)")
    parser.add_argument("--interval", metavar="MINUTES", type=_number("--interval"), default=30.0,
                        help="minutes between the averaged snapshots (default 30)")
    parser.add_argument("--output", metavar="FILE", default="baseline.json",
                        help="where to write the baseline JSON (default baseline.json)")


def _number(flag: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: not a number: {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{flag}: must be a positive number, got {text!r}")
        return value

    return parse


def parse_start(text: str, flag: str = "--start") -> datetime:
    """Parse a window start; sub-second parts are dropped (snapshot files name whole seconds).

    Raises
    ------
    InputError
        Naming ``flag`` when ``text`` is not an ISO 8601 time.
    """
    try:
        return parse_time(text).replace(microsecond=0)
    except ValueError:
        raise InputError(f"{flag}: not an ISO 8601 time: {text!r}") from None


def check_interval(minutes: float, flag: str = "--interval") -> float:
    """Return the interval in whole seconds; raise :class:`InputError` naming ``flag`` otherwise."""
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise InputError(f"{flag}: must be a positive number of minutes, got {minutes!r}")
    seconds = minutes * 60.0
    if abs(seconds - round(seconds)) > 1e-6 or round(seconds) < 1:
        raise InputError(f"{flag}: {minutes!r} minutes is not a whole number of seconds (>= 1 s)")
    return float(round(seconds))


def resolve_window(args: argparse.Namespace, recorded: dict[str, Any] | None, now: datetime) -> Window:
    """The run's window from ``--start/--duration/--interval/--test-mode`` and a recorded run.

    Without ``--start``, re-running the same command resumes the window
    recorded in the folder (``recorded``: its ``run.json``); with nothing
    recorded the window starts now. ``--test-mode`` with a duration of at most
    2 hours sets the interval to 10 minutes (the seed's rule).
    """
    duration, interval = args.duration, args.interval
    if args.test_mode and (duration if duration is not None else 168.0) <= 2:
        interval = 10.0
    if args.start is not None:
        start = parse_start(args.start)
    elif recorded is not None:
        previous = store.window_from_run_info(recorded)
        start = previous.start
        duration = previous.duration_hours if duration is None else duration
        interval = previous.interval_minutes if interval is None else interval
    else:
        start = now.replace(microsecond=0)
    return make_window(start, 168.0 if duration is None else duration, 30.0 if interval is None else interval)


def make_window(start: datetime, duration_hours: float, interval_minutes: float) -> Window:
    """A validated window; flags are named in the errors."""
    if not (math.isfinite(duration_hours) and duration_hours > 0):
        raise InputError(f"--duration: must be a positive number of hours, got {duration_hours!r}")
    check_interval(interval_minutes)
    window = Window(start=utc(start).replace(microsecond=0), duration_hours=duration_hours,
                    interval_minutes=interval_minutes)
    if window.snapshot_count < 1:
        raise InputError(f"--duration: {duration_hours} h is shorter than one --interval of {interval_minutes} min")
    return window


def _resolve_monitor(args: argparse.Namespace, now: datetime) -> MonitorOptions:
    from stabmon.core.baseline import load_baseline

    out_dir = Path(args.output or DEFAULT_OUTPUT)
    info = store.read_run_info(out_dir) if (out_dir / store.RUN_FILE).exists() else None
    window = resolve_window(args, info, now)
    connection = ConnectionSettings.from_env(args.prometheus_url)
    catalogue = build_catalogue(service=args.service, selector=args.selector,
                                interval_seconds=window.interval_minutes * 60.0, queries_file=args.queries)
    if info is not None:
        previous = store.window_from_run_info(info)
        if previous.to_dict() != window.to_dict():
            raise InputError(
                f"--output {out_dir} holds a run over a different window "
                f"({format_time(previous.start)}, {previous.duration_hours:g} h every "
                f"{previous.interval_minutes:g} min); use another --output or the same --start/--duration/--interval"
            )
        if (info.get("selector") or "") != catalogue.selector:
            raise InputError(
                f"--output {out_dir} holds a run for another selector ({info.get('selector') or 'none'}); "
                "use another --output"
            )
    baseline = load_baseline(args.baseline)
    return MonitorOptions(
        out_dir=out_dir, window=window, catalogue=catalogue, connection=connection, baseline=baseline,
        service=args.service, selector=args.selector, report=bool(getattr(args, "report", False)),
    )


def run_info(options: MonitorOptions) -> dict[str, Any]:
    """The ``run.json`` document of a run: window, target (no credentials), baseline, queries."""
    return {
        "window": options.window.to_dict(),
        "service": options.service,
        "selector": options.catalogue.selector or None,
        "source": "prometheus",
        "prometheus_url": public_url(options.connection.url),
        "baseline": options.baseline.to_dict() if options.baseline is not None else None,
        "queries": options.catalogue.snapshot_expressions(),
    }


def monitor(options: MonitorOptions, *, clock: Clock | None = None,
            client: PrometheusClient | None = None) -> MonitorOutcome:
    """Run ``stabmon monitor`` with resolved options: lock, run.json, the loop, reports.

    Returns the outcome; its ``exit_code`` is 130 when the run was
    interrupted (SIGINT or SIGTERM) after writing the partial days.

    Raises
    ------
    StabmonError
        Expected failures (the command line prints one line and exits 1).
    """
    with run_lock(options.out_dir), sigterm_as_interrupt():
        # Under the lock no other run can own a temporary file: those present were left by a kill.
        store.remove_stale_temp_files(options.out_dir)
        store.write_run_info(options.out_dir, run_info(options))
        runner = MonitorRun(options, clock=clock, client=client)
        try:
            outcome = runner.run()
        except KeyboardInterrupt:
            return runner.outcome
        finally:
            if client is None:
                runner.client.close()
    log.info("collected %d snapshots (%d already on disk) with %d requests",
             outcome.collected, outcome.resumed, outcome.requests)
    if options.report:
        _render_reports(options.out_dir)
    return outcome


def _render_reports(out_dir: Path) -> None:
    from stabmon.report.render import render_reports

    render_reports(out_dir)


def run_monitor_command(args: argparse.Namespace) -> int:
    """``stabmon monitor``: collect and analyse a window; return the exit code (0 or 130)."""
    from stabmon.collect.fleet import is_fleet_request, run_fleet_command

    if is_fleet_request(args):
        return run_fleet_command(args)
    options = _resolve_monitor(args, datetime.now(timezone.utc))
    outcome = monitor(options)
    if outcome.exit_code == 0:
        print(f"{options.out_dir}: {options.window.snapshot_count} snapshots, "
              f"weekly summary in {Path(options.out_dir) / store.WEEKLY_JSON}")
    return outcome.exit_code


# --------------------------------------------------------------------------- baseline


def capture_baseline(client: PrometheusClient, catalogue: QueryCatalogue, start: datetime, end: datetime,
                     interval_minutes: float, *, service: str | None = None) -> Baseline:
    """Average a past window's snapshots into a baseline (contract section 4).

    Raises
    ------
    PrometheusError
        When the server fails or no metric has any data in the window.
    """
    duration = _seconds(end - start) / 3600.0
    if duration <= 0:
        raise InputError("--end: must be after --start")
    window = make_window(start, duration, interval_minutes)
    collector = Collector(client, catalogue, window)
    client.check()
    snapshots = collector.range_snapshots(list(range(window.snapshot_count)), strict=True)
    values: dict[str, float] = {}
    for metric in DRIFT_METRICS:
        present = [s.values[metric] for s in snapshots.values() if s.values.get(metric) is not None]
        if present:
            values[metric] = round(sum(present) / len(present), 6)
        else:
            log.warning("baseline: %s has no data in the window; left out", metric)
    if not values:
        raise PrometheusError(
            f"no data for the window {format_time(start)} .. {format_time(end)}: nothing to put in a baseline"
        )
    extra: dict[str, Any] = {"snapshot_count": len(snapshots), "interval_minutes": interval_minutes}
    if catalogue.selector and service is None:
        extra["selector"] = catalogue.selector
    return Baseline(
        timestamp=end,
        values=values,
        service=service,
        window={"start": format_time(start), "end": format_time(end)},
        extra=extra,
    )


def run_baseline_command(args: argparse.Namespace) -> int:
    """``stabmon baseline``: capture a baseline JSON from a past window; return 0."""
    start = parse_start(args.start)
    if args.end is not None:
        end = parse_start(args.end, "--end")
    else:
        end = start + timedelta(hours=args.duration if args.duration is not None else 24.0)
    if end <= start:
        raise InputError("--end: must be after --start")
    if end > datetime.now(timezone.utc):
        raise InputError(f"--end: the window must be in the past (ends {format_time(end)})")
    check_interval(args.interval)
    catalogue = build_catalogue(service=args.service, selector=args.selector,
                                interval_seconds=args.interval * 60.0, queries_file=args.queries)
    connection = ConnectionSettings.from_env(args.prometheus_url)
    with PrometheusClient(connection) as client:
        baseline = capture_baseline(client, catalogue, start, end, args.interval, service=args.service)
    document = baseline.to_dict()
    store.write_json_atomic(Path(args.output), document)
    print(f"baseline written to {args.output} ({', '.join(f'{k}={v:g}' for k, v in baseline.values.items())})")
    return 0
