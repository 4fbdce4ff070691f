"""What the notebooks show besides charts: verdicts, tables and lists, escaped for HTML and Markdown.

Each public function takes a :class:`~stabmon.report.rundata.RunData` and returns a
:class:`Block`, an object that Jupyter displays as HTML (in the notebook and
the HTML report) or as Markdown (in the retrospective's ``.md`` export).
Text that comes from Prometheus (alert names, label values) or from files is
escaped in both forms: a ``<script>`` in an alert name stays text.
"""

from __future__ import annotations

import html
import math
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from stabmon.core import markdown as weekly_md
from stabmon.core.budget import budget_outlook, window_length
from stabmon.core.durations import format_duration, period_name
from stabmon.core.impact import Breach
from stabmon.core.model import METRIC_LABELS
from stabmon.core.model import parse_time
from stabmon.core.rollback import degradation_reasons
from stabmon.core.text import md_code, md_escape
from stabmon.core.wording import rollback_limit, rollback_limits_text, targets_text
from stabmon.report import retrospective
from stabmon.report.rundata import (
    RunData, baseline_comparison, burndown_frame, day_anomaly_episodes, day_episodes, run_breaches, run_impact,
)


def html_escape(text: Any) -> str:
    """Escape text for HTML (``<``, ``>``, ``&`` and quotes)."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Block:
    """A piece of a report, in HTML and Markdown (both already escaped) and plain text."""

    html: str
    markdown: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------
# building blocks (the only places that mark up text)


def _inline(parts: Sequence[tuple[str, str]]) -> tuple[str, str, str]:
    """Render ``(style, text)`` runs; style is '' or 'b' (bold). Text is escaped here."""
    h = "".join(f"<b>{html_escape(t)}</b>" if s == "b" else html_escape(t) for s, t in parts)
    # Spaces stay outside the asterisks: "**Verdicts: **" is not bold in CommonMark.
    m = "".join(_md_bold(t) if s == "b" else md_escape(t) for s, t in parts)
    p = "".join(t for _, t in parts)
    return h, m, p


def _md_bold(text: str) -> str:
    core = text.strip()
    if not core:
        return text
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    return f"{lead}**{md_escape(core)}**{trail}"


def paragraph(*parts: tuple[str, str] | str, tone: str | None = None) -> Block:
    """A paragraph of text runs (``"text"`` or ``("b", "bold text")``).

    ``tone`` (``"bad"``, ``"warn"``, ``"good"``, ``"note"``) colours the box in HTML.
    """
    runs = [("", p) if isinstance(p, str) else p for p in parts]
    h, m, t = _inline(runs)
    colors = {"bad": ("#fdecea", "#c0392b"), "warn": ("#fef5e7", "#e67e22"), "good": ("#eafaf1", "#27ae60"), "note": ("#f4f6f7", "#7f8c8d")}
    if tone in colors:
        background, border = colors[tone]
        h = (f'<div style="background:{background};border-left:5px solid {border};padding:8px 12px;'
             f'margin:6px 0">{h}</div>')
    else:
        h = f"<p>{h}</p>"
    return Block(h, m, t)


def heading(text: str, level: int = 3) -> Block:
    """A heading (escaped)."""
    return Block(f"<h{level}>{html_escape(text)}</h{level}>", f"{'#' * level} {md_escape(text)}", text)


def bullets(items: Iterable[str], *, checklist: bool = False, numbered: bool = False, empty: str = "None.") -> Block:
    """A list of plain-text items; a ``checklist`` renders as ``- [ ]`` in Markdown and boxes in HTML."""
    items = [str(i) for i in items]
    if not items:
        return paragraph(empty)
    if checklist:
        h = "<ul style=\"list-style:none;padding-left:1em\">" + "".join(
            f"<li>&#9744; {html_escape(i)}</li>" for i in items) + "</ul>"
        m = "\n".join(f"- [ ] {md_escape(i)}" for i in items)
        t = "\n".join(f"[ ] {i}" for i in items)
    elif numbered:
        h = "<ol>" + "".join(f"<li>{html_escape(i)}</li>" for i in items) + "</ol>"
        m = "\n".join(f"{n}. {md_escape(i)}" for n, i in enumerate(items, 1))
        t = "\n".join(f"{n}. {i}" for n, i in enumerate(items, 1))
    else:
        h = "<ul>" + "".join(f"<li>{html_escape(i)}</li>" for i in items) + "</ul>"
        m = "\n".join(f"- {md_escape(i)}" for i in items)
        t = "\n".join(f"- {i}" for i in items)
    return Block(h, m, t)


def stack(*blocks: Block) -> Block:
    """Several blocks shown as one output."""
    return Block("\n".join(b.html for b in blocks), "\n\n".join(b.markdown for b in blocks),
                 "\n\n".join(b.text for b in blocks))


def format_value(value: Any) -> str:
    """A cell value as text: numbers with sensible precision, times in UTC, missing as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return "—"
        stamp = value.tz_convert("UTC") if value.tzinfo is not None else value
        return stamp.strftime("%a %d %b %H:%M UTC")
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value == int(value) and abs(value) >= 1000:
            return f"{int(value):,}"
        magnitude = abs(value)
        digits = 0 if magnitude >= 1000 else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value) or "—"
    return str(value)


