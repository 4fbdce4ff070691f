"""What an hourly scheduler costs: a week of ``monitor --catch-up`` runs against one run of the week.

A real Prometheus holds the synthetic incident week, behind a 10 ms
loopback proxy. One ``monitor()`` run collects the past week at once; then
169 catch-up runs, one per hour of the week (a simulated clock at each hour
plus 5 minutes, as a cron line at :05), collect the same week into another
folder. Prints per-run figures (median and slowest wall time, requests) and
the totals side by side as ratios. Targets (issue 14): an hourly run <= 1 s
at the median and <= 40 requests (preflight included), the week's hourly runs
cost less than 169 times one run (each run fetches only its new hour).

Usage: ``python benchmarks/bench_catch_up.py [--delay 0.01] [--hours 168]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test tools live in tests/support
from support import servers  # noqa: E402
from support.servers import SimulatedClock  # noqa: E402
from support.synthetic_export import generate_week  # noqa: E402
from stabmon.collect.prom import ConnectionSettings
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions, monitor
from stabmon.collect.window import make_window


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.01, help="seconds the proxy adds per request")
    parser.add_argument("--hours", type=int, default=168, help="window length in hours (one catch-up per hour)")
    args = parser.parse_args()

    week = generate_week("incident", service="checkout")
    window = make_window(week.window.start, args.hours, 30)
    catalogue = build_catalogue(service="checkout", interval_seconds=1800)
    with tempfile.TemporaryDirectory(prefix="stabmon-bench-") as tmp:
        tmp_path = Path(tmp)
        om = tmp_path / "week.om"
        week.write_openmetrics(om)
        servers.load_openmetrics_tsdb(om, tmp_path / "tsdb")
        with servers.PrometheusServer(tmp_path / "tsdb") as prom, \
                servers.FaultProxy(prom.url, delay=args.delay) as proxy:
            def options(out: Path, catch_up: bool) -> RunOptions:
                return RunOptions(out_dir=out, window=window, catalogue=catalogue,
                                  connection=ConnectionSettings.from_env(proxy.url, env={}),
                                  baseline=week.baseline, service="checkout", progress=False, catch_up=catch_up)

            started = time.perf_counter()
            one = monitor(options(tmp_path / "one", False))
            one_s = time.perf_counter() - started

            seconds, requests = [], []
            for hour in range(args.hours + 1):
                clock = SimulatedClock(window.start + timedelta(hours=hour, minutes=5))
                started = time.perf_counter()
                outcome = monitor(options(tmp_path / "hourly", True), clock=clock)
                seconds.append(time.perf_counter() - started)
                requests.append(outcome.requests)
            if not outcome.window_complete:
                print("the last catch-up run did not complete the window", file=sys.stderr)
                return 1

    runs = len(seconds)
    median_s, median_req = statistics.median(seconds), statistics.median(requests)
    print(f"proxy delay per request:           {args.delay * 1000:.0f} ms; window {args.hours} h every 30 min")
    print(f"one run of the past window:        {one_s:7.3f} s  {one.requests:5d} requests")
    print(f"one hourly catch-up run (median):  {median_s:7.3f} s  {median_req:5.0f} requests "
          f"(slowest {max(seconds):.3f} s, most {max(requests)} requests)")
    print(f"all {runs} hourly catch-up runs:     {sum(seconds):7.3f} s  {sum(requests):5d} requests")
    print(f"hourly runs / one run:             {sum(seconds) / one_s:7.1f} x time, "
          f"{sum(requests) / one.requests:.1f} x requests (vs {runs} x if each run fetched the whole week)")
    ok = median_s <= 1.0 and median_req <= 40 and sum(seconds) < runs * one_s
    print("targets (median run <= 1 s, <= 40 requests, week < runs x one run):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
