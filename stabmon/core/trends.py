"""Trends of the week: the first half of the days with data against the last half.

With an odd number of days the middle day is left out of both halves, so
each half has the same weight. A change within the setting's threshold is
``stable``. A trend that cannot be computed (fewer than two days with data,
or a half where the signal has no value) is ``unknown``, never ``stable``:
no data says nothing about stability.
"""

from __future__ import annotations

from typing import Any, Sequence

from stabmon.core.figures import mean_of, rounded
from stabmon.core.settings import DEFAULT_SETTINGS, Settings


def halves(days: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """The first and the last ``len(days) // 2`` days."""
    n = len(days)
    half = n // 2
    if half == 0:
        return [], []
    return list(days[:half]), list(days[n - half:])


def _half_means(days: Sequence[dict[str, Any]], key: str) -> tuple[float | None, float | None]:
    first, last = halves(days)
    return mean_of(d.get(key) for d in first), mean_of(d.get(key) for d in last)


def _mean_trend(
    days: Sequence[dict[str, Any]], key: str, threshold: float, *, rising: str, falling: str
) -> tuple[str, float | None]:
    """The trend word for a rise or a fall of the mean of ``key`` past ``threshold``, and the change."""
    a, b = _half_means(days, key)
    if a is None or b is None:
        return "unknown", None
    diff = b - a
    if diff > threshold:
        return rising, diff
    if diff < -threshold:
        return falling, diff
    return "stable", diff


def availability_trend(days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS) -> tuple[str, float | None]:
    """Trend of the mean ``avg_availability`` (first half vs last half), with the difference in points."""
    return _mean_trend(days, "avg_availability", settings.trend_availability_points,
                       rising="improving", falling="degrading")


def latency_trend(days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS) -> tuple[str, float | None]:
    """Trend of the mean ``avg_p99_latency_ms`` (lower is better), with the difference in ms."""
    return _mean_trend(days, "avg_p99_latency_ms", settings.trend_latency_ms, rising="degrading", falling="improving")


def resource_trend(
    days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS
) -> tuple[str, dict[str, float | None]]:
    """Trend of CPU and memory: relative change of the mean, degrading if either rises past 5 %,
    improving if both fall past 5 %, unknown when either change cannot be computed, else stable.

    A rise of one is evidence enough for ``degrading`` even when the other is unknown.
    """
    changes: dict[str, float | None] = {}
    for key, field_name in (("cpu", "avg_cpu_percent"), ("memory", "avg_memory_percent")):
        a, b = _half_means(days, field_name)
        changes[key] = (b - a) / a * 100.0 if a not in (None, 0) and b is not None else None
    limit = settings.trend_resource_percent
    known = [c for c in changes.values() if c is not None]
    if any(c > limit for c in known):
        return "degrading", changes
    if len(known) < len(changes):
        return "unknown", changes
    if all(c < -limit for c in known):
        return "improving", changes
    return "stable", changes


def week_trends(days: Sequence[dict[str, Any]], settings: Settings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """The weekly summary's trend fields (``days``: the days with data, in order)."""
    a_trend, a_diff = availability_trend(days, settings)
    l_trend, l_diff = latency_trend(days, settings)
    r_trend, r_changes = resource_trend(days, settings)
    return {
        "availability_trend": a_trend,
        "latency_trend": l_trend,
        "resource_trend": r_trend,
        "trend_details": {
            "compared_days": [[d["day_number"] for d in half] for half in halves(days)],
            "availability_change_points": rounded(a_diff),
            "latency_change_ms": rounded(l_diff, 3),
            "cpu_change_percent": rounded(r_changes.get("cpu")),
            "memory_change_percent": rounded(r_changes.get("memory")),
        },
    }