def table(frame: pd.DataFrame, *, caption: str | None = None, index: bool = False,
          formatters: Mapping[str, Callable[[Any], str]] | None = None, empty: str = "No rows.") -> Block:
    """A DataFrame as an escaped HTML table and a Markdown table, every cell formatted as text."""
    if frame.empty:
        return paragraph(empty, tone="note")
    shown = frame.reset_index() if index else frame
    formatters = dict(formatters or {})
    text = pd.DataFrame({
        str(column): [formatters.get(str(column), format_value)(v) for v in shown[column].tolist()]
        for column in shown.columns
    })
    h = text.to_html(index=False, escape=True, border=0, classes="stabmon-table")
    if caption:
        h = f"<p><b>{html_escape(caption)}</b></p>\n{h}"
    header = "| " + " | ".join(md_escape(c, cell=True) for c in text.columns) + " |"
    rule = "|" + "|".join("---" for _ in text.columns) + "|"
    rows = ["| " + " | ".join(md_escape(v, cell=True) for v in row) + " |" for row in text.itertuples(index=False)]
    m = "\n".join(([f"**{md_escape(caption)}**", ""] if caption else []) + [header, rule, *rows])
    return Block(h, m, text.to_string(index=False))


# ---------------------------------------------------------------------------
# headers and verdicts


def _fixed(value: Any, digits: int) -> str:
    # Availability needs three decimals to tell 99.95 from 99.949.
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _pct(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f} %"


def _ms(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f} ms"


def run_header(run: RunData, day_number: int | None = None) -> Block:
    """Which run and period this report covers, the thresholds used, and any notes on the data."""
    weekly = run.weekly
    service = run.service or "unnamed service"
    lines: list[Block] = []
    if day_number is None:
        lines.append(paragraph(("b", service), f": {weekly['start_time']} to {weekly['end_time']} (UTC, "
                               f"{format_duration(run.window.duration_hours)}), {weekly['total_snapshots']} of {weekly['expected_snapshots']} snapshots every "
                               f"{run.window.interval_minutes:g} min."))
    else:
        document = run.day_document(day_number)
        meta = document["_metadata"]
        begin, end = run.day_bounds(day_number)
        lines.append(paragraph(("b", f"{service}, day {day_number} of {len(run.all_days)}"),
                               f": {begin:%a %d %b %Y %H:%M} to {end:%a %d %b %H:%M} UTC, "
                               f"{meta['actual_snapshots']} of {meta['expected_snapshots']} snapshots "
                               f"({meta['data_completeness']})."))
    s = run.settings
    lines.append(paragraph(
        f"Baseline: {run.baseline.get('timestamp') if run.baseline else 'none (no drift figures)'}. "
        f"Source: {run.source or 'unknown'}. {targets_text(s)} {rollback_limits_text(s)}"))
    if run.notes:
        lines.append(bullets([f"Note: {n}" for n in run.notes]))
    return stack(*lines)


