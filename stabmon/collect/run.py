"""The run: catch up on the past, then go on live, for one target or a fleet of many.

``stabmon monitor`` is this loop (the original design's ``run()``): snapshot
times that have passed are collected at once with range queries, later ones
when their time comes (instant queries, sleeping to each ``t_k`` and warning
"Behind schedule by Xs" when late); each raw snapshot is written as it is
taken, each day's summaries when the day ends, the weekly ones at the end. A
run on a folder that already holds snapshots resumes: those are not fetched
again.

A single-service run is a fleet of one: the same loop with one target that
writes ``DIR/`` itself. A fleet (a catalogue grouped by the service label)
writes ``DIR/<service>/`` for each service, ``fleet_run.json`` and the fleet
summary; its targets are fetched in batches, one request per metric and
batch (docs/contract.md §2).

A catch-up run (``--catch-up``, for a scheduler) stops after the catch-up:
it writes the closed days, the current day as partial and the week so far,
and returns (:meth:`Run.catch_up`); run every hour, it ends with the folder
one run leaves.

Time comes from a :class:`Clock` so tests can drive a week-long live run in
seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from stabmon import store
from stabmon.collect.check import WITHHOLD_CODES, Finding, check_target, withheld_metrics
from stabmon.collect.collector import Collector
from stabmon.collect.prom import ConnectionSettings, PrometheusClient, public_url
from stabmon.collect.queries import SNAPSHOT_QUERIES, QueryCatalogue
from stabmon.collect.targets import MAX_REGEX_CHARS, batch_services, discover_services, select_shard
from stabmon.core.anomaly import AnomalyDetector
from stabmon.core.errors import InputError, PrometheusError, StoreError
from stabmon.core.fleet_summary import build_fleet_summary, failed_entry, fleet_entry
from stabmon.core.model import Baseline, Snapshot, Window, format_time, parse_time
from stabmon.core.settings import DEFAULT_SETTINGS
from stabmon.store.fleet import load_fleet_baselines, read_fleet_run, write_fleet_run, write_fleet_summary
from stabmon.store.lock import run_lock
from stabmon.store.cluster import cluster_engine
from stabmon.store.work import Engine, TargetResult, TargetWork, default_jobs, local_engine

log = logging.getLogger(__name__)

#: Snapshots newer than this are taken with instant queries even when
#: catching up: VictoriaMetrics replaces range points within its
#: ``-search.latencyOffset`` (30 s) of now with the previous value, and fresh
#: samples may still be on their way into any TSDB.
RANGE_HORIZON_SECONDS = 60.0
#: The longest wait after ``t_k`` before it is queried (see :func:`default_settle`).
MAX_SETTLE_SECONDS = 2.0


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


# --------------------------------------------------------------------------- options and outcome


@dataclass
class RunOptions:
    """Everything a run needs, resolved from the command line.

    One target (``catalogue.label is None``): ``service``/``selector`` name
    it, ``baseline`` is its baseline, the run writes ``out_dir`` itself.
    A fleet (``catalogue.label`` set): ``services`` lists the targets
    (``None``: every service with data in the window), ``baseline_path`` is
    one baseline file for all or a folder of ``<service>.json``, ``shard``
    keeps part I of N. ``catch_up``: collect what has passed and return
    (docs/contract.md §1); ``release``: the ``run.json`` release record (§4.2).
    ``scheduler``: the Dask scheduler that runs each target's work
    (``"local"``: a LocalCluster; ``None``: local processes, ``jobs`` of them).
    """

    out_dir: Path
    window: Window
    catalogue: QueryCatalogue
    connection: ConnectionSettings
    baseline: Baseline | None = None
    service: str | None = None
    selector: str | None = None
    services: list[str] | None = None
    baseline_path: Path | None = None
    shard: tuple[int, int] | None = None
    settings: Any = None
    settle_seconds: float | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    progress: bool | None = None
    jobs: int | None = None
    max_regex_chars: int = MAX_REGEX_CHARS
    catch_up: bool = False
    release: dict[str, str | None] | None = None
    scheduler: str | None = None

    @property
    def fleet(self) -> bool:
        """Whether the run judges many services (grouped queries, a folder per service)."""
        return self.catalogue.label is not None


@dataclass
class RunOutcome:
    """What a run did."""

    exit_code: int
    services: list[str] = field(default_factory=list)
    collected: int = 0
    resumed: int = 0
    requests: int = 0
    days_closed: list[int] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    interrupted: bool = False
    window_complete: bool = True
    nothing_passed: bool = False


@dataclass
class Target:
    """One judged target: its name (the service, or ``""`` for a bare selector), folder and baseline."""

    name: str
    folder: Path
    baseline: Baseline | None = None


def run_info(options: RunOptions, target: Target | None = None) -> dict[str, Any]:
    """The ``run.json`` of a target: window, target (no credentials), baseline, the queries that read it."""
    if target is None or not options.fleet:
        catalogue, service = options.catalogue, options.service
        baseline = options.baseline
    else:
        catalogue = options.catalogue.for_target(target.name)
        # A fleet service's run.json is what a single run of that service writes.
        plain = options.catalogue.label == "service" and not options.catalogue.selector
        service, baseline = (target.name if plain else None), target.baseline
    return {
        "window": options.window.to_dict(),
        "service": service,
        "selector": catalogue.selector or None,
        "source": "prometheus",
        "prometheus_url": public_url(options.connection.url),
        "baseline": baseline.to_dict() if baseline is not None else None,
        "preset": catalogue.preset,
        "queries": catalogue.snapshot_expressions(),
        "release": options.release,
    }


def fleet_run_info(options: RunOptions, services: list[str]) -> dict[str, Any]:
    """The ``fleet_run.json`` document: window, service label, services, shard, grouped queries."""
    return {
        "window": options.window.to_dict(),
        "service_label": options.catalogue.label,
        "selector": options.catalogue.selector or None,
        "all_services": options.services is None,
        "shard": {"index": options.shard[0], "count": options.shard[1]} if options.shard else None,
        "services": [{"service": s, "folder": store.service_folder(s)} for s in services],
        "source": "prometheus",
        "prometheus_url": public_url(options.connection.url),
        "baseline": str(options.baseline_path) if options.baseline_path else None,
        "preset": options.catalogue.preset,
        "queries": options.catalogue.templates,
        "release": options.release,
    }


def check_resume(options: RunOptions) -> None:
    """Refuse to resume a folder that holds a different run (another window, target, label or shard).

    Raises
    ------
    InputError
        Naming ``--output`` and what differs.
    """
    out_dir = options.out_dir
    recorded_info = read_fleet_run(out_dir) if options.fleet else (
        store.read_run_info(out_dir) if (out_dir / store.RUN_FILE).exists() else None)
    if recorded_info is None:
        return
    recorded = store.window_from_run_info(recorded_info)
    if recorded.to_dict() != options.window.to_dict():
        raise InputError(
            f"--output {out_dir} holds a {'fleet ' if options.fleet else ''}run over a different window "
            f"({format_time(recorded.start)}, {recorded.duration_hours:g} h every "
            f"{recorded.interval_minutes:g} min); use another --output or the same --start/--duration/--interval"
        )
    # A run.json written before presets read prometheus,cadvisor.
    recorded_preset = recorded_info.get("preset") or "prometheus,cadvisor"
    if recorded_preset != options.catalogue.preset:
        raise InputError(f"--output {out_dir} holds a run with --preset {recorded_preset}; use another --output "
                         "or the same --preset")
    if not options.fleet:
        if (recorded_info.get("selector") or "") != options.catalogue.selector:
            raise InputError(f"--output {out_dir} holds a run for another selector "
                             f"({recorded_info.get('selector') or 'none'}); use another --output")
        return
    if recorded_info.get("service_label") != options.catalogue.label:
        raise InputError(f"--output {out_dir} holds a fleet run on label "
                         f"{recorded_info.get('service_label')!r}; use another --output")
    wanted = {"index": options.shard[0], "count": options.shard[1]} if options.shard else None
    if recorded_info.get("shard") != wanted:
        raise InputError(f"--output {out_dir} holds another shard ({recorded_info.get('shard')}); "
                         "give each shard its own --output")


# --------------------------------------------------------------------------- the loop


class Run:
    """The monitor loop over one window and its targets, against one server.

    Parameters
    ----------
    options
        The resolved run options.
    targets
        The targets to judge (one for a single-service run).
    clock
        Time source; :class:`SystemClock` when omitted.
    client
        A ready client (tests); built from ``options.connection`` when omitted.
    """

    def __init__(self, options: RunOptions, targets: list[Target], *, clock: Clock | None = None,
                 client: PrometheusClient | None = None) -> None:
        self.options = options
        self.window = options.window
        self.targets = {t.name: t for t in targets}
        self.names = [t.name for t in targets]
        self.clock = clock or SystemClock()
        self.client = client or PrometheusClient(options.connection, timeout=options.timeout,
                                                 retries=options.retries, backoff=options.backoff)
        baselines = {t.name: t.baseline for t in targets}
        self.collector = Collector(self.client, options.catalogue, self.window, baselines)
        self.batches = batch_services(self.names, options.max_regex_chars) if options.fleet else [self.names]
        interval_s = self.window.interval_minutes * 60.0
        self.settle = default_settle(interval_s) if options.settle_seconds is None else options.settle_seconds
        self.jobs = options.jobs or default_jobs()
        self.outcome = RunOutcome(exit_code=0, services=list(self.names))
        self.entries: dict[str, dict[str, Any]] = {}
        #: Where each step's per-target work runs: local processes, or a Dask cluster's tasks.
        self.engine: Engine = local_engine(self.jobs)
        #: Targets whose work failed in this run, and why (named in the fleet summary).
        self.failures: dict[str, str] = {}
        self._detectors: dict[str, AnomalyDetector] = {}
        #: Called with ``(days_closed_now, window_over)`` after each step that closed days
        #: (``monitor --report`` renders the days' notebooks then).
        self.on_close: Callable[[list[int], bool], None] | None = None

    # -- pieces --------------------------------------------------------------

    def _due(self, k: int) -> datetime:
        return self.window.time_of(k) + timedelta(seconds=self.settle)

    def _day_due(self, day: int) -> datetime:
        return self.window.day_bounds(day)[1] + timedelta(seconds=self.settle)

    def _work(self, name: str, **kw: Any) -> TargetWork:
        target = self.targets[name]
        return TargetWork(service=name, folder=target.folder, window=self.window, baseline=target.baseline,
                          settings=self.options.settings, **kw)

    @contextlib.contextmanager
    def _progress(self, total: int, desc: str) -> Iterator[Any]:
        enabled = self.options.progress
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            yield None
            return
        from tqdm import tqdm  # only on a terminal: keeps the command's start-up short

        bar = tqdm(total=total, desc=desc, unit="query", file=sys.stderr, leave=False)
        try:
            yield bar
        finally:
            bar.close()

    def _observe_anomalies(self, name: str, snapshot: Snapshot) -> None:
        """Append the anomalies a live snapshot reveals to the target's ``anomalies.jsonl`` as found.

        The detector is primed once: first from the baseline window's
        snapshots (so detection starts at the run's first snapshot, as the
        summary rebuild's does), then from the run's snapshots already on disk.
        Each event is one ``O_APPEND`` write; a torn last line from a killed
        run is skipped by readers, and every summary rebuild rewrites the file whole.
        """
        folder = self.targets[name].folder
        detector = self._detectors.get(name)
        if detector is None:
            detector = self._detectors[name] = AnomalyDetector(self.window)
            earlier = [s for s in store.read_snapshots(folder).snapshots if s.timestamp < snapshot.timestamp]
            first = earlier[0].timestamp if earlier else snapshot.timestamp
            detector.prime(s for s in store.read_snapshots(folder, baseline_window=True).snapshots
                           if s.timestamp < first)
            for run_snapshot in earlier:
                detector.observe(run_snapshot)
        last = detector.last_timestamp
        if last is not None and snapshot.timestamp <= last:
            return
        lines = "".join(store.dumps_line(event.to_dict()) for event in detector.observe(snapshot))
        if lines:
            store.append_text(folder / store.ANOMALIES_FILE, lines)

    def collect_baseline_windows(self) -> None:
        """Collect each target's baseline window into its ``baseline_raw/`` (once).

        The statistical comparison (Mann-Whitney per day and metric) needs the
        baseline window's distribution, not only its averages. Skipped for a
        target whose baseline records no window, or whose folder already holds
        its snapshots; targets whose baselines record the same window share
        the queries.
        """
        groups: dict[tuple[str, str], list[str]] = {}
        for name, target in self.targets.items():
            recorded = (target.baseline.window or {}) if target.baseline is not None else {}
            if not recorded.get("start") or not recorded.get("end"):
                continue
            if store.read_snapshots(target.folder, baseline_window=True).snapshots:
                continue
            groups.setdefault((str(recorded["start"]), str(recorded["end"])), []).append(name)
        for (first, last), names in groups.items():
            try:
                start, end = parse_time(first), parse_time(last)
            except ValueError:
                log.warning("baseline window %s .. %s is not a pair of ISO times: no statistical comparison",
                            first, last)
                continue
            hours = (end - start).total_seconds() / 3600.0
            if hours <= 0 or end > self.clock.now():
                log.warning("baseline window %s .. %s is empty or not over: no statistical comparison", first, last)
                continue
            window = Window(start=start, duration_hours=hours, interval_minutes=self.window.interval_minutes)
            collector = Collector(self.client, self.options.catalogue, window, {})
            batches = batch_services(names, self.options.max_regex_chars) if self.options.fleet else [names]
            for batch in batches:
                got = collector.range_snapshots(list(range(window.snapshot_count)), batch, strict=True)
                works = [self._work(n, baseline_snapshots=[got[n][k] for k in sorted(got[n])]) for n in batch]
                self._run_works(works)
            log.info("baseline window %s .. %s: %d snapshots collected for the statistical comparison%s",
                     first, last, window.snapshot_count,
                     f" of {len(names)} services" if self.options.fleet else "")

    def _collect(self, batch: list[str], due: list[int], now: datetime, *,
                 initial: bool) -> dict[str, dict[int, Snapshot]]:
        horizon = now - timedelta(seconds=RANGE_HORIZON_SECONDS)
        old = [k for k in due if self.window.time_of(k) <= horizon]
        recent = [k for k in due if self.window.time_of(k) > horizon]
        snaps: dict[str, dict[int, Snapshot]] = {n: {} for n in batch}
        if old:
            with self._progress(len(SNAPSHOT_QUERIES), "catching up") as bar:
                got = self.collector.range_snapshots(old, batch, strict=initial,
                                                     on_query=(lambda: bar.update(1)) if bar is not None else None)
            for name, by_k in got.items():
                snaps[name].update(by_k)
        for k in recent:
            for name, snapshot in self.collector.instant_snapshots(k, batch, strict=initial).items():
                snaps[name][k] = snapshot
        return snaps

    def _step(self, due: list[int], ended: list[int], on_disk: dict[str, set[int]], *, initial: bool,
              final: bool, now: datetime) -> None:
        """Collect ``due`` snapshots and close the ``ended`` days, batch by batch of targets."""
        old = [k for k in due if self.window.time_of(k) <= now - timedelta(seconds=RANGE_HORIZON_SECONDS)]
        if len(old) > 1:
            log.info("catching up on %d past snapshots (%s .. %s) with range queries", len(old),
                     format_time(self.window.time_of(old[0])), format_time(self.window.time_of(old[-1])))
        for batch in self.batches:
            snaps = self._collect(batch, due, now, initial=initial) if due else {n: {} for n in batch}
            figures = self.collector.day_latency(ended, batch, strict=initial) if ended else {}
            works = []
            for name in batch:
                new = [(k, snaps[name][k]) for k in sorted(snaps[name]) if k not in on_disk[name]]
                self.outcome.collected += len(new)
                on_disk[name].update(snaps[name])
                works.append(self._work(name, snapshots=new, day_figures=figures.get(name, {}), days=list(ended),
                                        final=final))
            del snaps
            # Before the work: a day closed in this step rewrites anomalies.jsonl whole.
            for work in works:
                if len(work.snapshots) == 1:
                    self._observe_anomalies(work.service, work.snapshots[0][1])
            for name, result in zip(batch, self._run_works(works)):
                if result.empty and (ended or final):
                    log.warning("no snapshot collected%s: no summary written",
                                f" for service {name!r}" if self.options.fleet else "")
        if ended:
            self.outcome.days_closed.extend(ended)
            for d in ended:
                log.info("day %d complete: summary written", d)

    def write_partial(self) -> None:
        """Aggregate what is on disk (partial days included) for every target, then the fleet summary."""
        works = [self._work(name, final=True) for name in self.names]
        self._run_works(works)
        if self.options.fleet:
            self.write_summary()

    def _run_works(self, works: list[TargetWork]) -> list[TargetResult]:
        """Run a step's works on the run's engine, make what they wrote durable (one ``os.sync()``), note results."""
        results = self.engine(works)
        os.sync()
        for work, result in zip(works, results):
            self._note(work.service, result)
        return results

    def _note(self, name: str, result: TargetResult) -> None:
        """Keep a target's fleet entry; a failed target is named (a single target's failure ends the run).

        Raises
        ------
        StoreError
            The one target of a single-service run failed.
        """
        if result.failure is not None:
            if not self.options.fleet:
                raise StoreError(f"{self.options.out_dir}: {result.failure}")
            log.error("service %r failed: %s", name, result.failure)
            self.failures[name] = result.failure
            self.entries.pop(name, None)
        elif result.entry is not None:
            self.failures.pop(name, None)
            self.entries[name] = result.entry

    def write_summary(self) -> dict[str, Any]:
        """Write the fleet summary of what the targets' weekly summaries say (failed targets named)."""
        entries = [failed_entry(n, store.service_folder(n), self.failures[n]) if n in self.failures
                   else self.entries.get(n) or fleet_entry(n, store.service_folder(n), None) for n in self.names]
        shards = None
        if self.options.shard:
            index, count = self.options.shard
            shards = {"count": count, "merged": [index], "missing": [i for i in range(1, count + 1) if i != index]}
        summary = build_fleet_summary(entries, self.window, service_label=self.options.catalogue.label or "",
                                      shards=shards,
                                      warnings=[f"service {n!r} failed: {why}" for n, why in self.failures.items()])
        if self.options.release:
            summary["release"] = self.options.release
        write_fleet_summary(self.options.out_dir, summary)
        self.outcome.summary = summary
        return summary

    # -- the loop ------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Collect the whole window for every target (catching up first), then write the summaries.

        Raises
        ------
        PrometheusError
            Unreachable or refusing at the start, a rejected query, failed authentication.
        KeyboardInterrupt
            After the partial days have been written (the caller exits 130).
        """
        window = self.window
        on_disk = {n: store.existing_snapshot_indexes(self.targets[n].folder, window) for n in self.names}
        self.outcome.resumed = sum(len(v) for v in on_disk.values())
        pending = [k for k in range(window.snapshot_count) if any(k not in on_disk[n] for n in self.names)]
        open_days = list(range(1, window.day_count + 1))
        if self.outcome.resumed and not self.options.fleet:
            log.info("resuming: %d of %d snapshots already in %s", self.outcome.resumed, window.snapshot_count,
                     self.options.out_dir)
        try:
            self.collect_baseline_windows()
            initial = True
            slept = True
            while pending or open_days:
                now = self.clock.now()
                targets = ([self._due(pending[0])] if pending else []) + (
                    [self._day_due(open_days[0])] if open_days else [])
                wait = (min(targets) - now).total_seconds()
                if wait > 0:
                    self.clock.sleep(wait)
                    # Past the first sleep the run is live: a failing server
                    # now means missing metrics, not the end of the run.
                    slept, initial = True, False
                    continue
                if not slept and not initial:
                    log.warning("Behind schedule by %.1fs", -wait)
                due = [k for k in pending if self._due(k) <= now]
                ended = [d for d in open_days if self._day_due(d) <= now]
                pending = [k for k in pending if k not in set(due)]
                open_days = [d for d in open_days if d not in ended]
                final = not pending and not open_days
                self._step(due, ended, on_disk, initial=initial, final=final, now=now)
                if final and self.options.fleet:
                    self.write_summary()
                self._notify_closed(ended, final)
                initial = False
                slept = False
        except KeyboardInterrupt:
            self.outcome.interrupted = True
            self.outcome.exit_code = 130
            log.warning("interrupted: writing the partial days' summaries")
            self.write_partial()
            if open_days:
                # The window is not over: its weekly summary is the week so far, never a pass.
                self.write_week_so_far(window.day_count - len(open_days))
            raise
        finally:
            self.outcome.requests = self.client.request_count
        return self.outcome


    # -- catch-up: a scheduler's run ---------------------------------------------

    def catch_up(self) -> RunOutcome:
        """Collect every snapshot whose time has passed, write what is closed, and return without waiting.

        The closed days get their summaries (their merged-histogram figures
        are queried once, when first seen closed); the current day is written
        as ``partial`` and the weekly summary is the week so far
        (``window_complete: false``, never ``pass``). Once the window has
        ended, the run is exactly the end of a live run, so repeated catch-up
        runs leave the folder one run would (docs/contract.md §1).

        Raises
        ------
        PrometheusError, KeyboardInterrupt
            As :meth:`run`.
        """
        window = self.window
        now = self.clock.now()
        on_disk = {n: store.existing_snapshot_indexes(self.targets[n].folder, window) for n in self.names}
        self.outcome.resumed = sum(len(v) for v in on_disk.values())
        due = [k for k in range(window.snapshot_count)
               if self._due(k) <= now and any(k not in on_disk[n] for n in self.names)]
        closed = [d for d in range(1, window.day_count + 1) if self._day_due(d) <= now]
        final = len(closed) == window.day_count
        try:
            self.collect_baseline_windows()
            self._step(due, self._days_without_figures(closed), on_disk, initial=True, final=final, now=now)
            if final and self.options.fleet:
                self.write_summary()
            elif not final:
                self.write_week_so_far(len(closed))
        except KeyboardInterrupt:
            self.outcome.interrupted = True
            self.outcome.exit_code = 130
            log.warning("interrupted: writing the partial days' summaries")
            if final:
                self.write_partial()
            else:
                self.write_week_so_far(len(closed))
            raise
        finally:
            self.outcome.requests = self.client.request_count
        self.outcome.window_complete = final
        self.outcome.days_closed = list(closed)
        log.info("catch-up: %d snapshots collected, %d of %d days closed%s", len(due), len(closed),
                 window.day_count, "" if final else "; the current day is partial")
        self._notify_closed(closed, final)
        return self.outcome

    def _days_without_figures(self, closed: list[int]) -> list[int]:
        """The closed days some target has no merged-histogram figures for yet (queried in this step)."""
        recorded = [store.read_day_latency(self.targets[n].folder) for n in self.names]
        return [d for d in closed if any(d not in figures for figures in recorded)]

    def write_week_so_far(self, days_closed: int) -> None:
        """Write each target's closed days, its current day (partial) and the weekly summary of the week so far."""
        days = list(range(1, min(days_closed + 1, self.window.day_count) + 1))
        names = [n for n in self.names if store.existing_snapshot_indexes(self.targets[n].folder, self.window)]
        works = [self._work(name, days=days, days_closed=days_closed) for name in names]
        self._run_works(works)
        if self.options.fleet:
            self.write_summary()

    def _notify_closed(self, days: list[int], final: bool) -> None:
        if self.on_close is not None and (days or final or self.options.catch_up):
            self.on_close(list(days), final)


