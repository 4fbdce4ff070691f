"""Typed structures shared by every part of stabmon.

The raw snapshot is the unit everything else is built from: collectors
(Prometheus, the synthetic generator) produce :class:`Snapshot` objects, the
file store writes them as the contract's JSON, and the pure analysis modules
aggregate them. Times are always timezone-aware UTC ``datetime`` objects inside
the package and ISO 8601 strings with ``Z`` in files.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Any

#: The numeric fields of a snapshot, in the contract's order (section 2).
METRIC_FIELDS: tuple[str, ...] = (
    "availability",
    "error_rate",
    "requests",
    "errors",
    "p95_latency_ms",
    "p99_latency_ms",
    "cpu_percent",
    "memory_percent",
)

#: Every metric a snapshot can list in ``missing`` (the numeric ones and alerts).
ALL_METRICS: tuple[str, ...] = METRIC_FIELDS + ("alerts",)

#: The metrics a baseline may carry and drift is computed for (docs/contract.md §4).
DRIFT_METRICS: tuple[str, ...] = (
    "availability",
    "error_rate",
    "p95_latency_ms",
    "p99_latency_ms",
    "cpu_percent",
    "memory_percent",
)

SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")

#: Display names of the metrics in warnings, reasons, recommendations and charts.
METRIC_LABELS: dict[str, str] = {
    "availability": "availability",
    "error_rate": "error rate",
    "requests": "requests",
    "errors": "errors",
    "p95_latency_ms": "p95 latency",
    "p99_latency_ms": "p99 latency",
    "cpu_percent": "CPU",
    "memory_percent": "memory",
    "alerts": "alerts",
}

#: ``_metadata.schema_version`` of the daily and weekly summary documents.
SCHEMA_VERSION = "1.2"


def utc(ts: datetime) -> datetime:
    """Return ``ts`` as an aware UTC datetime (naive input is taken as UTC)."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc)


