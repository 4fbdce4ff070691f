"""The weekly Markdown report (the seed's ``_format_weekly_summary_markdown``) and the verdict's words.

The verdict comes first, then its evidence (the error budget and the minutes
out of SLO lead when they happened, then the rollback reasons), then the
SLO-compliance score, labelled as such: the score averages compliance and
drift and never decides the verdict, so it is never worded as praise of a
week whose verdict is a rollback. The notebooks (:mod:`stabmon.report.views`)
take the same words from here.
"""

from __future__ import annotations

from typing import Any

from stabmon.core.budget import burndown_markdown_table
from stabmon.core.durations import duration_adjective, format_duration
from stabmon.core.impact import UserImpact, user_impact
from stabmon.core.model import METRIC_LABELS
from stabmon.core.rollback import week_regression_drift
from stabmon.core.score import GRADE_WORDS
from stabmon.core.settings import Settings
from stabmon.core.text import md_escape
from stabmon.core.wording import rollback_limit, rollback_limits_text, targets_text

#: Status words of the Key Metrics rows (``key_metrics_rows``), and how the Markdown shows them.
STATUS_MARKS = {"pass": "✅ PASS", "fail": "❌ FAIL", "no data": "⚪ NO DATA", "inconclusive": "⚠️ INCONCLUSIVE"}

#: How each verdict is headlined (the Markdown, the notebooks, the CLI).
VERDICT_HEADLINES = {
    "rollback": "⛔ ROLLBACK RECOMMENDED",
    "inconclusive": "⚠️ INCONCLUSIVE: not enough trustworthy data to judge the release",
    "pass": "✅ PASS: no rollback criterion fired and every key metric was measured",
}

#: What the score is, said wherever it is shown beside a verdict that is not a pass.
SCORE_NOTE = "it averages the days' SLO compliance and drift; the rollback limits, not the score, decide the verdict"


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} %"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _span(days: list[int]) -> str:
    return f"{days[0]}-{days[-1]}" if len(days) > 1 else str(days[0])


def _not_degraded(meta: dict[str, Any]) -> str:
    # "No" only from complete data: a day whose key metric is null was not shown healthy.
    return "No" if meta["data_completeness"] == "complete" else "No (partial data)"


def verdict_of(summary: dict[str, Any]) -> str:
    """The summary's verdict; a summary written before the three states has only ``rollback_recommended``."""
    return summary.get("verdict") or ("rollback" if summary.get("rollback_recommended") else "pass")


def reason_lines(summary: dict[str, Any]) -> list[str]:
    """The inconclusive reasons as ``"<metric>: <reason>"`` lines."""
    return [f"{METRIC_LABELS.get(r['metric'], r['metric'])}: {r['reason']}"
            for r in summary.get("inconclusive_reasons") or []]


def no_recommendation_text(summary: dict[str, Any]) -> str:
    """What an empty recommendation list means: met targets, or only the values present when inconclusive."""
    if verdict_of(summary) == "inconclusive":
        return "None from the values present, but the verdict is inconclusive: the key metrics above lack data."
    return "None: every signal met its target."


def status_word(ok: bool | None, inconclusive: bool = False) -> str:
    """``no data`` (no value), ``fail``, ``inconclusive`` (met, but the metric has too few or untrusted
    values) or ``pass``. A failure stays a failure: it is evidence even from partial data."""
    if ok is None:
        return "no data"
    if not ok:
        return "fail"
    return "inconclusive" if inconclusive else "pass"


def score_text(summary: dict[str, Any]) -> str:
    """``"93.2/100, grade A"``, with ``from partial data`` when a day was missing or incomplete.

    The grade's word (``Excellent``) only beside a PASS: beside a rollback or an
    inconclusive verdict it would contradict the verdict.
    """
    score, grade = summary["stability_score"], summary["stability_grade"]
    if score is None:
        return "n/a (no data to score)"
    text = f"{score:.1f}/100, grade {grade}"
    if verdict_of(summary) == "pass":
        text += f" ({GRADE_WORDS[grade]})"
    basis = summary.get("score_basis") or {}
    if basis.get("partial"):
        text += (f", from partial data ({basis['complete_days']} of {basis['days']} days complete, "
                 f"{basis['days_with_data']} with data)")
    return text


