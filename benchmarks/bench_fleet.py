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

Side by side (issue 13): each size of ``--sizes`` (default 1,000) locally
(``--jobs 2``) and through ``--scheduler local`` (a LocalCluster of 2
workers), then each of ``--cluster-sizes`` (default 10,000) on a cluster of
``dask scheduler`` and ``dask worker`` processes started here, against
``--cluster-backend`` (default VictoriaMetrics, loaded one JSON line per
series: 10,000 service-weeks in minutes, where promtool's blocks take hours). Printed per
run: requests, wall time, CPU time of every process (client and workers),
peak RSS of the client and of the largest worker, and the ratios.

Targets: 20 services in <= 60 requests; 1,000 services locally in <= 300
requests, <= 60 s on 2 cores, memory <= 2 GB.

Scrapes are coarse (``--scrape-seconds``, default 1800 = the interval) so a
1,000-service week loads in seconds; the queries the run makes and the files
it writes do not depend on the scrape spacing.

Usage: ``python benchmarks/bench_fleet.py [--sizes 1000] [--cluster-sizes 10000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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
        # One JSON line per series: 10,000 service-weeks load in minutes (a line per sample takes hours).
        server = servers.VictoriaMetricsServer(folder / "vm").start()
        server.import_json_lines(line for week in weeks for line in week.iter_vm_json_lines())
        return server
    om = folder / "fleet.om"
    write_fleet_openmetrics(weeks, om)
    servers.load_openmetrics_tsdb(om, folder / "tsdb")
    om.unlink()
    return servers.PrometheusServer(folder / "tsdb").start()


class ProcessWatch:
    """Peak RSS and CPU time of every process of a tree (and of extra processes), polled every 0.2 s."""

    def __init__(self, roots: list[int]) -> None:
        import psutil

        self.psutil = psutil
        self.roots = roots
        self.peak: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.2)

    def sample(self) -> None:
        for root in self.roots:
            try:
                top = self.psutil.Process(root)
                procs = [top, *top.children(recursive=True)]
            except self.psutil.Error:
                continue
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss = proc.memory_info().rss / 2**20
                        times = proc.cpu_times()
                        self.names.setdefault(proc.pid, "worker" if proc.pid != root or root != self.roots[0]
                                              else "client")
                except self.psutil.Error:
                    continue
                self.peak[proc.pid] = max(self.peak.get(proc.pid, 0.0), rss)
                self.cpu[proc.pid] = times.user + times.system

    def __enter__(self) -> "ProcessWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (the cluster of the 10,000-service run)."""

    def __init__(self, workers: int) -> None:
        self.port = servers.free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.count = workers
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "DaskProcesses":
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.processes.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                                "127.0.0.1", "--port", str(self.port), "--no-dashboard"], **quiet))
        for _ in range(self.count):
            self.processes.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                                                    "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                                    "--no-dashboard", "--memory-limit", "0"], **quiet))
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.count, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            servers.stop_process(process)


def run_fleet(url: str, services: list[str], out: Path, jobs: int | None, scheduler: str | None = None,
              cluster: DaskProcesses | None = None) -> dict[str, float]:
    """One ``stabmon monitor --services`` process: wall, CPU and peak RSS per process (client, workers), requests."""
    exe = Path(sys.executable).with_name("stabmon")
    command = [str(exe), "monitor", "--baseline", str(out.parent / "baselines"), "--prometheus-url", url,
               "--services", ",".join(services), "--start", DEFAULT_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "--duration", "168", "--output", str(out)]
    if jobs:
        command += ["--jobs", str(jobs)]
    if scheduler:
        command += ["--scheduler", scheduler]
    log = out.parent / f"run-{len(services)}-{'dask' if scheduler else 'local'}.log"
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle,
                                   env={**os.environ, "STABMON_DASK_SCHEDULER": ""})
        roots = [process.pid] + [p.pid for p in (cluster.processes[1:] if cluster else [])]
        with ProcessWatch(roots) as watch:
            rc = process.wait()
            watch.sample()
    wall = time.perf_counter() - started
    text = log.read_text()
    if rc != 0:
        raise RuntimeError(f"stabmon monitor failed ({rc}): {text[-2000:]}")
    # The run's own count of its requests: "... snapshots collected (N already on disk) with R requests".
    found = re.findall(r"snapshots collected .*?with (\d+) requests", text)
    if not found:
        raise RuntimeError("stabmon monitor logged no request count: " + text[-500:])
    client_pid = process.pid
    workers = [pid for pid in watch.peak if pid != client_pid]
    return {"rc": rc, "wall": wall, "requests": int(found[-1]), "cpu": sum(watch.cpu.values()),
            "rss_mb": max(watch.peak.values()), "client_mb": watch.peak.get(client_pid, 0.0),
            "worker_mb": max((watch.peak[p] for p in workers), default=0.0), "processes": len(watch.peak)}


