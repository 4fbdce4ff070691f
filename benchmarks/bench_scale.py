"""Issue 13's figures side by side in one run: fleets locally, on a LocalCluster and on a cluster; a week's reports.

Runs :mod:`bench_fleet` (1,000 services locally with ``--jobs 2`` and
through ``--scheduler local``, 10,000 on ``dask scheduler``/``dask worker``
processes) and then :mod:`bench_report` (the nine notebooks of a week against
papermill executing one import-only notebook), each printing as it goes, and
ends with one table of the lines that carry the figures: requests, wall,
CPU and peak memory per run, the ratios, and the render ratio against its
target.

Usage: ``python benchmarks/bench_scale.py [--sizes 1000] [--cluster-sizes 10000] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Lines of the two scripts' output that carry the figures (the rest is progress).
FIGURE_LINES = ("svc ", "loaded ", "20 ", "1000 ", "10000 ", "target", "ratio", "papermill,", "stabmon report,",
                "best of")


def run(script: str, args: list[str]) -> list[str]:
    """Run ``script`` (its output shown as it comes); return its lines."""
    print(f"\n=== {script} {' '.join(args)} ===", flush=True)
    process = subprocess.Popen([sys.executable, str(HERE / script), *args], stdout=subprocess.PIPE, text=True)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    if process.wait() != 0:
        sys.exit(f"{script} failed ({process.returncode})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000")
    parser.add_argument("--cluster-sizes", default="10000")
    parser.add_argument("--repeat", default="1", help="rounds of bench_report.py")
    args = parser.parse_args()
    fleet = run("bench_fleet.py", ["--sizes", args.sizes, "--cluster-sizes", args.cluster_sizes])
    report = run("bench_report.py", ["--repeat", args.repeat, "--no-cold"])
    print(f"\n=== side by side ({os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.1f}) ===")
    for line in fleet + report:
        if line.lstrip().startswith(FIGURE_LINES):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
