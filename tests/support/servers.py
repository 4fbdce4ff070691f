"""Real servers for tests and benchmarks: Prometheus, VictoriaMetrics, a fault-injecting proxy.

Everything listens on 127.0.0.1 only, on a free port, and is a context
manager that stops what it started (terminate, wait, kill) even when the
block fails. Nothing here is used by ``stabmon monitor`` itself.

- :func:`load_openmetrics_tsdb` turns an OpenMetrics file into TSDB blocks with
  ``promtool tsdb create-blocks-from openmetrics``.
- :class:`PrometheusServer` runs ``prometheus`` on such a TSDB (optionally
  scraping targets).
- :class:`VictoriaMetricsServer` runs a single-node ``victoria-metrics``; data
  goes in through ``/api/v1/import/prometheus`` (millisecond timestamps), then
  ``/internal/force_flush`` makes it searchable.
- :class:`FaultProxy` forwards HTTP to a server, adding a fixed delay per
  request (a remote Prometheus's round trip) and injecting faults on demand
  (5xx/429 bursts, slow answers, malformed JSON, dropped connections, outages).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A test server could not be prepared or started."""


def binary(name: str) -> str | None:
    """Path of an executable on ``PATH`` (or ``/usr/bin``), else ``None``."""
    return shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)


def need_binary(name: str) -> str:
    """Path of a server binary for a test; skip it with the reason when absent (fail under ``CI``).

    Only for use inside pytest: CI must run the server tests, so a missing
    binary there is a failure, while on a developer's machine it is a visible skip.
    """
    import pytest

    path = binary(name)
    if path is None:
        message = f"{name} not installed (Debian: apt-get install -y prometheus victoria-metrics)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_http_ok(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None,
                 log_path: Path | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"server exited with {process.returncode} before {url} was ready{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)
    raise ServerError(f"{url} not ready after {timeout:.0f}s ({last}){_tail(log_path)}")


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n" + "\n".join(text)


