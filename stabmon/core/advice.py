"""Recommendations and action items of the weekly summary.

One function per rule (the seed's seven, then the anomaly, error-budget and
baseline-comparison ones), in the order the report lists them. Each fires
only when its condition holds and cites the figure, the threshold and the
days behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from stabmon.core.figures import day_list, days_with_data, mean_of
from stabmon.core.model import METRIC_LABELS
from stabmon.core.settings import DEFAULT_SETTINGS, Settings

#: How many anomalies or regressions a recommendation cites by name before "and N more".
CITED = 5


@dataclass(frozen=True)
class Advice:
    """One recommendation and the action items that go with it."""

    recommendation: str
    actions: tuple[str, ...] = ()


#: A rule: (weekly summary, its days with data, settings) -> advice, or None when it does not fire.
Rule = Callable[[dict[str, Any], Sequence[dict[str, Any]], Settings], Advice | None]


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def _cited(items: Sequence[dict[str, Any]], describe: Callable[[dict[str, Any]], str]) -> str:
    """The first :data:`CITED` items described, ``"; "``-separated, then how many more there are."""
    text = "; ".join(describe(item) for item in items[:CITED])
    return text + (f" and {len(items) - CITED} more" if len(items) > CITED else "")


def _availability(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    availability = summary["avg_availability"]
    slo = settings.availability_slo_percent
    if availability is None or not availability < slo:
        return None
    bad = [d for d in days if d["availability_degraded"] or (d["avg_availability"] or 100) < slo]
    return Advice(
        f"Availability {availability:.3f}% is below the {slo}% SLO "
        f"(days {day_list(bad)}): investigate service health and scaling.",
        (f"Review pod restart patterns and resource limits for days {day_list(bad)}",
         f"Schedule incident review for availability degradation (avg {availability:.3f}%)"),
    )


def _latency(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    slow = [d for d in days if d["latency_degraded"]]
    p99 = summary["avg_p99_latency_ms"]
    if not (slow or (p99 is not None and p99 >= settings.latency_slo_p99_ms)):
        return None
    worst = max(days, key=lambda d: d["max_p99_latency_ms"] or 0)
    return Advice(
        f"P99 latency above the {settings.latency_slo_p99_ms:g} ms SLO "
        f"(days {day_list(slow)}; peak {_fmt(worst['max_p99_latency_ms'], ' ms', 0)} on day {worst['day_number']}): "
        "optimize database queries and caching.",
        (f"Run EXPLAIN ANALYZE on slow queries from day {worst['day_number']}",
         "Profile API endpoints with distributed tracing"),
    )


def _drift(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    # Regression drift only: an improvement (CPU below the baseline, fewer
    # errors) is no reason to investigate.
    drift = mean_of(d.get("avg_regression_drift_percent") for d in days)
    if drift is None or not drift > settings.drift_threshold_percent:
        return None
    drifting = sorted({m for d in days for m in d["metrics_exceeding_drift_threshold"]})
    return Advice(
        f"Average regression drift from baseline {drift:.1f}% exceeds {settings.drift_threshold_percent:g}% "
        f"(metrics worse than the baseline: {', '.join(drifting) or 'none over threshold on a single day'}): "
        "investigate unexpected behavior changes.",
        ("Compare baseline vs current configurations",),
    )


def _resources(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    if summary["resource_trend"] != "degrading":
        return None
    details = summary["trend_details"]
    return Advice(
        f"Resource usage is rising (CPU {_signed(details['cpu_change_percent'])}, "
        f"memory {_signed(details['memory_change_percent'])} second half vs first half, "
        f"threshold {settings.trend_resource_percent:g}%): capacity planning needed.",
        ("Review HPA settings and node autoscaling thresholds",),
    )


def _critical_alerts(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    critical = summary["total_critical_alerts"]
    if not critical > 0:
        return None
    critical_days = [d for d in summary["daily_summaries"] if d["total_critical_alerts"]]
    return Advice(
        f"{critical} critical alert episode(s) fired (days {day_list(critical_days)}): "
        "review alert definitions and fix root causes.",
        ("Document critical alert incidents in retrospective",),
    )


def _degraded_days(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    degraded = summary["days_with_degradation"]
    if degraded < settings.rollback_degraded_days:
        return None
    return Advice(
        f"{degraded} days degraded (days {', '.join(map(str, summary['degraded_days']))}, "
        f"limit {settings.rollback_degraded_days}): consider rollback to previous version."
    )


def _low_score(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    score = summary["stability_score"]
    if score is None or not score < settings.low_score_threshold:
        return None
    return Advice(
        f"Stability score {score:.1f} (grade {summary['stability_grade']}) is below "
        f"{settings.low_score_threshold:g}: comprehensive review required."
    )


def _anomalies(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    # One line per episode: an excursion and its return are one incident.
    anomalies = summary.get("anomaly_summary") or {}
    high = [e for e in anomalies.get("episodes", []) if e["severity"] == "high"]
    if not high:
        return None
    cited = _cited(high, lambda e: (
        f"{METRIC_LABELS.get(e['metric'], e['metric'])} {e['type'].replace('_', ' ')} on day {e['day_number']} "
        f"from {e['start'][11:16]} UTC for {e['duration_minutes']:g} min "
        f"(peak {e['peak_value']:.4g} vs expected {e['expected']:.4g}, z={e['peak_z']:.1f}"
        f"{', not back to normal at the end' if e['open'] else ''})"
    ))
    return Advice(
        f"{len(high)} high-severity anomaly episodes: {cited}: correlate with deploys and incidents.",
        ("Annotate each high-severity anomaly with its cause in the retrospective",),
    )


def _error_budget(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    burn = summary.get("slo_burndown") or {}
    remaining = burn.get("budget_remaining_percent")
    if remaining is not None and remaining < 0:
        return Advice(
            f"The error budget of the {burn['slo_target_percent']:g}% SLO is exhausted "
            f"({burn['cumulative_consumed_percent']:.0f}% consumed): freeze risky changes until it recovers.",
            ("Freeze non-urgent releases until the error budget recovers",),
        )
    if burn.get("projected_exhaustion"):
        return Advice(
            f"At the current 6 h burn rate ({burn['burn_rate_6h']:.2f}x) the error budget runs out at "
            f"{burn['projected_exhaustion']}: act before then."
        )
    return None


def _regressions(summary: dict[str, Any], days: Sequence[dict[str, Any]], settings: Settings) -> Advice | None:
    regressions = [r for r in summary.get("baseline_comparison") or [] if r.get("degraded")]
    if not regressions:
        return None
    cited = _cited(regressions, lambda r: (
        f"{METRIC_LABELS.get(r['metric'], r['metric'])} day {r['day_number']} {r['verdict']} "
        f"(median {r['day_median']:.4g} vs baseline {r['baseline_median']:.4g}, p={r['p_value']:.2g})"
    ))
    return Advice(f"Worse than the release-day baseline (Mann-Whitney U, effect-size guarded): {cited}.")


#: Every rule, in the order of the report.
RULES: tuple[Rule, ...] = (
    _availability, _latency, _drift, _resources, _critical_alerts, _degraded_days, _low_score,
    _anomalies, _error_budget, _regressions,
)


def recommendations_and_actions(summary: dict[str, Any], settings: Settings = DEFAULT_SETTINGS) -> tuple[list[str], list[str]]:
    """The seed's seven recommendations and its action items, each only when its condition holds.

    Every line cites the figure, the threshold and the days behind it.
    """
    days = days_with_data(summary["daily_summaries"])
    advice = [found for rule in RULES if (found := rule(summary, days, settings)) is not None]
    recs = [a.recommendation for a in advice]
    actions = [action for a in advice for action in a.actions]
    if summary["rollback_recommended"]:
        actions.append("Prepare rollback plan for the previous version")
    if recs:
        actions.append("Schedule post-release retrospective meeting")
    return recs, actions
