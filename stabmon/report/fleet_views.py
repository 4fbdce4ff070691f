"""What the fleet notebook shows: tables and charts from ``fleet_summary.json``.

Pure functions over the summary document (plus :func:`load_fleet`, which reads
it, or builds the embedded demo fleet when no folder is given). Plot
functions take data and an optional ``ax`` and return the figure; they never
save files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from stabmon.core import paths
from stabmon import store
from stabmon.collect.fleet import FLEET_SUMMARY_JSON, build_demo_fleet, merge_fleet


def load_fleet(fleet_dir: str | Path | None = None) -> dict[str, Any]:
    """Read a fleet folder's summary (merging shards when it has none yet).

    Parameters
    ----------
    fleet_dir
        The fleet folder; ``None`` or ``""`` builds (once) and reads the
        embedded demo fleet in :data:`stabmon.core.paths.DEMO_FLEET_DIR`.

    Returns
    -------
    dict
        The ``fleet_summary.json`` document.
    """
    folder = Path(fleet_dir) if fleet_dir else paths.DEMO_FLEET_DIR
    summary_path = folder / FLEET_SUMMARY_JSON
    if not fleet_dir and not summary_path.exists():
        return build_demo_fleet(folder)
    if not summary_path.exists():
        return merge_fleet(folder)
    return store.read_json(summary_path)


def fleet_verdict(summary: dict[str, Any]) -> str:
    """One Markdown paragraph: how many services, which to roll back, which have no data."""
    rollback = summary["rollback_recommended"]
    lines = [f"**{summary['service_count']} services** over {summary['window']['duration_hours']:g} h "
             f"from {summary['window']['start']}."]
    if rollback:
        lines.append(f"**Roll back {len(rollback)}:** " + ", ".join(f"`{s}`" for s in rollback) + ".")
    else:
        lines.append("**No service needs a rollback.**")
    if summary.get("no_data"):
        lines.append("No data for: " + ", ".join(f"`{s}`" for s in summary["no_data"]) + ".")
    shards = summary.get("shards") or {}
    if shards.get("missing"):
        lines.append(f"Incomplete: shards {shards['missing']} of {shards['count']} are missing.")
    return "\n\n".join(lines)


def ranking_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Every service, worst first: rank, score, grade, verdict, degraded days, key averages."""
    rows = [{
        "rank": e["rank"], "service": e["service"], "score": e["stability_score"], "grade": e["stability_grade"],
        "rollback": e["rollback_recommended"], "degraded_days": ", ".join(map(str, e["degraded_days"])),
        "availability_%": e.get("avg_availability"), "error_rate_%": e.get("avg_error_rate"),
        "p99_ms": e.get("avg_p99_latency_ms"), "critical_alerts": e.get("total_critical_alerts"),
    } for e in summary["services"]]
    return pd.DataFrame(rows).set_index("rank") if rows else pd.DataFrame()


def rollback_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The services to roll back, one row per reason."""
    rows = [{"service": e["service"], "score": e["stability_score"], "reason": reason}
            for e in summary["services"] if e["rollback_recommended"] for reason in (e["rollback_reasons"] or ["-"])]
    return pd.DataFrame(rows, columns=["service", "score", "reason"])


def degradation_matrix(summary: dict[str, Any], top_n: int | None = None) -> pd.DataFrame:
    """Services (worst first) x days: 1 degraded, 0 fine, NaN no data."""
    code = {"degraded": 1.0, "ok": 0.0, "missing": float("nan")}
    services = summary["services"][:top_n] if top_n else summary["services"]
    days = max((len(e["day_status"]) for e in services), default=0)
    data = {e["service"]: [code[s] for s in e["day_status"]] + [float("nan")] * (days - len(e["day_status"]))
            for e in services}
    frame = pd.DataFrame.from_dict(data, orient="index", columns=[f"day {d}" for d in range(1, days + 1)])
    frame.index.name = "service"
    return frame


def plot_degradation_heatmap(matrix: pd.DataFrame, ax: Any = None) -> Any:
    """Heatmap of :func:`degradation_matrix` (red degraded, green fine, grey no data); returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(2.0, 0.3 * len(matrix) + 1)))
    cmap = ListedColormap(["#4caf50", "#e53935"])
    cmap.set_bad("#bdbdbd")
    ax.imshow(matrix.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns)
    ax.set_yticks(range(matrix.shape[0]), [str(s) for s in matrix.index])
    ax.set_title("Degraded days per service (red: degraded, grey: no data)")
    return ax.figure


def plot_score_ranking(summary: dict[str, Any], top_n: int | None = 30, ax: Any = None) -> Any:
    """Horizontal bars of the stability scores, worst at the top, rollbacks in red; returns the figure."""
    import matplotlib.pyplot as plt

    services = summary["services"][:top_n] if top_n else summary["services"]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(2.0, 0.3 * len(services) + 1)))
    names = [str(e["service"]) for e in services][::-1]
    scores = [e["stability_score"] or 0.0 for e in services][::-1]
    colors = ["#e53935" if e["rollback_recommended"] else "#bdbdbd" if e["stability_score"] is None else "#1e88e5"
              for e in services][::-1]
    ax.barh(names, scores, color=colors)
    ax.set_xlim(0, 100)
    ax.set_xlabel("stability score")
    ax.set_title("Stability score (red: rollback recommended)")
    return ax.figure
