"""This release's week against earlier releases' weeks, day by day (``release_comparison.json``).

Pure logic, no I/O. Day ``d`` after this release is compared with day ``d``
after each earlier release (the earlier runs' snapshots of that day pooled,
as Keptn's ``compare_with`` pools earlier evaluations), metric by metric,
with the same test as the baseline comparison
(:func:`stabmon.core.compare.compare_samples`: two-sided Mann-Whitney U with
the effect-size guard). Its verdict becomes a ``status``:

* ``worse``: shifted in the metric's bad direction (higher latency, lower availability, ...);
* ``better``: shifted the other way;
* ``same``: no significant shift large enough to count;
* ``nodata``: fewer than ``min_samples`` values on either side.

``current`` and ``previous`` are the medians of the two samples,
``change`` their difference in the metric's unit (docs/contract.md §4.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from stabmon.core.compare import BAD_DIRECTION, DEFAULT_COMPARE_SETTINGS, CompareSettings, compare_samples
from stabmon.core.model import Snapshot, Window

STATUSES: tuple[str, ...] = ("better", "worse", "same", "nodata")


@dataclass
class RunWeek:
    """One run's week as the comparison sees it: where it is, its release, verdict, window and snapshots."""

    run: str
    window: Window
    snapshots: list[Snapshot] = field(default_factory=list)
    release: dict[str, Any] | None = None
    verdict: str | None = None

    def day_values(self, day_number: int, metric: str) -> list[float]:
        """The values of ``metric`` in the snapshots of day ``day_number`` of this run's window."""
        return [v for s in self.snapshots
                if self.window.start <= s.timestamp < self.window.end
                and self.window.day_of(s.timestamp) == day_number
                and (v := s.values.get(metric)) is not None]


def status_of(metric: str, verdict: str) -> str:
    """The comparison verdict (``pass|high|low|nodata``) as a release status."""
    if verdict == "nodata":
        return "nodata"
    if verdict == "pass":
        return "same"
    bad = BAD_DIRECTION.get(metric)
    if bad is None:
        return "same"
    return "worse" if verdict == bad else "better"


def compare_metric(metric: str, current: Sequence[float], previous: Sequence[float],
                   settings: CompareSettings = DEFAULT_COMPARE_SETTINGS) -> dict[str, Any]:
    """One day and metric: ``{current, previous, change, change_percent, status, p_value, n_current, n_previous}``."""
    result = compare_samples(metric, previous, current, settings)
    now, before = result["day_median"], result["baseline_median"]
    change = now - before if now is not None and before is not None else None
    return {
        "current": now,
        "previous": before,
        "change": change,
        "change_percent": (change / abs(before) * 100.0) if change is not None and before else None,
        "status": status_of(metric, result["verdict"]),
        "p_value": result["p_value"],
        "n_current": result["n_day"],
        "n_previous": result["n_baseline"],
    }


def compare_weeks(current: RunWeek, previous: Sequence[RunWeek],
                  settings: CompareSettings = DEFAULT_COMPARE_SETTINGS) -> list[dict[str, Any]]:
    """Each day of ``current`` against the same day of the ``previous`` runs pooled.

    Returns
    -------
    list of dict
        ``[{day_number, metrics: {<metric>: compare_metric(...)}}]`` for days
        1 .. the current window's day count. A day the earlier runs do not
        have (a shorter window) is ``nodata``.
    """
    days = []
    for day in range(1, current.window.day_count + 1):
        metrics = {}
        for metric in settings.metrics:
            before = [v for run in previous if day <= run.window.day_count for v in run.day_values(day, metric)]
            metrics[metric] = compare_metric(metric, current.day_values(day, metric), before, settings)
        days.append({"day_number": day, "metrics": metrics})
    return days


def split_by_verdict(previous: Iterable[RunWeek], include_rollbacks: bool) -> tuple[list[RunWeek], list[RunWeek]]:
    """(kept, left out): earlier runs whose verdict was ``rollback`` are left out unless ``include_rollbacks``."""
    kept, left_out = [], []
    for run in previous:
        (left_out if run.verdict == "rollback" and not include_rollbacks else kept).append(run)
    return kept, left_out


