"""Write the parameterised notebooks in ``notebooks/`` (no outputs, no execution counts).

The ``.ipynb`` files are the source of truth that is checked in; this script
is how they were written, so a structural change (a new section, a new
parameter) is made here and the notebooks regenerated::

    .venv/bin/python scripts/build_notebooks.py          # rewrite notebooks/
    .venv/bin/python scripts/build_notebooks.py --check  # exit 1 if they differ

Every notebook is thin: a ``parameters`` cell of typed, commented defaults,
then cells that each call one package function (``stabmon.rundata``,
``stabmon.views``, ``stabmon.charts``) and show what it returns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

IMPORTS = """\
from stabmon.report import charts, rundata, views

charts.show_in_notebook()"""

RUN_DIR = 'run_dir: str = ""  # run folder holding day_NN_raw/ and the summaries, empty means the embedded demo week'
THRESHOLDS = """\
availability_slo_percent: float = 99.9  # a snapshot meets the availability SLO at or above this (%)
latency_slo_p99_ms: float = 500.0  # a snapshot meets the latency SLO when its p99 is below this (ms)
error_rate_degraded_percent: float = 0.1  # a day is degraded when its average error rate reaches this (%)
degradation_compliance_percent: float = 95.0  # a day is degraded when its SLO compliance is below this (%)
drift_threshold_percent: float = 10.0  # a metric drifts when it is further than this from the baseline (%)"""
DAY = "day_number: int = 1  # which day of the run to analyse (1-based)"

LOAD = """\
run = rundata.load_run(
    run_dir,
    availability_slo_percent=availability_slo_percent,
    latency_slo_p99_ms=latency_slo_p99_ms,
    error_rate_degraded_percent=error_rate_degraded_percent,
    degradation_compliance_percent=degradation_compliance_percent,
    drift_threshold_percent=drift_threshold_percent,
)"""


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str, *, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = tags
    return cell