def _degradation_reasons(document: Mapping[str, Any], run: RunData) -> list[str]:
    return degradation_reasons(dict(document), run.settings)


def day_verdict(run: RunData, day_number: int) -> Block:
    """The day's verdict: degraded (with the reasons and figures) or healthy, or no data."""
    document = run.day_document(day_number)
    if document["snapshot_count"] == 0:
        return paragraph(("b", f"Day {day_number}: NO DATA"), " (no snapshot was collected).", tone="note")
    if document["degraded"]:
        return paragraph(("b", f"Day {day_number}: DEGRADED"), " (" + "; ".join(_degradation_reasons(document, run))
                         + ").", tone="bad")
    gaps = _key_metric_gaps(document, run)
    if gaps:
        # Not degraded on what was seen, but "healthy" would vouch for what was not.
        return paragraph(("b", f"Day {day_number}: INCOMPLETE DATA"),
                         " (no degradation seen in the values present; " + "; ".join(gaps) + ").", tone="warn")
    return paragraph(("b", f"Day {day_number}: healthy"),
                     " (availability and latency SLO compliance and the error rate all met their targets).",
                     tone="good")


def _key_metric_gaps(document: Mapping[str, Any], run: RunData) -> list[str]:
    """``"p99 latency: value in 0 of 48 snapshots"`` for each key metric missing from some expected snapshot."""
    meta = document["_metadata"]
    counts = meta.get("metric_value_counts") or {}
    expected = meta["expected_snapshots"]
    return [f"{METRIC_LABELS.get(m, m)}: value in {counts.get(m, 0)} of {expected} snapshots"
            for m in run.settings.key_metrics if counts.get(m, 0) < expected]


def day_key_figures(run: RunData, day_number: int) -> Block:
    """The day's figures against their targets (value, target, PASS / FAIL)."""
    d = run.day_document(day_number)
    s = run.settings
    meta = d["_metadata"]

    def status(ok: bool | None) -> str:
        return "no data" if ok is None else ("PASS" if ok else "FAIL")

    def known(value: Any) -> bool:
        return value is not None

    rows = [
        ("Availability SLO compliance", _pct(d["slo_compliance_percent"], 1), f"≥ {s.degradation_compliance_percent:g} %",
         status(None if not known(d["slo_compliance_percent"]) else not d["availability_degraded"])),
        ("Availability (avg / min)", f"{_pct(d['avg_availability'], 3)} / {_pct(d['min_availability'], 3)}",
         f"≥ {s.availability_slo_percent:g} % per snapshot", ""),
        ("Error rate (avg / max)", f"{_pct(d['avg_error_rate'], 3)} / {_pct(d['max_error_rate'], 3)}",
         f"avg < {s.error_rate_degraded_percent:g} %",
         status(None if not known(d["avg_error_rate"]) else not d["error_rate_degraded"])),
        ("Requests / errors", f"{format_value(d['total_requests'])} / {format_value(d['total_errors'])}", "", ""),
        ("Latency SLO compliance", _pct(d["latency_slo_compliance_percent"], 1),
         f"≥ {s.degradation_compliance_percent:g} %",
         status(None if not known(d["latency_slo_compliance_percent"]) else not d["latency_degraded"])),
        ("p99 latency (avg / max)", f"{_ms(d['avg_p99_latency_ms'])} / {_ms(d['max_p99_latency_ms'])}",
         f"< {s.latency_slo_p99_ms:g} ms per snapshot", ""),
        ("p95 latency (avg / max)", f"{_ms(d['avg_p95_latency_ms'])} / {_ms(d['max_p95_latency_ms'])}", "", ""),
        ("CPU (avg / peak)", f"{_pct(d['avg_cpu_percent'], 1)} / {_pct(d['peak_cpu_percent'], 1)}", "of the limit", ""),
        ("Memory (avg / peak)", f"{_pct(d['avg_memory_percent'], 1)} / {_pct(d['peak_memory_percent'], 1)}",
         "of the limit", ""),
        ("Alert episodes (critical / warning / info)",
         f"{d['total_critical_alerts']} / {d['total_warning_alerts']} / {d['total_info_alerts']}", "", ""),
        ("Alert-free hours", f"{d['alert_free_hours']:.1f} h", "no critical or warning alert firing", ""),
        ("Drift from baseline (avg / max)", f"{_pct(d['avg_drift_percent'], 1)} / {_pct(d['max_drift_percent'], 1)}",
         f"≤ {s.drift_threshold_percent:g} % per metric (drift target)",
         status(None if d["avg_drift_percent"] is None else not d["metrics_exceeding_drift_threshold"])),
        ("Metrics worse than the baseline by more than the drift target", ", ".join(d["metrics_exceeding_drift_threshold"]) or "none", "", ""),
        ("Snapshots", f"{meta['actual_snapshots']} / {meta['expected_snapshots']} ({meta['data_completeness']})",
         "all", status(meta["actual_snapshots"] >= meta["expected_snapshots"])),
    ]
    coverage = meta.get("metric_coverage_percent") or {}
    rows.append(("Key metric coverage", ", ".join(f"{METRIC_LABELS.get(m, m)} {_pct(coverage.get(m), 1)}"
                                                  for m in s.key_metrics),
                 "100 % of the expected snapshots", status(not _key_metric_gaps(d, run))))
    counts = d.get("anomaly_counts")
    if isinstance(counts, dict):
        rows.append(("Anomalies (low / medium / high)",
                     f"{counts.get('low', 0)} / {counts.get('medium', 0)} / {counts.get('high', 0)}", "", ""))
    frame = pd.DataFrame(rows, columns=["signal", "value", "target", "status"])
    return table(frame)


