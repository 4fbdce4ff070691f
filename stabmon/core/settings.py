"""Every threshold of the analysis, with the seed's values as defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from stabmon.core.errors import InputError
from stabmon.core.model import METRIC_FIELDS

#: The metrics a verdict cannot be given without (docs/contract.md §3.8).
DEFAULT_KEY_METRICS: tuple[str, ...] = ("availability", "error_rate", "p99_latency_ms")


@dataclass(frozen=True)
class Settings:
    """Thresholds of the daily and weekly analysis (seed write-up, docs/contract.md §3).

    Every field can be overridden by name, e.g. from a notebook parameter or a
    YAML file, with :meth:`from_mapping`.
    """

    #: A snapshot meets the availability SLO when availability >= this (%).
    availability_slo_percent: float = 99.9
    #: A snapshot meets the latency SLO when p99 < this (ms).
    latency_slo_p99_ms: float = 500.0
    #: A day is degraded on a signal when its SLO compliance is below this (%).
    degradation_compliance_percent: float = 95.0
    #: A day's error rate is degraded when its average is at or above this (%).
    error_rate_degraded_percent: float = 0.1
    #: A metric drifts when its drift exceeds this (%).
    drift_threshold_percent: float = 10.0
    #: Drift is capped at this in the stability score (%).
    drift_penalty_cap_percent: float = 20.0
    #: Score weights: availability compliance, latency compliance, drift.
    score_weight_availability: float = 0.4
    score_weight_latency: float = 0.4
    score_weight_drift: float = 0.2
    #: Trend thresholds (docs/contract.md §3).
    trend_availability_points: float = 0.5
    trend_latency_ms: float = 10.0
    trend_resource_percent: float = 5.0
    #: Rollback criteria (seed write-up).
    rollback_availability_percent: float = 99.9
    rollback_drift_percent: float = 15.0
    rollback_degraded_days: int = 2
    rollback_critical_alerts: int = 5
    #: A stability score below this asks for a comprehensive review.
    low_score_threshold: float = 70.0
    #: The metrics the verdict rests on: without enough values of one, the verdict is ``inconclusive``.
    key_metrics: tuple[str, ...] = DEFAULT_KEY_METRICS
    #: A key metric needs a value in at least this share of the window's expected snapshots (%).
    min_coverage_percent: float = 90.0

    def __post_init__(self) -> None:
        if not self.key_metrics:
            raise InputError("key_metrics must name at least one metric")
        unknown = [m for m in self.key_metrics if m not in METRIC_FIELDS]
        if unknown:
            raise InputError(f"unknown key metric(s): {', '.join(unknown)} (known: {', '.join(METRIC_FIELDS)})")
        if not 0.0 < self.min_coverage_percent <= 100.0:
            raise InputError(f"min_coverage_percent must be in (0, 100], got {self.min_coverage_percent!r}")

    @classmethod
    def from_mapping(cls, overrides: dict[str, Any] | None) -> "Settings":
        """Build settings from defaults and a mapping of overrides.

        Raises
        ------
        InputError
            When a key is unknown or a value is not a number.
        """
        if not overrides:
            return cls()
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise InputError(f"unknown setting {key!r}")
            if key == "key_metrics":
                values[key] = _metric_names(value)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"setting {key!r} must be a number, got {value!r}")
            values[key] = int(value) if known[key].type in ("int", int) else float(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["key_metrics"] = list(self.key_metrics)  # JSON has lists, not tuples
        return values


def _metric_names(value: Any) -> tuple[str, ...]:
    """``key_metrics`` from a settings file: a list of metric names (one name alone is accepted)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InputError(f"setting 'key_metrics' must be a list of metric names, got {value!r}")
    return tuple(value)


DEFAULT_SETTINGS = Settings()

#: Thresholds a report notebook takes as parameters (a subset of :class:`Settings`).
NOTEBOOK_THRESHOLDS: tuple[str, ...] = (
    "availability_slo_percent",
    "latency_slo_p99_ms",
    "error_rate_degraded_percent",
    "degradation_compliance_percent",
    "drift_threshold_percent",
)
