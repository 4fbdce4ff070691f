"""The rollback criteria: each one that fires gives one reason with its figures and days.

A rollback is recommended when any criterion fires (the settings' defaults):
average availability below 99.9 %, average regression drift (harmful
direction only, :mod:`stabmon.core.drift`) above 15 %, two or more
degraded days, or more than five critical alert episodes.
"""

from __future__ import annotations

from typing import Any, Sequence

from stabmon.core.figures import day_list, days_with_data, mean_of
from stabmon.core.settings import DEFAULT_SETTINGS, Settings
from stabmon.core.wording import rollback_limit


def _evidence(criterion: str, metric: str, value: Any, threshold: Any, days: list[int], text: str) -> dict[str, Any]:
    return {"criterion": criterion, "metric": metric, "value": value, "threshold": threshold,
            "days": days, "text": text}


def degradation_text(day: dict[str, Any], settings: Settings = DEFAULT_SETTINGS) -> str:
    """Why a daily summary is degraded, one clause per flag that is set (the words every report uses)."""
    return "; ".join(degradation_reasons(day, settings))


def degradation_reasons(day: dict[str, Any], settings: Settings = DEFAULT_SETTINGS) -> list[str]:
    """The clauses of :func:`degradation_text`: ``availability SLO compliance 83.3 % < 95 %`` and so on."""
    parts = []
    if day["availability_degraded"]:
        parts.append(f"availability SLO compliance {day['slo_compliance_percent']:.1f} % < "
                     f"{settings.degradation_compliance_percent:g} %")
    if day["latency_degraded"]:
        parts.append(f"latency SLO compliance {day['latency_slo_compliance_percent']:.1f} % < "
                     f"{settings.degradation_compliance_percent:g} %")
    if day["error_rate_degraded"]:
        parts.append(f"average error rate {day['avg_error_rate']:.3f} % ≥ {settings.error_rate_degraded_percent:g} %")
    return parts


def week_regression_drift(days: Sequence[dict[str, Any]]) -> float | None:
    """The week's regression drift: the mean of the days' ``avg_regression_drift_percent`` (days with data)."""
    return mean_of(d.get("avg_regression_drift_percent") for d in days_with_data(days))


def _availability(days: Sequence[dict[str, Any]], avg_availability: float | None,
                  settings: Settings) -> dict[str, Any] | None:
    threshold = settings.rollback_availability_percent
    if avg_availability is None or not avg_availability < threshold:
        return None
    worst_first = sorted((d for d in days if d["avg_availability"] is not None), key=lambda d: d["avg_availability"])
    low = worst_first[0]
    return _evidence(
        "availability", "availability", round(avg_availability, 4), threshold,
        [d["day_number"] for d in worst_first if d["avg_availability"] < threshold],
        f"Average availability {avg_availability:.3f} % (rollback limit: {rollback_limit('availability', settings)}; "
        f"lowest: day {low['day_number']} at {low['avg_availability']:.3f} %)",
    )


def _drift(days: Sequence[dict[str, Any]], avg_drift: float | None, settings: Settings) -> dict[str, Any] | None:
    """Fires on the week's average *regression* drift, never on improvements.

    ``avg_drift`` (the seed's absolute drift) is not the test: CPU below the
    baseline or an error rate that fell to 0 would recommend a rollback. The
    week's regression drift is the mean of the days' ``avg_regression_drift_percent``.
    """
    threshold = settings.rollback_drift_percent
    regression = week_regression_drift(days)
    if regression is None or not regression > threshold:
        return None
    drift_days = [d["day_number"] for d in days if (d.get("avg_regression_drift_percent") or 0) > threshold]
    return _evidence(
        "drift", "regression_drift", round(regression, 4), threshold, drift_days,
        f"Average regression drift from the baseline {regression:.1f} % (rollback limit: "
        f"{rollback_limit('drift', settings)}; days over {threshold:g} %: {', '.join(map(str, drift_days)) or 'none'})",
    )


def _degraded_days(days: Sequence[dict[str, Any]], settings: Settings) -> dict[str, Any] | None:
    limit = settings.rollback_degraded_days
    degraded = [d for d in days if d["degraded"]]
    if len(degraded) < limit:
        return None
    return _evidence(
        "degraded_days", "days_with_degradation", len(degraded), limit, [d["day_number"] for d in degraded],
        f"{len(degraded)} degraded days, days {day_list(degraded)} (rollback limit: "
        f"{rollback_limit('degraded_days', settings)}): "
        + "; ".join(f"day {d['day_number']}: {', '.join(degradation_reasons(d, settings))}" for d in degraded),
    )


def _critical_alerts(daily: Sequence[dict[str, Any]], settings: Settings) -> dict[str, Any] | None:
    limit = settings.rollback_critical_alerts
    critical = sum(d["total_critical_alerts"] for d in daily)
    if not critical > limit:
        return None
    critical_days = [d["day_number"] for d in daily if d["total_critical_alerts"]]
    return _evidence(
        "critical_alerts", "total_critical_alerts", critical, limit, critical_days,
        f"{critical} critical alert episodes (rollback limit: {rollback_limit('critical_alerts', settings)}; "
        f"days {', '.join(map(str, critical_days))})",
    )


def rollback_evidence(
    daily: Sequence[dict[str, Any]],
    avg_availability: float | None,
    avg_drift: float | None,
    settings: Settings = DEFAULT_SETTINGS,
) -> list[dict[str, Any]]:
    """The criteria that fire, in a fixed order (availability, drift, degraded days, critical alerts).

    Parameters
    ----------
    daily
        Every daily summary of the week, by day number (missing days included).
    avg_availability, avg_drift
        The week's averages as the weekly summary computes them (unrounded).

    Returns
    -------
    list of dict
        ``criterion``, ``metric``, ``value``, ``threshold``, ``days`` and the
        reason's ``text`` of each criterion that fired.
    """
    with_data = days_with_data(daily)
    found = (
        _availability(with_data, avg_availability, settings),
        _drift(with_data, avg_drift, settings),
        _degraded_days(with_data, settings),
        _critical_alerts(daily, settings),
    )
    return [evidence for evidence in found if evidence is not None]
