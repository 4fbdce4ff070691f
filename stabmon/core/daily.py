"""One day's snapshots aggregated into the daily summary (``day_NN_summary.json``).

Rules (docs/contract.md §3 and the seed write-up):

* Missing values (``None``) are left out of averages and counted in the day's
  warnings, never treated as 0.
* SLO compliance is the share of the day's snapshots *with a value* that meet
  the SLO (availability >= 99.9 %, p99 < 500 ms).
* A day is degraded on availability or latency when its compliance is below
  95 % (exactly 95 % is not degraded), on error rate when its average error
  rate is at or above 0.1 %.
* Request-weighted figures use only the snapshots where both the request and
  the error count are known.
* ``_metadata.metric_coverage_percent`` is, per metric, the day's snapshots
  with a value over the snapshots the window expects that day (not only the
  ones on disk). The day is ``complete`` only when every expected snapshot is
  there and every key metric has a value in each of them.

Pure: no I/O and no clock (the caller passes ``generated_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any, Callable, Sequence

from stabmon.core.alerts import AlertEpisode, alert_episodes, alert_free_hours, severity_counts
from stabmon.core.drift import compute_regression_drift
from stabmon.core.figures import max_of, mean_of, min_of, rounded
from stabmon.core.model import (
    ALL_METRICS, DRIFT_METRICS, METRIC_FIELDS, SCHEMA_VERSION, Baseline, Snapshot, Window, format_time,
)
from stabmon.core.settings import DEFAULT_SETTINGS, Settings


@dataclass
class DayContext:
    """Inputs of one day's aggregation beyond its snapshots."""

    day_number: int
    window: Window
    episodes: list[AlertEpisode] = field(default_factory=list)
    day_latency: dict[str, float | None] | None = None
    extra_warnings: list[str] = field(default_factory=list)
    baseline: Baseline | None = None


# ---------------------------------------------------------------------------
# the rules


def slo_compliance(values: Sequence[float], meets: Callable[[float], bool]) -> float | None:
    """Percent of ``values`` that meet the SLO; ``None`` when no snapshot has a value."""
    return sum(1 for v in values if meets(v)) / len(values) * 100.0 if values else None


def request_weighted_error_rate(snapshots: Sequence[Snapshot]) -> float | None:
    """Errors over requests of the snapshots where both counts are known, in percent (at most 100)."""
    pairs = [
        (s.values["requests"], s.values["errors"])
        for s in snapshots
        if s.values.get("requests") is not None and s.values.get("errors") is not None
    ]
    sum_requests = sum(r for r, _ in pairs)
    sum_errors = sum(e for _, e in pairs)
    return min(100.0, sum_errors / sum_requests * 100.0) if sum_requests > 0 else None


def degradation_flags(
    availability_compliance: float | None,
    latency_compliance: float | None,
    avg_error_rate: float | None,
    settings: Settings = DEFAULT_SETTINGS,
) -> dict[str, bool]:
    """The day's degradation flags, each with its own rule, and ``degraded`` when any is set.

    ``avg_error_rate`` is the figure the summary reports (rounded), so a
    reader never sees 0.1000 next to "not degraded".
    """
    availability = (
        availability_compliance is not None and availability_compliance < settings.degradation_compliance_percent
    )
    latency = latency_compliance is not None and latency_compliance < settings.degradation_compliance_percent
    error_rate = avg_error_rate is not None and avg_error_rate >= settings.error_rate_degraded_percent
    return {
        "availability_degraded": availability,
        "latency_degraded": latency,
        "error_rate_degraded": error_rate,
        "degraded": availability or latency or error_rate,
    }


def completeness(actual: int, expected: int, key_metric_values: dict[str, int] | None = None) -> str:
    """``missing`` (no snapshot), ``complete`` or ``partial``.

    ``complete`` needs every expected snapshot **and**, when
    ``key_metric_values`` (key metric -> snapshots with a value) is given, a
    value of every key metric in each of them: 48 snapshots whose p99 is null
    are not a complete day.
    """
    if actual == 0:
        return "missing"
    if actual < expected:
        return "partial"
    if key_metric_values and any(count < actual for count in key_metric_values.values()):
        return "partial"
    return "complete"


def metric_value_counts(snapshots: Sequence[Snapshot]) -> dict[str, int]:
    """Per metric, how many of ``snapshots`` have a value (``None`` is no value)."""
    return {name: sum(1 for s in snapshots if s.values.get(name) is not None) for name in METRIC_FIELDS}


def coverage_percent(values: int, expected: int) -> float | None:
    """``values`` over ``expected`` snapshots in percent (4 decimals); ``None`` when none is expected."""
    return round(values / expected * 100.0, 4) if expected else None


# ---------------------------------------------------------------------------
# the steps of a day's summary


def _present(snapshots: Sequence[Snapshot], name: str) -> list[float]:
    return [s.values[name] for s in snapshots if s.values.get(name) is not None]


