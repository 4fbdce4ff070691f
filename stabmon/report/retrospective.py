"""The retrospective's content: what happened, what went well, what did not, what to do.

Pure functions of a loaded :class:`~stabmon.report.rundata.RunData`: they return
plain lists and DataFrames of sentences built from the run's figures, so
the retrospective notebook only shows them (and they have unit tests). The
seed's Phase 6 asked for a compact, actionable retrospective (option A); each
sentence here names its figure, its threshold and its day.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from stabmon.core.advice import retrospective_actions
from stabmon.core.budget import budget_outlook
from stabmon.core.durations import format_duration, period_name
from stabmon.core.rollback import degradation_reasons
from stabmon.core.wording import drift_target
from stabmon.report.rundata import RunData, baseline_comparison, interval_spans, run_breaches

#: Anomaly severities listed in "what happened" (low ones are noise there;
#: the anomalies table of the notebook still lists them all).
TIMELINE_ANOMALY_SEVERITIES: tuple[str, ...] = ("medium", "high")

EVENT_COLUMNS: tuple[str, ...] = ("start", "end", "day_number", "kind", "severity", "what")


def _duration(delta: pd.Timedelta) -> str:
    return format_duration(delta.total_seconds() / 3600.0)


def _period(run: RunData) -> str:
    return period_name(run.window.duration_hours)


def _has_trend(weekly: dict[str, Any]) -> bool:
    # A trend compares the first days with the last: one day with data has none.
    compared = (weekly.get("trend_details") or {}).get("compared_days") or ([], [])
    return bool(compared[0] and compared[-1])


def _days(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers) if numbers else "none"


def _degradation_reasons(row: pd.Series, settings: Any) -> list[str]:
    return degradation_reasons(row.to_dict(), settings)


def incident_events(run: RunData) -> pd.DataFrame:
    """The week's events in time order: degraded days, SLO breaches, alert episodes, anomalies, gaps.

    Returns
    -------
    pandas.DataFrame
        Columns ``start``, ``end`` (UTC), ``day_number``, ``kind``
        (``degraded day``, ``SLO breach``, ``alert``, ``anomaly``,
        ``missing data``), ``severity`` and ``what`` (one sentence).
    """
    settings = run.settings
    events: list[dict[str, Any]] = []
    for day_number, row in run.daily.iterrows():
        begin, end = run.day_bounds(int(day_number))
        if row["snapshot_count"] == 0:
            events.append({"start": begin, "end": end, "day_number": day_number, "kind": "missing data",
                           "severity": "warning", "what": f"Day {day_number}: no snapshot collected"})
            continue
        if row.get("data_completeness") == "partial":
            events.append({"start": begin, "end": end, "day_number": day_number, "kind": "missing data",
                           "severity": "info",
                           "what": f"Day {day_number}: {int(row['snapshot_count'])} of "
                                   f"{int(row['expected_snapshots'])} snapshots collected"})
        if bool(row.get("degraded")):
            events.append({"start": begin, "end": end, "day_number": day_number, "kind": "degraded day",
                           "severity": "critical",
                           "what": f"Day {day_number} degraded: " + "; ".join(_degradation_reasons(row, settings))})

    snapshots = run.snapshots
    breaches = (
        ("availability", snapshots["availability"] < settings.availability_slo_percent,
         lambda part: f"Availability below the {settings.availability_slo_percent:g} % SLO "
                      f"(lowest {part['availability'].min():.3f} %)"),
        ("p99 latency", snapshots["p99_latency_ms"] >= settings.latency_slo_p99_ms,
         lambda part: f"p99 latency over the {settings.latency_slo_p99_ms:g} ms SLO "
                      f"(peak {part['p99_latency_ms'].max():.0f} ms)"),
    )
    for _, mask, describe in breaches:
        for begin, end in interval_spans(mask, run.interval):
            part = snapshots[(snapshots.index > begin) & (snapshots.index <= end)]
            events.append({"start": begin, "end": end, "day_number": int(part["day_number"].iloc[0]),
                           "kind": "SLO breach", "severity": "critical",
                           "what": f"{describe(part)} for {_duration(end - begin)}"})

    for _, episode in run.episodes.iterrows():
        labels = f" [{episode['label_text']}]" if episode["label_text"] else ""
        events.append({"start": episode["span_start"], "end": episode["span_end"], "day_number": episode["day_number"],
                       "kind": "alert", "severity": episode["severity"],
                       "what": f"{episode['alertname']}{labels} fired for {_duration(episode['span_end'] - episode['span_start'])}"})

    if run.anomaly_episodes is not None:
        # One row per episode, with its peak: the figures of the anomalies table.
        for _, episode in run.anomaly_episodes.iterrows():
            if episode["severity"] not in TIMELINE_ANOMALY_SEVERITIES:
                continue
            events.append({"start": episode["start"], "end": episode["end"], "day_number": episode["day_number"],
                           "kind": "anomaly", "severity": episode["severity"],
                           "what": f"{episode['metric']} {str(episode['type']).replace('_', ' ')}: peak "
                                   f"{episode['peak_value']:.4g} (expected {episode['expected']:.4g}, "
                                   f"z = {episode['peak_z']:+.1f})"})

    frame = pd.DataFrame(events, columns=list(EVENT_COLUMNS))
    if frame.empty:
        return frame
    order = {"degraded day": 0, "missing data": 1, "SLO breach": 2, "alert": 3, "anomaly": 4}
    frame["_order"] = frame["kind"].map(order)
    frame = frame.sort_values(["start", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    frame["day_number"] = frame["day_number"].astype(int)
    return frame


def _doubted(weekly: Mapping[str, Any]) -> set[str]:
    """Key metrics the verdict could not judge (coverage or preflight): nothing about them went well."""
    return {str(reason.get("metric")) for reason in weekly.get("inconclusive_reasons") or []}


def went_well(run: RunData) -> list[str]:
    """What went well, each line with the figure behind it; never a claim about a metric that was not seen."""
    weekly = run.weekly
    settings = run.settings
    daily = run.daily[run.daily["snapshot_count"] > 0]
    doubted = _doubted(weekly)
    lines: list[str] = []
    healthy = [int(d) for d, row in daily.iterrows() if not bool(row["degraded"])]
    if healthy and not doubted:
        lines.append(f"{len(healthy)} of {len(daily)} days met every daily target (days {_days(healthy)}).")
    availability_ok = [int(d) for d, row in daily.iterrows() if not bool(row["availability_degraded"])]
    latency_ok = [int(d) for d, row in daily.iterrows() if not bool(row["latency_degraded"])]
    if len(availability_ok) == len(daily) and len(daily) and "availability" not in doubted:
        lines.append(f"Availability SLO compliance stayed at or above {settings.degradation_compliance_percent:g} % every day.")
    if len(latency_ok) == len(daily) and len(daily) and "p99_latency_ms" not in doubted:
        lines.append(f"p99 latency met the {settings.latency_slo_p99_ms:g} ms SLO in at least "
                     f"{settings.degradation_compliance_percent:g} % of the snapshots every day.")
    if weekly.get("total_critical_alerts", 0) == 0:
        lines.append(f"No critical alert fired in {_period(run)}.")
    quiet = float(daily["alert_free_hours"].sum()) if len(daily) else 0.0
    covered = float(daily["snapshot_count"].sum()) * run.window.interval_minutes / 60.0
    if covered and quiet / covered >= 0.9:
        lines.append(f"No critical or warning alert was firing for {format_duration(quiet)} of the "
                     f"{format_duration(covered)} monitored.")
    expected = weekly.get("expected_snapshots") or 0
    total = weekly.get("total_snapshots") or 0
    if expected and total >= expected:
        lines.append(f"Monitoring captured every snapshot ({total} of {expected}): the picture has no gaps.")
    for key, label in (("availability_trend", "Availability"), ("latency_trend", "Latency")):
        if _has_trend(weekly) and weekly.get(key) in ("stable", "improving"):
            lines.append(f"{label} trend over {_period(run)}: {weekly[key]}.")
    spans = _breach_spans(run)
    if spans:
        longest = max(end - begin for begin, end in spans)
        if longest <= pd.Timedelta(hours=1):
            lines.append(f"Every SLO breach recovered within {_duration(longest)} (the longest).")
    close = [m for m, row in _comparison(run).iterrows() if not row["over_threshold"]]
    if close:
        lines.append(f"On average over {_period(run)}, within the {drift_target(settings)}: {', '.join(close)}.")
    # The score beside a rollback or an inconclusive verdict would read as praise the verdict denies.
    score = weekly.get("stability_score")
    if score is not None and score >= 80 and weekly.get("verdict", "pass") == "pass":
        lines.append(f"SLO-compliance score {score:.1f}/100, grade {weekly.get('stability_grade')}.")
    return lines or [f"Nothing stood out as going well in {_period(run)}; see what did not."]


def did_not_go_well(run: RunData) -> list[str]:
    """What did not go well, each line with the figure, the threshold and the days."""
    weekly = run.weekly
    settings = run.settings
    lines: list[str] = []
    if weekly.get("verdict") == "inconclusive":
        reasons = "; ".join(f"{r.get('metric')}: {r.get('reason')}" for r in weekly.get("inconclusive_reasons") or [])
        lines.append(f"The verdict is INCONCLUSIVE: stabmon could not see enough to judge ({reasons}).")
    for day_number, row in run.daily.iterrows():
        if row["snapshot_count"] > 0 and bool(row["degraded"]):
            lines.append(f"Day {day_number} was degraded: {'; '.join(_degradation_reasons(row, settings))}.")
    for _, episode in run.episodes.iterrows():
        if episode["severity"] == "critical":
            lines.append(
                f"Critical alert {episode['alertname']} fired for "
                f"{_duration(episode['span_end'] - episode['span_start'])} on day {episode['day_number']} "
                f"({episode['span_start']:%H:%M}-{episode['span_end']:%H:%M} UTC)."
            )
    over = _comparison(run)
    over = over[over["over_threshold"]]
    if not over.empty:
        lines.append(f"On average over {_period(run)}, over the {drift_target(settings)}: "
                     f"{', '.join(f'{m} {v:+,.1f} %' for m, v in drifting(run).items())}.")
    details = weekly.get("trend_details") or {}
    if weekly.get("availability_trend") == "degrading":
        lines.append(f"Availability degraded over {_period(run)} ({details.get('availability_change_points', 0):+.3f} points, "
                     "last days vs first days).")
    if weekly.get("latency_trend") == "degrading":
        lines.append(f"p99 latency rose over {_period(run)} ({details.get('latency_change_ms', 0):+.1f} ms, "
                     "last days vs first days).")
    if weekly.get("resource_trend") == "degrading":
        cpu = details.get("cpu_change_percent")
        memory = details.get("memory_change_percent")
        figures = ", ".join(f"{name} {value:+.1f} %" for name, value in (("CPU", cpu), ("memory", memory))
                            if value is not None)
        lines.append(f"Resource use rose over {_period(run)} ({figures}; threshold {settings.trend_resource_percent:g} %).")
    missing = weekly.get("missing_days") or []
    expected = weekly.get("expected_snapshots") or 0
    total = weekly.get("total_snapshots") or 0
    if missing:
        lines.append(f"No data for days {_days(missing)}: those days are left out of every figure.")
    elif expected and total < expected:
        lines.append(f"{expected - total} of {expected} snapshots are missing.")
    burndown = run.burndown
    if burndown and burndown.get("days"):
        used = burndown["days"][-1].get("cumulative_consumed_percent")
        if burndown.get("budget_exhausted_at") or (used is not None and used >= 50):
            lines.append(f"Error budget of the {burndown.get('slo_target_percent', '?')} % SLO: "
                         f"{budget_outlook(burndown)}.")
    if run.anomaly_episodes is not None:
        high = run.anomaly_episodes[run.anomaly_episodes["severity"] == "high"]
        if not high.empty:
            metrics = ", ".join(sorted(set(high["metric"])))
            lines.append(f"{len(high)} high-severity anomaly episodes ({metrics}).")
    return lines or ["Nothing went wrong that the monitor can see: every signal met its target."]


def drifting(run: RunData) -> dict[str, float]:
    """Metrics whose average drift over the window misses the drift target, signed by their change (%)."""
    over = _comparison(run)
    over = over[over["over_threshold"]]
    return {str(m): float(row["avg_drift_percent"]) * (-1.0 if row["change"] < 0 else 1.0)
            for m, row in over.iterrows()}


def action_items(run: RunData) -> list[str]:
    """The retrospective's checklist (:func:`stabmon.core.advice.retrospective_actions` on this run's evidence)."""
    release = None
    info_path = run.run_dir / "run.json"
    if info_path.exists():
        from stabmon import store

        release = ((store.read_run_info(run.run_dir) or {}).get("release") or {}).get("name")
    return retrospective_actions(run.weekly, run_breaches(run), burndown=run.burndown, drifting=drifting(run),
                                 release=release)


def _breach_spans(run: RunData) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    snapshots = run.snapshots
    settings = run.settings
    spans = interval_spans(snapshots["availability"] < settings.availability_slo_percent, run.interval)
    spans += interval_spans(snapshots["p99_latency_ms"] >= settings.latency_slo_p99_ms, run.interval)
    return spans


def _comparison(run: RunData) -> pd.DataFrame:
    return baseline_comparison(run)