def _run_entry(run: RunWeek, included: bool | None = None) -> dict[str, Any]:
    entry = {"run": run.run, "release": run.release, "verdict": run.verdict,
             "start_time": run.window.to_dict()["start"]}
    if included is not None:
        entry["included"] = included
    return entry


def release_comparison(current: RunWeek, previous: Sequence[RunWeek], *, include_rollbacks: bool = False,
                       settings: CompareSettings = DEFAULT_COMPARE_SETTINGS, service: str | None = None,
                       generated_at: str | None = None) -> dict[str, Any]:
    """The ``release_comparison.json`` document of one service.

    ``verdicts`` puts this run's verdict beside each earlier run's (and says
    whether it was compared); ``worse`` and ``better`` list ``{day_number,
    metric}`` for a quick read.
    """
    kept, left_out = split_by_verdict(previous, include_rollbacks)
    days = compare_weeks(current, kept, settings)
    by_status = {s: [{"day_number": d["day_number"], "metric": m} for d in days
                     for m, row in d["metrics"].items() if row["status"] == s] for s in ("worse", "better")}
    return {
        "service": service,
        "generated_at": generated_at,
        "include_rollbacks": include_rollbacks,
        "current": _run_entry(current),
        "previous": [_run_entry(r, included=any(r is k for k in kept)) for r in previous],
        "verdicts": {"current": current.verdict, "previous": [r.verdict for r in previous]},
        "days": days,
        "worse": by_status["worse"],
        "better": by_status["better"],
        "settings": {"p_value_threshold": settings.p_value_threshold, "min_samples": settings.min_samples,
                     "metrics": list(settings.metrics)},
    }


def release_label(release: dict[str, Any] | None) -> str:
    """One line naming a release: ``Release v1.4.2 (commit abc1234, deployed 2026-11-20T09:30:00Z)``.

    ``Release: not recorded`` when the run has no release record (``--release`` not given).
    """
    if not release or not any(release.get(k) for k in ("name", "commit", "deployed_at")):
        return "Release: not recorded"
    details = [f"commit {release['commit']}" if release.get("commit") else "",
               f"deployed {release['deployed_at']}" if release.get("deployed_at") else ""]
    details = [d for d in details if d]
    return f"Release {release.get('name') or release.get('commit')}" + (f" ({', '.join(details)})" if details else "")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def _release_name(entry: dict[str, Any]) -> str:
    release = entry.get("release") or {}
    return release.get("name") or release.get("commit") or entry["run"]


def comparison_markdown(document: dict[str, Any]) -> str:
    """``release_comparison.md``: the verdicts side by side, then one table row per day and metric that moved."""
    current = document["current"]
    lines = [f"# Release comparison: {_release_name(current)}" + (
        f" ({document['service']})" if document.get("service") else ""), "",
        "| run | release | verdict | compared |", "|---|---|---|---|",
        f"| {current['run']} | {_release_name(current)} | {(current.get('verdict') or '-').upper()} | this release |"]
    for entry in document["previous"]:
        compared = "yes" if entry.get("included") else "no (rollback; --include-rollbacks to compare)"
        lines.append(f"| {entry['run']} | {_release_name(entry)} | {(entry.get('verdict') or '-').upper()} "
                     f"| {compared} |")
    lines += ["", f"Worse: {len(document['worse'])} day-metrics; better: {len(document['better'])}.", "",
              "| day | metric | this release | earlier | change | status |", "|---|---|---|---|---|---|"]
    for day in document["days"]:
        for metric, row in day["metrics"].items():
            lines.append(f"| {day['day_number']} | {metric} | {_fmt(row['current'])} | {_fmt(row['previous'])} "
                         f"| {_fmt(row['change'])} | {row['status']} |")
    return "\n".join(lines) + "\n"