def data_quality(run: RunData, day_number: int) -> Block:
    """The day's data warnings (missing values, absent snapshots), or a line saying there are none."""
    warnings = run.day_document(day_number)["_metadata"].get("warnings") or []
    if not warnings:
        return paragraph("Data quality: every expected snapshot is present and every metric has a value.",
                         tone="good")
    return stack(paragraph(("b", "Data quality warnings"), tone="note"), bullets(warnings))


# ---------------------------------------------------------------------------
# alerts and anomalies


def alert_episodes_table(run: RunData, day_number: int | None = None) -> Block:
    """Alert episodes (of a day or the week): when, how long, severity, alert and its labels."""
    episodes = day_episodes(run, day_number)
    if episodes.empty:
        return paragraph("No alert episode" + (f" started on day {day_number}." if day_number
                                               else f" in {period_name(run.window.duration_hours)}."),
                         tone="good")
    frame = pd.DataFrame({
        "day": episodes["day_number"],
        "from (UTC)": episodes["span_start"],
        "to (UTC)": episodes["span_end"],
        "minutes": episodes["duration_minutes"].round().astype(int),
        "severity": episodes["severity"],
        "alert": episodes["alertname"],
        "labels": episodes["label_text"],
    })
    return table(frame)


def anomalies_table(run: RunData, day_number: int | None = None, *, min_severity: str = "low") -> Block:
    """Anomaly episodes (of a day or the week): from, to, back to normal, peak, minutes, severity.

    One row per episode: an excursion and its return are one incident, not
    two events (docs/contract.md §3.11). When the warm-up left snapshots
    unchecked, a note says which and why.
    """
    episodes = day_anomaly_episodes(run, day_number)
    if episodes is None:
        return paragraph("Anomalies: not available (no anomalies.jsonl in the run folder).", tone="note")
    unchecked = (run.weekly.get("anomaly_summary") or {}).get("unchecked") or {}
    notes = []
    if unchecked.get("snapshots") and (
            day_number is None or day_number <= run.window.day_of(parse_time(unchecked["until"]))):
        notes.append(paragraph(
            f"Not checked for anomalies: the first {unchecked['snapshots']} snapshots, until {unchecked['until']} "
            f"({unchecked['reason']}).", tone="note"))
    order = {"low": 0, "medium": 1, "high": 2}
    episodes = episodes[episodes["severity"].map(order).fillna(0) >= order.get(min_severity, 0)]
    if episodes.empty:
        return stack(paragraph("No anomaly detected" + (f" on day {day_number}." if day_number else "."),
                               tone="good"), *notes)
    frame = pd.DataFrame({
        "day": episodes["day_number"],
        "from (UTC)": episodes["start"],
        "to (UTC)": episodes["end"],
        "back to normal": [
            "not by the end of the data" if is_open else (t.strftime("%Y-%m-%d %H:%M") if not pd.isna(t) else "")
            for is_open, t in zip(episodes["open"], episodes["recovered_at"])
        ],
        "minutes": episodes["duration_minutes"],
        "metric": episodes["metric"],
        "type": episodes["type"].str.replace("_", " "),
        "severity": episodes["severity"],
        "peak": episodes["peak_value"],
        "expected": episodes["expected"],
        "peak z": episodes["peak_z"],
    })
    return stack(table(frame), *notes)


