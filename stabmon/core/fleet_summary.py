"""The fleet summary: every service of a fleet ranked worst first, and those to roll back.

A service whose verdict is ``inconclusive`` (or that has no data at all) is
listed apart, in ``inconclusive``, and ranked right after the rollbacks:
never among the healthy. The fleet's own verdict is its worst service's.

Pure: built from each service's weekly summary document; the store writes it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Sequence

from stabmon.core.markdown import reason_lines, verdict_of
from stabmon.core.model import Window, format_time
from stabmon.core.release_compare import release_label
from stabmon.core.text import md_code, md_escape

#: The label that names a service when none is given (``--service-label``).
DEFAULT_SERVICE_LABEL = "service"


def _day_status(daily: dict[str, Any]) -> str:
    completeness = (daily.get("_metadata") or {}).get("data_completeness")
    if completeness == "missing" or not daily.get("snapshot_count"):
        return "missing"
    return "degraded" if daily.get("degraded") else "ok"


def fleet_entry(service: str, folder: str, weekly: dict[str, Any] | None) -> dict[str, Any]:
    """One service's line of the fleet summary, from its weekly summary (``None``: no data)."""
    if weekly is None:
        return {
            "service": service, "folder": folder, "stability_score": None, "stability_grade": None,
            "rollback_recommended": False, "rollback_reasons": [], "degraded_days": [], "missing_days": [],
            "day_status": [], "total_snapshots": 0, "avg_availability": None, "avg_error_rate": None,
            "avg_p99_latency_ms": None, "total_critical_alerts": 0, "has_baseline": False, "no_data": True,
            "verdict": "inconclusive", "inconclusive_reasons": ["no data: no weekly summary for this service"],
        }
    daily = weekly.get("daily_summaries") or []
    no_data = not weekly.get("total_snapshots") or (
        weekly.get("avg_availability") is None and weekly.get("avg_p99_latency_ms") is None)
    verdict = verdict_of(weekly)
    return {
        "service": service,
        "folder": folder,
        "stability_score": weekly.get("stability_score"),
        "stability_grade": weekly.get("stability_grade"),
        "rollback_recommended": bool(weekly.get("rollback_recommended")),
        "rollback_reasons": list(weekly.get("rollback_reasons") or []),
        "degraded_days": list(weekly.get("degraded_days") or []),
        "missing_days": list(weekly.get("missing_days") or []),
        "day_status": [_day_status(d) for d in daily],
        "total_snapshots": int(weekly.get("total_snapshots") or 0),
        "avg_availability": weekly.get("avg_availability"),
        "avg_error_rate": weekly.get("avg_error_rate"),
        "avg_p99_latency_ms": weekly.get("avg_p99_latency_ms"),
        "total_critical_alerts": int(weekly.get("total_critical_alerts") or 0),
        "has_baseline": weekly.get("baseline_timestamp") is not None,
        "no_data": no_data,
        # No data is never a pass, whatever an older weekly summary said.
        "verdict": "inconclusive" if no_data and verdict == "pass" else verdict,
        "inconclusive_reasons": reason_lines(weekly) or (["no data in the window"] if no_data else []),
    }


def failed_entry(service: str, folder: str, failure: str) -> dict[str, Any]:
    """The line of a service whose work failed (its task raised): inconclusive, the failure named."""
    entry = fleet_entry(service, folder, None)
    entry.update(no_data=False, inconclusive_reasons=[f"failed: {failure}"])
    return entry


def rank_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """Worst first: rollback verdicts, then inconclusive ones (no data first), then lowest score,
    then most degraded days, then name."""
    score = entry.get("stability_score")
    return (
        not entry.get("rollback_recommended"),
        entry.get("verdict") != "inconclusive",
        not entry.get("no_data"),
        math.inf if score is None else score,
        -len(entry.get("degraded_days") or []),
        entry["service"],
    )


def fleet_verdict(entries: Sequence[dict[str, Any]]) -> str:
    """The worst service's verdict: ``rollback`` if any, else ``inconclusive`` if any, else ``pass``.

    Only the services listed count: a shard's run judges its own services
    (a missing shard is reported under ``shards``, not here).
    """
    if any(e.get("rollback_recommended") for e in entries):
        return "rollback"
    if any(e.get("verdict") == "inconclusive" for e in entries):
        return "inconclusive"
    return "pass"