def _gap_warnings(snapshots: Sequence[Snapshot], expected: int) -> list[str]:
    """Missing values counted per metric, absent snapshots, and an empty day."""
    actual = len(snapshots)
    warnings = []
    for name in ALL_METRICS:
        gaps = sum(1 for s in snapshots if name in s.missing)
        if gaps:
            warnings.append(f"{name} missing in {gaps} of {actual} snapshots")
    if actual < expected:
        warnings.append(f"{expected - actual} of {expected} expected snapshots absent")
    if actual == 0:
        warnings.append("no snapshots for this day: reported as missing")
    return warnings


def _time_span(day: int, snapshots: Sequence[Snapshot], day_start: datetime) -> dict[str, Any]:
    first = snapshots[0].timestamp if snapshots else day_start
    last = snapshots[-1].timestamp if snapshots else day_start
    return {
        "day_number": day,
        "start_time": format_time(first),
        "end_time": format_time(last),
        "duration_hours": round((last - first).total_seconds() / 3600.0, 4),
        "snapshot_count": len(snapshots),
    }


def _availability_figures(
    snapshots: Sequence[Snapshot], compliance: float | None, weighted_error_rate: float | None
) -> dict[str, Any]:
    availability = _present(snapshots, "availability")
    weighted = 100.0 - weighted_error_rate if weighted_error_rate is not None else None
    return {
        "avg_availability": rounded(mean_of(availability)),
        "min_availability": rounded(min_of(availability)),
        "max_availability": rounded(max_of(availability)),
        "slo_compliance_percent": rounded(compliance),
        "request_weighted_availability": rounded(weighted, 6),
    }


def _traffic_figures(
    snapshots: Sequence[Snapshot], avg_error_rate: float | None, weighted_error_rate: float | None
) -> dict[str, Any]:
    requests = _present(snapshots, "requests")
    errors = _present(snapshots, "errors")
    return {
        "avg_error_rate": rounded(avg_error_rate),
        "max_error_rate": rounded(max_of(_present(snapshots, "error_rate"))),
        "request_weighted_error_rate": rounded(weighted_error_rate, 6),
        "total_requests": int(round(sum(requests))) if requests else None,
        "total_errors": int(round(sum(errors))) if errors else None,
    }


def _latency_figures(
    snapshots: Sequence[Snapshot], compliance: float | None, day_latency: dict[str, float | None]
) -> dict[str, Any]:
    p95 = _present(snapshots, "p95_latency_ms")
    p99 = _present(snapshots, "p99_latency_ms")
    return {
        "avg_p95_latency_ms": rounded(mean_of(p95), 3),
        "max_p95_latency_ms": rounded(max_of(p95), 3),
        "avg_p99_latency_ms": rounded(mean_of(p99), 3),
        "max_p99_latency_ms": rounded(max_of(p99), 3),
        # The true quantiles of the day, from the merged histogram buckets.
        "day_p95_latency_ms": rounded(day_latency.get("p95_latency_ms"), 3),
        "day_p99_latency_ms": rounded(day_latency.get("p99_latency_ms"), 3),
        "latency_slo_compliance_percent": rounded(compliance),
    }


def _resource_figures(snapshots: Sequence[Snapshot]) -> dict[str, Any]:
    cpu = _present(snapshots, "cpu_percent")
    memory = _present(snapshots, "memory_percent")
    return {
        "avg_cpu_percent": rounded(mean_of(cpu)),
        "peak_cpu_percent": rounded(max_of(cpu)),
        "avg_memory_percent": rounded(mean_of(memory)),
        "peak_memory_percent": rounded(max_of(memory)),
    }


def _alert_figures(
    snapshots: Sequence[Snapshot], episodes: Sequence[AlertEpisode], interval_minutes: float
) -> dict[str, Any]:
    counts = severity_counts(episodes)
    return {
        "total_critical_alerts": counts["critical"],
        "total_warning_alerts": counts["warning"],
        "total_info_alerts": counts["info"],
        "alert_free_hours": round(alert_free_hours(snapshots, interval_minutes), 4),
        "alert_episodes": [e.to_dict() for e in episodes],
    }


def _drift_figures(snapshots: Sequence[Snapshot], settings: Settings, baseline: Baseline | None = None) -> dict[str, Any]:
    """The seed's absolute drift figures, and the regression drift the threshold list is read from.

    The regression drift (harmful direction only, over the practical floor:
    :func:`stabmon.core.drift.compute_regression_drift`) needs the baseline's
    values; without a baseline it is ``None`` / empty and no metric is listed
    as over the threshold (no baseline, no drift: never a made-up 0).
    """
    per_snapshot = [fmean(s.drift_percent.values()) for s in snapshots if s.drift_percent]
    by_metric: dict[str, float] = {}
    for metric in DRIFT_METRICS:
        values = [s.drift_percent[metric] for s in snapshots if metric in s.drift_percent]
        if values:
            by_metric[metric] = fmean(values)
    every_value = [v for s in snapshots for v in s.drift_percent.values()]
    regression = [compute_regression_drift(s.values, baseline) for s in snapshots]
    regression_by_metric: dict[str, float] = {}
    for metric in DRIFT_METRICS:
        values = [r[metric] for r in regression if metric in r]
        if values:
            regression_by_metric[metric] = fmean(values)
    return {
        "max_drift_percent": rounded(max_of(every_value)),
        "avg_drift_percent": rounded(mean_of(per_snapshot)),
        "drift_by_metric": {m: round(v, 4) for m, v in by_metric.items()},
        "avg_regression_drift_percent": rounded(mean_of(fmean(r.values()) for r in regression if r)),
        "regression_drift_by_metric": {m: round(v, 4) for m, v in regression_by_metric.items()},
        "metrics_exceeding_drift_threshold": [
            m for m, v in regression_by_metric.items() if v > settings.drift_threshold_percent
        ],
    }