# ---------------------------------------------------------------------------
# the week


def weekly_verdict(run: RunData) -> Block:
    """The verdict first, then its evidence (user impact leading), then the SLO-compliance score.

    The words are :mod:`stabmon.core.markdown`'s, as in ``weekly_summary.md``.
    """
    w = run.weekly
    verdict = weekly_md.verdict_of(w)
    bold, rest = weekly_md.verdict_heading(w)
    tone = {"rollback": "bad", "inconclusive": "warn"}.get(verdict, "good")
    blocks = [paragraph(("b", bold), f" ({rest.rstrip('.')}).", tone=tone)]
    evidence = weekly_md.verdict_evidence(w, run_impact(run))
    if evidence:
        blocks += [paragraph(("b", "Evidence:")), bullets(evidence)]
    doubts = weekly_md.reason_lines(w)
    if doubts:
        blocks += [paragraph(("b", "Key metrics without enough trustworthy data:" if verdict == "inconclusive"
                              else "Also, key metrics without enough trustworthy data:")), bullets(doubts)]
    blocks.append(paragraph(weekly_md.score_line(w)))
    return stack(*blocks)


def rollback_evidence_table(run: RunData) -> Block:
    """Each rollback criterion that fired, with its figure, its limit and its days."""
    evidence = run.weekly.get("rollback_evidence") or []
    if not evidence:
        s = run.settings
        return paragraph(
            f"No rollback limit reached. {rollback_limits_text(s)}",
            tone="good")
    # object dtype keeps integer limits (2 days) from printing as 2.00
    frame = pd.DataFrame([{
        "criterion": e["criterion"], "value": e["value"],
        "rollback limit": rollback_limit(e["criterion"], run.settings),
        "days": e["days"], "evidence": e["text"],
    } for e in evidence], dtype=object)
    return table(frame)


def key_metrics_table(run: RunData) -> Block:
    """The weekly key metrics against their targets and rollback limits (the weekly Markdown report's table)."""
    rows = weekly_md.key_metrics_rows(run.weekly, run_impact(run))
    frame = pd.DataFrame([
        {"metric": m, "value": v, "target": t, "rollback limit": limit or "—", "status": status.upper()}
        for m, v, t, limit, status in rows
    ])
    return table(frame)


def daily_breakdown_table(run: RunData) -> Block:
    """One row per day: availability, error rate, latency, drift, compliance, alerts, degraded flags."""
    daily = run.daily
    frame = pd.DataFrame({
        "day": daily.index,
        "availability %": [_fixed(v, 3) for v in daily["avg_availability"]],
        "SLO compliance %": daily["slo_compliance_percent"],
        "error rate %": daily["avg_error_rate"],
        "p99 avg ms": daily["avg_p99_latency_ms"],
        "latency compliance %": daily["latency_slo_compliance_percent"],
        "drift % (absolute)": daily["avg_drift_percent"],
        "critical / warning alerts": [f"{c} / {w}" for c, w in zip(daily["total_critical_alerts"],
                                                                   daily["total_warning_alerts"])],
        "snapshots": [f"{int(a)}/{int(e)}" for a, e in zip(daily["snapshot_count"], daily["expected_snapshots"])],
        "degraded": [
            ", ".join(n for n, k in (("availability", "availability_degraded"), ("latency", "latency_degraded"),
                                     ("error rate", "error_rate_degraded")) if bool(row[k]))
            or ("no" if row["data_completeness"] == "complete" else "no (partial data)")
            if row["snapshot_count"] else "no data"
            for _, row in daily.iterrows()
        ],
    })
    return table(frame)