def score_line(summary: dict[str, Any]) -> str:
    """``"SLO-compliance score 93.9/100, grade A"`` and, unless the verdict is PASS, what the score is not."""
    text = f"SLO-compliance score {score_text(summary)}"
    return text + (f" ({SCORE_NOTE})." if verdict_of(summary) != "pass" else ".")


def fired_count(summary: dict[str, Any]) -> str:
    """``"2 of 4 rollback limits reached"``."""
    return f"{len(summary.get('rollback_evidence') or summary.get('rollback_reasons') or [])} of 4 rollback limits reached"


def impact_lines(impact: UserImpact, settings: Settings) -> list[str]:
    """The user impact that leads the evidence, only when it happened: budget exhaustion, minutes out of SLO."""
    lines = []
    if impact.budget_exhausted:
        failed = (f"; {impact.failed_requests:,} failed requests of {impact.requests:,}"
                  if impact.failed_requests is not None and impact.requests else "")
        used = f"{impact.budget_used_percent:.1f} %" if impact.budget_used_percent is not None else "n/a"
        lines.append(f"Error budget of the {settings.availability_slo_percent:g} % availability SLO exhausted on "
                     f"day {impact.budget_exhausted_day} ({impact.budget_exhausted_at}): {used} of it used{failed}.")
    out = []
    if impact.minutes_below_availability_slo:
        out.append(f"{impact.minutes_below_availability_slo:,.0f} min below the "
                   f"{settings.availability_slo_percent:g} % availability SLO")
    if impact.minutes_over_latency_slo:
        out.append(f"{impact.minutes_over_latency_slo:,.0f} min at or over the "
                   f"{settings.latency_slo_p99_ms:g} ms p99 latency SLO")
    if out:
        lines.append("Out of SLO: " + "; ".join(out) + ".")
    return lines


def verdict_evidence(summary: dict[str, Any], impact: UserImpact | None = None) -> list[str]:
    """The verdict's evidence in the order a reader needs it.

    Under a rollback: the user impact (:func:`impact_lines`), then each
    rollback reason; the key metrics without enough data follow, under any
    verdict. A PASS lists no reason.
    """
    settings = settings_of(summary)
    verdict = verdict_of(summary)
    lines = impact_lines(impact, settings) if impact is not None and verdict != "pass" else []
    if verdict == "rollback":
        lines += list(summary["rollback_reasons"])
    return lines


def verdict_heading(summary: dict[str, Any]) -> tuple[str, str]:
    """The verdict in bold and what follows it: ``("Verdict: ROLLBACK RECOMMENDED", "2 of 4 ...")``."""
    verdict = verdict_of(summary)
    if verdict == "rollback":
        return "Verdict: ROLLBACK RECOMMENDED", f"{fired_count(summary)}."
    if verdict == "inconclusive":
        return ("Verdict: INCONCLUSIVE", f"not enough trustworthy data to judge the release: "
                f"{len(reason_lines(summary))} key metric problem(s); no rollback limit reached on the data present.")
    return "Verdict: PASS", "no rollback limit reached and every key metric was measured."


