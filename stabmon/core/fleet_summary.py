"""The fleet summary: every service of a fleet ranked worst first, and those to roll back.

Pure: built from each service's weekly summary document; the store writes it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Sequence

from stabmon.core.model import Window, format_time
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
        }
    daily = weekly.get("daily_summaries") or []
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
        "no_data": not weekly.get("total_snapshots") or (
            weekly.get("avg_availability") is None and weekly.get("avg_p99_latency_ms") is None),
    }


def rank_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """Worst first: rollback verdicts, then no data, then lowest score, then most degraded days, then name."""
    score = entry.get("stability_score")
    return (
        not entry.get("rollback_recommended"),
        not entry.get("no_data"),
        math.inf if score is None else score,
        -len(entry.get("degraded_days") or []),
        entry["service"],
    )


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
        "rollback_recommended": [e["service"] for e in ranked if e["rollback_recommended"]],
        "no_data": [e["service"] for e in ranked if e.get("no_data")],
        "grade_counts": grades,
        "shards": shards,
        "warnings": list(warnings),
        "services": ranked,
    }


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
    rollback = summary["rollback_recommended"]
    if rollback:
        lines.append(f"**Roll back ({len(rollback)}):** " + ", ".join(md_code(s) for s in rollback))
    else:
        lines.append("**No service needs a rollback.**")
    if summary.get("no_data"):
        lines.append("")
        lines.append("**No data:** " + ", ".join(md_code(s) for s in summary["no_data"]))
    shards = summary.get("shards")
    if shards and shards.get("missing"):
        lines += ["", f"**Incomplete:** shards {', '.join(map(str, shards['missing']))} of {shards['count']} missing."]
    lines += ["", "| rank | service | score | grade | rollback | degraded days | reasons |",
              "|---:|---|---:|:---:|:---:|---|---|"]
    for entry in summary["services"]:
        score = "n/a" if entry["stability_score"] is None else f"{entry['stability_score']:.1f}"
        days = ", ".join(str(d) for d in entry["degraded_days"]) or "-"
        reasons = "; ".join(entry["rollback_reasons"]) or ("no data" if entry.get("no_data") else "-")
        lines.append(
            f"| {entry['rank']} | {md_escape(entry['service'])} | {score} | {entry['stability_grade'] or '-'} | "
            f"{'YES' if entry['rollback_recommended'] else 'no'} | {days} | {md_escape(reasons)} |"
        )
    for warning in summary.get("warnings") or []:
        lines.append(f"\n> warning: {md_escape(warning)}")
    return "\n".join(lines) + "\n"
