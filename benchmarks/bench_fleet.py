"""A fleet-week from a real server behind a 10 ms loopback proxy: requests, wall time, memory.

For each fleet size (default 10, 100 and 1,000 services: healthy ones with an
incident or a latency regression every few services), the synthetic fleet is
loaded into a real Prometheus (``promtool`` blocks; ``--backend victoria``
imports into VictoriaMetrics instead), then ``stabmon monitor --services ...``
runs as its own process through :class:`~support.servers.FaultProxy`
(10 ms per request). Printed per size: requests, wall time, CPU time
(user + system, the process and its workers), peak RSS of the largest
process, and the time and requests per service. A 20-service fleet is also
run to check the request target.

Targets (issue 7): 20 services in <= 60 requests; 1,000 services in <= 300
requests and <= 120 s on 2 cores, memory <= 2 GB, CPU time growing linearly
with the number of services.

Scrapes are coarse (``--scrape-seconds``, default 1800 = the interval) so a
1,000-service week loads in seconds; the queries the run makes and the files
it writes do not depend on the scrape spacing.

Usage: ``python benchmarks/bench_fleet.py [--sizes 10,100,1000] [--backend prometheus|victoria]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test tools live in tests/support
from support import servers  # noqa: E402
from support.synthetic_export import generate_fleet, write_fleet_openmetrics  # noqa: E402
from stabmon.core.paths import OUTPUTS_DIR
from stabmon.demo.synthetic import DEFAULT_START

SCENARIO_CYCLE = ("healthy",) * 7 + ("incident", "healthy", "latency_regression")


def fleet_services(count: int) -> dict[str, str]:
    """``svc-0001`` ... with an incident or a regression every few services."""
    return {f"svc-{i:04d}": SCENARIO_CYCLE[i % len(SCENARIO_CYCLE)] for i in range(count)}


def load(backend: str, services: dict[str, str], folder: Path, scrape_seconds: int):
    """Start a server of ``backend`` holding the fleet's week; return it (caller stops it)."""
    weeks = generate_fleet(services, scrape_seconds=scrape_seconds)
    if backend == "victoria":
        server = servers.VictoriaMetricsServer(folder / "vm").start()
        for week in weeks:
            server.import_lines(line.rstrip("\n") for line in week.iter_vm_import_lines())
        server.flush()
        return server
    om = folder / "fleet.om"
    write_fleet_openmetrics(weeks, om)
    servers.load_openmetrics_tsdb(om, folder / "tsdb")
    om.unlink()
    return servers.PrometheusServer(folder / "tsdb").start()


def run_fleet(url: str, services: list[str], out: Path, jobs: int | None) -> dict[str, float]:
    """One ``stabmon monitor --services`` process; its wall time, CPU time, peak RSS and requests."""
    exe = Path(sys.executable).with_name("stabmon")
    list_file = ",".join(services)
    command = [str(exe), "monitor", "--baseline", str(out.parent / "baselines"), "--prometheus-url", url,
               "--services", list_file, "--start", DEFAULT_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "--duration", "168", "--output", str(out)]
    if jobs:
        command += ["--jobs", str(jobs)]
    wrapper = (
        "import resource, subprocess, sys, json, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "sys.stderr.write(p.stderr[-3000:] if p.returncode else '')\n"
        "print(json.dumps({'rc': p.returncode, 'wall': wall, 'cpu': r.ru_utime + r.ru_stime,"
        " 'rss_mb': r.ru_maxrss / 1024.0, 'log': p.stderr[-20000:]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"stabmon monitor failed ({result['rc']}): {proc.stderr[-2000:]}")
    # The run's own count of its requests: "... snapshots collected (N already on disk) with R requests".
    found = re.findall(r"snapshots collected .*?with (\d+) requests", result["log"])
    if not found:
        raise RuntimeError("stabmon monitor logged no request count: " + result["log"][-500:])
    result["requests"] = int(found[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="fleet sizes, comma-separated")
    parser.add_argument("--backend", choices=("prometheus", "victoria"), default="prometheus")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds the proxy adds per request")
    parser.add_argument("--scrape-seconds", type=int, default=1800)
    parser.add_argument("--jobs", type=int, default=None, help="--jobs of the fleet run (default: CPUs)")
    parser.add_argument("--workdir", default=str(OUTPUTS_DIR),
                        help="where the temporary server data and run folders go (default: outputs/)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")} | {20})
    largest = max(sizes)
    print(f"backend {args.backend}, proxy delay {args.delay * 1000:.0f} ms, {os.cpu_count()} CPUs, "
          f"scrapes every {args.scrape_seconds} s; loading {largest} services ...", flush=True)
    rows = []
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-", dir=args.workdir) as tmp:
        folder = Path(tmp)
        services = fleet_services(largest)
        started = time.perf_counter()
        server = load(args.backend, services, folder, args.scrape_seconds)
        load_s = time.perf_counter() - started
        print(f"loaded {largest} service-weeks in {load_s:.1f} s", flush=True)
        baselines = folder / "baselines"
        baselines.mkdir()
        for week in generate_fleet({n: s for n, s in list(services.items())[:largest]},
                                   scrape_seconds=args.scrape_seconds):
            (baselines / f"{week.service}.json").write_text(json.dumps(week.baseline.to_dict()))
        try:
            with servers.FaultProxy(server.url, delay=args.delay) as proxy:
                for size in sizes:
                    names = list(services)[:size]
                    result = run_fleet(proxy.url, names, folder / f"run-{size}", args.jobs)
                    rows.append((size, result))
                    print(f"{size:5d} services: {result['requests']:4d} requests, wall {result['wall']:7.2f} s, "
                          f"CPU {result['cpu']:7.2f} s ({result['cpu'] / size * 1000:6.1f} ms/service), "
                          f"peak RSS {result['rss_mb']:6.0f} MB", flush=True)
        finally:
            server.stop()
    by_size = dict(rows)
    ok = by_size[20]["requests"] <= 60
    if 1000 in by_size:
        big = by_size[1000]
        ok = ok and big["requests"] <= 300 and big["wall"] <= 120 and big["rss_mb"] <= 2048
    if len(rows) >= 2:
        (s0, r0), (s1, r1) = rows[1] if len(rows) > 2 else rows[0], rows[-1]
        print(f"CPU per service: {r0['cpu'] / s0 * 1000:.1f} ms at {s0}, {r1['cpu'] / s1 * 1000:.1f} ms at {s1} "
              "(flat = linear growth)")
    print("targets (20 svc <= 60 req; 1000 svc <= 300 req, <= 120 s, <= 2 GB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