# --------------------------------------------------------------------------- a whole run


def choose_targets(options: RunOptions, client: PrometheusClient) -> list[Target]:
    """The run's targets: the one service, or the fleet's services (discovered, sharded) with their baselines.

    Raises
    ------
    PrometheusError
        ``--all-services`` finding no service with data.
    BaselineError
        A baseline file that exists but is not valid.
    """
    if not options.fleet:
        return [Target(name=options.service or "", folder=Path(options.out_dir), baseline=options.baseline)]
    if options.services is None:
        services = discover_services(client, options.catalogue, options.window)
        if not services:
            raise PrometheusError(f"--all-services: no value of label {options.catalogue.label!r} has "
                                  "data in the window")
    else:
        services = list(options.services)
    if options.shard:
        services = select_shard(services, *options.shard)
    if not services:
        log.warning("no service in this shard")
    baselines, warnings = load_fleet_baselines(options.baseline_path, services)
    for message in warnings:
        log.warning("%s", message)
    return [Target(name=s, folder=Path(options.out_dir) / store.service_folder(s), baseline=baselines.get(s))
            for s in services]


#: A fleet's preflight checks this many of its services (the first by name): about 15 small
#: requests each. A checked service's run.json is what a single run of it writes.
PREFLIGHT_SAMPLE = 20