def _metadata(
    context: DayContext, day_snaps: Sequence[Snapshot], warnings: list[str], generated_at: datetime | None,
    settings: Settings,
) -> dict[str, Any]:
    window = context.window
    day_start, day_end = window.day_bounds(context.day_number)
    expected = window.expected_snapshots(context.day_number)
    actual = len(day_snaps)
    counts = metric_value_counts(day_snaps)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": format_time(generated_at) if generated_at else None,
        "data_completeness": completeness(actual, expected, {m: counts[m] for m in settings.key_metrics}),
        "expected_snapshots": expected,
        "actual_snapshots": actual,
        "completeness_percent": round(actual / expected * 100.0, 4) if expected else 0.0,
        # The weekly coverage adds these counts up: percentages would not add.
        "metric_value_counts": counts,
        "metric_coverage_percent": {m: coverage_percent(n, expected) for m, n in counts.items()},
        "day_start": format_time(day_start),
        "day_end": format_time(day_end),
        "interval_minutes": window.interval_minutes,
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------
# public


def aggregate_day(
    snapshots: Sequence[Snapshot],
    context: DayContext,
    settings: Settings = DEFAULT_SETTINGS,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Aggregate one day's snapshots into the daily summary (seed schema + additions).

    Parameters
    ----------
    snapshots
        The snapshots of the day (any order; those outside the day are ignored).
    context
        Day number, window, the alert episodes of the whole window, the day's
        merged-histogram latency figures when known, and warnings to carry.
    settings
        Thresholds.
    generated_at
        Time written to ``_metadata.generated_at`` (the caller's clock).

    Returns
    -------
    dict
        The ``day_NN_summary.json`` document.
    """
    day = context.day_number
    day_start, day_end = context.window.day_bounds(day)
    day_snaps = sorted(
        (s for s in snapshots if day_start <= s.timestamp < day_end), key=lambda s: s.timestamp
    )
    warnings = list(context.extra_warnings) + _gap_warnings(day_snaps, context.window.expected_snapshots(day))

    availability_compliance = slo_compliance(
        _present(day_snaps, "availability"), lambda v: v >= settings.availability_slo_percent
    )
    latency_compliance = slo_compliance(
        _present(day_snaps, "p99_latency_ms"), lambda v: v < settings.latency_slo_p99_ms
    )
    avg_error_rate = rounded(mean_of(_present(day_snaps, "error_rate")))
    weighted_error_rate = request_weighted_error_rate(day_snaps)
    day_episodes = [e for e in context.episodes if e.day_number == day]
    return {
        **_time_span(day, day_snaps, day_start),
        **_availability_figures(day_snaps, availability_compliance, weighted_error_rate),
        **_traffic_figures(day_snaps, avg_error_rate, weighted_error_rate),
        **_latency_figures(day_snaps, latency_compliance, context.day_latency or {}),
        **_resource_figures(day_snaps),
        **_alert_figures(day_snaps, day_episodes, context.window.interval_minutes),
        **_drift_figures(day_snaps, settings, context.baseline),
        **degradation_flags(availability_compliance, latency_compliance, avg_error_rate, settings),
        "_metadata": _metadata(context, day_snaps, warnings, generated_at, settings),
    }


def aggregate_days(
    snapshots: Sequence[Snapshot],
    window: Window,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    days: Sequence[int] | None = None,
    day_latency: dict[int, dict[str, float | None]] | None = None,
    warnings: Sequence[str] = (),
    generated_at: datetime | None = None,
    baseline: Baseline | None = None,
) -> list[dict[str, Any]]:
    """Aggregate every day of the window (or only ``days``), alert episodes computed over the whole window."""
    episodes = alert_episodes(snapshots, window)
    numbers = list(days) if days is not None else list(range(1, window.day_count + 1))
    result = []
    for day in numbers:
        context = DayContext(
            day_number=day,
            window=window,
            episodes=episodes,
            day_latency=(day_latency or {}).get(day),
            extra_warnings=list(warnings),
            baseline=baseline,
        )
        result.append(aggregate_day(snapshots, context, settings, generated_at))
    return result