def key_metrics_rows(summary: dict[str, Any],
                     impact: UserImpact | None = None) -> list[tuple[str, str, str, str, str]]:
    """The Key Metrics table as (metric, value, target, rollback limit, status word) rows (see :func:`status_word`).

    The error rate is the window's request-weighted one (failed over all
    requests, the figure the error budget is spent on), beside the error
    budget used; drift is the regression drift the rollback limit is on.
    A key metric named in ``inconclusive_reasons`` never reads ``pass``, and
    "no degraded day" reads ``inconclusive`` when a key metric lacks values:
    a day cannot be degraded on a signal that was not measured.
    """
    s = summary["settings"]
    impact = impact or user_impact(summary)
    doubtful = {r["metric"] for r in summary.get("inconclusive_reasons") or []}
    settings = settings_of(summary)
    availability = summary["avg_availability"]
    error_rate = impact.error_rate_percent
    p99 = summary["avg_p99_latency_ms"]
    drift = week_regression_drift(summary["daily_summaries"])
    days = [d for d in summary["daily_summaries"] if d["snapshot_count"] > 0]
    weighted = summary["request_weighted_availability"]
    used = impact.budget_used_percent
    budget_value = "n/a" if used is None else (
        f"{used:.1f} %" + (f" (exhausted on day {impact.budget_exhausted_day})" if impact.budget_exhausted else ""))
    return [
        ("Availability (mean of snapshots)", _pct(availability, 3), f"≥ {s['availability_slo_percent']:g} %",
         rollback_limit("availability", settings),
         status_word(None if availability is None else availability >= s["availability_slo_percent"],
                     "availability" in doubtful)),
        ("Availability (request-weighted)", _pct(weighted, 3), f"≥ {s['availability_slo_percent']:g} %", "",
         status_word(None if weighted is None else weighted >= s["availability_slo_percent"],
                     bool(doubtful & {"availability", "error_rate"}))),
        ("Error rate (request-weighted)", _pct(error_rate, 3), f"< {s['error_rate_degraded_percent']:g} %", "",
         status_word(None if error_rate is None else error_rate < s["error_rate_degraded_percent"],
                     "error_rate" in doubtful)),
        ("Error budget used", budget_value, "≤ 100 %", "",
         status_word(None if used is None else (used <= 100.0 and not impact.budget_exhausted),
                     bool(doubtful & {"availability", "error_rate"}))),
        ("P99 latency (mean of snapshot p99s)", _ms(p99), f"< {s['latency_slo_p99_ms']:g} ms", "",
         status_word(None if p99 is None else p99 < s["latency_slo_p99_ms"], "p99_latency_ms" in doubtful)),
        ("Regression drift (mean of days)", _pct(drift, 1), f"≤ {s['drift_threshold_percent']:g} % (drift target)",
         rollback_limit("drift", settings),
         status_word(None if drift is None else drift <= s["drift_threshold_percent"])),
        ("Critical alert episodes", str(summary["total_critical_alerts"]), "0",
         rollback_limit("critical_alerts", settings), status_word(summary["total_critical_alerts"] == 0)),
        ("Degraded days", f"{summary['days_with_degradation']} of {len(days)}", "0",
         rollback_limit("degraded_days", settings),
         status_word(summary["days_with_degradation"] == 0, bool(doubtful))),
    ]


def settings_of(summary: dict[str, Any]) -> Settings:
    """The settings a summary was computed with (keys a newer pipeline may add are ignored)."""
    known = Settings().to_dict()
    return Settings.from_mapping({k: v for k, v in (summary.get("settings") or {}).items() if k in known})


