"""Anomaly detection on the snapshot series: EWMA, z-scores and excursions.

Pure logic, no I/O: snapshots in, :class:`AnomalyEvent` objects out. The file
store appends ``event.to_dict()`` to ``anomalies.jsonl`` (docs/contract.md §4).

How it works, per metric:

1. An exponentially weighted moving average keeps a mean ``m`` and a variance
   ``v`` (West / Finch incremental form)::

       diff = x - m
       m   <- m + alpha * diff
       v   <- (1 - alpha) * (v + alpha * diff * diff)

   The first value seeds ``m = x, v = 0``. Every value is folded in, including
   anomalous ones, so a sustained shift is absorbed by the average (that is
   what makes a level shift *stop* looking anomalous after a few snapshots).
2. Each new value is scored *before* it is folded in:
   ``z = (x - m) / sd`` with ``sd = max(sqrt(v), min_sigma_relative * |m|,
   min_sigma_absolute)``. The sigma floor keeps ``z`` finite on a perfectly flat
   series.
3. A value opens an *excursion* when ``|z| >= z_low`` **and** the change
   ``|x - m|`` clears the metric's floor of practical significance
   (:meth:`AnomalySettings.floor`). A z-score alone flags noise on a quiet
   series; the floor is what keeps a healthy week free of medium and high
   events.
4. The excursion is then followed against the reference frozen when it opened
   (the EWMA mean and sd just before its first value), so its own values never
   mask it. It goes on while values stay on the same side with
   ``|x - ref| >= z_continue * ref_sd`` and at least ``continue_floor_fraction``
   of the floor (hysteresis, so a noisy shift does not flicker in and out).
5. Classification, one event per excursion:

   * it lasts ``level_shift_snapshots`` snapshots and its new level (the
     median of those values) is itself significant (``|z| >= z_low`` and above
     the floor): a ``level_shift``, reported once, as soon as that length is
     reached. The event is stamped at the excursion's first snapshot;
     ``value`` is the new level and ``z_score`` is that level against the
     reference.
     Until the running ``|z|`` has fallen under ``z_settle`` (the EWMA has
     absorbed the shift), a same-direction value is measured from the new
     level instead of the lagging average, so one shift is never reported
     twice while a second step on top of it still is.
   * otherwise: a ``spike`` (up) or ``drop`` (down), reported when the
     series comes back (one snapshot later, or at :meth:`AnomalyDetector.flush`
     for an excursion still open at the end of the data). The event is the
     excursion's peak: its time, value and z against the reference.

   * an excursion and its return are one *episode* (:class:`AnomalyEvent`):
     a level shift stays open while values stay out of normal against the
     level before it; the first value back is a ``recovery`` line of the same
     episode (never counted), and the average's lag after the shift is not
     read as a second anomaly. Counts are of episodes.

6. Severity from ``|z_score|``: low >= 2.0, medium >= 2.5, high >= 3.0.
7. Confidence in 0..1: the two-sided gaussian coverage of ``|z|``
   (``erf(|z|/sqrt 2)``, the seed's 95 / 98.8 / 99.7 %) scaled by persistence:
   ``coverage * (0.5 + 0.5 * min(1, duration / level_shift_snapshots))``. A
   one-snapshot blip at z = 3 scores 0.62, a confirmed level shift scores its
   full coverage.

Missing values (``None``) are skipped: they neither update the average nor
count towards warm-up or an excursion's length, and they are never read as 0.
The warm-up trains on the baseline window first when there is one
(:meth:`AnomalyDetector.prime`); otherwise the snapshots it leaves unchecked
are named (:attr:`Detection.unchecked`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from stabmon.core.errors import InputError
from stabmon.core.model import METRIC_FIELDS, Snapshot, Window, format_time, parse_time

ANOMALY_SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
ANOMALY_TYPES: tuple[str, ...] = ("spike", "drop", "level_shift")

#: Metrics analysed by default. ``availability`` is left out because it is
#: exactly ``100 - error_rate`` (docs/contract.md §2): its z-scores are the mirror
#: image of the error rate's and every incident would be reported twice.
#: ``errors`` is left out because it is the error rate times the traffic, so it
#: follows the diurnal cycle and adds nothing the error rate does not say.
#: ``requests`` stays in: a sudden loss or surge of traffic is a golden signal.
DEFAULT_ANOMALY_METRICS: tuple[str, ...] = (
    "error_rate",
    "requests",
    "p95_latency_ms",
    "p99_latency_ms",
    "cpu_percent",
    "memory_percent",
)

#: Metrics whose floor is (also) an absolute change in percentage points.
POINT_METRICS: tuple[str, ...] = ("error_rate", "availability")

#: Minimum relative change ``|x - expected| / |expected|`` for an anomaly.
#: These floors make anomalies *abrupt and large*; smaller, sustained moves are
#: the job of drift (10 % against the baseline) and of the Mann-Whitney day
#: comparison (:mod:`stabmon.compare`). Latency: a percentile over a 30-minute
#: window jitters by 5-10 %, so p95 must move by 40 % and the noisier p99 by
#: 50 % (300 -> 450 ms) to count. CPU and requests follow the diurnal cycle and
#: an EWMA lags a steep morning ramp by ~20-25 % of the level, so only a change
#: by half counts (traffic halved, CPU from 40 to 60 % of its limit). Memory is
#: a slow gauge: 30 %. Error rate: 50 % on top of the absolute floor in points
#: (:attr:`AnomalySettings.min_error_rate_points`), so a service that already
#: runs at 2 % errors needs a real move. Availability: relative change is
#: meaningless (99.9 vs 99.0 is 0.9 %), only the points floor applies.
DEFAULT_MIN_RELATIVE_CHANGE: Mapping[str, float] = MappingProxyType({
    "availability": 0.0,
    "error_rate": 0.5,
    "requests": 0.5,
    "errors": 1.0,
    "p95_latency_ms": 0.4,
    "p99_latency_ms": 0.5,
    "cpu_percent": 0.5,
    "memory_percent": 0.3,
})


@dataclass(frozen=True)
class AnomalySettings:
    """Thresholds of the anomaly detector (the seed's z thresholds as defaults).

    Parameters
    ----------
    alpha : float
        EWMA smoothing factor per snapshot, in (0, 1]. 0.3 gives the last ~6
        snapshots (3 h at 30 min) most of the weight: fast enough to follow
        the diurnal ramp of traffic and CPU (at 0.2 the lag of the morning ramp
        alone crossed the floors in simulated healthy weeks), slow enough that
        a single outlier moves the average by less than a third.
    warmup : int
        The first ``warmup`` observed values of each metric only train the
        EWMA and raise nothing (12 = 6 h at 30 min, about two EWMA lifetimes).
    z_low, z_medium, z_high : float
        Severity thresholds on ``|z|`` (seed: 2.0 / 2.5 / 3.0).
    min_relative_change : Mapping[str, float]
        Floor of practical significance per metric, as a fraction of the
        expected value (0.3 = 30 %). Metrics not listed have no relative floor.
    min_error_rate_points : float
        Absolute floor, in percentage points, for ``error_rate`` and
        ``availability``. 0.2 points is twice the whole error-budget rate of a
        99.9 % SLO (a 30-minute burn rate of 2 or more). At 0.1 the Poisson
        noise of a low-traffic service (3 errors expected per 30 minutes at
        6,000 requests) crosses the floor about once a week.
    level_shift_snapshots : int
        An excursion this long (in observed snapshots) is a level shift.
    z_continue : float
        An open excursion goes on while ``|x - ref| >= z_continue * ref_sd``.
    continue_floor_fraction : float
        ... and while the change is at least this fraction of the floor.
    z_settle : float
        After a level shift, same-direction excursions wait until the running
        ``|z|`` is below this.
    min_sigma_relative, min_sigma_absolute : float
        Floor of the standard deviation used in ``z`` (relative to ``|m|`` and
        absolute), so ``z`` stays finite on a flat series.
    metrics : tuple of str
        Metrics analysed (see :data:`DEFAULT_ANOMALY_METRICS`).
    """

    alpha: float = 0.3
    warmup: int = 12
    z_low: float = 2.0
    z_medium: float = 2.5
    z_high: float = 3.0
    min_relative_change: Mapping[str, float] = field(default_factory=lambda: DEFAULT_MIN_RELATIVE_CHANGE)
    min_error_rate_points: float = 0.2
    level_shift_snapshots: int = 4
    z_continue: float = 1.0
    continue_floor_fraction: float = 0.5
    z_settle: float = 1.0
    min_sigma_relative: float = 0.001
    min_sigma_absolute: float = 1e-6
    metrics: tuple[str, ...] = DEFAULT_ANOMALY_METRICS

    def __post_init__(self) -> None:
        # Frozen means frozen: keep a read-only copy of the floors.
        object.__setattr__(self, "min_relative_change", MappingProxyType(dict(self.min_relative_change)))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if not 0.0 < self.alpha <= 1.0:
            raise InputError(f"anomaly alpha must be in (0, 1], got {self.alpha!r}")
        if self.warmup < 0:
            raise InputError(f"anomaly warmup must be >= 0, got {self.warmup!r}")
        if not 0.0 < self.z_low <= self.z_medium <= self.z_high:
            raise InputError("anomaly z thresholds must satisfy 0 < z_low <= z_medium <= z_high")
        if self.level_shift_snapshots < 2:
            raise InputError("level_shift_snapshots must be >= 2")
        unknown = [m for m in self.metrics if m not in METRIC_FIELDS]
        if unknown:
            raise InputError(f"unknown anomaly metric(s): {', '.join(unknown)}")
        if any(v < 0 for v in self.min_relative_change.values()) or self.min_error_rate_points < 0:
            raise InputError("anomaly floors must be >= 0")

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any] | None) -> "AnomalySettings":
        """Build settings from defaults and a mapping of overrides.

        ``min_relative_change`` given as a mapping is merged into the default
        floors (so one metric can be changed alone).

        Raises
        ------
        InputError
            When a key is unknown or a value has the wrong type.
        """
        if not overrides:
            return cls()
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise InputError(f"unknown anomaly setting {key!r}")
            if key == "min_relative_change":
                if not isinstance(value, Mapping):
                    raise InputError("min_relative_change must be a mapping metric -> fraction")
                merged = dict(DEFAULT_MIN_RELATIVE_CHANGE)
                merged.update({str(k): float(v) for k, v in value.items()})
                values[key] = merged
            elif key == "metrics":
                values[key] = tuple(str(m) for m in value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"anomaly setting {key!r} must be a number, got {value!r}")
            elif key in ("warmup", "level_shift_snapshots"):
                values[key] = int(value)
            else:
                values[key] = float(value)
        return cls(**values)

    def floor(self, metric: str, expected: float) -> float:
        """Smallest change from ``expected`` that is practically significant.

        The larger of the relative floor (``min_relative_change[metric] *
        |expected|``) and, for ``error_rate`` and ``availability``, the absolute
        floor ``min_error_rate_points``.
        """
        relative = self.min_relative_change.get(metric, 0.0) * abs(expected)
        if metric in POINT_METRICS:
            return max(relative, self.min_error_rate_points)
        return relative

    def severity(self, z_score: float) -> str | None:
        """``"low"``, ``"medium"`` or ``"high"`` for ``|z_score|``, or ``None`` below ``z_low``."""
        size = abs(z_score)
        if size >= self.z_high:
            return "high"
        if size >= self.z_medium:
            return "medium"
        if size >= self.z_low:
            return "low"
        return None

    def confidence(self, z_score: float, duration: int) -> float:
        """Confidence in 0..1 from ``|z|`` and the excursion's length in snapshots.

        ``erf(|z| / sqrt(2)) * (0.5 + 0.5 * min(1, duration / level_shift_snapshots))``.
        """
        coverage = math.erf(abs(z_score) / math.sqrt(2.0))
        persistence = min(1.0, max(duration, 0) / self.level_shift_snapshots)
        return round(coverage * (0.5 + 0.5 * persistence), 4)


DEFAULT_ANOMALY_SETTINGS = AnomalySettings()


@dataclass
class AnomalyEvent:
    """One anomaly line of ``anomalies.jsonl``, with the episode it belongs to.

    An *episode* is one excursion of a metric and its return to normal: the
    events it reports (a spike or drop, a level shift, a second step on top of
    a shift) share its ``episode`` id (``metric@start``), and the return to
    normal after a level shift is one more line with ``recovery`` true, which
    is not an anomaly and is never counted. Each line carries the episode as
    known when it was written (``episode_end``: its last snapshot still out of
    normal; its peak; its duration, ``episode_snapshots`` snapshots of
    ``interval`` minutes each; ``episode_open``: still out of normal then), so
    the last line of an episode describes it whole (:func:`episodes_from_events`).

    ``duration_snapshots`` (how many snapshots the excursion lasted when it
    was reported) is kept for charts and confidence but is not written.
    """

    timestamp: datetime
    day_number: int
    metric: str
    value: float
    expected: float
    z_score: float
    severity: str
    type: str
    confidence: float
    duration_snapshots: int = 1
    episode: str = ""
    recovery: bool = False
    episode_end: datetime | None = None
    episode_peak_value: float | None = None
    episode_peak_z: float | None = None
    episode_snapshots: int = 1
    episode_duration_minutes: float = 0.0
    episode_open: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``anomalies.jsonl`` object (docs/contract.md §4.7)."""
        return {
            "timestamp": format_time(self.timestamp),
            "day_number": self.day_number,
            "metric": self.metric,
            "value": self.value,
            "expected": self.expected,
            "z_score": self.z_score,
            "severity": self.severity,
            "type": self.type,
            "confidence": self.confidence,
            "episode": self.episode,
            "recovery": self.recovery,
            "episode_end": format_time(self.episode_end or self.timestamp),
            "episode_peak_value": self.episode_peak_value if self.episode_peak_value is not None else self.value,
            "episode_peak_z": self.episode_peak_z if self.episode_peak_z is not None else self.z_score,
            "episode_snapshots": self.episode_snapshots,
            "episode_duration_minutes": self.episode_duration_minutes,
            "episode_open": self.episode_open,
        }


def episode_id(metric: str, start: datetime) -> str:
    """The id of the episode of ``metric`` that started at ``start``: ``metric@ISO``."""
    return f"{metric}@{format_time(start)}"


class _Episode:
    """One excursion of a metric and its return, against the level before it."""

    __slots__ = ("id", "type", "direction", "ref", "ref_sd", "start", "end", "snapshots",
                 "peak_value", "peak_z", "severity", "open")

    def __init__(self, metric: str, kind: str, exc: "_Excursion", end: datetime, is_open: bool):
        self.id = episode_id(metric, exc.start)
        self.type = kind
        self.direction = exc.direction
        self.ref = exc.ref_mean
        self.ref_sd = exc.ref_sd
        self.start = exc.start
        self.end = end
        self.snapshots = len(exc.values)
        self.peak_value = exc.peak_value
        self.peak_z = exc.peak_z
        self.severity = "low"
        self.open = is_open

    def extend(self, ts: datetime, x: float, z: float) -> None:
        self.end = ts
        self.snapshots += 1
        if abs(z) > abs(self.peak_z):
            self.peak_value, self.peak_z = x, z

    def absorb(self, exc: "_Excursion") -> None:
        """A second excursion inside the episode: its peak may be the episode's."""
        z = (exc.peak_value - self.ref) / self.ref_sd
        if abs(z) > abs(self.peak_z):
            self.peak_value, self.peak_z = exc.peak_value, z


class _Excursion:
    """An open run of anomalous values of one metric, against a frozen reference."""

    __slots__ = ("direction", "ref_mean", "ref_sd", "start", "last", "values", "peak_time", "peak_value", "peak_z")

    def __init__(self, direction: int, ref_mean: float, ref_sd: float, ts: datetime, x: float, z: float):
        self.direction = direction
        self.ref_mean = ref_mean
        self.ref_sd = ref_sd
        self.start = ts
        self.last = ts  # its last snapshot so far
        self.values = [x]
        self.peak_time = ts
        self.peak_value = x
        self.peak_z = z


class _MetricTracker:
    """EWMA state, excursion and episode bookkeeping of one metric."""

    __slots__ = ("metric", "settings", "window", "mean", "var", "count", "excursion", "settling",
                 "settled_level", "episode")

    def __init__(self, metric: str, settings: AnomalySettings, window: Window):
        self.metric = metric
        self.settings = settings
        self.window = window
        self.mean = 0.0
        self.var = 0.0
        self.count = 0
        self.excursion: _Excursion | None = None
        self.settling = 0  # direction of the last level shift still being absorbed, or 0
        self.settled_level = 0.0  # ... and the new level it reported
        self.episode: _Episode | None = None  # a level shift not yet back to normal

    def _sd(self, mean: float, var: float) -> float:
        s = self.settings
        return max(math.sqrt(var), s.min_sigma_relative * abs(mean), s.min_sigma_absolute)

    def _event(self, ts: datetime, value: float, expected: float, z: float, kind: str, duration: int,
               episode: _Episode, recovery: bool = False) -> AnomalyEvent:
        s = self.settings
        severity = s.severity(z) or "low"
        if not recovery and ANOMALY_SEVERITIES.index(severity) > ANOMALY_SEVERITIES.index(episode.severity):
            episode.severity = severity
        interval = self.window.interval_minutes
        return AnomalyEvent(
            timestamp=ts,
            day_number=self.window.day_of(ts),
            metric=self.metric,
            value=value,
            expected=expected,
            z_score=round(z, 4),
            # A recovery repeats its episode's severity: filtering the file on
            # severity keeps an episode's lines together.
            severity=episode.severity if recovery else severity,
            type=kind,
            confidence=s.confidence(z, duration) if not recovery else s.confidence(episode.peak_z, episode.snapshots),
            duration_snapshots=duration,
            episode=episode.id,
            recovery=recovery,
            episode_end=episode.end,
            episode_peak_value=episode.peak_value,
            episode_peak_z=round(episode.peak_z, 4),
            episode_snapshots=episode.snapshots,
            episode_duration_minutes=round((episode.end - episode.start).total_seconds() / 60.0 + interval, 4),
            episode_open=episode.open,
        )

    def _close_short(self, returned: bool = True) -> AnomalyEvent:
        exc = self.excursion
        assert exc is not None
        self.excursion = None
        kind = "spike" if exc.direction > 0 else "drop"
        episode = self.episode
        if episode is not None:
            episode.absorb(exc)  # a step on top of an open level shift: same episode
        else:
            episode = _Episode(self.metric, kind, exc, exc.last, is_open=not returned)
        return self._event(exc.peak_time, exc.peak_value, exc.ref_mean, exc.peak_z, kind, len(exc.values), episode)

    def flush(self) -> list[AnomalyEvent]:
        """Report an excursion still open (end of data) as a spike or drop."""
        if self.excursion is None:
            return []
        return [self._close_short(returned=False)]

    def _recovery(self, ts: datetime, x: float) -> AnomalyEvent:
        """The line of a level shift's return to normal (``recovery`` true, never counted)."""
        episode = self.episode
        assert episode is not None
        self.episode = None
        episode.open = False
        # From here on a value on the normal side is measured from the level
        # before the episode, not from the average that absorbed the shift:
        # the return is not a second anomaly, a fall below normal still is.
        self.settling, self.settled_level = -episode.direction, episode.ref
        z = (x - episode.ref) / episode.ref_sd
        return self._event(ts, x, episode.ref, z, episode.type, episode.snapshots, episode, recovery=True)

    def _still_out(self, x: float, direction: int, ref: float, ref_sd: float) -> float | None:
        """``z`` of ``x`` against a frozen reference when it still continues an excursion, else ``None``.

        Same side, ``|x - ref| >= z_continue * ref_sd`` and at least
        ``continue_floor_fraction`` of the floor (the hysteresis).
        """
        s = self.settings
        ref_diff = x - ref
        ref_z = ref_diff / ref_sd
        floor = s.floor(self.metric, ref) * s.continue_floor_fraction
        if ref_diff * direction > 0 and abs(ref_z) >= s.z_continue and abs(ref_diff) >= floor:
            return ref_z
        return None

    def observe(self, ts: datetime, x: float) -> list[AnomalyEvent]:
        s = self.settings
        if self.count == 0:
            self.mean, self.var, self.count = x, 0.0, 1
            return []
        mean, var = self.mean, self.var
        sd = self._sd(mean, var)
        diff = x - mean
        z = diff / sd
        events: list[AnomalyEvent] = []
        consumed = False

        if self.count >= s.warmup:
            returned = False
            episode = self.episode
            if episode is not None:
                ep_z = self._still_out(x, episode.direction, episode.ref, episode.ref_sd)
                if ep_z is not None:
                    episode.extend(ts, x, ep_z)
                else:
                    returned = True
            exc = self.excursion
            if exc is not None:
                ref_z = self._still_out(x, exc.direction, exc.ref_mean, exc.ref_sd)
                if ref_z is not None:
                    consumed = True
                    exc.values.append(x)
                    exc.last = ts
                    if abs(ref_z) > abs(exc.peak_z):
                        exc.peak_time, exc.peak_value, exc.peak_z = ts, x, ref_z
                    if len(exc.values) >= s.level_shift_snapshots:
                        level = _median(exc.values)
                        level_z = (level - exc.ref_mean) / exc.ref_sd
                        if (abs(level_z) >= s.z_low
                                and abs(level - exc.ref_mean) >= s.floor(self.metric, exc.ref_mean)):
                            if self.episode is None:
                                self.episode = _Episode(self.metric, "level_shift", exc, ts, is_open=True)
                            else:
                                self.episode.absorb(exc)
                            events.append(self._event(exc.start, level, exc.ref_mean, level_z, "level_shift",
                                                      len(exc.values), self.episode))
                            self.settling = exc.direction
                            self.settled_level = level
                            self.excursion = None
                        else:
                            # Lasted, but the new level itself is not significant:
                            # a long excursion with a peak, not a shift.
                            events.append(self._close_short(returned=False))
                else:
                    events.append(self._close_short())
            if returned and self.episode is not None:
                events.append(self._recovery(ts, x))

            if not consumed:
                direction = 1 if diff > 0 else -1
                if self.settling and (abs(z) < s.z_settle or direction != self.settling):
                    self.settling = 0
                # While the EWMA still absorbs a shift, a same-direction value
                # is measured from the shift's new level, not from the lagging
                # average: the same shift is not reported twice, a second step
                # on top of it is.
                ref = self.settled_level if direction == self.settling else mean
                ref_diff = x - ref
                ref_z = ref_diff / sd
                if (ref_diff * direction > 0 and abs(ref_z) >= s.z_low
                        and abs(ref_diff) >= s.floor(self.metric, ref)):
                    self.excursion = _Excursion(direction, ref, sd, ts, x, ref_z)

        # Fold the value in (West / Finch incremental EWMA).
        incr = s.alpha * diff
        self.mean = mean + incr
        self.var = (1.0 - s.alpha) * (var + diff * incr)
        self.count += 1
        return events

    def flush_episode(self) -> None:
        """Forget an open level-shift episode at the end of the data (its last line says it is open)."""
        self.episode = None


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


class AnomalyDetector:
    """Incremental detector for a live run; :func:`detect_anomalies` replays it.

    Feed snapshots in time order with :meth:`observe`; each call returns the
    events *reported* at that snapshot (a spike is reported one snapshot after
    its peak, when the series comes back; a level shift when it has lasted
    ``level_shift_snapshots``). Call :meth:`flush` when the window ends to
    report an excursion still open. Events are therefore in reporting order,
    which is the order a live run appends them to ``anomalies.jsonl``.

    Parameters
    ----------
    window : Window
        The run's window (gives each event its day number).
    settings : AnomalySettings
        Thresholds.
    """

    def __init__(self, window: Window, settings: AnomalySettings = DEFAULT_ANOMALY_SETTINGS):
        self.window = window
        self.settings = settings
        self._trackers = {m: _MetricTracker(m, settings, window) for m in settings.metrics}
        self._last: datetime | None = None
        self._primed = 0
        self.unchecked: list[datetime] = []  # run snapshots some metric was still warming up on

    def prime(self, snapshots: Iterable[Snapshot]) -> int:
        """Train the averages on the baseline window's snapshots, reporting nothing.

        Call before the first :meth:`observe`. The baseline window is the
        service's normal: with at least ``warmup`` values of a metric there,
        detection of that metric starts at the run's first snapshot. Returns
        how many snapshots were used.
        """
        used = 0
        for snapshot in sorted(snapshots, key=lambda s: s.timestamp):
            if self._last is not None and snapshot.timestamp <= self._last:
                continue
            self._last = snapshot.timestamp
            used += 1
            for metric, tracker in self._trackers.items():
                x = snapshot.values.get(metric)
                if x is not None:
                    tracker.observe(snapshot.timestamp, x)
        # Whatever the baseline window shows is its own business: no event
        # from it, and no excursion carried over into the run.
        for tracker in self._trackers.values():
            tracker.excursion, tracker.episode, tracker.settling = None, None, 0
        self._primed += used
        return used

    def unchecked_summary(self) -> dict[str, Any]:
        """The run snapshots not checked because a metric was still warming up, and why.

        ``{"snapshots": n, "until": ISO of the last one or None, "reason": text or None}``.
        """
        if not self.unchecked:
            return {"snapshots": 0, "until": None, "reason": None}
        if self._primed == 0:
            reason = "warm-up: no baseline window"
        else:
            reason = (f"warm-up: the baseline window gave {self._primed} snapshots, "
                      f"{self.settings.warmup} values of each metric are needed")
        return {"snapshots": len(self.unchecked), "until": format_time(self.unchecked[-1]), "reason": reason}

    @property
    def last_timestamp(self) -> datetime | None:
        """Time of the last snapshot observed, or ``None``."""
        return self._last

    def observe(self, snapshot: Snapshot) -> list[AnomalyEvent]:
        """Score one snapshot and return the events reported at it.

        Raises
        ------
        ValueError
            When ``snapshot`` is not later than the previous one.
        """
        ts = snapshot.timestamp
        if self._last is not None and ts <= self._last:
            raise ValueError(f"snapshots must be observed in time order: {format_time(ts)} "
                             f"after {format_time(self._last)}")
        self._last = ts
        events: list[AnomalyEvent] = []
        values = snapshot.values
        warming = False
        for metric, tracker in self._trackers.items():
            x = values.get(metric)
            if x is None:
                continue  # missing is skipped, never 0
            warming = warming or tracker.count < self.settings.warmup
            events.extend(tracker.observe(ts, x))
        if warming:
            self.unchecked.append(ts)
        return events

    def flush(self) -> list[AnomalyEvent]:
        """Report the excursions still open (call once, when the window ends)."""
        events: list[AnomalyEvent] = []
        for tracker in self._trackers.values():
            events.extend(tracker.flush())
            tracker.flush_episode()
        return events


@dataclass
class Detection:
    """What a detection over a run found: the events, and the snapshots it could not check."""

    events: list[AnomalyEvent]
    unchecked: dict[str, Any]


def run_detection(
    snapshots: Iterable[Snapshot],
    window: Window,
    settings: AnomalySettings = DEFAULT_ANOMALY_SETTINGS,
    baseline_snapshots: Iterable[Snapshot] = (),
) -> Detection:
    """Detect anomalies over a whole series (the batch form of :class:`AnomalyDetector`).

    Parameters
    ----------
    snapshots : iterable of Snapshot
        The run's snapshots, in any order (they are sorted by time; duplicate
        times keep the first).
    window : Window
        The run's window.
    settings : AnomalySettings
        Thresholds.
    baseline_snapshots : iterable of Snapshot
        The baseline window's snapshots: they train the averages first
        (:meth:`AnomalyDetector.prime`), so detection starts at the run's
        first snapshot. Without them the first ``warmup`` values only train,
        and :attr:`Detection.unchecked` says which snapshots and why.

    Returns
    -------
    Detection
        Events in reporting order, exactly as a live run over the same
        snapshots (primed the same way, ending with
        :meth:`AnomalyDetector.flush`) would have reported them.
    """
    detector = AnomalyDetector(window, settings)
    ordered = sorted(snapshots, key=lambda s: s.timestamp)
    first = ordered[0].timestamp if ordered else None
    detector.prime(b for b in baseline_snapshots if first is None or b.timestamp < first)
    events: list[AnomalyEvent] = []
    last: datetime | None = None
    for snapshot in ordered:
        if last is not None and snapshot.timestamp == last:
            continue
        last = snapshot.timestamp
        events.extend(detector.observe(snapshot))
    events.extend(detector.flush())
    return Detection(events=events, unchecked=detector.unchecked_summary())


def detect_anomalies(
    snapshots: Iterable[Snapshot],
    window: Window,
    settings: AnomalySettings = DEFAULT_ANOMALY_SETTINGS,
    baseline_snapshots: Iterable[Snapshot] = (),
) -> list[AnomalyEvent]:
    """The events of :func:`run_detection` (same parameters)."""
    return run_detection(snapshots, window, settings, baseline_snapshots).events


def episodes_from_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per episode, from ``anomalies.jsonl`` lines (:meth:`AnomalyEvent.to_dict`).

    Each row: ``episode`` (id), ``metric``, ``type`` (of its first event),
    ``start``, ``end`` (last snapshot still out of normal), ``recovered_at``
    (the recovery line's time, or ``None``), ``open`` (still out of normal at
    the end of the data), ``peak_value``, ``peak_z``, ``expected`` (the level
    before it), ``snapshots``, ``duration_minutes``, ``severity`` (the highest
    its anomaly lines reached), ``day_number`` (of its start) and ``events``
    (its anomaly lines, recoveries not counted). Sorted by start, then metric.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["episode"], []).append(event)
    rows = []
    for key, lines in grouped.items():
        lines.sort(key=lambda e: (e["episode_end"], e["recovery"], e["timestamp"]))
        anomalies = [e for e in lines if not e["recovery"]] or lines
        recovery = next((e for e in lines if e["recovery"]), None)
        last = lines[-1]
        first = min(anomalies, key=lambda e: e["timestamp"])
        metric, start = key.split("@", 1)
        rows.append({
            "episode": key,
            "metric": metric,
            "type": first["type"],
            "start": start,
            "end": last["episode_end"],
            "recovered_at": recovery["timestamp"] if recovery else None,
            "open": bool(last["episode_open"]),
            "peak_value": last["episode_peak_value"],
            "peak_z": last["episode_peak_z"],
            "expected": first["expected"],
            "snapshots": last["episode_snapshots"],
            "duration_minutes": last["episode_duration_minutes"],
            "severity": max((e["severity"] for e in anomalies), key=ANOMALY_SEVERITIES.index),
            "day_number": min(e["day_number"] for e in anomalies),
            "events": sum(1 for e in lines if not e["recovery"]),
        })
    return sorted(rows, key=lambda r: (r["start"], r["metric"]))


def daily_anomaly_counts(events: Iterable[AnomalyEvent], window: Window) -> dict[int, dict[str, int]]:
    """Count episodes per day (of their start) and severity (the highest they reached).

    An excursion and its return are one episode (:class:`AnomalyEvent`): a
    recovery line is never counted, nor a second event of the same episode.

    Returns
    -------
    dict
        ``{day_number: {"low": n, "medium": n, "high": n}}`` for every day of
        the window (days without episodes have zeros). Episodes starting
        outside the window are ignored.
    """
    counts = {day: {sev: 0 for sev in ANOMALY_SEVERITIES} for day in range(1, window.day_count + 1)}
    for episode in episodes_from_events(e.to_dict() for e in events):
        start = window.day_of(parse_time(episode["start"]))
        bucket = counts.get(start)
        if bucket is not None:
            bucket[episode["severity"]] += 1
    return counts
