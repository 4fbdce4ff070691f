"""The analysis core: drift, alert episodes, daily aggregation and the weekly summary.

Everything here is pure: it takes snapshots, a window, a baseline and settings
and returns plain dictionaries shaped as the contract's JSON files. No I/O, no
clock (the caller passes ``generated_at``), so every rule has a unit test with
numbers worked out by hand.

Rules (contract section 3 and the seed write-up):

* Missing values (``None``) are left out of averages and counted in the day's
  warnings, never treated as 0.
* SLO compliance is the share of the day's snapshots *with a value* that meet
  the SLO (availability >= 99.9 %, p99 < 500 ms).
* A day is degraded on availability or latency when its compliance is below
  95 % (exactly 95 % is not degraded), on error rate when its average error
  rate is at or above 0.1 %.
* Alert episodes are maximal runs of consecutive snapshots (``k``, ``k+1``,
  ...) in which the same alert, identified by its full label set, fires. A
  day counts the episodes that *start* in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any, Iterable, Sequence

from stabmon.core.model import (
    DRIFT_METRICS,
    SEVERITIES,
    Alert,
    Baseline,
    Snapshot,
    Window,
    format_time,
)
from stabmon.core.settings import DEFAULT_SETTINGS, Settings

SCHEMA_VERSION = "1.1"

#: Display names used in warnings, reasons and recommendations.
METRIC_LABELS = {
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


# ---------------------------------------------------------------------------
# small helpers


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _min(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def grade_for(score: float | None) -> str | None:
    """Letter grade of a stability score: A >= 90, B >= 80, C >= 70, D >= 60, else F."""
    if score is None:
        return None
    for letter, floor in (("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0)):
        if score >= floor:
            return letter
    return "F"


GRADE_WORDS = {"A": "Excellent", "B": "Good", "C": "Fair", "D": "Poor", "F": "Failing"}


# ---------------------------------------------------------------------------
# drift


def compute_drift(values: dict[str, float | None], baseline: Baseline | None) -> tuple[dict[str, float], list[str]]:
    """Drift of each metric against the baseline (contract section 3).

    ``|value - baseline| / |baseline| * 100`` for the metrics present in both;
    a baseline of 0 is skipped with a warning.

    Returns
    -------
    (drift, warnings)
        ``drift`` maps metric to percent; ``warnings`` names skipped zero baselines.
    """
    drift: dict[str, float] = {}
    warnings: list[str] = []
    if baseline is None:
        return drift, warnings
    for metric in DRIFT_METRICS:
        base = baseline.values.get(metric)
        value = values.get(metric)
        if base is None or value is None:
            continue
        if base == 0:
            warnings.append(f"baseline {metric} is 0: drift not computed for it")
            continue
        drift[metric] = abs(value - base) / abs(base) * 100.0
    return drift, warnings


def apply_drift(snapshots: Sequence[Snapshot], baseline: Baseline | None) -> list[str]:
    """Recompute ``drift_percent`` of every snapshot in place; return the distinct warnings."""
    warnings: list[str] = []
    for snapshot in snapshots:
        snapshot.drift_percent, found = compute_drift(snapshot.values, baseline)
        for message in found:
            if message not in warnings:
                warnings.append(message)
    return warnings


# ---------------------------------------------------------------------------
# alert episodes


@dataclass
class AlertEpisode:
    """A maximal run of consecutive snapshots in which one alert fires."""

    alert: Alert
    first_index: int
    last_index: int
    start: datetime
    end: datetime
    day_number: int

    @property
    def snapshots(self) -> int:
        return self.last_index - self.first_index + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "alertname": self.alert.alertname,
            "severity": self.alert.severity,
            "labels": dict(self.alert.labels),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "snapshots": self.snapshots,
            "day_number": self.day_number,
        }


def alert_episodes(snapshots: Sequence[Snapshot], window: Window) -> list[AlertEpisode]:
    """Alert episodes over the whole window, ordered by start.

    Snapshot ``k`` continues an episode only when snapshot ``k-1`` exists and
    fired the same alert (same full label set); a snapshot that is absent or
    whose alerts query failed ends every open episode.
    """
    by_index: dict[int, Snapshot] = {}
    for snapshot in snapshots:
        k = window.index_of(snapshot.timestamp)
        if k is not None:
            by_index[k] = snapshot
    open_episodes: dict[tuple, AlertEpisode] = {}
    done: list[AlertEpisode] = []
    previous_k: int | None = None
    for k in sorted(by_index):
        snapshot = by_index[k]
        if previous_k is None or k != previous_k + 1:
            done.extend(open_episodes.values())
            open_episodes = {}
        firing = {a.identity: a for a in (snapshot.alerts or [])}
        for identity in list(open_episodes):
            if identity not in firing:
                done.append(open_episodes.pop(identity))
        for identity, alert in firing.items():
            episode = open_episodes.get(identity)
            if episode is None:
                open_episodes[identity] = AlertEpisode(
                    alert=alert,
                    first_index=k,
                    last_index=k,
                    start=snapshot.timestamp,
                    end=snapshot.timestamp,
                    day_number=window.day_of(snapshot.timestamp),
                )
            else:
                episode.last_index = k
                episode.end = snapshot.timestamp
        previous_k = k
    done.extend(open_episodes.values())
    done.sort(key=lambda e: (e.first_index, e.alert.identity))
    return done


# ---------------------------------------------------------------------------
# daily aggregation


def _severity_counts(episodes: Iterable[AlertEpisode]) -> dict[str, int]:
    counts = {s: 0 for s in SEVERITIES}
    for episode in episodes:
        severity = episode.alert.severity.lower()
        counts[severity if severity in counts else "info"] += 1
    return counts


@dataclass
class DayContext:
    """Inputs of one day's aggregation beyond its snapshots."""

    day_number: int
    window: Window
    episodes: list[AlertEpisode] = field(default_factory=list)
    day_latency: dict[str, float | None] | None = None
    extra_warnings: list[str] = field(default_factory=list)


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
    window = context.window
    day = context.day_number
    day_start, day_end = window.day_bounds(day)
    day_snaps = sorted(
        (s for s in snapshots if day_start <= s.timestamp < day_end), key=lambda s: s.timestamp
    )
    warnings: list[str] = list(context.extra_warnings)
    expected = window.expected_snapshots(day)
    actual = len(day_snaps)

    def series(name: str) -> list[float]:
        return [s.values[name] for s in day_snaps if s.values.get(name) is not None]

    # Missing values are counted per metric in the warnings, never used as 0.
    for name in ("availability", "error_rate", "requests", "errors", "p95_latency_ms",
                 "p99_latency_ms", "cpu_percent", "memory_percent", "alerts"):
        gaps = sum(1 for s in day_snaps if name in s.missing)
        if gaps:
            warnings.append(f"{name} missing in {gaps} of {actual} snapshots")
    if actual < expected:
        warnings.append(f"{expected - actual} of {expected} expected snapshots absent")

    availability = series("availability")
    error_rate = series("error_rate")
    p95 = series("p95_latency_ms")
    p99 = series("p99_latency_ms")
    cpu = series("cpu_percent")
    memory = series("memory_percent")

    slo_compliance = (
        sum(1 for a in availability if a >= settings.availability_slo_percent) / len(availability) * 100.0
        if availability else None
    )
    latency_compliance = (
        sum(1 for v in p99 if v < settings.latency_slo_p99_ms) / len(p99) * 100.0 if p99 else None
    )

    # Request-weighted figures: only snapshots where both counts are known.
    pairs = [
        (s.values["requests"], s.values["errors"])
        for s in day_snaps
        if s.values.get("requests") is not None and s.values.get("errors") is not None
    ]
    sum_requests = sum(r for r, _ in pairs)
    sum_errors = sum(e for _, e in pairs)
    weighted_error_rate = min(100.0, sum_errors / sum_requests * 100.0) if sum_requests > 0 else None
    weighted_availability = 100.0 - weighted_error_rate if weighted_error_rate is not None else None
    requests_known = series("requests")
    errors_known = series("errors")

    day_episodes = [e for e in context.episodes if e.day_number == day]
    counts = _severity_counts(day_episodes)
    alerts_known = [s for s in day_snaps if s.alerts is not None]
    quiet = sum(
        1 for s in alerts_known
        if not any(a.severity.lower() in ("critical", "warning") for a in s.alerts or [])
    )
    alert_free_hours = quiet * window.interval_minutes / 60.0

    per_snapshot_drift = [fmean(s.drift_percent.values()) for s in day_snaps if s.drift_percent]
    drift_by_metric: dict[str, float] = {}
    for metric in DRIFT_METRICS:
        values = [s.drift_percent[metric] for s in day_snaps if metric in s.drift_percent]
        if values:
            drift_by_metric[metric] = fmean(values)
    all_drift = [v for s in day_snaps for v in s.drift_percent.values()]
    exceeding = [m for m, v in drift_by_metric.items() if v > settings.drift_threshold_percent]

    # Flags are decided on the figure the summary reports (rounded), so a
    # reader never sees 0.1000 next to "not degraded".
    avg_error_rate = _round(_mean(error_rate))
    if actual == 0:
        warnings.append("no snapshots for this day: reported as missing")
    availability_degraded = (
        slo_compliance is not None and slo_compliance < settings.degradation_compliance_percent
    )
    latency_degraded = (
        latency_compliance is not None and latency_compliance < settings.degradation_compliance_percent
    )
    error_rate_degraded = avg_error_rate is not None and avg_error_rate >= settings.error_rate_degraded_percent

    if actual == 0:
        completeness = "missing"
    elif actual >= expected:
        completeness = "complete"
    else:
        completeness = "partial"

    first = day_snaps[0].timestamp if day_snaps else day_start
    last = day_snaps[-1].timestamp if day_snaps else day_start
    day_latency = context.day_latency or {}

    summary: dict[str, Any] = {
        "day_number": day,
        "start_time": format_time(first),
        "end_time": format_time(last),
        "duration_hours": round((last - first).total_seconds() / 3600.0, 4),
        "snapshot_count": actual,
        "avg_availability": _round(_mean(availability)),
        "min_availability": _round(_min(availability)),
        "max_availability": _round(_max(availability)),
        "slo_compliance_percent": _round(slo_compliance),
        "request_weighted_availability": _round(weighted_availability, 6),
        "avg_error_rate": _round(avg_error_rate),
        "max_error_rate": _round(_max(error_rate)),
        "request_weighted_error_rate": _round(weighted_error_rate, 6),
        "total_requests": int(round(sum(requests_known))) if requests_known else None,
        "total_errors": int(round(sum(errors_known))) if errors_known else None,
        "avg_p95_latency_ms": _round(_mean(p95), 3),
        "max_p95_latency_ms": _round(_max(p95), 3),
        "avg_p99_latency_ms": _round(_mean(p99), 3),
        "max_p99_latency_ms": _round(_max(p99), 3),
        "day_p95_latency_ms": _round(day_latency.get("p95_latency_ms"), 3),
        "day_p99_latency_ms": _round(day_latency.get("p99_latency_ms"), 3),
        "latency_slo_compliance_percent": _round(latency_compliance),
        "avg_cpu_percent": _round(_mean(cpu)),
        "peak_cpu_percent": _round(_max(cpu)),
        "avg_memory_percent": _round(_mean(memory)),
        "peak_memory_percent": _round(_max(memory)),
        "total_critical_alerts": counts["critical"],
        "total_warning_alerts": counts["warning"],
        "total_info_alerts": counts["info"],
        "alert_free_hours": round(alert_free_hours, 4),
        "alert_episodes": [e.to_dict() for e in day_episodes],
        "max_drift_percent": _round(_max(all_drift)),
        "avg_drift_percent": _round(_mean(per_snapshot_drift)),
        "drift_by_metric": {m: round(v, 4) for m, v in drift_by_metric.items()},
        "metrics_exceeding_drift_threshold": exceeding,
        "availability_degraded": availability_degraded,
        "latency_degraded": latency_degraded,
        "error_rate_degraded": error_rate_degraded,
        "degraded": availability_degraded or latency_degraded or error_rate_degraded,
        "_metadata": {
            "schema_version": SCHEMA_VERSION,
            "generated_at": format_time(generated_at) if generated_at else None,
            "data_completeness": completeness,
            "expected_snapshots": expected,
            "actual_snapshots": actual,
            "completeness_percent": round(actual / expected * 100.0, 4) if expected else 0.0,
            "day_start": format_time(day_start),
            "day_end": format_time(day_end),
            "interval_minutes": window.interval_minutes,
            "warnings": warnings,
        },
    }
    return summary


