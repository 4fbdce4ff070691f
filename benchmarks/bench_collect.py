"""Collect one service-week from a real Prometheus behind a 10 ms loopback proxy, two ways.

1. stabmon's retroactive collection (range queries, chunked) through ``monitor()``;
2. the seed's method: one instant query per metric per snapshot.

Prints wall times, request counts and the ratio, then runs the whole
``stabmon monitor`` process on the same past week and reports its wall time
and peak memory. Targets (issue 3): <= 30 requests, >= 10x faster than the
seed's method, whole process <= 3 s, memory < 200 MB.

Usage: ``python benchmarks/bench_collect.py [--delay 0.01]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test tools live in tests/support
from support import servers  # noqa: E402
from support.synthetic_export import generate_week  # noqa: E402
from stabmon.collect.collector import Collector
from stabmon.collect.run import RunOptions, monitor
from stabmon.collect.window import make_window
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from stabmon.collect.queries import build_catalogue


def seed_method(url: str, catalogue, window) -> tuple[float, int]:
    """The seed's collection: every snapshot, every metric, one instant query."""
    client = PrometheusClient(ConnectionSettings.from_env(url, env={}))
    started = time.perf_counter()
    for k in range(window.snapshot_count):
        at = window.time_of(k)
        for expr in catalogue.snapshot_expressions().values():
            client.instant(expr, at)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, client.request_count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.01, help="seconds the proxy adds per request")
    args = parser.parse_args()

    week = generate_week("incident", service="checkout")
    window = make_window(week.window.start, 168, 30)
    catalogue = build_catalogue(service="checkout", interval_seconds=1800)
    with tempfile.TemporaryDirectory(prefix="stabmon-bench-") as tmp:
        tmp_path = Path(tmp)
        om = tmp_path / "week.om"
        week.write_openmetrics(om)
        servers.load_openmetrics_tsdb(om, tmp_path / "tsdb")
        baseline = tmp_path / "baseline.json"
        baseline.write_text(json.dumps(week.baseline.to_dict()))
        with servers.PrometheusServer(tmp_path / "tsdb") as prom, \
                servers.FaultProxy(prom.url, delay=args.delay) as proxy:
            # Warm the server's caches the same way for both methods.
            PrometheusClient(ConnectionSettings.from_env(prom.url, env={})).range(
                catalogue.expression("requests"), window.start, window.time_of(window.snapshot_count - 1), 1800)

            options = RunOptions(out_dir=tmp_path / "run", window=window, catalogue=catalogue,
                                     connection=ConnectionSettings.from_env(proxy.url, env={}),
                                     baseline=week.baseline, service="checkout", progress=False)
            started = time.perf_counter()
            outcome = monitor(options)
            stabmon_s = time.perf_counter() - started
            stabmon_requests = outcome.requests

            # Collection alone (no files), comparable with the seed's queries-only figure.
            client = PrometheusClient(ConnectionSettings.from_env(proxy.url, env={}))
            started = time.perf_counter()
            collector = Collector(client, catalogue, window, {week.service: week.baseline})
            collector.range_snapshots(list(range(window.snapshot_count)), [week.service])
            collector.day_latency(list(range(1, 8)), [week.service])
            collect_s = time.perf_counter() - started
            collect_requests = client.request_count

            seed_s, seed_requests = seed_method(proxy.url, catalogue, window)

            exe = Path(sys.executable).with_name("stabmon")
            started = time.perf_counter()
            proc = subprocess.run(
                [str(exe), "monitor", "--baseline", str(baseline), "--prometheus-url", proxy.url,
                 "--service", "checkout", "--start", "2026-01-05T00:00:00Z", "--output", str(tmp_path / "cli")],
                capture_output=True, text=True,
            )
            process_s = time.perf_counter() - started
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1

    ratio = seed_s / collect_s
    print(f"proxy delay per request:        {args.delay * 1000:.0f} ms")
    print(f"stabmon retroactive (monitor):  {stabmon_s:7.3f} s  {stabmon_requests:5d} requests "
          f"(snapshots, day figures, summaries written)")
    print(f"stabmon collection only:        {collect_s:7.3f} s  {collect_requests:5d} requests (queries only)")
    print(f"seed method (instant queries):  {seed_s:7.3f} s  {seed_requests:5d} requests (queries only)")
    print(f"speed-up (queries only):        {ratio:7.1f} x; whole monitor() vs seed queries: "
          f"{seed_s / stabmon_s:.1f} x")
    print(f"whole 'stabmon monitor' process: {process_s:6.3f} s, peak RSS {peak_mb:.0f} MB")
    ok = stabmon_requests <= 30 and ratio >= 10 and process_s <= 3 and peak_mb < 200
    print("targets (<= 30 requests, >= 10x, <= 3 s, < 200 MB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
