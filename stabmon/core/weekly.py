"""The weekly summary (``weekly_summary.json``): the week's figures, score, trends and verdict.

Weekly figures are means of the daily figures over the days with data; a
day with no snapshots is listed (in ``daily_summaries`` and ``missing_days``)
but left out of every average and trend. Pure: no I/O and no clock.

The verdict has three states (docs/contract.md §3.8):

* ``rollback`` when any rollback criterion fired: a rollback is evidence,
  and missing data elsewhere does not take it away;
* else ``inconclusive`` when a key metric has a value in fewer than
  ``min_coverage_percent`` % of the window's expected snapshots (exactly the
  setting is enough), or a preflight finding of severity ``error`` says a key
  metric cannot be trusted;
* else ``pass``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from stabmon.core.advice import recommendations_and_actions
from stabmon.core.anomaly import episodes_from_events
from stabmon.core.daily import coverage_percent
from stabmon.core.figures import days_with_data, mean_of, rounded
from stabmon.core.model import METRIC_FIELDS, SCHEMA_VERSION, Baseline, Window, format_time
from stabmon.core.rollback import rollback_evidence
from stabmon.core.score import grade_for, stability_score
from stabmon.core.settings import DEFAULT_SETTINGS, Settings
from stabmon.core.trends import week_trends


def anomaly_summary(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts of anomaly *episodes* by severity and metric, the episodes, and the medium and high events.

    An excursion and its return are one episode (:func:`stabmon.core.anomaly.episodes_from_events`):
    ``total``, ``by_severity`` (the highest an episode reached) and ``by_metric`` count episodes,
    never recovery lines. ``notable_events`` keeps the medium and high anomaly lines.
    """
    episodes = episodes_from_events(events)
    by_severity = {"low": 0, "medium": 0, "high": 0}
    by_metric: dict[str, int] = {}
    for episode in episodes:
        by_severity[episode["severity"]] = by_severity.get(episode["severity"], 0) + 1
        by_metric[episode["metric"]] = by_metric.get(episode["metric"], 0) + 1
    notable = [e for e in events if e["severity"] in ("medium", "high") and not e.get("recovery")]
    return {
        "total": len(episodes),
        "by_severity": by_severity,
        "by_metric": dict(sorted(by_metric.items())),
        "episodes": episodes,
        "notable_events": sorted(notable, key=lambda e: e["timestamp"]),
    }


def burndown_summary(burndown: dict[str, Any] | None) -> dict[str, Any] | None:
    """The error budget's state at the end of the week (from ``slo_burndown.json``)."""
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


def _window_fields(
    window: Window, daily: Sequence[dict[str, Any]], baseline: Baseline | None, service: str | None
) -> dict[str, Any]:
    return {
        "service": service if service is not None else (baseline.service if baseline else None),
        "start_time": format_time(window.start),
        "end_time": format_time(window.end),
        "total_duration_hours": window.duration_hours,
        "interval_minutes": window.interval_minutes,
        "total_snapshots": sum(d["snapshot_count"] for d in daily),
        "expected_snapshots": sum(d["_metadata"]["expected_snapshots"] for d in daily),
        "baseline_timestamp": format_time(baseline.timestamp) if baseline else None,
    }