def notebook(name: str, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    # Stable cell ids keep regenerated notebooks byte-identical (clean diffs).
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{index:02d}"
    return nb


def daily_analysis() -> nbformat.NotebookNode:
    return notebook("daily_analysis", [
        md("""
# Daily stability analysis

One day of a post-release monitoring run: the golden signals against their SLOs, the alerts that fired,
the drift from the release-day baseline. Times are UTC. Run it for any day of any run folder:

`papermill notebooks/daily_analysis.ipynb day_03.ipynb -p run_dir outputs/stability -p day_number 3`
"""),
        code(IMPORTS),
        code(f"{RUN_DIR}\n{DAY}\n{THRESHOLDS}", tags=["parameters"]),
        code(LOAD),
        code("day = rundata.day_view(run, day_number)"),
        code("views.run_header(run, day_number)"),
        md("## Verdict"),
        code("views.day_verdict(run, day_number)"),
        code("views.day_key_figures(run, day_number)"),
        md("## Availability\n\nShaded: the intervals in which availability was below the SLO."),
        code("charts.plot_availability(day.snapshots, slo_percent=run.settings.availability_slo_percent, "
             "anomalies=day.anomalies)"),
        md("## Error rate"),
        code("charts.plot_error_rate(day.snapshots, threshold_percent=run.settings.error_rate_degraded_percent, "
             "anomalies=day.anomalies)"),
        md("## Latency\n\nShaded: the intervals in which p99 latency was at or over the SLO."),
        code("charts.plot_latency(day.snapshots, slo_p99_ms=run.settings.latency_slo_p99_ms, anomalies=day.anomalies)"),
        md("## CPU and memory"),
        code("charts.plot_resources(day.snapshots, anomalies=day.anomalies)"),
        md("## Alerts"),
        code("charts.plot_alert_episodes(day.episodes, start=day.start, end=day.end)"),
        code("views.alert_episodes_table(run, day_number)"),
        md("## Anomalies"),
        code("views.anomalies_table(run, day_number)"),
        md("## Drift from the baseline"),
        code("charts.plot_drift_by_metric(day.summary['drift_by_metric'], "
             "threshold_percent=run.settings.drift_threshold_percent)"),
        code("views.baseline_table(run, day_number)"),
        md("## Data quality"),
        code("views.data_quality(run, day_number)"),
    ])


def weekly_summary() -> nbformat.NotebookNode:
    return notebook("weekly_summary", [
        md("""
# Weekly stability summary

The week after the release: is it stable, or should it be rolled back? The verdict first, then the
evidence: SLO compliance per day, the signals over the week, drift from the baseline, trends and alerts.
Times are UTC.

`papermill notebooks/weekly_summary.ipynb weekly.ipynb -p run_dir outputs/stability`
"""),
        code(IMPORTS),
        code(f"{RUN_DIR}\n{THRESHOLDS}", tags=["parameters"]),
        code(LOAD),
        code("views.run_header(run)"),
        md("## Verdict"),
        code("views.weekly_verdict(run)"),
        code("views.rollback_evidence_table(run)"),
        md("## Stability score"),
        code("charts.plot_stability_score(run.weekly)"),
        code("views.key_metrics_table(run)"),
        md("## SLO compliance per day"),
        code("charts.plot_slo_compliance(run.daily, target_percent=run.settings.degradation_compliance_percent)"),
        code("views.daily_breakdown_table(run)"),
        md("## The week's signals"),
        code("charts.plot_week_signals(\n"
             "    run.snapshots,\n"
             "    run.daily,\n"
             "    availability_slo_percent=run.settings.availability_slo_percent,\n"
             "    latency_slo_p99_ms=run.settings.latency_slo_p99_ms,\n"
             "    error_rate_threshold_percent=run.settings.error_rate_degraded_percent,\n"
             "    anomalies=run.anomalies,\n"
             ")"),
        md("## Drift from the baseline"),
        code("charts.plot_drift_heatmap(rundata.drift_matrix(run), threshold_percent=run.settings.drift_threshold_percent)"),
        code("views.baseline_table(run)"),
        md("## Trends"),
        code("views.trends_table(run)"),
        code("charts.plot_resource_trend(\n"
             "    run.daily,\n"
             "    trend=run.weekly['resource_trend'],\n"
             "    cpu_change_percent=run.weekly['trend_details'].get('cpu_change_percent'),\n"
             "    memory_change_percent=run.weekly['trend_details'].get('memory_change_percent'),\n"
             ")"),
        md("## Alerts"),
        code("charts.plot_alert_episodes(run.episodes, daily=run.daily)"),
        code("views.alert_episodes_table(run)"),
        md("## Anomalies"),
        code("charts.plot_anomaly_timelines(run.snapshots, run.anomalies, daily=run.daily)"),
        md("## Error budget"),
        code("charts.plot_burndown(run.burndown)"),
        md("## Recommendations"),
        code("views.recommendations(run)"),
        md("## Action items"),
        code("views.action_items(run)"),
    ])


def retrospective() -> nbformat.NotebookNode:
    return notebook("retrospective", [
        md("""
# Post-release retrospective

A compact, actionable review of the release's first week: what happened and when, the SLO picture, the
verdict with its evidence, what went well and what did not, and the action items. Times are UTC.
"""),
        code(IMPORTS),
        code(f"{RUN_DIR}\n{THRESHOLDS}", tags=["parameters"]),
        code(LOAD),
        md("## 1. Summary"),
        code("views.retrospective_summary(run)"),
        md("## 2. Verdict and evidence"),
        code("views.weekly_verdict(run)"),
        code("views.rollback_evidence_table(run)"),
        md("## 3. What happened, and when"),
        code("charts.plot_incident_timeline(\n"
             "    run.snapshots,\n"
             "    run.episodes,\n"
             "    run.daily,\n"
             "    anomalies=run.anomalies,\n"
             "    availability_slo_percent=run.settings.availability_slo_percent,\n"
             "    latency_slo_p99_ms=run.settings.latency_slo_p99_ms,\n"
             ")"),
        code("views.what_happened(run)"),
        md("## 4. The SLO picture"),
        code("charts.plot_slo_compliance(run.daily, target_percent=run.settings.degradation_compliance_percent)"),
        code("views.slo_picture(run)"),
        md("## 5. Error budget"),
        code("charts.plot_burndown(run.burndown)"),
        md("## 6. Anomalies\n\nMedium and high severity; they are also marked on the timeline of section 3."),
        code("views.anomalies_table(run, min_severity='medium')"),
        md("## 7. Change from the release-day baseline"),
        code("charts.plot_drift_heatmap(rundata.drift_matrix(run), threshold_percent=run.settings.drift_threshold_percent)"),
        md("## 8. What went well"),
        code("views.went_well(run)"),
        md("## 9. What did not go well"),
        code("views.did_not_go_well(run)"),
        md("## 10. Action items"),
        code("views.retrospective_action_items(run)"),
    ])


def explore() -> nbformat.NotebookNode:
    return notebook("explore", [
        md("""
# Explore a run

For digging by hand in JupyterLab: load a run folder, slice it by day, time and metric, compare it with
the baseline. `run.snapshots` is one row per snapshot (UTC index), `run.daily` one row per day,
`run.episodes` the alert episodes, `run.anomalies` the anomalies (or `None`). Change the parameters and
run all, or add cells of your own below.
"""),
        code(IMPORTS),
        code(f"{RUN_DIR}\n{DAY}\n"
             'metric: str = "p99_latency_ms"  # metric to look at closely (a snapshot column, e.g. drift_p99_latency_ms)\n'
             'zoom_start: str = ""  # ISO time (UTC) the zoomed table starts at; empty means the start of the run\n'
             'zoom_end: str = ""  # ISO time (UTC) the zoomed table ends before; empty means the end of the run\n'
             f"{THRESHOLDS}", tags=["parameters"]),
        code(LOAD),
        code("views.run_header(run)"),
        md("## Every metric at a glance"),
        code("rundata.metric_statistics(run)"),
        md("## One metric over the week"),
        code("charts.plot_metric(run.snapshots, metric, baseline=run.baseline_value(metric), "
             "anomalies=run.anomalies, daily=run.daily)"),
        md("## One day"),
        code("rundata.metric_statistics(run, day_number)"),
        code("charts.plot_metric(rundata.day_snapshots(run, day_number), metric, baseline=run.baseline_value(metric))"),
        md("## Against the baseline"),
        code("views.baseline_table(run, day_number)"),
        md("## Zoom in on a time range"),
        code("rundata.time_slice(run, zoom_start, zoom_end)"),
        md("## The days side by side"),
        code("views.daily_breakdown_table(run)"),
    ])


BUILDERS = {
    "daily_analysis": daily_analysis,
    "weekly_summary": weekly_summary,
    "retrospective": retrospective,
    "explore": explore,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a notebook differs from its builder")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for name, build in BUILDERS.items():
        nb = build()
        nbformat.validate(nb)
        text = nbformat.writes(nb) + "\n"
        path = NOTEBOOKS / f"{name}.ipynb"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run scripts/build_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
