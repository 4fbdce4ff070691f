"""Recommendations and action items of the weekly summary.

One function per rule (the seed's seven, then the anomaly, error-budget and
baseline-comparison ones), in the order the report lists them. Each fires
only when its condition holds and cites the figure, the threshold and the
days behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Sequence

from stabmon.core.budget import budget_exhausted_day, budget_used_percent
from stabmon.core.durations import format_duration
from stabmon.core.figures import day_list, days_with_data
from stabmon.core.model import METRIC_LABELS, parse_time
from stabmon.core.rollback import week_regression_drift
from stabmon.core.settings import DEFAULT_SETTINGS, Settings
from stabmon.core.wording import drift_target, rollback_limit

if TYPE_CHECKING:
    from stabmon.core.impact import Breach

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
    drift = week_regression_drift(days)
    if drift is None or not drift > settings.drift_threshold_percent:
        return None
    drifting = sorted({m for d in days for m in d["metrics_exceeding_drift_threshold"]})
    return Advice(
        f"Average regression drift from the baseline {drift:.1f} % is over the {drift_target(settings)}; metrics "
        f"over it on at least one day: {', '.join(drifting) or 'none on a single day'}: "
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
        f"{degraded} degraded days, days {', '.join(map(str, summary['degraded_days']))} "
        f"(rollback limit: {rollback_limit('degraded_days', settings)}): consider rollback to previous version."
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
            f"The error budget of the {burn['slo_target_percent']:g} % SLO is exhausted "
            f"({burn['cumulative_consumed_percent']:.1f} % used): freeze risky changes until it recovers.",
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


# ---------------------------------------------------------------------------
# the retrospective's action items


#: The fields a team fills in on each retrospective action item.
ACTION_FIELDS = "owner: TBD · due: TBD"

#: A breach detected later than this many snapshot intervals asks for a faster alert.
SLOW_DETECTION_INTERVALS = 1


def _hhmm(ts: datetime) -> str:
    return ts.strftime("%a %d %b %H:%M")


def _slo_words(slo: str, settings: Settings) -> str:
    if slo == "availability":
        return f"availability below the {settings.availability_slo_percent:g} % SLO"
    return f"p99 latency at or over the {settings.latency_slo_p99_ms:g} ms SLO"


def _worst(breach: "Breach") -> str:
    return f"lowest {breach.worst:.3f} %" if breach.slo == "availability" else f"peak {breach.worst:.0f} ms"


def _within(start: datetime, end: datetime, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    # Spans are (start, end]: two that only touch share no snapshot.
    return any(start < span_end and end > span_start for span_start, span_end in spans)


def retrospective_actions(
    summary: dict[str, Any],
    breaches: Sequence["Breach"],
    *,
    burndown: dict[str, Any] | None = None,
    drifting: dict[str, float] | None = None,
    release: str | None = None,
) -> list[str]:
    """The retrospective's action items: each one from a piece of this window's evidence, none twice.

    In order: the rollback decision; for each SLO breach, its cause, and a
    missing or late alert, or a breach not over; each critical alert that no
    breach explains; the exhausted error budget; rising resources; metrics
    drifting over the drift target that no breach explains; high-severity
    anomalies that no breach or critical alert covers; key metrics that could
    not be read; days without data. Each ends with :data:`ACTION_FIELDS`.
    Nothing a retrospective is itself (no "schedule a retrospective", no
    "document the incidents in the retrospective") and no advice the
    evidence does not point to (stabmon sees no database, so none about one).

    Parameters
    ----------
    summary
        The weekly summary document.
    breaches
        The window's SLO breaches (:func:`stabmon.core.impact.slo_breaches`).
    burndown
        ``slo_burndown.json`` (the budget item needs ``budget_exhausted_at``).
    drifting
        Metrics whose average drift over the window is over the drift target,
        with that drift in % (the figures the report shows beside them).
    release
        The release's name, when recorded.
    """
    known = DEFAULT_SETTINGS.to_dict()
    settings = Settings.from_mapping({k: v for k, v in (summary.get("settings") or {}).items() if k in known})
    interval = timedelta(minutes=float(summary["interval_minutes"]))
    items: list[str] = []
    evidence = summary.get("rollback_evidence") or []
    if summary.get("verdict") == "rollback" or summary.get("rollback_recommended"):
        fired = "; ".join(f"{rollback_limit(e['criterion'], settings)}: {_figure(e)}" for e in evidence)
        items.append(f"Decide whether to roll back {release or 'the release'}: {len(evidence)} of 4 rollback "
                     f"limits reached ({fired}).")
    spans = [(b.span_start, b.last) for b in breaches]
    for b in breaches:
        where = f"day {_day(summary, b.first)} ({_hhmm(b.span_start)}-{b.last:%H:%M} UTC)"
        items.append(f"Find the cause of the {b.slo} breach of {where}: {format_duration(b.minutes / 60)} of "
                     f"{_slo_words(b.slo, settings)}, {_worst(b)}; record what ended it.")
        if b.alert is None:
            items.append(f"Add an alert on {_slo_words(b.slo, settings)}: the breach of {where} fired no critical "
                         "or warning alert.")
        elif b.time_to_detect is not None and b.time_to_detect > SLOW_DETECTION_INTERVALS * interval:
            items.append(f"Alert sooner on {_slo_words(b.slo, settings)}: {b.alert} fired "
                         f"{format_duration(b.time_to_detect.total_seconds() / 3600)} after the breach of {where} "
                         "began.")
        if b.back_at is None:
            items.append(f"Bring {b.slo} back within its SLO: out of it since {_hhmm(b.span_start)} UTC and not "
                         "back by the end of the data.")
    for day in summary["daily_summaries"]:
        for episode in day.get("alert_episodes") or []:
            if str(episode["severity"]).lower() != "critical":
                continue
            start, end = parse_time(episode["start"]) - interval, parse_time(episode["end"])
            if not _within(start, end, spans):
                items.append(f"Find why {episode['alertname']} fired on day {episode['day_number']} "
                             f"({_hhmm(start)}-{end:%H:%M} UTC) while the SLOs held: a real problem or a noisy "
                             "alert.")
    if burndown and burndown.get("budget_exhausted_at"):
        used = budget_used_percent(burndown)
        items.append(f"Hold non-urgent releases of {summary.get('service') or 'the service'} until the error budget "
                     f"of the {burndown['slo_target_percent']:g} % SLO recovers (exhausted on day "
                     f"{budget_exhausted_day(burndown)}, {used:.1f} % used).")
    if summary.get("resource_trend") == "degrading":
        details = summary.get("trend_details") or {}
        rising = [f"{name} {value:+.1f} %" for name, value in (("memory", details.get("memory_change_percent")),
                                                              ("CPU", details.get("cpu_change_percent")))
                  if value is not None and value > settings.trend_resource_percent]
        items.append(f"Check the rise of {' and '.join(rising)} over the window (last days against first) for a "
                     "leak or a capacity limit before the next release.")
    covered = {"availability": ("availability", "error_rate"), "latency": ("p95_latency_ms", "p99_latency_ms")}
    explained = {m for b in breaches for m in covered[b.slo]}
    unexplained = {m: v for m, v in (drifting or {}).items() if m not in explained}
    if unexplained:
        items.append("Explain the drift from the baseline of " + ", ".join(
            f"{m} ({v:+.1f} %)" for m, v in sorted(unexplained.items(), key=lambda kv: -abs(kv[1])))
            + f": over the {drift_target(settings)}.")
    critical = [(parse_time(e["start"]) - interval, parse_time(e["end"])) for d in summary["daily_summaries"]
                for e in d.get("alert_episodes") or [] if str(e["severity"]).lower() == "critical"]
    for episode in (summary.get("anomaly_summary") or {}).get("episodes") or []:
        if episode["severity"] != "high":
            continue
        start, end = parse_time(episode["start"]) - interval, parse_time(episode["end"])
        if not _within(start, end, spans + critical):
            items.append(f"Explain the {episode['metric']} {episode['type'].replace('_', ' ')} of day "
                         f"{episode['day_number']} at {parse_time(episode['start']):%H:%M} UTC (peak "
                         f"{episode['peak_value']:.4g}, expected {episode['expected']:.4g}): no SLO breach or "
                         "critical alert covers it.")
    doubted = sorted({str(r.get("metric")) for r in summary.get("inconclusive_reasons") or []})
    if doubted:
        items.append(f"Make {', '.join(doubted)} readable before the next release ('stabmon check' says why each "
                      "could not be read): the verdict could not judge them.")
    if summary.get("missing_days"):
        items.append(f"Find out why days {', '.join(map(str, summary['missing_days']))} have no data and fix "
                     "the collection.")
    return [f"{item} {ACTION_FIELDS}" for item in dict.fromkeys(items)]


def _figure(evidence: dict[str, Any]) -> str:
    """A rollback criterion's figure as the reports print it: ``68.8 %``, ``2``."""
    value = evidence["value"]
    return f"{value:.1f} %" if evidence["criterion"] in ("availability", "drift") else f"{value:g}"


def _day(summary: dict[str, Any], ts: datetime) -> int:
    start = parse_time(summary["start_time"])
    return int((ts - start).total_seconds() // 86400) + 1
