"""Query answers turned into snapshots, for one target or a batch of many.

One collection path serves every mode (docs/contract.md §1). For snapshot
times ``t_k`` that have passed, each metric is one range query (per
11,000-point chunk) with ``step = interval`` aligned to ``t_k``; a ``t_k``
still to come is taken with instant queries when its time arrives. Both
evaluate the same expressions at the same times, so they give the same
snapshot.

A grouped catalogue (a fleet) fetches a batch of targets in each request and
routes every answer series to its target by the target label; an ungrouped
catalogue has one target, which owns every series.

Every query goes through :mod:`stabmon.collect.limits`: one the server
refuses for its sample or time limit is split (fewer services, shorter
ranges) and its pieces merged into the same answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable, Mapping, Sequence

from stabmon.collect.limits import Expression, fetch_instant, fetch_range
from stabmon.collect.prom import PrometheusClient, QueryTimeoutError, Series, UnreachableError
from stabmon.collect.queries import DAY_QUERIES, SNAPSHOT_QUERIES, QueryCatalogue
from stabmon.core.drift import compute_drift
from stabmon.core.errors import QueryError
from stabmon.core.model import Alert, Baseline, Snapshot, Window, format_time

log = logging.getLogger(__name__)

#: The day figures and the snapshot field each one fills.
DAY_LATENCY_FIELDS = {"day_p95_latency_ms": "p95_latency_ms", "day_p99_latency_ms": "p99_latency_ms"}
_DAY_SECONDS = 86400.0
_SHOWN_EXPRESSION = 400

Values = dict[str, float | None]


def _reject(name: str, expr: str, exc: QueryError) -> QueryError:
    shown = expr if len(expr) <= _SHOWN_EXPRESSION else expr[:_SHOWN_EXPRESSION] + "..."
    return QueryError(f"query for {name} rejected by Prometheus: {exc}; expression: {shown}")


def contiguous(days: Sequence[int]) -> list[list[int]]:
    """Runs of consecutive day numbers (each run shares one range query)."""
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


class Collector:
    """Snapshots and day figures of a batch of targets over one window.

    Parameters
    ----------
    client
        The Prometheus client (one server or any compatible front end).
    catalogue
        The run's expressions; grouped by ``catalogue.label`` for a fleet.
    window
        The run's window (snapshot times).
    baselines
        Target -> baseline for drift (``None`` or absent: no drift for it).
    withheld
        Target -> metric -> reason: figures the preflight found cannot be
        trusted (the error label is not on the request series, so a 0 could
        be "no errors" or "wrong label"); they are recorded missing with the
        reason whatever the server answers.
    """

    def __init__(self, client: PrometheusClient, catalogue: QueryCatalogue, window: Window,
                 baselines: Mapping[str, Baseline | None] | None = None,
                 withheld: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.client = client
        self.catalogue = catalogue
        self.window = window
        self.baselines = dict(baselines or {})
        self.withheld = {t: dict(m) for t, m in (withheld or {}).items()}
        self._missing_warned: set[str] = set()
        self._drift_warned: set[str] = set()

    @property
    def interval_seconds(self) -> float:
        return self.window.interval_minutes * 60.0

    # -- routing -------------------------------------------------------------

    def _route(self, series: list[Series], targets: Sequence[str]) -> dict[str, list[Series]]:
        """Each target's series: by the target label, or all of them for a lone target."""
        label = self.catalogue.label
        if label is None:
            return {targets[0]: series} if series else {}
        wanted = set(targets)
        routed: dict[str, list[Series]] = {}
        for item in series:
            name = item.labels.get(label)
            if name in wanted:
                routed.setdefault(name, []).append(item)
        return routed

    def _one(self, name: str, expr: str, target: str, series: list[Series]) -> Series:
        if len(series) > 1:
            shown = "; ".join(
                "{" + ",".join(f"{k}={v!r}" for k, v in sorted(s.labels.items())) + "}" for s in series[:3]
            )
            more = f" and {len(series) - 3} more" if len(series) > 3 else ""
            whose = f" for service {target!r}" if self.catalogue.label else ""
            raise QueryError(
                f"query for {name} returned {len(series)} series{whose} where one is expected "
                f"(aggregate it, e.g. with sum()): {shown}{more}; expression: {expr[:_SHOWN_EXPRESSION]}"
            )
        return series[0]

    def _finish(self, target: str, ts: datetime, values: Values, alerts: list[Alert] | None,
                reasons: dict[str, str]) -> Snapshot:
        if alerts is not None:
            alerts.sort(key=lambda a: a.identity)
        withheld = self.withheld.get(target) or {}
        if withheld:
            values = {**values, **dict.fromkeys(withheld)}
            reasons = {**reasons, **withheld}
        snapshot = Snapshot(timestamp=ts, values=values, alerts=alerts, missing_reasons=dict(reasons))
        for name in snapshot.missing:
            if name in reasons or name == "alerts" or name in self._missing_warned:
                continue
            self._missing_warned.add(name)
            whose = f" for service {target!r}" if self.catalogue.label else ""
            log.warning("%s: no data%s at %s (recorded as missing; further gaps of this metric are not "
                        "logged); expression: %s", name, whose, format_time(ts),
                        self.catalogue.expression(name, [target])[:_SHOWN_EXPRESSION])
        baseline = self.baselines.get(target)
        if baseline is not None:
            drift, warnings = compute_drift(snapshot.values, baseline)
            snapshot.drift_percent = drift
            for message in warnings:
                key = f"{target}: {message}" if self.catalogue.label else message
                if key not in self._drift_warned:
                    self._drift_warned.add(key)
                    log.warning("%s", key)
        return snapshot

    def _ask(self, name: str, expr: str, ask: Callable[[], list[Series]], *, strict: bool) -> list[Series] | str:
        """One query's series, or (not ``strict``) why the server could not be reached.

        A query the server rejects is always an error: it would fail the same
        way at every snapshot. So is one refused for the server's limits even
        when split to one target at one time, except a time-out when not
        ``strict``: the server is busy, like one that cannot be reached.
        """
        try:
            return ask()
        except QueryTimeoutError as exc:
            if strict:
                raise _reject(name, exc.expression or expr, exc) from None
            return str(exc)
        except QueryError as exc:
            raise _reject(name, getattr(exc, "expression", None) or expr, exc) from None
        except UnreachableError as exc:
            if strict:
                raise
            return str(exc)

    def _expression(self, name: str, *, day_seconds: float = _DAY_SECONDS) -> Expression:
        """Query ``name`` for any batch of targets (a piece of a split query asks for a part of the batch)."""
        return lambda batch: self.catalogue.expression(name, batch, day_seconds=day_seconds)

    def _range(self, name: str, targets: Sequence[str], start: datetime, end: datetime, step: float, *,
               day_seconds: float = _DAY_SECONDS) -> list[Series]:
        return fetch_range(self.client, name, self._expression(name, day_seconds=day_seconds), targets,
                           start, end, step, grouped=self.catalogue.label is not None)

    def _instant(self, name: str, targets: Sequence[str], at: datetime, *, step_seconds: float | None = None,
                 day_seconds: float = _DAY_SECONDS) -> list[Series]:
        return fetch_instant(self.client, name, self._expression(name, day_seconds=day_seconds), targets, at,
                             grouped=self.catalogue.label is not None, step_seconds=step_seconds)

    # -- snapshots -----------------------------------------------------------

    def range_snapshots(self, ks: Sequence[int], targets: Sequence[str], *, strict: bool = True,
                        on_query: Callable[[], None] | None = None) -> dict[str, dict[int, Snapshot]]:
        """Snapshots ``ks`` of a batch of targets from one range query per metric and time chunk.

        Parameters
        ----------
        strict
            When the server cannot be reached: raise (``True``, the start of a
            run) or return the snapshots with every metric missing and the
            reason (``False``, the middle of a live run).
        on_query
            Called after each query (a progress bar).
        """
        if not ks or not targets:
            return {}
        wanted = sorted(set(ks))
        start, end = self.window.time_of(wanted[0]), self.window.time_of(wanted[-1])
        values: dict[str, dict[int, Values]] = {t: {k: {} for k in wanted} for t in targets}
        alerts: dict[str, dict[int, list[Alert] | None]] = {t: {k: [] for k in wanted} for t in targets}
        reasons: dict[str, str] = {}
        for name in SNAPSHOT_QUERIES:
            expr = self.catalogue.expression(name, targets)
            series = self._ask(name, expr, lambda: self._range(name, targets, start, end, self.interval_seconds),
                               strict=strict)
            if on_query is not None:
                on_query()
            if isinstance(series, str):
                reasons[name] = series
                if name == "alerts":
                    alerts = {t: dict.fromkeys(wanted, None) for t in targets}
                continue
            for target, items in self._route(series, targets).items():
                if name == "alerts":
                    for item in items:
                        alert = Alert.from_labels(item.labels)
                        for ts, value in item.points:
                            k = self.window.index_of_epoch(ts)
                            slot = alerts[target].get(k) if k is not None else None
                            if value is not None and slot is not None:
                                slot.append(alert)
                    continue
                per_k = values[target]
                for ts, value in self._one(name, expr, target, items).points:
                    k = self.window.index_of_epoch(ts)
                    if k in per_k:
                        per_k[k][name] = value
        return {
            t: {k: self._finish(t, self.window.time_of(k), values[t][k], alerts[t][k], reasons) for k in wanted}
            for t in targets
        }

    def instant_snapshots(self, k: int, targets: Sequence[str], *, strict: bool = False) -> dict[str, Snapshot]:
        """Snapshot ``k`` of a batch of targets from instant queries evaluated at ``t_k`` (live runs).

        When the server cannot be reached, the metrics not yet fetched are
        recorded missing with the reason (or the error is raised when
        ``strict``); the queries left are skipped rather than each waiting
        through its own retries.
        """
        ts = self.window.time_of(k)
        values: dict[str, Values] = {t: {} for t in targets}
        alerts: dict[str, list[Alert] | None] = {t: [] for t in targets}
        reasons: dict[str, str] = {}
        down: str | None = None
        for name in SNAPSHOT_QUERIES:
            if down is not None:
                reasons[name] = down
                if name == "alerts":
                    alerts = dict.fromkeys(targets, None)
                continue
            expr = self.catalogue.expression(name, targets)
            series = self._ask(name, expr, lambda: self._instant(name, targets, ts, step_seconds=self.interval_seconds),
                               strict=strict)
            if isinstance(series, str):
                down = reasons[name] = series
                if name == "alerts":
                    alerts = dict.fromkeys(targets, None)
                continue
            for target, items in self._route(series, targets).items():
                if name == "alerts":
                    alerts[target] = [Alert.from_labels(i.labels) for i in items
                                      if i.points and i.points[-1][1] is not None]
                    continue
                only = self._one(name, expr, target, items)
                values[target][name] = only.points[-1][1] if only.points else None
        if down is not None:
            log.warning("snapshot %s: %s; metrics recorded as missing", format_time(ts), down)
        return {t: self._finish(t, ts, values[t], alerts[t], reasons) for t in targets}

    # -- day figures ---------------------------------------------------------

    def _day_length(self, day: int) -> float:
        begin, end = self.window.day_bounds(day)
        return (end - begin).total_seconds()

    def day_latency(self, days: Sequence[int], targets: Sequence[str], *,
                    strict: bool = True) -> dict[str, dict[int, Values]]:
        """Each target's day p95/p99 (ms) from the day's merged histogram buckets, at the day's end.

        Whole days share one range query per quantile (step 24 h); a shorter
        last day gets one instant query with a window of its length.
        """
        result: dict[str, dict[int, Values]] = {t: {d: {} for d in days} for t in targets}
        full = [d for d in days if self._day_length(d) == _DAY_SECONDS]
        partial = [d for d in days if d not in full]
        for query in DAY_QUERIES:
            field_name = DAY_LATENCY_FIELDS[query]
            for run in contiguous(full):
                expr = self.catalogue.expression(query, targets, day_seconds=_DAY_SECONDS)
                start, end = self.window.day_bounds(run[0])[1], self.window.day_bounds(run[-1])[1]
                series = self._ask(query, expr, lambda: self._range(query, targets, start, end, _DAY_SECONDS),
                                   strict=strict)
                if isinstance(series, str):
                    log.warning("day figures of days %s not available: %s", run, series)
                    continue
                for target, items in self._route(series, targets).items():
                    points = {round(ts): v for ts, v in self._one(query, expr, target, items).points}
                    for d in run:
                        result[target][d][field_name] = points.get(round(self.window.day_bounds(d)[1].timestamp()))
            for d in partial:
                length = self._day_length(d)
                expr = self.catalogue.expression(query, targets, day_seconds=length)
                at = self.window.day_bounds(d)[1]
                series = self._ask(query, expr, lambda: self._instant(query, targets, at, day_seconds=length),
                                   strict=strict)
                if isinstance(series, str):
                    log.warning("day figures of day %d not available: %s", d, series)
                    continue
                for target, items in self._route(series, targets).items():
                    only = self._one(query, expr, target, items)
                    result[target][d][field_name] = only.points[-1][1] if only.points else None
        return {t: {d: {f: result[t][d].get(f) for f in DAY_LATENCY_FIELDS.values()} for d in days}
                for t in targets}