def preflight(options: RunOptions, targets: list[Target], now: datetime) -> dict[str, dict[str, Any]]:
    """Each target's ``run.json`` ``preflight`` record: the findings of :func:`check_target`.

    A fleet checks a sample of :data:`PREFLIGHT_SAMPLE` services; the others
    get the findings that make figures untrustworthy (:data:`WITHHOLD_CODES`)
    when every sampled service has them. A preflight that cannot reach the
    server records why and lets the run go on: collection has its own
    start-up check. Uses its own client, so the run's request count and
    retries are the collection's alone.
    """
    at = min(now, options.window.end).replace(microsecond=0)
    sample = sorted(t.name for t in targets)[:PREFLIGHT_SAMPLE] if options.fleet else [t.name for t in targets]
    records: dict[str, dict[str, Any]] = {}
    try:
        with PrometheusClient(options.connection, timeout=min(options.timeout, 10.0), retries=1,
                              backoff=options.backoff) as client:
            for name in sample:
                catalogue = options.catalogue.for_target(name) if options.fleet else options.catalogue
                report = check_target(client, catalogue, at=at, window=options.window, target=name,
                                      settings=options.settings or DEFAULT_SETTINGS)
                records[name] = {"checked_at": format_time(at), "findings": [f.to_dict() for f in report.findings]}
                for finding in report.findings:
                    log.warning("preflight%s: %s %s [%s]: %s", f" of {name!r}" if options.fleet else "",
                                finding.severity, finding.metric, finding.code, finding.message)
    except PrometheusError as exc:
        log.warning("preflight not done (%s); collecting anyway", exc)
        return {t.name: {"checked_at": format_time(at), "findings": [], "error": str(exc)} for t in targets}
    if options.fleet:
        shared = [{**f, "message": f"in the checked sample ({', '.join(sample)}): {f['message']}"}
                  for f in records[sample[0]]["findings"]
                  if f["code"] in WITHHOLD_CODES and all(
                      any((g["metric"], g["code"]) == (f["metric"], f["code"]) for g in records[n]["findings"])
                      for n in sample)] if sample else []
        for target in targets:
            if target.name not in records:
                records[target.name] = {"checked_at": format_time(at), "findings": shared, "sampled": False}
    return records


