"""What placing labels clear of each other costs: the label placer's share of drawing each chart.

Draws every chart of the demo week that places labels (as a notebook shows
it: PNG at 80 dpi) ``--repeat`` times and prints, per chart, the CPU time of
the whole draw and of :class:`stabmon.report.charts._LabelPlacer` alone, side
by side, with the placer's share. CPU time (not wall time) so a loaded
machine does not inflate the figures. Target (issue 15): the placer costs
under 50 ms per chart.

Usage: ``python benchmarks/bench_labels.py [--repeat 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from stabmon.demo.week import run_demo_week
from stabmon.report import charts, rundata

TARGET_MS = 50.0


def _charts(run: rundata.RunData) -> dict[str, Callable[[], Any]]:
    s = run.settings
    day4 = rundata.day_view(run, 4)
    return {
        "burn-down": lambda: charts.plot_burndown(run.burndown),
        "SLO compliance": lambda: charts.plot_slo_compliance(run.daily,
                                                        target_percent=s.degradation_compliance_percent),
        "stability score": lambda: charts.plot_stability_score(run.weekly),
        "alert episodes (week)": lambda: charts.plot_alert_episodes(run.episodes, daily=run.daily),
        "alert episodes (day 4)": lambda: charts.plot_alert_episodes(day4.episodes, start=day4.start, end=day4.end),
        "drift by metric (day 4)": lambda: charts.plot_drift_by_metric(day4.summary["drift_by_metric"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="draws per chart; the best is kept (default: 3)")
    args = parser.parse_args(argv)

    placer_seconds = [0.0]
    original = charts._LabelPlacer.draw

    def timed(self: charts._LabelPlacer, renderer: Any) -> None:
        started = time.process_time()
        original(self, renderer)
        placer_seconds[0] += time.process_time() - started

    charts._LabelPlacer.draw = timed  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="stabmon-bench-labels-") as tmp:
        run_dir = Path(tmp) / "week"
        run_demo_week(run_dir, fsync=False)
        run = rundata.load_run(run_dir)
        worst = 0.0
        print(f"{'chart':<26}{'labels':>7}{'draw ms':>10}{'placer ms':>11}{'placer share':>14}")
        for name, make in _charts(run).items():
            best_draw, best_placer, labels = float("inf"), float("inf"), 0
            for _ in range(args.repeat):
                figure = make()
                labels = sum(len(a.items) for ax in figure.axes for a in ax.artists
                             if isinstance(a, charts._LabelPlacer))
                placer_seconds[0] = 0.0
                started = time.process_time()
                charts.figure_png(figure)
                best_draw = min(best_draw, time.process_time() - started)
                best_placer = min(best_placer, placer_seconds[0])
            worst = max(worst, best_placer)
            print(f"{name:<26}{labels:>7}{best_draw * 1000:>10.1f}{best_placer * 1000:>11.1f}"
                  f"{best_placer / best_draw:>13.1%}")
    verdict = "OK" if worst * 1000 < TARGET_MS else "OVER TARGET"
    print(f"slowest placement: {worst * 1000:.1f} ms per chart (target < {TARGET_MS:g} ms): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