def _week_figures(
    with_data: Sequence[dict[str, Any]], avg_availability: float | None, avg_drift: float | None,
    settings: Settings,
) -> dict[str, Any]:
    """Averages, request-weighted figures, score and grade of the days with data."""
    availability_compliance = mean_of(d["slo_compliance_percent"] for d in with_data)
    latency_compliance = mean_of(d["latency_slo_compliance_percent"] for d in with_data)
    score = stability_score(availability_compliance, latency_compliance, avg_drift, settings)
    requests = sum(d["total_requests"] or 0 for d in with_data)
    errors = sum(d["total_errors"] or 0 for d in with_data)
    weighted_error_rate = errors / requests * 100.0 if requests > 0 else None
    return {
        "avg_availability": rounded(avg_availability),
        "request_weighted_availability": (
            rounded(100.0 - weighted_error_rate, 6) if weighted_error_rate is not None else None
        ),
        "avg_error_rate": rounded(mean_of(d["avg_error_rate"] for d in with_data)),
        "request_weighted_error_rate": rounded(weighted_error_rate, 6),
        "total_requests": int(requests),
        "total_errors": int(errors),
        "avg_p99_latency_ms": rounded(mean_of(d["avg_p99_latency_ms"] for d in with_data), 3),
        "avg_drift_percent": rounded(avg_drift),
        "avg_slo_compliance_percent": rounded(availability_compliance),
        "avg_latency_slo_compliance_percent": rounded(latency_compliance),
        "stability_score": rounded(score, 2),
        "stability_grade": grade_for(score),
    }