def weekly_markdown(summary: dict[str, Any], *, burndown_table: str | None = None,
                    burndown: dict[str, Any] | None = None) -> str:
    """Format the weekly summary as the seed's Markdown report.

    Sections: Executive Summary (the verdict, its evidence, then the
    SLO-compliance score and the thresholds with their roles), Key Metrics with
    PASS/FAIL against targets and rollback limits, Trends, Daily Breakdown,
    the error-budget table (from ``burndown``, or ``burndown_table`` when given),
    Recommendations and Action Items as checkboxes.
    """
    lines: list[str] = []
    service = summary.get("service")
    hours = summary["total_duration_hours"]
    impact = user_impact(summary, burndown)
    settings = settings_of(summary)
    if burndown is not None and burndown_table is None:
        burndown_table = burndown_markdown_table(burndown)
    title = (f"# {duration_adjective(hours, title_case=True)} Post-Release Stability Summary"
             + (f": {md_escape(service)}" if service else ""))
    lines += [title, ""]
    lines.append(f"**Monitoring Window:** {summary['start_time']} → {summary['end_time']}  ")
    lines.append(f"**Duration:** {format_duration(hours)} "
                 f"({summary['total_snapshots']}/{summary['expected_snapshots']} snapshots "
                 f"every {summary['interval_minutes']:g} min)  ")
    lines.append(f"**Baseline:** {summary['baseline_timestamp'] or 'none'}")
    lines += ["", "---", "", "## Executive Summary", ""]
    verdict = verdict_of(summary)
    lines.append(f"**Verdict:** {VERDICT_HEADLINES[verdict]}"
                 + (f" ({fired_count(summary)})" if verdict == "rollback" else ""))
    evidence = verdict_evidence(summary, impact)
    if evidence:
        lines.append("")
        lines += [f"- {md_escape(line)}" for line in evidence]
    doubts = reason_lines(summary)
    if doubts:
        lines += ["", "Key metrics without enough trustworthy data:" if verdict == "inconclusive"
                  else "Also, key metrics without enough trustworthy data:", ""]
        lines += [f"- {md_escape(line)}" for line in doubts]
    if summary["missing_days"]:
        lines += ["", f"> Days with no data: {', '.join(map(str, summary['missing_days']))} "
                      "(left out of every average)."]
    lines += ["", f"**{score_line(summary)}**", "", targets_text(settings), rollback_limits_text(settings)]

    lines += ["", "## Key Metrics", "", "| Metric | Value | Target | Rollback limit | Status |",
              "|--------|-------|--------|----------------|--------|"]
    for metric, value, target, limit, status in key_metrics_rows(summary, impact):
        lines.append(f"| {metric} | {value} | {target} | {limit or '—'} | {STATUS_MARKS[status]} |")

    details = summary["trend_details"]
    first, last = details.get("compared_days") or ([], [])
    lines += ["", "## Trends", ""]
    if first:
        lines += [f"Days {_span(first)} compared with days {_span(last)}.", ""]
    lines.append(f"- **Availability:** {summary['availability_trend']}"
                 + (f" ({details['availability_change_points']:+.3f} points)"
                    if details["availability_change_points"] is not None else ""))
    lines.append(f"- **Latency:** {summary['latency_trend']}"
                 + (f" (p99 {details['latency_change_ms']:+.1f} ms)" if details["latency_change_ms"] is not None else ""))
    cpu, mem = details["cpu_change_percent"], details["memory_change_percent"]
    lines.append(f"- **Resources:** {summary['resource_trend']}"
                 + (f" (CPU {cpu:+.1f}%, memory {mem:+.1f}%)" if cpu is not None and mem is not None else ""))

    lines += ["", "## Daily Breakdown", ""]
    lines.append("P99 (mean) is the mean of the snapshots' p99s; P99 (day) is the true p99 of the day "
                 "from the merged histogram buckets. The SLO columns give the share of snapshots meeting each SLO.")
    lines.append("")
    # Both SLOs' compliance, each in its column: a day degraded on latency alone must not read 100 %.
    lines.append("| Day | Availability | Error Rate | P99 (mean) | P99 (day) | Drift (absolute) | Availability SLO met "
                 "| Latency SLO met | Snapshots | Degraded |")
    lines.append("|-----|--------------|------------|------------|-----------|------------------|----------------------"
                 "|-----------------|-----------|----------|")
    for d in summary["daily_summaries"]:
        meta = d["_metadata"]
        if d["snapshot_count"] == 0:
            lines.append(f"| Day {d['day_number']} | — | — | — | — | — | — | — | 0/{meta['expected_snapshots']} "
                         "| missing |")
            continue
        flags = [name for name, key in (("availability", "availability_degraded"), ("latency", "latency_degraded"),
                                        ("error rate", "error_rate_degraded")) if d[key]]
        lines.append(
            f"| Day {d['day_number']} | {_pct(d['avg_availability'], 3)} | {_pct(d['avg_error_rate'], 3)} | "
            f"{_ms(d['avg_p99_latency_ms'])} | {_ms(d.get('day_p99_latency_ms'))} | {_pct(d['avg_drift_percent'], 1)} | "
            f"{_pct(d['slo_compliance_percent'], 1)} | {_pct(d.get('latency_slo_compliance_percent'), 1)} | "
            f"{meta['actual_snapshots']}/{meta['expected_snapshots']}"
            f"{' (partial)' if meta['data_completeness'] == 'partial' else ''} | "
            f"{'Yes (' + ', '.join(flags) + ')' if flags else _not_degraded(meta)} |"
        )

    if burndown_table:
        lines += ["", "## Error Budget", "", burndown_table.rstrip()]

    extra = summary.get("markdown_sections") or []
    for section in extra:
        lines += ["", f"## {section['title']}", "", section["body"].rstrip()]

    lines += ["", "## Recommendations", ""]
    if summary["recommendations"]:
        lines += [f"{i}. {md_escape(r)}" for i, r in enumerate(summary["recommendations"], 1)]
    else:
        lines.append(no_recommendation_text(summary))
    lines += ["", "## Action Items", ""]
    if summary["action_items"]:
        lines += [f"- [ ] {md_escape(a)}" for a in summary["action_items"]]
    else:
        lines.append("None.")
    lines += ["", "---", "", f"*Generated by stabmon at {summary['_metadata']['generated_at']}*", ""]
    return "\n".join(lines)
