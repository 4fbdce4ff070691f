"""What the fleet notebook shows besides charts: the verdict and tables from ``fleet_summary.json``.

Pure functions over the summary document (plus :func:`load_fleet`, which reads
it, or builds the embedded demo fleet when no folder is given). The charts are
in :mod:`stabmon.report.charts`, like every other notebook's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from stabmon.core import paths
from stabmon import store
from stabmon.demo.fleet import build_demo_fleet
from stabmon.report.views import Block, paragraph, stack
from stabmon.store import FLEET_SUMMARY_JSON
from stabmon.store.fleet import merge_fleet


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


def fleet_verdict(summary: dict[str, Any]) -> Block:
    """How many services, which to roll back, which have no data, and whether shards are missing.

    Service names come from Prometheus labels, so they are escaped like
    every other text of a report (see :mod:`stabmon.report.views`).
    """
    window = summary["window"]
    rollback = summary["rollback_recommended"]
    blocks = [paragraph(("b", f"{summary['service_count']} services"),
                        f" over {window['duration_hours']:g} h from {window['start']}.")]
    if rollback:
        blocks.append(paragraph(("b", f"Roll back {len(rollback)}:"), " " + ", ".join(rollback) + ".", tone="bad"))
    else:
        blocks.append(paragraph(("b", "No service needs a rollback."), tone="good"))
    inconclusive = [e for e in summary.get("services") or [] if e.get("verdict") == "inconclusive"]
    if inconclusive:
        # Listed apart, as plainly as the rollbacks: not enough data is not healthy.
        blocks.append(paragraph(("b", f"INCONCLUSIVE {len(inconclusive)}:"), " " + "; ".join(
            f"{e['service']} ({'; '.join(e.get('inconclusive_reasons') or ['-'])})" for e in inconclusive) + ".",
            tone="warn"))
    if summary.get("no_data"):
        blocks.append(paragraph("No data for: " + ", ".join(summary["no_data"]) + ".", tone="note"))
    shards = summary.get("shards") or {}
    if shards.get("missing"):
        blocks.append(paragraph(f"Incomplete: shards {shards['missing']} of {shards['count']} are missing.",
                                tone="note"))
    return stack(*blocks)


def ranking_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Every service, worst first: rank, score, grade, verdict, degraded days, key averages."""
    rows = [{
        "rank": e["rank"], "service": e["service"], "score": e["stability_score"], "grade": e["stability_grade"],
        "verdict": (e.get("verdict") or ("rollback" if e["rollback_recommended"] else "pass")).upper(),
        "degraded_days": ", ".join(map(str, e["degraded_days"])),
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