def queries_alone(url: str, services: list[str]) -> dict[str, float]:
    """The floor of a fleet run: its range queries (baseline day and week, each batch), answers only downloaded.

    The same expressions, batches and steps as ``stabmon monitor --services``
    makes them, sent one after the other through the proxy; nothing parsed,
    nothing written. The run's wall time over this one is what the run costs
    beyond its queries.
    """
    import requests

    from stabmon.collect.queries import SNAPSHOT_QUERIES, build_catalogue
    from stabmon.collect.targets import batch_services

    catalogue = build_catalogue(fleet=True)
    start = int(DEFAULT_START.timestamp())
    spans = [(start - 86400, start - 1800), (start, start + 7 * 86400 - 1800)]  # the baseline day, the week
    answered = 0
    started = time.perf_counter()
    with requests.Session() as session:
        for batch in batch_services(services):
            for first, last in spans:
                for name in SNAPSHOT_QUERIES:
                    response = session.get(f"{url}/api/v1/query_range", params={
                        "query": catalogue.expression(name, batch), "start": first, "end": last, "step": 1800})
                    response.raise_for_status()
                    answered += len(response.content)
    return {"wall": time.perf_counter() - started, "mb": answered / 2**20}


def print_row(size: int, engine: str, r: dict[str, float]) -> None:
    print(f"{size:6d}  {engine:<24s} {r['requests']:5d} {r['wall']:8.1f} {r['cpu']:8.1f} {r['client_mb']:9.0f} "
          f"{r['worker_mb']:11.0f} {r['processes']:5d}", flush=True)


HEADER = (f"{'svc':>6s}  {'engine':<24s} {'req':>5s} {'wall s':>8s} {'CPU s':>8s} {'client MB':>9s} "
          f"{'worker MB':>11s} {'procs':>5s}")


def write_baselines(services: dict[str, str], folder: Path, scrape_seconds: int) -> Path:
    baselines = folder / "baselines"
    baselines.mkdir(exist_ok=True)
    for week in generate_fleet(services, scrape_seconds=scrape_seconds):
        (baselines / f"{week.service}.json").write_text(json.dumps(week.baseline.to_dict()))
    return baselines


