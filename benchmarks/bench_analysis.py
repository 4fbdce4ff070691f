"""Benchmark: aggregate and write a week (336 snapshots) and a fleet-sized batch (1,000 weeks).

Prints CPU time, wall time and peak memory (tracemalloc for the Python heap,
plus the process's max RSS) side by side with the targets:

* generating the synthetic incident week (the demo's data): under 2 s
* aggregating a week: well under 100 ms of CPU
* writing a week's files (atomic, fsynced): under 1 s
* memory: under 200 MB

Run: ``.venv/bin/python benchmarks/bench_analysis.py [--weeks 1000]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from stabmon import store
from stabmon.core.daily import aggregate_days
from stabmon.core.drift import apply_drift
from stabmon.core.weekly import weekly_summary
from stabmon.store.rebuild import rebuild_summaries
from stabmon.demo.synthetic import generate_week


def cpu_ms(fn, repeat: int = 7) -> float:
    """Median CPU time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=1000, help="weeks in the fleet-sized batch (default 1000)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    week = generate_week("incident", seed=1)
    generate_s = time.perf_counter() - t0
    apply_drift(week.snapshots, week.baseline)

    def aggregate():
        days = aggregate_days(week.snapshots, week.window)
        weekly_summary(days, week.window, week.baseline)

    aggregate_ms = cpu_ms(aggregate)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "week"
        t0 = time.perf_counter()
        for snapshot in week.snapshots:
            store.write_snapshot(out, week.window, snapshot)
        store.write_run_info(out, {"window": week.window.to_dict(), "baseline": week.baseline.to_dict()})
        rebuild_summaries(out, window=week.window, baseline=week.baseline)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rebuild_summaries(out)
        reanalyze_s = time.perf_counter() - t0

    # Fleet-sized batch: the same analysis over many weeks (distinct seeds so nothing is cached).
    # Timed without tracemalloc, which slows allocation-heavy code several-fold.
    weeks = [generate_week("healthy" if i % 3 else "incident", seed=i) for i in range(min(args.weeks, 20))]
    for sample in weeks:
        sample.snapshots  # built lazily: build them before the clock starts
    t0 = time.process_time()
    w0 = time.perf_counter()
    for i in range(args.weeks):
        sample = weeks[i % len(weeks)]
        days = aggregate_days(sample.snapshots, sample.window)
        weekly_summary(days, sample.window, sample.baseline)
    batch_cpu = time.process_time() - t0
    batch_wall = time.perf_counter() - w0
    # Peak heap of the batch's working set: all sample weeks held, 100 analyses.
    tracemalloc.start()
    for i in range(100):
        sample = weeks[i % len(weeks)]
        weekly_summary(aggregate_days(sample.snapshots, sample.window), sample.window, sample.baseline)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [
        ("generate the synthetic incident week, wall", f"{generate_s * 1000:.0f} ms", "< 2000 ms", generate_s < 2),
        ("aggregate one week (336 snapshots), CPU", f"{aggregate_ms:.1f} ms", "< 100 ms", aggregate_ms < 100),
        ("write one week's files (atomic, fsynced), wall", f"{write_s * 1000:.0f} ms", "< 1000 ms", write_s < 1),
        ("re-analyse the folder from disk, wall", f"{reanalyze_s * 1000:.0f} ms", "", None),
        (f"aggregate {args.weeks} weeks, CPU", f"{batch_cpu:.2f} s ({batch_cpu / args.weeks * 1000:.1f} ms/week)", "", None),
        (f"aggregate {args.weeks} weeks, wall", f"{batch_wall:.2f} s", "", None),
        ("peak heap allocated by 100 analyses", f"{peak / 2**20:.1f} MB", "< 200 MB", peak / 2**20 < 200),
        ("max RSS of this process", f"{rss_mb:.0f} MB", "< 200 MB", rss_mb < 200),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>28}  {'target':>10}  ok")
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name.ljust(width)}  {value:>28}  {target:>10}  {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