def nothing_passed(options: RunOptions, clock: Clock) -> bool:
    """Whether a catch-up run has nothing to do yet: the window's first snapshot is still to come."""
    first_due = options.window.time_of(0) + timedelta(seconds=default_settle(options.window.interval_minutes * 60.0)
                                                      if options.settle_seconds is None else options.settle_seconds)
    return options.catch_up and clock.now() < first_due


def _engine(options: RunOptions) -> contextlib.AbstractContextManager[Engine | None]:
    """The run's Dask engine when a scheduler is asked for (connected before any query), else none."""
    if options.scheduler is None:
        return contextlib.nullcontext(None)
    return cluster_engine(options.scheduler, workers=options.jobs)


def monitor(options: RunOptions, *, clock: Clock | None = None, client: PrometheusClient | None = None,
            on_close: Callable[[list[int], bool], None] | None = None) -> RunOutcome:
    """Run ``stabmon monitor`` with resolved options: lock, run files, the loop.

    Returns the outcome; its ``exit_code`` is 130 when the run was
    interrupted (SIGINT or SIGTERM) after writing the partial days. With
    ``options.catch_up`` the run collects what has passed and returns
    (:meth:`Run.catch_up`); a window still wholly in the future touches
    nothing and returns ``nothing_passed``. ``on_close`` is called as days
    close (see :attr:`Run.on_close`).

    Raises
    ------
    StabmonError
        Expected failures (the command line prints one line and exits 1).
    """
    if nothing_passed(options, clock or SystemClock()):
        return RunOutcome(exit_code=0, nothing_passed=True, window_complete=False)
    own_client = client is None
    client = client or PrometheusClient(options.connection, timeout=options.timeout, retries=options.retries,
                                        backoff=options.backoff)
    try:
        with run_lock(options.out_dir), sigterm_as_interrupt(), _engine(options) as engine:
            check_resume(options)
            client.check()
            targets = choose_targets(options, client)
            checked = preflight(options, targets, (clock or SystemClock()).now())
            if options.fleet:
                write_fleet_run(options.out_dir, fleet_run_info(options, [t.name for t in targets]))
            for target in targets:
                # Under the lock no other run can own a temporary file: those present were left by a kill.
                store.remove_stale_temp_files(target.folder)
                store.write_run_info(target.folder, {**run_info(options, target), "preflight": checked[target.name]})
            runner = Run(options, targets, clock=clock, client=client)
            runner.on_close = on_close
            if engine is not None:
                runner.engine = engine
            # "No errors" that cannot be told from "wrong label" is recorded missing, never 0 / 100 %.
            runner.collector.withheld = {
                name: withheld_metrics(Finding.from_dict(f) for f in record["findings"])
                for name, record in checked.items()}
            try:
                outcome = runner.catch_up() if options.catch_up else runner.run()
            except KeyboardInterrupt:
                return runner.outcome
    finally:
        if own_client:
            client.close()
    log.info("%s: %d snapshots collected (%d already on disk) with %d requests",
             f"fleet of {len(targets)} services" if options.fleet else str(options.out_dir),
             outcome.collected, outcome.resumed, outcome.requests)
    return outcome