def stop_process(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Terminate ``process``, wait, kill if it does not go."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


# --------------------------------------------------------------------------- Prometheus


def load_openmetrics_tsdb(openmetrics: Path, tsdb_dir: Path, *, promtool: str | None = None,
                          max_block_duration: str = "168h") -> Path:
    """Write TSDB blocks for an OpenMetrics file into ``tsdb_dir``; return ``tsdb_dir``."""
    promtool = promtool or binary("promtool")
    if promtool is None:
        raise ServerError("promtool not found (Debian: apt-get install prometheus)")
    tsdb_dir = Path(tsdb_dir)
    tsdb_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics",
         f"--max-block-duration={max_block_duration}", str(openmetrics), str(tsdb_dir)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise ServerError(f"promtool failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}")
    return tsdb_dir


@dataclass(frozen=True)
class ScrapeTarget:
    """A target for the servers to scrape (``host:port`` serving ``/metrics``)."""

    address: str
    job: str = "stabmon-test"
    interval: str = "1s"
    #: Labels added to every scraped series (e.g. ``service`` for an app that has none).
    labels: tuple[tuple[str, str], ...] = ()


def _scrape_config(targets: Iterable[ScrapeTarget], rule_file: Path | None = None,
                   evaluation_interval: str = "15s") -> str:
    lines = ["global:", "  scrape_interval: 15s"]
    if rule_file is not None:  # Prometheus only: VictoriaMetrics's scrape config has no rules
        lines += [f"  evaluation_interval: {evaluation_interval}", "rule_files:", f"  - '{rule_file}'"]
    lines.append("scrape_configs:")
    head = len(lines)
    for t in targets:
        lines += [
            f"  - job_name: {t.job}",
            f"    scrape_interval: {t.interval}",
            f"    scrape_timeout: {t.interval}",
            "    honor_labels: true",
            "    static_configs:",
            f"      - targets: ['{t.address}']",
        ]
        if t.labels:
            lines.append("        labels:")
            lines += [f"          {name}: '{value}'" for name, value in t.labels]
    if len(lines) == head:
        lines[-1] = "scrape_configs: []"
    return "\n".join(lines) + "\n"


class _LoopbackServer:
    """A server process on 127.0.0.1 holding its data in ``data_dir``: start, stop, restart.

    Subclasses name the binary, build the command line and say which path
    answers 200 once the server is ready.
    """

    binary_name = ""
    ready_path = ""
    config_stem = ""

    def __init__(self, data_dir: Path, *, targets: Iterable[ScrapeTarget] = (), port: int | None = None,
                 binary_path: str | None = None, extra_args: Iterable[str] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.targets = list(targets)
        self.binary = binary_path or binary(self.binary_name)
        if self.binary is None:
            raise ServerError(f"{self.binary_name} not found (Debian: apt-get install {self.binary_name})")
        self.extra_args = list(extra_args)
        self.config_path = self.data_dir.parent / f"{self.config_stem}-{self.port}.yml"
        self.log_path = self.data_dir.parent / f"{self.binary_name}-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        """The command line (without ``extra_args``); may write the scrape config."""
        raise NotImplementedError

    def start(self, timeout: float = 60.0):
        """Start and wait until :attr:`ready_path` answers; return ``self``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen([*self.command(), *self.extra_args], stdout=log_file,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_http_ok(f"{self.url}{self.ready_path}", timeout, self.process, self.log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the process (the data stays for a restart)."""
        stop_process(self.process)
        self.process = None

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)

    def __enter__(self):
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class PrometheusServer(_LoopbackServer):
    """A ``prometheus`` process on a given TSDB folder, 127.0.0.1, free port.

    Parameters
    ----------
    data_dir
        TSDB path (e.g. made by :func:`load_openmetrics_tsdb`); kept across
        :meth:`restart`.
    targets
        Optional scrape targets (live data).
    port
        Fixed port (a restart keeps the same URL); a free one when omitted.
    rules
        Text of a rules file (recording and alerting rules) Prometheus
        evaluates itself every ``evaluation_interval``.
    """

    binary_name = "prometheus"
    ready_path = "/-/ready"
    config_stem = "prometheus"

    def __init__(self, data_dir: Path, *, rules: str | None = None, evaluation_interval: str = "15s",
                 **kwargs: Any) -> None:
        super().__init__(data_dir, **kwargs)
        self.rules = rules
        self.evaluation_interval = evaluation_interval

    def command(self) -> list[str]:
        rule_file = None
        if self.rules is not None:
            rule_file = self.data_dir.parent / f"rules-{self.port}.yml"
            rule_file.write_text(self.rules)
        self.config_path.write_text(_scrape_config(self.targets, rule_file, self.evaluation_interval))
        return [self.binary, f"--storage.tsdb.path={self.data_dir}", "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address={LOOPBACK}:{self.port}", f"--config.file={self.config_path}",
                "--log.level=warn"]


# --------------------------------------------------------------------------- VictoriaMetrics


def openmetrics_to_vm_lines(path: Path) -> Iterator[str]:
    """Prometheus text lines with millisecond timestamps from an OpenMetrics file.

    OpenMetrics timestamps are seconds; ``/api/v1/import/prometheus`` wants
    milliseconds. Comments and ``# EOF`` are dropped.
    """
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            head, _, ts = line.rpartition(" ")
            if not head:
                continue
            yield f"{head} {int(round(float(ts) * 1000))}"


class VictoriaMetricsServer(_LoopbackServer):
    """A single-node ``victoria-metrics`` process, 127.0.0.1, free port.

    ``-search.disableCache`` keeps freshly imported data from being hidden by
    cached answers; the client's ``nocache=1`` does the same per query.
    """

    binary_name = "victoria-metrics"
    ready_path = "/health"
    config_stem = "vm-scrape"

    def command(self) -> list[str]:
        args = [self.binary, f"-storageDataPath={self.data_dir}", f"-httpListenAddr={LOOPBACK}:{self.port}",
                "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=WARN"]
        if self.targets:
            self.config_path.write_text(_scrape_config(self.targets))
            args.append(f"-promscrape.config={self.config_path}")
        return args

    def import_lines(self, lines: Iterable[str], batch_bytes: int = 8 << 20) -> int:
        """POST Prometheus text lines (ms timestamps) to ``/api/v1/import/prometheus``; return the count."""
        return self._import("/api/v1/import/prometheus", ((line + "\n").encode("utf-8") for line in lines),
                            batch_bytes)

    def import_json_lines(self, lines: Iterable[bytes], batch_bytes: int = 16 << 20) -> int:
        """POST JSON lines (one series each, see ``iter_vm_json_lines``) to ``/api/v1/import``; return the count."""
        return self._import("/api/v1/import", lines, batch_bytes)

    def _import(self, path: str, lines: Iterable[bytes], batch_bytes: int) -> int:
        """POST newline-terminated ``lines`` to ``path`` in bodies of about ``batch_bytes``, then flush."""
        count = 0
        buffer: list[bytes] = []
        size = 0

        def send() -> None:
            request = urllib.request.Request(f"{self.url}{path}", data=b"".join(buffer), method="POST")
            with urllib.request.urlopen(request, timeout=300) as response:
                if response.status not in (200, 204):
                    raise ServerError(f"import failed: HTTP {response.status}")

        for line in lines:
            buffer.append(line)
            size += len(line)
            count += 1
            if size >= batch_bytes:
                send()
                buffer, size = [], 0
        if buffer:
            send()
        self.flush()
        return count

    def flush(self) -> None:
        """Make everything ingested so far searchable."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=60) as response:
            response.read()



# --------------------------------------------------------------------------- proxy


@dataclass
class Fault:
    """One injected fault, applied to the next ``count`` requests.

    kind
        ``"status"`` (answer ``status`` with ``body``), ``"slow"`` (wait
        ``seconds`` then forward), ``"malformed"`` (200 with a broken JSON
        body), ``"drop"`` (close the connection without an answer), ``"nan"``
        (200 with a vector whose value is ``body`` or ``"NaN"``).
    """

    kind: str
    count: int = 1
    status: int = 503
    body: str = ""
    seconds: float = 0.0
    path_contains: str = ""


class FaultProxy:
    """An HTTP forwarder on 127.0.0.1 with a fixed delay per request and injectable faults.

    Parameters
    ----------
    target
        Base URL of the real server (``http://127.0.0.1:PORT``).
    delay
        Seconds added to every request (benchmarks use 0.01: a remote round trip).
    """

    def __init__(self, target: str, *, delay: float = 0.0, port: int | None = None) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        self.target_host = parts.hostname or LOOPBACK
        self.target_port = parts.port or 80
        self.delay = delay
        self.port = port or free_port()
        self.requests = 0
        self.down = False
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.seen_headers: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def inject(self, fault: Fault) -> None:
        """Queue a fault; faults apply in order, each to its next ``count`` matching requests."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        self.down = False

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self._faults):
                if fault.path_contains and fault.path_contains not in path:
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, the
            # client's delayed ACK would add ~40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests += 1
                    proxy.seen_headers.append(dict(self.headers.items()))
                if proxy.delay:
                    time.sleep(proxy.delay)
                if proxy.down:
                    self._drop()
                    return
                fault = proxy._next_fault(self.path)
                if fault is not None:
                    if fault.kind == "drop":
                        self._drop()
                        return
                    if fault.kind == "status":
                        text = fault.body or '{"status":"error","errorType":"unavailable","error":"injected fault"}'
                        self._reply(fault.status, text.encode(), {"Content-Type": "application/json"})
                        return
                    if fault.kind == "malformed":
                        self._reply(200, b'{"status":"success","data":{"resultType":"vector","res',
                                    {"Content-Type": "application/json"})
                        return
                    if fault.kind == "nan":
                        value = fault.body or "NaN"
                        text = ('{"status":"success","data":{"resultType":"vector","result":'
                                '[{"metric":{},"value":[%d,"%s"]}]}}' % (int(time.time()), value))
                        self._reply(200, text.encode(), {"Content-Type": "application/json"})
                        return
                    if fault.kind == "slow":
                        time.sleep(fault.seconds)
                self._forward(body)

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(data)

            def _forward(self, body: bytes) -> None:
                conn = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection", "keep-alive", "proxy-connection")}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except OSError:
                    self._drop()
                    return
                finally:
                    conn.close()
                passed = {k: v for k, v in response.getheaders()
                          if k.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive")}
                self._reply(response.status, data, passed)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- live data


class LiveExporter:
    """A ``/metrics`` endpoint whose counters follow the wall clock (live-mode tests).

    Counters are exact functions of the scrape time (``rate * t``), so every
    rate over any window is known: ``requests_per_second`` requests, of which
    ``error_ratio`` are 5xx; latencies fall into fixed buckets; CPU at
    ``cpu_fraction`` of its quota, memory at ``memory_fraction`` of its limit.
    """

    BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)
    SHARES = (0.50, 0.30, 0.15, 0.04, 0.01)  # share of requests per bucket (last: <= 1 s)

    def __init__(self, *, service: str = "live", requests_per_second: float = 100.0, error_ratio: float = 0.01,
                 cpu_fraction: float = 0.4, memory_fraction: float = 0.25, port: int | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.service = service
        self.rps = requests_per_second
        self.error_ratio = error_ratio
        self.cpu_fraction = cpu_fraction
        self.memory_fraction = memory_fraction
        self.port = port or free_port()
        self._now = now
        self._server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def render(self, t: float | None = None) -> str:
        t = self._now() if t is None else t
        s = self.service
        total = self.rps * t
        errors = total * self.error_ratio
        lines = [
            "# TYPE http_requests_total counter",
            f'http_requests_total{{service="{s}",code="200"}} {total - errors:.6f}',
            f'http_requests_total{{service="{s}",code="500"}} {errors:.6f}',
            "# TYPE http_request_duration_seconds histogram",
        ]
        cumulative = 0.0
        for bound, share in zip(self.BUCKETS, self.SHARES):
            cumulative += share
            lines.append(f'http_request_duration_seconds_bucket{{service="{s}",le="{bound}"}} {total * cumulative:.6f}')
        lines += [
            f'http_request_duration_seconds_bucket{{service="{s}",le="+Inf"}} {total:.6f}',
            f'http_request_duration_seconds_count{{service="{s}"}} {total:.6f}',
            f'http_request_duration_seconds_sum{{service="{s}"}} {total * 0.1:.6f}',
            "# TYPE container_cpu_usage_seconds_total counter",
            f'container_cpu_usage_seconds_total{{service="{s}"}} {self.cpu_fraction * 2 * t:.6f}',
            f'container_spec_cpu_quota{{service="{s}"}} 200000',
            f'container_spec_cpu_period{{service="{s}"}} 100000',
            f'container_memory_working_set_bytes{{service="{s}"}} {self.memory_fraction * 4e9:.0f}',
            f'container_spec_memory_limit_bytes{{service="{s}"}} 4e9',
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> "LiveExporter":
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                data = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-exporter", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LiveExporter":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextlib.contextmanager
def temp_dir(prefix: str = "stabmon-server-") -> Iterator[Path]:
    """A temporary folder removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class SimulatedClock:
    """A clock for tests: ``sleep`` advances time instantly.

    Parameters
    ----------
    start
        The simulated "now" at the beginning.
    query_cost
        Seconds added on every :meth:`now` call, to simulate slow work (and
        exercise the "Behind schedule" path).
    on_sleep
        Called with ``(clock, seconds)`` before each sleep; may raise (e.g.
        :class:`KeyboardInterrupt` to simulate Ctrl+C at a given moment).
    """

    def __init__(self, start: "datetime", *, query_cost: float = 0.0,
                 on_sleep: "Callable[[SimulatedClock, float], None] | None" = None) -> None:
        from datetime import timedelta

        self._now = start
        self._timedelta = timedelta
        self.query_cost = query_cost
        self.on_sleep = on_sleep
        self.sleeps: list[float] = []

    def now(self) -> "datetime":
        current = self._now
        if self.query_cost:
            self._now = self._now + self._timedelta(seconds=self.query_cost)
        return current

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep(self, seconds)
        self.sleeps.append(seconds)
        self._now = self._now + self._timedelta(seconds=max(0.0, seconds))