def trends_table(run: RunData) -> Block:
    """The three trends (first days against last days) with their figures and thresholds."""
    w = run.weekly
    s = run.settings
    d = w.get("trend_details") or {}
    compared = d.get("compared_days")
    if compared and compared[0] and compared[1]:
        note = f"Compared: days {', '.join(map(str, compared[0]))} vs {', '.join(map(str, compared[1]))}."
    elif compared is not None:
        # One day with data has no first and last half: say so instead of "days vs ."
        days = run.daily
        with_data = int((days["snapshot_count"] > 0).sum()) if "snapshot_count" in days else len(days)
        note = (f"Not compared: a trend needs two days with data or more; "
                f"{period_name(run.window.duration_hours)} has {with_data}.")
    else:
        note = "Compared: first half vs last half of the days."
    frame = pd.DataFrame([
        {"signal": "availability", "trend": w["availability_trend"],
         "change": "n/a" if d.get("availability_change_points") is None else f"{d['availability_change_points']:+.3f} points",
         "threshold": f"± {s.trend_availability_points:g} points"},
        {"signal": "p99 latency", "trend": w["latency_trend"],
         "change": "n/a" if d.get("latency_change_ms") is None else f"{d['latency_change_ms']:+.1f} ms",
         "threshold": f"± {s.trend_latency_ms:g} ms"},
        {"signal": "resources (CPU, memory)", "trend": w["resource_trend"],
         "change": ", ".join(f"{n} {v:+.1f} %" for n, v in (("CPU", d.get("cpu_change_percent")),
                                                            ("memory", d.get("memory_change_percent")))
                             if v is not None) or "n/a",
         "threshold": f"± {s.trend_resource_percent:g} %"},
    ])
    return stack(table(frame), paragraph(note, tone="note"))


def recommendations(run: RunData) -> Block:
    """The weekly recommendations, numbered."""
    return bullets(run.weekly.get("recommendations") or [], numbered=True,
                   empty=weekly_md.no_recommendation_text(run.weekly))


def action_items(run: RunData) -> Block:
    """The weekly action items as a checklist."""
    return bullets(run.weekly.get("action_items") or [], checklist=True, empty="None.")


def baseline_table(run: RunData, day_number: int | None = None) -> Block:
    """The baseline against what was observed (the week or a day)."""
    frame = baseline_comparison(run, day_number)
    if frame.empty:
        return paragraph("No baseline recorded for this run: no comparison.", tone="note")
    shown = frame.rename(columns={"observed_mean": "observed mean", "observed_max": "observed max",
                                  "avg_drift_percent": "average drift % (either direction)",
                                  "drift_threshold_percent": "drift target %",
                                  "over_threshold": "over the drift target"})
    return table(shown, index=True)


def burndown_table(run: RunData) -> Block:
    """The error-budget burn-down per day, or "not available" when the run has no ``slo_burndown.json``."""
    frame = burndown_frame(run.burndown)
    if frame is None:
        return paragraph("Error budget: not available (no slo_burndown.json in the run folder).", tone="note")
    b = run.burndown or {}
    head = paragraph(
        f"SLO {b.get('slo_target_percent', 'n/a')} % over "
        f"{window_length(b) if b.get('window_days') else 'an unknown window'}; error budget "
        f"{format_value(b.get('error_budget_requests'))} requests. Budget {budget_outlook(b)}.")
    return stack(head, table(frame, index=True))


# ---------------------------------------------------------------------------
# the retrospective


