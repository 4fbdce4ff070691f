"""A week's nine notebooks against papermill executing one import-only notebook, side by side in one run.

Writes the demo week and an import-only notebook (``import pandas``,
``import matplotlib``, matplotlib's ``Figure``: what every report notebook
imports) into a temporary folder, then, ``--repeat`` rounds, each a
subprocess timed on its own:

* ``papermill`` executing the import-only notebook, cold, as papermill does
  (a process, a kernel started for it, the imports);
* ``stabmon report --input DIR --jobs N``: the nine notebooks (7 days, the
  weekly summary, the retrospective) on warm kernels, with their HTML and
  Markdown exports;
* unless ``--no-cold``, the same render with a kernel started per notebook
  (``render_reports(warm=False)``, the path before the warm kernels).

It prints each time (wall and CPU), the best of each, and the ratio of the
kit's best to papermill's best. Target (issue 13 item 4): ratio <= 2.0 on
2 cores. Wall times depend on what else the machine runs; the rounds
interleave the commands so a busy moment hits them alike.

Usage: ``python benchmarks/bench_report.py [--jobs 2] [--repeat 2] [--no-cold]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from stabmon.demo.week import run_demo_week

TARGET_RATIO = 2.0

IMPORT_ONLY = "import pandas as pd\nimport matplotlib\nfrom matplotlib.figure import Figure"


def import_only_notebook(path: Path) -> Path:
    """The notebook papermill is timed on: the imports of a report notebook, nothing else."""
    nb = new_notebook(cells=[new_code_cell(IMPORT_ONLY)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (the command and its children, kernels included) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stderr}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks rendered in parallel (default: 2)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of measures (default: 2)")
    parser.add_argument("--no-cold", action="store_true", help="skip the kernel-per-notebook render")
    args = parser.parse_args(argv)

    bin_dir = Path(sys.executable).parent
    stabmon = bin_dir / "stabmon"
    stabmon_cmd = [str(stabmon)] if stabmon.exists() else [sys.executable, "-m", "stabmon.cli.main"]
    papermill = bin_dir / "papermill"
    papermill_cmd = [str(papermill)] if papermill.exists() else [sys.executable, "-m", "papermill"]
    results: dict[str, list[tuple[float, float]]] = {"papermill": [], "warm": [], "cold": []}
    with tempfile.TemporaryDirectory(prefix="stabmon-bench-report-") as tmp:
        run_dir = Path(tmp) / "week"
        run_demo_week(run_dir, fsync=False)
        notebook = import_only_notebook(Path(tmp) / "import_only.ipynb")
        commands = {
            "papermill": [*papermill_cmd, "--no-progress-bar", str(notebook), str(Path(tmp) / "out.ipynb")],
            "warm": [*stabmon_cmd, "report", "--input", str(run_dir), "--jobs", str(args.jobs), "--no-progress"],
            "cold": [sys.executable, "-c", "import sys; from stabmon.report.render import render_reports; "
                     f"render_reports(sys.argv[1], jobs={args.jobs}, progress=False, warm=False)", str(run_dir)],
        }
        names = {"papermill": "papermill, 1 import-only notebook",
                 "warm": f"stabmon report, 9 notebooks, warm kernels, --jobs {args.jobs}",
                 "cold": f"9 notebooks, a kernel per notebook, --jobs {args.jobs}"}
        for attempt in range(1, args.repeat + 1):
            for key in ("papermill", "warm", "cold"):
                if key == "cold" and args.no_cold:
                    continue
                wall, cpu = timed(commands[key])
                results[key].append((wall, cpu))
                print(f"round {attempt}: {names[key]}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
            notebooks = len(list((run_dir / "reports").glob("*.ipynb")))
            assert notebooks == 9, f"expected 9 rendered notebooks, found {notebooks}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    best = {key: min(results[key]) for key in results if results[key]}
    print(f"best of {args.repeat} on {cores} cores:")
    for key, (wall, cpu) in best.items():
        print(f"  {names[key]}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    ratio = best["warm"][0] / best["papermill"][0]
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio, 9 notebooks warm / 1 import-only notebook: {ratio:.2f} (target <= {TARGET_RATIO:g}): {verdict}")
    if "cold" in best:
        print(f"ratio, 9 notebooks a kernel each / 1 import-only notebook: {best['cold'][0] / best['papermill'][0]:.2f}; "
              f"warm against cold: {best['cold'][0] / best['warm'][0]:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