def _day_counts(daily: Sequence[dict[str, Any]], with_data: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Degraded and missing days, and alert episodes by severity."""
    degraded = [d["day_number"] for d in with_data if d["degraded"]]
    return {
        "days_with_degradation": len(degraded),
        "degraded_days": degraded,
        "missing_days": [d["day_number"] for d in daily if d["snapshot_count"] == 0],
        "total_critical_alerts": sum(d["total_critical_alerts"] for d in daily),
        "total_warning_alerts": sum(d["total_warning_alerts"] for d in daily),
        "total_info_alerts": sum(d["total_info_alerts"] for d in daily),
    }


def window_value_counts(daily: Sequence[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """Per metric, the window's snapshots with a value, and the window's expected snapshots.

    Added up from the days (``_metadata.metric_value_counts`` and
    ``expected_snapshots``), so a day with no snapshot counts as expected
    snapshots without a value.
    """
    counts = {m: 0 for m in METRIC_FIELDS}
    for day in daily:
        for metric, n in (day["_metadata"].get("metric_value_counts") or {}).items():
            if metric in counts:
                counts[metric] += int(n)
    return counts, sum(int(d["_metadata"]["expected_snapshots"]) for d in daily)


def coverage_reasons(counts: dict[str, int], expected: int, settings: Settings) -> list[dict[str, Any]]:
    """One reason per key metric with a value in fewer than ``min_coverage_percent`` % of ``expected``.

    ``values * 100 < min * expected`` compares without rounding, so 9 of 10
    against 90 % is enough (90 % >= 90 %) and 43 of 48 (89.58 %) is not.
    """
    reasons = []
    for metric in settings.key_metrics:
        n = counts.get(metric, 0)
        if n * 100.0 < settings.min_coverage_percent * expected:
            share = n / expected * 100.0 if expected else 0.0
            reasons.append({
                "metric": metric,
                "source": "coverage",
                "reason": f"value in {n} of {expected} snapshots "
                          f"({share:.1f} % < {settings.min_coverage_percent:g} %)",
            })
    return reasons


def preflight_reasons(findings: Sequence[dict[str, Any]] | None, settings: Settings) -> list[dict[str, Any]]:
    """One reason per preflight finding of severity ``error`` on a key metric (its message is the reason)."""
    return [
        {"metric": f["metric"], "source": "preflight", "reason": str(f.get("message") or f.get("code") or "error")}
        for f in findings or []
        if f.get("severity") == "error" and f.get("metric") in settings.key_metrics
    ]


def decide_verdict(has_rollback_evidence: bool, reasons: Sequence[dict[str, Any]]) -> str:
    """``rollback`` (evidence wins), else ``inconclusive`` (any reason), else ``pass``."""
    if has_rollback_evidence:
        return "rollback"
    return "inconclusive" if reasons else "pass"


def window_progress(days_closed: int | None, day_count: int) -> dict[str, Any]:
    """``window_complete`` and ``days_closed`` of a summary (docs/contract.md §4.6).

    ``days_closed`` is ``None`` for a summary of the whole window (every day
    closed); a catch-up run of an unfinished window gives the days that have
    closed so far.
    """
    closed = day_count if days_closed is None else min(int(days_closed), day_count)
    return {"window_complete": closed >= day_count, "days_closed": closed}


def days_closed_at(window: Window, now: datetime) -> int | None:
    """The days of ``window`` closed at ``now``, or ``None`` once the window has ended (the whole window)."""
    if now >= window.end:
        return None
    return sum(1 for d in range(1, window.day_count + 1) if window.day_bounds(d)[1] <= now)


def unfinished_window_reason(days_closed: int, day_count: int) -> dict[str, Any]:
    """The inconclusive reason of a window that has not ended: a pass cannot be given early."""
    return {"metric": "window", "source": "window",
            "reason": f"the window is not over: {days_closed} of {day_count} days closed"}


def score_basis(daily: Sequence[dict[str, Any]], with_data: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the score was computed from: ``partial`` when a day is missing or not complete."""
    complete = sum(1 for d in daily if d["_metadata"].get("data_completeness") == "complete")
    return {
        "partial": complete < len(daily),
        "days": len(daily),
        "days_with_data": len(with_data),
        "complete_days": complete,
    }


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
    preflight: Sequence[dict[str, Any]] | None = None,
    days_closed: int | None = None,
) -> dict[str, Any]:
    """The weekly summary: score, grade, trends, verdict, recommendations.

    Days with no snapshots are listed in ``daily_summaries`` (as missing) and
    in ``missing_days`` but left out of every average and trend.

    Parameters
    ----------
    anomalies, burndown, comparison
        Optional evidence: anomaly events (``anomalies.jsonl`` dicts), the
        error-budget burn-down (``slo_burndown.json``) and the baseline
        comparison rows (:func:`stabmon.core.compare.compare_days`). When given they
        are summarized in the weekly document and cited by the recommendations.
    preflight
        The findings of the preflight check (``run.json`` key ``preflight``):
        dicts with ``metric``, ``severity``, ``code`` and ``message``. An
        ``error`` on a key metric makes the verdict ``inconclusive``.
    days_closed
        For the summary of a window that has not ended (a catch-up run): the
        days closed so far. ``window_complete`` is then false and the verdict
        is never ``pass`` (``inconclusive`` with a ``window`` reason), while a
        ``rollback`` whose criteria already fired stands. ``None``: the
        window is over.
    """
    daily = sorted(daily, key=lambda d: d["day_number"])
    with_data = days_with_data(daily)
    # Unrounded: the rollback criteria compare these, the document shows them rounded.
    avg_availability = mean_of(d["avg_availability"] for d in with_data)
    avg_drift = mean_of(d["avg_drift_percent"] for d in with_data)
    evidence = rollback_evidence(daily, avg_availability, avg_drift, settings)
    counts, expected = window_value_counts(daily)
    reasons = coverage_reasons(counts, expected, settings) + preflight_reasons(preflight, settings)
    progress = window_progress(days_closed, window.day_count)
    if not progress["window_complete"]:
        reasons.append(unfinished_window_reason(progress["days_closed"], window.day_count))
    verdict = decide_verdict(bool(evidence), reasons)
    summary: dict[str, Any] = {
        **_window_fields(window, daily, baseline, service),
        **progress,
        **_week_figures(with_data, avg_availability, avg_drift, settings),
        "score_basis": score_basis(daily, with_data),
        **_day_counts(daily, with_data),
        "daily_summaries": list(daily),
        **week_trends(with_data, settings),
        "verdict": verdict,
        # The reasons stand even under a rollback: the reader sees what was not measured.
        "inconclusive_reasons": reasons,
        "metric_coverage_percent": {m: coverage_percent(n, expected) for m, n in counts.items()},
        "preflight_findings": list(preflight) if preflight is not None else None,
        "rollback_recommended": verdict == "rollback",
        "rollback_reasons": [e["text"] for e in evidence],
        "rollback_evidence": evidence,
        "anomaly_summary": anomaly_summary(anomalies) if anomalies is not None else None,
        "slo_burndown": burndown_summary(burndown),
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