def retrospective_summary(run: RunData) -> Block:
    """The retrospective's first screen: the verdict and its evidence, the user impact, detection, the score."""
    w = run.weekly
    state = weekly_md.verdict_of(w)
    bold, rest = weekly_md.verdict_heading(w)
    period = (f"{run.service or 'The service'} was watched from {w['start_time']} to {w['end_time']} "
              f"(UTC, {format_duration(run.window.duration_hours)}).")
    blocks = [paragraph(("b", bold), f" ({rest.rstrip('.')}). {period}",
                        tone={"rollback": "bad", "inconclusive": "warn"}.get(state, "good"))]
    # The user impact leads the evidence (the same figures as the weekly verdict's first lines), then the reasons.
    blocks.append(user_impact(run))
    reasons = weekly_md.verdict_evidence(w) + weekly_md.reason_lines(w)
    if reasons:
        blocks.append(bullets(reasons))
    blocks += [detection_summary(run), paragraph(weekly_md.score_line(w))]
    return stack(*blocks)


def _minutes(value: float | None) -> str:
    return "n/a (no value to judge)" if value is None else f"{value:,.0f} min"


def user_impact(run: RunData) -> Block:
    """What the users felt: failed requests, minutes out of each SLO, the error budget used."""
    impact = run_impact(run)
    s = run.settings
    failed = ("failed requests n/a (no request counts)" if impact.failed_requests is None else
              f"{impact.failed_requests:,} failed requests of {impact.requests:,} "
              f"({weekly_md._pct(impact.error_rate_percent, 3)})")
    used = ("n/a (no slo_burndown.json)" if run.burndown is None else
            f"{budget_outlook(run.burndown)}")
    return paragraph(("b", "User impact:"),
                     f" {failed}; {_minutes(impact.minutes_below_availability_slo)} below the "
                     f"{s.availability_slo_percent:g} % availability SLO; "
                     f"{_minutes(impact.minutes_over_latency_slo)} at or over the {s.latency_slo_p99_ms:g} ms "
                     f"p99 latency SLO; error budget {used}.")


def time_to_detect(breach: Breach) -> str:
    """A breach's time to detect in words; ``n/a`` with the reason when no alert fired."""
    delta = breach.time_to_detect
    if delta is None:
        return "n/a: no critical or warning alert fired during it"
    if delta.total_seconds() == 0:
        return (f"within {format_duration(breach.interval.total_seconds() / 3600)} ({breach.alert} was firing "
                "at the first snapshot out of the SLO)")
    return f"{format_duration(delta.total_seconds() / 3600)} ({breach.alert})"


def time_to_mitigate(breach: Breach) -> str:
    """A breach's time to mitigate in words; ``n/a`` with the reason when it was not back within the SLO."""
    delta = breach.time_to_mitigate
    if delta is None:
        return "n/a: not back within the SLO by the end of the data"
    return format_duration(delta.total_seconds() / 3600)


def detection_summary(run: RunData) -> Block:
    """Time to detect and to mitigate of the first SLO breach, or why there is none."""
    breaches = run_breaches(run)
    if not breaches:
        return paragraph(("b", "Time to detect and to mitigate:"), " n/a: no SLO breach in "
                         f"{period_name(run.window.duration_hours)}.")
    first = breaches[0]
    more = f" ({len(breaches)} breaches, each in the table of section 3)" if len(breaches) > 1 else ""
    return paragraph(("b", "First SLO breach:"),
                     f" {first.slo} from {first.span_start:%a %d %b %H:%M} UTC{more}. Time to detect (first snapshot "
                     f"out of the SLO to the first alert): {time_to_detect(first)}. Time to mitigate (to the first "
                     f"snapshot back within the SLO): {time_to_mitigate(first)}.")


def breaches_table(run: RunData) -> Block:
    """Each SLO breach: when, how long, how bad, the first alert, time to detect, time to mitigate."""
    breaches = run_breaches(run)
    if not breaches:
        return paragraph(f"No SLO breach in {period_name(run.window.duration_hours)}.", tone="good")
    frame = pd.DataFrame([{
        "SLO": b.slo,
        "from (UTC)": pd.Timestamp(b.span_start),
        "to (UTC)": pd.Timestamp(b.last),
        "minutes": int(round(b.minutes)),
        "worst": f"{b.worst:.3f} %" if b.slo == "availability" else f"{b.worst:.0f} ms",
        "first alert": b.alert or "none",
        "time to detect": time_to_detect(b),
        "time to mitigate": time_to_mitigate(b),
    } for b in breaches])
    return table(frame)


