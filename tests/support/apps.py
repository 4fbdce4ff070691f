"""A real instrumented service for the tests: FastAPI + prometheus-fastapi-instrumentator under uvicorn.

:class:`CheckoutApp` runs :func:`create_app` in a uvicorn subprocess on a free
127.0.0.1 port and stops it by its PID. The app's ``/checkout`` endpoint
answers 200, or 500 for a set share of requests (an error burst), after a
set delay (a latency burst); ``/admin/mode`` switches both and is left out of
the metrics. The instrumentator's defaults are kept on purpose: status
codes grouped as ``status="2xx"``/``"5xx"`` (no ``code`` label), no
``service`` label (the scrape config adds one), duration buckets 0.1/0.5/1 s.

:func:`run_load` is a bounded load generator: a fixed number of requests over
a few threads, to loopback only; it returns when they are done.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from support.servers import LOOPBACK, _LoopbackServer

#: The alerting rule the tests' Prometheus evaluates itself on the app's own labels.
ALERT_RULES = """\
groups:
  - name: checkout
    interval: 1s
    rules:
      - alert: CheckoutHighErrorRate
        expr: >-
          sum by (service) (rate(http_requests_total{status="5xx"}[10s]))
          / sum by (service) (rate(http_requests_total[10s])) > 0.05
        labels:
          severity: critical
        annotations:
          summary: more than 5 % of checkout requests fail
"""


def add_checkout_routes(app: Any) -> None:
    """``/checkout`` (200, or 500 for a set share of requests, after a set delay) and ``/admin/mode``."""
    from fastapi import Response

    state = {"error_every": 0, "delay_ms": 0.0, "count": 0}
    lock = threading.Lock()

    @app.get("/checkout")
    async def checkout() -> Response:
        with lock:
            state["count"] += 1
            number = state["count"]
        if state["delay_ms"]:
            await asyncio.sleep(state["delay_ms"] / 1000.0)
        # Deterministic share: every n-th request fails (n = 10 for 10 %).
        if state["error_every"] and number % state["error_every"] == 0:
            return Response("payment backend down", status_code=500)
        return Response("ok")

    @app.post("/admin/mode")
    async def mode(error_percent: float = 0.0, delay_ms: float = 0.0) -> dict[str, float]:
        state["error_every"] = round(100.0 / error_percent) if error_percent > 0 else 0
        state["delay_ms"] = delay_ms
        return {"error_percent": error_percent, "delay_ms": delay_ms}


def create_app() -> Any:
    """The FastAPI checkout service (uvicorn ``--factory``)."""
    from fastapi import FastAPI
    from prometheus_fastapi_instrumentator import Instrumentator

    app = FastAPI()
    add_checkout_routes(app)
    Instrumentator(excluded_handlers=["/metrics", "/admin/mode"]).instrument(app).expose(app)
    return app


class CheckoutApp(_LoopbackServer):
    """:func:`create_app` under uvicorn in a subprocess on 127.0.0.1 (a context manager).

    ``log_dir`` holds the uvicorn log; the process is stopped by its PID.
    """

    binary_name = "checkout-app"
    ready_path = "/metrics"
    #: The uvicorn ``--factory`` that builds the app.
    factory = "support.apps:create_app"

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        super().__init__(Path(log_dir) / "checkout-app", port=port, binary_path=sys.executable)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        tests = Path(__file__).resolve().parent.parent
        return [self.binary, "-m", "uvicorn", "--factory", self.factory, "--app-dir", str(tests),
                "--host", LOOPBACK, "--port", str(self.port), "--log-level", "warning", "--no-access-log"]

    def set_mode(self, *, error_percent: float = 0.0, delay_ms: float = 0.0) -> None:
        """Switch the share of 5xx answers and the added latency of ``/checkout``."""
        request = urllib.request.Request(f"{self.url}/admin/mode?error_percent={error_percent}&delay_ms={delay_ms}",
                                         method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()



def run_load(url: str, requests: int, *, threads: int = 4, timeout: float = 5.0) -> Counter:
    """Send exactly ``requests`` GETs to ``url`` (loopback only) over ``threads`` threads; count the statuses."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"the load generator only targets {LOOPBACK}: {url}")

    def one(_: int) -> int:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return 0

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return Counter(pool.map(one, range(requests)))
