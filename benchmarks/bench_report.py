"""Wall time of ``stabmon report`` for one week: 7 daily notebooks, the weekly and the retrospective.

Writes the demo week into a temporary folder, then runs the real command
(``stabmon report --input DIR --jobs N``) as a subprocess, ``--repeat`` times,
and prints each wall time and the best. The first run on a fresh machine
also builds matplotlib's font cache and Python's bytecode caches; pass
``--repeat 2`` to see the steady state. Target (issue 4): <= 30 s on 2 cores.

Usage: ``python benchmarks/bench_report.py [--jobs 2] [--repeat 1]``
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

from stabmon.demo.week import run_demo_week

TARGET_SECONDS = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks rendered in parallel (default: 2)")
    parser.add_argument("--repeat", type=int, default=1, help="how many times to render (default: 1)")
    args = parser.parse_args(argv)

    stabmon = Path(sys.executable).with_name("stabmon")
    command = [str(stabmon)] if stabmon.exists() else [sys.executable, "-m", "stabmon.cli.main"]
    with tempfile.TemporaryDirectory(prefix="stabmon-bench-report-") as tmp:
        run_dir = Path(tmp) / "week"
        run_demo_week(run_dir, fsync=False)
        times = []
        for attempt in range(1, args.repeat + 1):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([*command, "report", "--input", str(run_dir), "--jobs", str(args.jobs), "--no-progress"],
                           check=True, stdout=subprocess.DEVNULL)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU time (the command and its kernels) does not depend on what
            # else the machine is doing; wall time does.
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            times.append(elapsed)
            notebooks = len(list((run_dir / "reports").glob("*.ipynb")))
            print(f"run {attempt}: stabmon report, {notebooks} notebooks, --jobs {args.jobs}: "
                  f"{elapsed:.1f} s wall, {cpu:.1f} s CPU, load average {os.getloadavg()[0]:.1f}")
    best = min(times)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    verdict = "OK" if best <= TARGET_SECONDS else "OVER TARGET"
    print(f"best: {best:.1f} s on {cores} cores (target <= {TARGET_SECONDS:g} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