def error_budget_text(run: RunData) -> Block:
    """The error budget in figures (the text beside the burn-down chart)."""
    b = run.burndown
    if not b:
        return paragraph("Error budget: not available (no slo_burndown.json in the run folder).", tone="note")
    return paragraph(
        f"Error budget of the {b['slo_target_percent']:g} % availability SLO over "
        f"{window_length(b)}: {format_value(b.get('error_budget_requests'))} failed requests allowed. "
        f"Burn rate now: {_rate(b.get('burn_rate_1h'))} over 1 h, {_rate(b.get('burn_rate_6h'))} over 6 h. "
        f"Budget {budget_outlook(b)}.")


def _rate(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def rerun_command(run: RunData, notebook: str, day_number: int | None = None) -> Block:
    """The papermill command line that renders this report again, naming this run's folder."""
    output = f"{notebook}.ipynb" if day_number is None else f"day_{day_number:02d}.ipynb"
    day = f" -p day_number {day_number}" if day_number is not None else ""
    command = (f"papermill stabmon/notebooks/{notebook}.ipynb {output} -p run_dir {shlex.quote(str(run.run_dir))}"
               f"{day}")
    return Block(f"<p>Rendered again with <code>{html_escape(command)}</code></p>",
                 f"Rendered again with {md_code(command)}", f"Rendered again with {command}")


def what_happened(run: RunData) -> Block:
    """The week's events in time order (degraded days, SLO breaches, alerts, medium/high anomalies)."""
    events = retrospective.incident_events(run)
    if events.empty:
        return paragraph("Nothing happened: no degraded day, SLO breach, alert or notable anomaly.", tone="good")
    frame = events.rename(columns={"start": "from (UTC)", "end": "to (UTC)", "day_number": "day"})
    notes = []
    if run.anomalies is None:
        notes.append(paragraph("Anomalies: not available (no anomalies.jsonl in the run folder).", tone="note"))
    return stack(table(frame), *notes)


def slo_picture(run: RunData) -> Block:
    """Per-day SLO compliance and error-budget use (when the burn-down exists)."""
    daily = run.daily
    frame = pd.DataFrame({
        "day": daily.index,
        "availability SLO compliance %": daily["slo_compliance_percent"],
        "latency SLO compliance %": daily["latency_slo_compliance_percent"],
        "avg error rate %": daily["avg_error_rate"],
        "requests": daily["total_requests"],
        "errors": daily["total_errors"],
    })
    burndown = burndown_frame(run.burndown)
    if burndown is not None and not burndown.empty:
        frame["budget used that day %"] = frame["day"].map(burndown.get("budget_consumed_percent", pd.Series(dtype=float)))
        frame["budget remaining %"] = frame["day"].map(burndown.get("budget_remaining_percent", pd.Series(dtype=float)))
        extra = paragraph(f"Error budget of the {run.burndown['slo_target_percent']:g} % availability SLO: "
                          f"{budget_outlook(run.burndown)}.")
    else:
        extra = paragraph("Error budget: not available (no slo_burndown.json in the run folder).", tone="note")
    w = run.weekly
    summary = paragraph(
        f"{period_name(run.window.duration_hours).capitalize()}: availability {_pct(w.get('avg_availability'), 3)} (request-weighted "
        f"{_pct(w.get('request_weighted_availability'), 3)}), mean SLO compliance "
        f"{_pct(w.get('avg_slo_compliance_percent'), 1)} (availability) and "
        f"{_pct(w.get('avg_latency_slo_compliance_percent'), 1)} (latency).")
    return stack(summary, table(frame), extra)


def went_well(run: RunData) -> Block:
    """What went well (see :func:`stabmon.report.retrospective.went_well`)."""
    return bullets(retrospective.went_well(run))


def did_not_go_well(run: RunData) -> Block:
    """What did not go well (see :func:`stabmon.report.retrospective.did_not_go_well`)."""
    return bullets(retrospective.did_not_go_well(run))


def retrospective_action_items(run: RunData) -> Block:
    """The retrospective's checklist (see :func:`stabmon.core.advice.retrospective_actions`)."""
    return bullets(retrospective.action_items(run), checklist=True)