def loaded(backend: str, services: dict[str, str], folder: Path, scrape_seconds: int):
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    server = load(backend, services, folder, scrape_seconds)
    write_baselines(services, folder, scrape_seconds)
    print(f"loaded {len(services)} service-weeks into {backend} in {time.perf_counter() - started:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000", help="fleet sizes run locally and on a LocalCluster")
    parser.add_argument("--cluster-sizes", default="10000",
                        help="fleet sizes run only on a cluster of local dask worker processes ('' for none)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers (LocalCluster and the cluster)")
    parser.add_argument("--backend", choices=("prometheus", "victoria"), default="prometheus")
    parser.add_argument("--cluster-backend", choices=("prometheus", "victoria"), default="victoria",
                        help="server of the --cluster-sizes runs (VictoriaMetrics: 10,000 service-weeks load "
                        "in minutes, promtool takes hours)")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds the proxy adds per request")
    parser.add_argument("--scrape-seconds", type=int, default=1800)
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of the local fleet run")
    parser.add_argument("--workdir", default=str(OUTPUTS_DIR),
                        help="where the temporary server data and run folders go (default: outputs/)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | {20})
    cluster_sizes = sorted({int(s) for s in args.cluster_sizes.split(",") if s})
    print(f"proxy delay {args.delay * 1000:.0f} ms, {os.cpu_count()} CPUs, scrapes every {args.scrape_seconds} s; "
          f"local runs on {args.backend}, cluster runs on {args.cluster_backend}", flush=True)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    rows: dict[tuple[int, str], dict[str, float]] = {}
    local_engine, dask_engine = f"local (--jobs {args.jobs})", f"LocalCluster ({args.workers})"
    cluster_engine = f"dask cluster ({args.workers} w)"
    with tempfile.TemporaryDirectory(prefix="bench-fleet-", dir=args.workdir) as tmp:
        folder = Path(tmp)
        services = fleet_services(max(sizes))
        server = loaded(args.backend, services, folder / "local", args.scrape_seconds)
        try:
            with servers.FaultProxy(server.url, delay=args.delay) as proxy:
                print(HEADER, flush=True)
                for size in sizes:
                    names = list(services)[:size]
                    floor = queries_alone(proxy.url, names)
                    print(f"{size:6d}  {'range queries alone':<24s} {'':>5s} {floor['wall']:8.1f}   "
                          f"({floor['mb']:.0f} MB of answers)", flush=True)
                    rows[size, "queries"] = floor
                    for engine, scheduler in ((local_engine, None), (dask_engine, "local")):
                        if size == 20 and scheduler:
                            continue
                        out = folder / "local" / f"run-{size}-{'dask' if scheduler else 'local'}"
                        rows[size, engine] = run_fleet(proxy.url, names, out,
                                                       args.workers if scheduler else args.jobs, scheduler)
                        print_row(size, engine, rows[size, engine])
                        shutil.rmtree(out, ignore_errors=True)
        finally:
            server.stop()
        shutil.rmtree(folder / "local", ignore_errors=True)
        if cluster_sizes:
            services = fleet_services(max(cluster_sizes))
            server = loaded(args.cluster_backend, services, folder / "cluster", args.scrape_seconds)
            try:
                with servers.FaultProxy(server.url, delay=args.delay) as proxy, \
                        DaskProcesses(args.workers) as cluster:
                    for size in cluster_sizes:
                        out = folder / "cluster" / f"run-{size}-cluster"
                        rows[size, cluster_engine] = run_fleet(proxy.url, list(services)[:size], out, None,
                                                               cluster.address, cluster)
                        print_row(size, cluster_engine, rows[size, cluster_engine])
                        shutil.rmtree(out, ignore_errors=True)
            finally:
                server.stop()
    for size in sizes:
        local, dask = rows.get((size, local_engine)), rows.get((size, dask_engine))
        if local and dask:
            print(f"{size} services, LocalCluster / local: wall x{dask['wall'] / local['wall']:.2f}, "
                  f"CPU x{dask['cpu'] / local['cpu']:.2f}, requests {dask['requests']} vs {local['requests']}")
        floor = rows.get((size, "queries"))
        if local and floor:
            print(f"{size} services, local run / its range queries alone: wall x{local['wall'] / floor['wall']:.2f}")
    for size in cluster_sizes:
        r = rows[size, cluster_engine]
        base = max((s for s in sizes if (s, local_engine) in rows), default=None)
        if base:
            b = rows[base, local_engine]
            print(f"{size} services on the cluster ({args.cluster_backend}): x{size / base:.0f} the services in "
                  f"x{r['wall'] / b['wall']:.1f} the wall time of {base} locally ({args.backend}), "
                  f"{r['requests']} requests, {r['wall'] / size * 1000:.0f} ms a service")
    print("target 20 svc <= 60 requests:", "met" if rows[20, local_engine]["requests"] <= 60 else "NOT met")
    big = rows.get((1000, local_engine))
    if big:
        ok = big["requests"] <= 300 and big["wall"] <= 60 and big["rss_mb"] <= 2048
        print("target 1000 svc locally <= 300 requests, <= 60 s, <= 2 GB:", "met" if ok else "NOT met")
    else:
        print("target 1000 svc locally: not measured in this run (--sizes has no 1000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