def build_fleet_summary(entries: Sequence[dict[str, Any]], window: Window, *, service_label: str,
                        generated_at: datetime | None = None, shards: dict[str, Any] | None = None,
                        warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The fleet summary document (``fleet_summary.json``): services ranked worst first."""
    ranked = sorted(entries, key=rank_key)
    for rank, entry in enumerate(ranked, 1):
        entry["rank"] = rank
    grades = {g: 0 for g in ("A", "B", "C", "D", "F")}
    for entry in ranked:
        if entry.get("stability_grade") in grades:
            grades[entry["stability_grade"]] += 1
    generated_at = generated_at or datetime.now(timezone.utc).replace(microsecond=0)
    return {
        "generated_at": format_time(generated_at),
        "window": window.to_dict(),
        "service_label": service_label,
        "service_count": len(ranked),
        "verdict": fleet_verdict(ranked),
        "rollback_recommended": [e["service"] for e in ranked if e["rollback_recommended"]],
        "inconclusive": [e["service"] for e in ranked if e.get("verdict") == "inconclusive"],
        "no_data": [e["service"] for e in ranked if e.get("no_data")],
        "grade_counts": grades,
        "shards": shards,
        "warnings": list(warnings),
        "services": ranked,
    }


_VERDICT_CELLS = {"rollback": "ROLLBACK", "inconclusive": "INCONCLUSIVE", "pass": "pass"}


def fleet_summary_markdown(summary: dict[str, Any]) -> str:
    """``fleet_summary.md``: the verdict and the ranked table."""
    window = summary["window"]
    lines = [
        "# Fleet stability summary",
        "",
        f"Window: {window['start']} .. {window.get('end', '')} ({window['duration_hours']:g} h, every "
        f"{window['interval_minutes']:g} min); {summary['service_count']} services "
        f"(label `{summary['service_label']}`); generated {summary['generated_at']}.",
        "",
    ]
    if summary.get("release"):
        lines[3:3] = [md_escape(release_label(summary["release"])) + ".", ""]
    rollback = summary["rollback_recommended"]
    if rollback:
        lines.append(f"**Roll back ({len(rollback)}):** " + ", ".join(md_code(s) for s in rollback))
    else:
        lines.append("**No service needs a rollback.**")
    inconclusive = {e["service"]: e for e in summary["services"] if e.get("verdict") == "inconclusive"}
    if inconclusive:
        lines += ["", f"## INCONCLUSIVE ({len(inconclusive)}): not enough trustworthy data to judge", ""]
        for name, entry in inconclusive.items():
            lines.append(f"- {md_code(name)}: " + md_escape("; ".join(entry.get("inconclusive_reasons") or ["-"])))
    if summary.get("no_data"):
        lines.append("")
        lines.append("**No data:** " + ", ".join(md_code(s) for s in summary["no_data"]))
    shards = summary.get("shards")
    if shards and shards.get("missing"):
        lines += ["", f"**Incomplete:** shards {', '.join(map(str, shards['missing']))} of {shards['count']} missing."]
    lines += ["", "| rank | service | score | grade | verdict | degraded days | reasons |",
              "|---:|---|---:|:---:|:---:|---|---|"]
    for entry in summary["services"]:
        score = "n/a" if entry["stability_score"] is None else f"{entry['stability_score']:.1f}"
        days = ", ".join(str(d) for d in entry["degraded_days"]) or "-"
        reasons = "; ".join(entry["rollback_reasons"] or entry.get("inconclusive_reasons") or []) or "-"
        lines.append(
            f"| {entry['rank']} | {md_escape(entry['service'], cell=True)} | {score} | {entry['stability_grade'] or '-'} | "
            f"{_VERDICT_CELLS[entry.get('verdict') or 'pass']} | {days} | {md_escape(reasons, cell=True)} |"
        )
    for warning in summary.get("warnings") or []:
        lines.append(f"\n> warning: {md_escape(warning)}")
    return "\n".join(lines) + "\n"