@lru_cache(maxsize=65536)
def format_time(ts: datetime) -> str:
    """Format a datetime as ISO 8601 UTC with a ``Z`` suffix (seconds precision).

    Cached: a fleet formats the same few hundred snapshot times for every
    service (equal instants format alike whatever their time zone).
    """
    ts = utc(ts)
    if ts.microsecond:
        return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` or offset; naive means UTC) into aware UTC.

    Raises
    ------
    ValueError
        When ``text`` is not an ISO 8601 time.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return utc(datetime.fromisoformat(value))


def clean_number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or ``None`` for missing, NaN or Inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


@dataclass(frozen=True)
class Alert:
    """One firing alert: its full label set identifies it."""

    alertname: str
    severity: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> tuple[tuple[str, str], ...]:
        """Hashable identity of the alert: its full, sorted label set."""
        labels = dict(self.labels)
        labels.setdefault("alertname", self.alertname)
        labels.setdefault("severity", self.severity)
        return tuple(sorted(labels.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"alertname": self.alertname, "severity": self.severity, "labels": dict(self.labels)}

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> "Alert":
        """Build an alert from a Prometheus ``ALERTS`` series label set."""
        labels = {k: str(v) for k, v in labels.items() if k != "__name__"}
        return cls(
            alertname=labels.get("alertname", ""),
            severity=labels.get("severity", "info") or "info",
            labels=labels,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alert":
        return cls(
            alertname=str(data["alertname"]),
            severity=str(data.get("severity", "info")),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
        )


@dataclass
class Snapshot:
    """One raw snapshot at time ``t_k`` (docs/contract.md §1, §2 and §4).

    ``values`` maps each of :data:`METRIC_FIELDS` to a finite float or ``None``.
    A ``None`` value is missing and its name is in ``missing``; ``missing_reasons``
    says why when a reason is known (e.g. the server was unreachable).
    ``alerts`` is ``None`` when the alerts query itself failed.
    """

    timestamp: datetime
    values: dict[str, float | None]
    alerts: list[Alert] | None = field(default_factory=list)
    drift_percent: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    missing_reasons: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timestamp = utc(self.timestamp)
        values = {name: clean_number(self.values.get(name)) for name in METRIC_FIELDS}
        self.values = values
        missing = set(self.missing)
        missing.update(name for name, value in values.items() if value is None)
        if self.alerts is None:
            missing.add("alerts")
        self.missing = [name for name in ALL_METRICS if name in missing]

    def get(self, name: str) -> float | None:
        """Value of a numeric metric, or ``None`` when missing."""
        return self.values.get(name)

    def to_dict(self) -> dict[str, Any]:
        """The contract's raw snapshot JSON object."""
        data: dict[str, Any] = {"timestamp": format_time(self.timestamp)}
        data.update(self.values)
        data["alerts"] = [a.to_dict() for a in self.alerts] if self.alerts is not None else None
        data["drift_percent"] = dict(self.drift_percent)
        data["missing"] = list(self.missing)
        if self.missing_reasons:
            data["missing_reasons"] = dict(self.missing_reasons)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Snapshot":
        """Build a snapshot from its JSON object (already schema-validated)."""
        alerts_raw = data.get("alerts")
        return cls(
            timestamp=parse_time(data["timestamp"]),
            values={name: data.get(name) for name in METRIC_FIELDS},
            alerts=None if alerts_raw is None else [Alert.from_dict(a) for a in alerts_raw],
            drift_percent={k: float(v) for k, v in (data.get("drift_percent") or {}).items()},
            missing=list(data.get("missing") or []),
            missing_reasons=dict(data.get("missing_reasons") or {}),
        )


@dataclass(frozen=True)
class Window:
    """A run's window: ``start`` (UTC), ``duration_hours`` and ``interval_minutes``.

    Snapshot ``k`` is at ``t_k = start + k * interval`` for
    ``k = 0 .. duration*60/interval - 1`` (docs/contract.md §1).
    """

    start: datetime
    duration_hours: float = 168.0
    interval_minutes: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        if not self.duration_hours > 0:
            raise ValueError("duration must be positive")
        if not self.interval_minutes > 0:
            raise ValueError("interval must be positive")
        # Cached for index_of_epoch, called once per sample of a range answer.
        object.__setattr__(self, "_start_epoch", self.start.timestamp())
        object.__setattr__(self, "_count", int(math.floor(round(self.duration_hours * 60.0 / self.interval_minutes, 9))))

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.duration_hours)

    @property
    def snapshot_count(self) -> int:
        # Rounded before flooring (in __post_init__) so 168*60/30 is exactly 336 despite float noise.
        return self._count  # type: ignore[attr-defined]

    @property
    def day_count(self) -> int:
        return int(math.ceil(round(self.duration_hours / 24.0, 9)))

    def time_of(self, k: int) -> datetime:
        """Time ``t_k`` of snapshot ``k``."""
        return self.start + timedelta(seconds=k * self.interval_minutes * 60.0)

    def times(self) -> list[datetime]:
        """All snapshot times of the window, in order."""
        return [self.time_of(k) for k in range(self.snapshot_count)]

    def index_of(self, ts: datetime) -> int | None:
        """Index ``k`` of a snapshot time, or ``None`` when ``ts`` is not a ``t_k``."""
        return self.index_of_epoch(utc(ts).timestamp())

    def index_of_epoch(self, seconds: float) -> int | None:
        """Index ``k`` of a snapshot time given in Unix seconds (as query answers give it), or ``None``."""
        offset = seconds - self._start_epoch  # type: ignore[attr-defined]
        step = self.interval_minutes * 60.0
        k = round(offset / step)
        if k < 0 or k >= self._count or abs(offset - k * step) > 0.5:  # type: ignore[attr-defined]
            return None
        return int(k)

    def day_of(self, ts: datetime) -> int:
        """1-based day number of a time inside the window."""
        return int((utc(ts) - self.start).total_seconds() // 86400) + 1

    def day_bounds(self, day_number: int) -> tuple[datetime, datetime]:
        """``[start, end)`` of day ``day_number``, clipped to the window."""
        begin = self.start + timedelta(days=day_number - 1)
        return begin, min(begin + timedelta(days=1), self.end)

    def expected_snapshots(self, day_number: int) -> int:
        """Number of snapshot times of day ``day_number`` inside the window."""
        return self._day_counts.get(day_number, 0)

    @cached_property
    def _day_counts(self) -> dict[int, int]:
        # Counted once per window: every day's summary asks, for every target.
        return dict(Counter(self.day_of(t) for t in self.times()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": format_time(self.start),
            "end": format_time(self.end),
            "duration_hours": self.duration_hours,
            "interval_minutes": self.interval_minutes,
        }


@dataclass(frozen=True)
class Baseline:
    """The release-day KPIs that drift is measured against (docs/contract.md §4)."""

    timestamp: datetime
    values: dict[str, float]
    service: str | None = None
    window: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data["timestamp"] = format_time(self.timestamp)
        if self.service is not None:
            data["service"] = self.service
        data.update(self.values)
        if self.window is not None:
            data["window"] = dict(self.window)
        return data
