"""Report views of the release: its header line, and this release's week against earlier releases'.

Each function takes the notebook's :class:`~stabmon.report.rundata.RunData`
(and the ``previous_runs`` parameter) and returns something a notebook cell
shows: a :class:`~stabmon.report.views.Block` or a matplotlib figure. The
comparison itself is :mod:`stabmon.core.release_compare`'s (the same test as
``stabmon compare``); nothing is written.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from matplotlib.figure import Figure

from stabmon import store
from stabmon.core.model import METRIC_LABELS
from stabmon.core.release_compare import RunWeek, release_label
from stabmon.report import charts
from stabmon.report.rundata import RunData
from stabmon.report.views import Block, paragraph, stack, table
from stabmon.store.release_history import build_comparison

#: The metrics charted against the earlier releases' band.
BAND_METRICS: tuple[str, ...] = ("availability", "error_rate", "p99_latency_ms", "cpu_percent")


def run_release(run: RunData) -> dict[str, Any] | None:
    """The run's ``release`` record from its ``run.json`` (``None`` when not recorded)."""
    info = store.read_run_info(run.run_dir) if (run.run_dir / store.RUN_FILE).exists() else None
    return (info or {}).get("release")


def release_header(run: RunData) -> Block:
    """One line naming the release the window follows (``--release``, ``--commit``, ``--deployed-at``)."""
    return paragraph(("b", release_label(run_release(run))))


def release_comparison(run: RunData, previous_runs: Sequence[str], *,
                       include_rollbacks: bool = False) -> tuple[dict[str, Any], RunWeek, list[RunWeek]] | None:
    """The comparison of the run with the earlier runs' folders, or ``None`` when none are given."""
    if not previous_runs:
        return None
    return build_comparison(run.run_dir, [Path(p) for p in previous_runs], include_rollbacks=include_rollbacks)


def comparison_table(document: dict[str, Any]) -> pd.DataFrame:
    """One row per day and metric that is not ``same``: this week, the earlier weeks, the change, the status."""
    rows = [{"day": day["day_number"], "metric": METRIC_LABELS.get(metric, metric), "this release": row["current"],
             "earlier": row["previous"], "change": row["change"], "status": row["status"]}
            for day in document["days"] for metric, row in day["metrics"].items() if row["status"] != "same"]
    return pd.DataFrame(rows, columns=["day", "metric", "this release", "earlier", "change", "status"])


def release_comparison_section(run: RunData, previous_runs: Sequence[str]) -> Block:
    """The verdicts side by side and the days and metrics that differ from the earlier releases."""
    found = release_comparison(run, previous_runs)
    if found is None:
        return paragraph("No earlier release given (the previous_runs parameter, or "
                         "stabmon report --previous RUN): nothing to compare with.", tone="note")
    document = found[0]
    verdicts = [f"this release ({release_label(document['current']['release'])}): "
                f"{(document['current']['verdict'] or 'none').upper()}"]
    for entry in document["previous"]:
        compared = "" if entry["included"] else " (left out: a rollback)"
        verdicts.append(f"{release_label(entry['release'])}: {(entry['verdict'] or 'none').upper()}{compared}")
    worse = len(document["worse"])
    return stack(
        paragraph(("b", "Verdicts: "), "; ".join(verdicts) + "."),
        paragraph(f"{worse} day-metrics worse and {len(document['better'])} better than the earlier releases "
                  "(Mann-Whitney with the effect-size guard, day by day).", tone="bad" if worse else "good"),
        table(comparison_table(document), empty="Every day and metric is the same as in the earlier releases."),
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def band_frame(document: dict[str, Any], current: RunWeek, previous: list[RunWeek], metric: str) -> pd.DataFrame:
    """Per day: this week's median of ``metric``, the earlier weeks' lowest and highest medians, the pooled
    median and the status."""
    compared = [week for week, entry in zip(previous, document["previous"]) if entry["included"]]
    rows = []
    for day in document["days"]:
        d = day["day_number"]
        medians = [m for week in compared if (m := _median(week.day_values(d, metric))) == m]
        row = day["metrics"].get(metric) or {}
        rows.append({"day_number": d, "current": _median(current.day_values(d, metric)),
                     "low": min(medians) if medians else float("nan"),
                     "high": max(medians) if medians else float("nan"),
                     "previous": row.get("previous") if row.get("previous") is not None else float("nan"),
                     "status": row.get("status", "nodata")})
    return pd.DataFrame(rows, columns=["day_number", "current", "low", "high", "previous", "status"])


def release_band_figure(run: RunData, previous_runs: Sequence[str],
                        metrics: Sequence[str] = BAND_METRICS) -> Figure | Block:
    """This week over the earlier weeks' band, day by day, one panel per metric."""
    found = release_comparison(run, previous_runs)
    if found is None:
        return paragraph("No earlier release to chart against.", tone="note")
    document, current, previous = found
    figure = charts.new_figure((11.0, 2.8 * ((len(metrics) + 1) // 2)))
    axes = figure.subplots((len(metrics) + 1) // 2, 2, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        charts.plot_release_band(band_frame(document, current, previous, metric), metric, ax=ax)
    for ax in axes[len(metrics):]:
        ax.set_axis_off()
    return figure