def aggregate_days(
    snapshots: Sequence[Snapshot],
    window: Window,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    days: Sequence[int] | None = None,
    day_latency: dict[int, dict[str, float | None]] | None = None,
    warnings: Sequence[str] = (),
    generated_at: datetime | None = None,
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
        )
        result.append(aggregate_day(snapshots, context, settings, generated_at))
    return result


# ---------------------------------------------------------------------------
# weekly summary


def stability_score(
    availability_compliance: float | None,
    latency_compliance: float | None,
    avg_drift: float | None,
    settings: Settings = DEFAULT_SETTINGS,
) -> float | None:
    """The seed's weighted score (0-100).

    ``0.4 * availability compliance + 0.4 * latency compliance
    + 0.2 * (100 - min(drift, 20))``. A missing drift (no baseline) counts as
    no penalty; missing compliance makes the score unknown.
    """
    if availability_compliance is None or latency_compliance is None:
        return None
    drift_penalty = min(avg_drift if avg_drift is not None else 0.0, settings.drift_penalty_cap_percent)
    score = (
        availability_compliance * settings.score_weight_availability
        + latency_compliance * settings.score_weight_latency
        + (100.0 - drift_penalty) * settings.score_weight_drift
    )
    return max(0.0, min(100.0, score))


def _halves(days: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    n = len(days)
    half = n // 2
    if half == 0:
        return [], []
    return list(days[:half]), list(days[n - half:])


def availability_trend(days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS) -> tuple[str, float | None]:
    """Trend of the mean ``avg_availability`` (first half vs last half), with the difference in points."""
    first, last = _halves(days)
    a = _mean(d.get("avg_availability") for d in first)
    b = _mean(d.get("avg_availability") for d in last)
    if a is None or b is None:
        return "stable", None
    diff = b - a
    if diff > settings.trend_availability_points:
        return "improving", diff
    if diff < -settings.trend_availability_points:
        return "degrading", diff
    return "stable", diff


def latency_trend(days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS) -> tuple[str, float | None]:
    """Trend of the mean ``avg_p99_latency_ms`` (lower is better), with the difference in ms."""
    first, last = _halves(days)
    a = _mean(d.get("avg_p99_latency_ms") for d in first)
    b = _mean(d.get("avg_p99_latency_ms") for d in last)
    if a is None or b is None:
        return "stable", None
    diff = b - a
    if diff > settings.trend_latency_ms:
        return "degrading", diff
    if diff < -settings.trend_latency_ms:
        return "improving", diff
    return "stable", diff


def resource_trend(
    days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS
) -> tuple[str, dict[str, float | None]]:
    """Trend of CPU and memory: relative change of the mean, degrading if either rises past 5 %,
    improving if both fall past 5 %, else stable."""
    first, last = _halves(days)
    changes: dict[str, float | None] = {}
    for key, field_name in (("cpu", "avg_cpu_percent"), ("memory", "avg_memory_percent")):
        a = _mean(d.get(field_name) for d in first)
        b = _mean(d.get(field_name) for d in last)
        changes[key] = (b - a) / a * 100.0 if a not in (None, 0) and b is not None else None
    limit = settings.trend_resource_percent
    known = [c for c in changes.values() if c is not None]
    if any(c > limit for c in known):
        return "degrading", changes
    if len(known) == 2 and all(c < -limit for c in known):
        return "improving", changes
    return "stable", changes


def _day_list(days: Iterable[dict[str, Any]]) -> str:
    numbers = [str(d["day_number"]) for d in days]
    return ", ".join(numbers) if numbers else "none"


def _evidence(criterion: str, metric: str, value: Any, threshold: Any, days: list[int], text: str) -> dict[str, Any]:
    return {"criterion": criterion, "metric": metric, "value": value, "threshold": threshold,
            "days": days, "text": text}


def weekly_summary(
    daily: Sequence[dict[str, Any]],
    window: Window,
    baseline: Baseline | None,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    generated_at: datetime | None = None,
    service: str | None = None,
    anomalies: Sequence[dict[str, Any]] | None = None,
    burndown: dict[str, Any] | None = None,
    comparison: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The weekly summary: score, grade, trends, rollback decision, recommendations.

    Days with no snapshots are listed in ``daily_summaries`` (as missing) and
    in ``missing_days`` but left out of every average and trend.

    Parameters
    ----------
    anomalies, burndown, comparison
        Optional evidence: anomaly events (``anomalies.jsonl`` dicts), the
        error-budget burn-down (``slo_burndown.json``) and the baseline
        comparison rows (:func:`stabmon.core.compare.compare_days`). When given they
        are summarized in the weekly document and cited by the recommendations.
    """
    daily = sorted(daily, key=lambda d: d["day_number"])
    with_data = [d for d in daily if d["snapshot_count"] > 0]
    missing_days = [d["day_number"] for d in daily if d["snapshot_count"] == 0]

    avg_availability = _mean(d["avg_availability"] for d in with_data)
    avg_error_rate = _mean(d["avg_error_rate"] for d in with_data)
    avg_p99 = _mean(d["avg_p99_latency_ms"] for d in with_data)
    avg_drift = _mean(d["avg_drift_percent"] for d in with_data)
    availability_compliance = _mean(d["slo_compliance_percent"] for d in with_data)
    latency_compliance = _mean(d["latency_slo_compliance_percent"] for d in with_data)
    score = stability_score(availability_compliance, latency_compliance, avg_drift, settings)
    grade = grade_for(score)

    requests = sum(d["total_requests"] or 0 for d in with_data)
    errors = sum(d["total_errors"] or 0 for d in with_data)
    weighted_error_rate = errors / requests * 100.0 if requests > 0 else None

    degraded = [d for d in with_data if d["degraded"]]
    critical = sum(d["total_critical_alerts"] for d in daily)
    warning = sum(d["total_warning_alerts"] for d in daily)
    info = sum(d["total_info_alerts"] for d in daily)

    a_trend, a_diff = availability_trend(with_data, settings)
    l_trend, l_diff = latency_trend(with_data, settings)
    r_trend, r_changes = resource_trend(with_data, settings)

    worst_availability = sorted(
        (d for d in with_data if d["avg_availability"] is not None), key=lambda d: d["avg_availability"]
    )
    critical_days = [d["day_number"] for d in daily if d["total_critical_alerts"]]

    # Rollback: each criterion that fires gives one reason with its figures.
    evidence: list[dict[str, Any]] = []
    if avg_availability is not None and avg_availability < settings.rollback_availability_percent:
        low = worst_availability[0]
        evidence.append(_evidence(
            "availability", "availability", round(avg_availability, 4), settings.rollback_availability_percent,
            [d["day_number"] for d in worst_availability if d["avg_availability"] < settings.rollback_availability_percent],
            f"Average availability {avg_availability:.3f}% is below the {settings.rollback_availability_percent}% SLO "
            f"(lowest: day {low['day_number']} at {low['avg_availability']:.3f}%)",
        ))
    if avg_drift is not None and avg_drift > settings.rollback_drift_percent:
        drift_days = [d["day_number"] for d in with_data if (d["avg_drift_percent"] or 0) > settings.rollback_drift_percent]
        evidence.append(_evidence(
            "drift", "drift", round(avg_drift, 4), settings.rollback_drift_percent, drift_days,
            f"Average drift from baseline {avg_drift:.1f}% exceeds {settings.rollback_drift_percent}% "
            f"(days over it: {', '.join(map(str, drift_days)) or 'none'})",
        ))
    if len(degraded) >= settings.rollback_degraded_days:
        evidence.append(_evidence(
            "degraded_days", "days_with_degradation", len(degraded), settings.rollback_degraded_days,
            [d["day_number"] for d in degraded],
            f"{len(degraded)} days degraded (days {_day_list(degraded)}), limit {settings.rollback_degraded_days}: "
            + "; ".join(f"day {d['day_number']}: {_degradation_text(d, settings)}" for d in degraded),
        ))
    if critical > settings.rollback_critical_alerts:
        evidence.append(_evidence(
            "critical_alerts", "total_critical_alerts", critical, settings.rollback_critical_alerts, critical_days,
            f"{critical} critical alert episodes exceed the limit of {settings.rollback_critical_alerts} "
            f"(days {', '.join(map(str, critical_days))})",
        ))

    summary: dict[str, Any] = {
        "service": service if service is not None else (baseline.service if baseline else None),
        "start_time": format_time(window.start),
        "end_time": format_time(window.end),
        "total_duration_hours": window.duration_hours,
        "interval_minutes": window.interval_minutes,
        "total_snapshots": sum(d["snapshot_count"] for d in daily),
        "expected_snapshots": sum(d["_metadata"]["expected_snapshots"] for d in daily),
        "baseline_timestamp": format_time(baseline.timestamp) if baseline else None,
        "avg_availability": _round(avg_availability),
        "request_weighted_availability": _round(100.0 - weighted_error_rate, 6) if weighted_error_rate is not None else None,
        "avg_error_rate": _round(avg_error_rate),
        "request_weighted_error_rate": _round(weighted_error_rate, 6),
        "total_requests": int(requests),
        "total_errors": int(errors),
        "avg_p99_latency_ms": _round(avg_p99, 3),
        "avg_drift_percent": _round(avg_drift),
        "avg_slo_compliance_percent": _round(availability_compliance),
        "avg_latency_slo_compliance_percent": _round(latency_compliance),
        "stability_score": _round(score, 2),
        "stability_grade": grade,
        "days_with_degradation": len(degraded),
        "degraded_days": [d["day_number"] for d in degraded],
        "missing_days": missing_days,
        "total_critical_alerts": critical,
        "total_warning_alerts": warning,
        "total_info_alerts": info,
        "daily_summaries": list(daily),
        "availability_trend": a_trend,
        "latency_trend": l_trend,
        "resource_trend": r_trend,
        "trend_details": {
            "compared_days": [[d["day_number"] for d in half] for half in _halves(with_data)],
            "availability_change_points": _round(a_diff),
            "latency_change_ms": _round(l_diff, 3),
            "cpu_change_percent": _round(r_changes.get("cpu")),
            "memory_change_percent": _round(r_changes.get("memory")),
        },
        "rollback_recommended": bool(evidence),
        "rollback_reasons": [e["text"] for e in evidence],
        "rollback_evidence": evidence,
        "anomaly_summary": anomaly_summary(anomalies) if anomalies is not None else None,
        "slo_burndown": _burndown_summary(burndown),
        "baseline_comparison": list(comparison) if comparison is not None else None,
        "settings": settings.to_dict(),
        "_metadata": {
            "schema_version": SCHEMA_VERSION,
            "generated_at": format_time(generated_at) if generated_at else None,
        },
    }
    recommendations, actions = recommendations_and_actions(summary, settings)
    summary["recommendations"] = recommendations
    summary["action_items"] = actions
    return summary


def anomaly_summary(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts of anomaly events by severity and metric, and the medium and high events themselves."""
    by_severity = {"low": 0, "medium": 0, "high": 0}
    by_metric: dict[str, int] = {}
    for event in events:
        by_severity[event["severity"]] = by_severity.get(event["severity"], 0) + 1
        by_metric[event["metric"]] = by_metric.get(event["metric"], 0) + 1
    notable = [e for e in events if e["severity"] in ("medium", "high")]
    return {
        "total": len(events),
        "by_severity": by_severity,
        "by_metric": dict(sorted(by_metric.items())),
        "notable_events": sorted(notable, key=lambda e: e["timestamp"]),
    }


def _burndown_summary(burndown: dict[str, Any] | None) -> dict[str, Any] | None:
    if burndown is None:
        return None
    days = burndown.get("days") or []
    last = days[-1] if days else {}
    return {
        "slo_target_percent": burndown["slo_target_percent"],
        "error_budget_requests": burndown["error_budget_requests"],
        "cumulative_consumed_percent": last.get("cumulative_consumed_percent"),
        "budget_remaining_percent": last.get("budget_remaining_percent"),
        "burn_rate_1h": burndown.get("burn_rate_1h"),
        "burn_rate_6h": burndown.get("burn_rate_6h"),
        "projected_exhaustion": burndown.get("projected_exhaustion"),
    }


def _degradation_text(day: dict[str, Any], settings: Settings) -> str:
    parts = []
    if day["availability_degraded"]:
        parts.append(f"availability SLO compliance {day['slo_compliance_percent']:.1f}% < "
                     f"{settings.degradation_compliance_percent:g}%")
    if day["latency_degraded"]:
        parts.append(f"latency SLO compliance {day['latency_slo_compliance_percent']:.1f}% < "
                     f"{settings.degradation_compliance_percent:g}%")
    if day["error_rate_degraded"]:
        parts.append(f"avg error rate {day['avg_error_rate']:.3f}% >= {settings.error_rate_degraded_percent:g}%")
    return ", ".join(parts)


def recommendations_and_actions(summary: dict[str, Any], settings: Settings = DEFAULT_SETTINGS) -> tuple[list[str], list[str]]:
    """The seed's seven recommendations and its action items, each only when its condition holds.

    Every line cites the figure, the threshold and the days behind it.
    """
    days = [d for d in summary["daily_summaries"] if d["snapshot_count"] > 0]
    recs: list[str] = []
    actions: list[str] = []

    availability = summary["avg_availability"]
    if availability is not None and availability < settings.availability_slo_percent:
        bad = [d for d in days if d["availability_degraded"] or (d["avg_availability"] or 100) < settings.availability_slo_percent]
        recs.append(
            f"Availability {availability:.3f}% is below the {settings.availability_slo_percent}% SLO "
            f"(days {_day_list(bad)}): investigate service health and scaling."
        )
        actions.append(f"Review pod restart patterns and resource limits for days {_day_list(bad)}")
        actions.append(f"Schedule incident review for availability degradation (avg {availability:.3f}%)")

    slow = [d for d in days if d["latency_degraded"]]
    p99 = summary["avg_p99_latency_ms"]
    if slow or (p99 is not None and p99 >= settings.latency_slo_p99_ms):
        worst = max(days, key=lambda d: d["max_p99_latency_ms"] or 0)
        recs.append(
            f"P99 latency above the {settings.latency_slo_p99_ms:g} ms SLO "
            f"(days {_day_list(slow)}; peak {_fmt(worst['max_p99_latency_ms'], ' ms', 0)} on day {worst['day_number']}): "
            "optimize database queries and caching."
        )
        actions.append(f"Run EXPLAIN ANALYZE on slow queries from day {worst['day_number']}")
        actions.append("Profile API endpoints with distributed tracing")

    drift = summary["avg_drift_percent"]
    if drift is not None and drift > settings.drift_threshold_percent:
        drifting = sorted({m for d in days for m in d["metrics_exceeding_drift_threshold"]})
        recs.append(
            f"Average drift from baseline {drift:.1f}% exceeds {settings.drift_threshold_percent:g}% "
            f"(metrics: {', '.join(drifting) or 'none over threshold on a single day'}): investigate unexpected behavior changes."
        )
        actions.append("Compare baseline vs current configurations")

    if summary["resource_trend"] == "degrading":
        details = summary["trend_details"]
        recs.append(
            f"Resource usage is rising (CPU {_signed(details['cpu_change_percent'])}, "
            f"memory {_signed(details['memory_change_percent'])} second half vs first half, "
            f"threshold {settings.trend_resource_percent:g}%): capacity planning needed."
        )
        actions.append("Review HPA settings and node autoscaling thresholds")

    critical = summary["total_critical_alerts"]
    if critical > 0:
        critical_days = [d for d in summary["daily_summaries"] if d["total_critical_alerts"]]
        recs.append(
            f"{critical} critical alert episode(s) fired (days {_day_list(critical_days)}): "
            "review alert definitions and fix root causes."
        )
        actions.append("Document critical alert incidents in retrospective")

    degraded = summary["days_with_degradation"]
    if degraded >= settings.rollback_degraded_days:
        recs.append(
            f"{degraded} days degraded (days {', '.join(map(str, summary['degraded_days']))}, "
            f"limit {settings.rollback_degraded_days}): consider rollback to previous version."
        )

    score = summary["stability_score"]
    if score is not None and score < settings.low_score_threshold:
        recs.append(
            f"Stability score {score:.1f} (grade {summary['stability_grade']}) is below "
            f"{settings.low_score_threshold:g}: comprehensive review required."
        )

    anomalies = summary.get("anomaly_summary") or {}
    high = [e for e in anomalies.get("notable_events", []) if e["severity"] == "high"]
    if high:
        cited = "; ".join(
            f"{METRIC_LABELS.get(e['metric'], e['metric'])} {e['type'].replace('_', ' ')} on day {e['day_number']} "
            f"at {e['timestamp'][11:16]} UTC ({e['value']:.4g} vs expected {e['expected']:.4g}, z={e['z_score']:.1f})"
            for e in high[:5]
        )
        more = f" and {len(high) - 5} more" if len(high) > 5 else ""
        recs.append(f"{len(high)} high-severity anomalies: {cited}{more}: correlate with deploys and incidents.")
        actions.append("Annotate each high-severity anomaly with its cause in the retrospective")

    burn = summary.get("slo_burndown") or {}
    remaining = burn.get("budget_remaining_percent")
    if remaining is not None and remaining < 0:
        recs.append(
            f"The error budget of the {burn['slo_target_percent']:g}% SLO is exhausted "
            f"({burn['cumulative_consumed_percent']:.0f}% consumed): freeze risky changes until it recovers."
        )
        actions.append("Freeze non-urgent releases until the error budget recovers")
    elif burn.get("projected_exhaustion"):
        recs.append(
            f"At the current 6 h burn rate ({burn['burn_rate_6h']:.2f}x) the error budget runs out at "
            f"{burn['projected_exhaustion']}: act before then."
        )

    regressions = [r for r in summary.get("baseline_comparison") or [] if r.get("degraded")]
    if regressions:
        cited = "; ".join(
            f"{METRIC_LABELS.get(r['metric'], r['metric'])} day {r['day_number']} {r['verdict']} "
            f"(median {r['day_median']:.4g} vs baseline {r['baseline_median']:.4g}, p={r['p_value']:.2g})"
            for r in regressions[:5]
        )
        more = f" and {len(regressions) - 5} more" if len(regressions) > 5 else ""
        recs.append(f"Worse than the release-day baseline (Mann-Whitney U, effect-size guarded): {cited}{more}.")

    if summary["rollback_recommended"]:
        actions.append("Prepare rollback plan for the previous version")
    if recs:
        actions.append("Schedule post-release retrospective meeting")
    return recs, actions


# ---------------------------------------------------------------------------
# validation helpers used by the file store and the CLI


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
