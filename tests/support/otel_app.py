"""The checkout service instrumented with the OpenTelemetry SDK instead (preset ``otel``).

:func:`create_otel_app` serves :func:`support.apps.add_checkout_routes` under
``opentelemetry-instrumentation-fastapi``; a ``MeterProvider`` reads its
metrics through the Prometheus exporter's reader, served by prometheus_client
on its own port (``STABMON_TEST_METRICS_PORT``), as the exporter's docs set it
up. The process runs with ``OTEL_SEMCONV_STABILITY_OPT_IN=http``: the stable
HTTP conventions (``http_server_request_duration_seconds``, seconds,
``http_response_status_code``), not the old ``http_server_duration_milliseconds``
the instrumentation emits by default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from support.apps import CheckoutApp, add_checkout_routes
from support.servers import LOOPBACK, free_port

METRICS_PORT_VARIABLE = "STABMON_TEST_METRICS_PORT"


def create_otel_app() -> Any:
    """The FastAPI checkout service with OpenTelemetry metrics (uvicorn ``--factory``)."""
    from fastapi import FastAPI
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from prometheus_client import start_http_server

    # The reader registers with prometheus_client's default registry, which also holds
    # the process collector (process_cpu_seconds_total, process_resident_memory_bytes).
    reader = PrometheusMetricReader()
    provider = MeterProvider(resource=Resource.create({"service.name": "shop-otel"}), metric_readers=[reader])
    start_http_server(int(os.environ[METRICS_PORT_VARIABLE]), addr=LOOPBACK)
    app = FastAPI()
    add_checkout_routes(app)
    FastAPIInstrumentor.instrument_app(app, meter_provider=provider, excluded_urls="admin/mode,docs")
    return app


class OtelCheckoutApp(CheckoutApp):
    """:func:`create_otel_app` under uvicorn on 127.0.0.1; its metrics on :attr:`metrics_port`."""

    binary_name = "otel-checkout-app"
    ready_path = "/docs"
    factory = "support.otel_app:create_otel_app"

    def __init__(self, log_dir: Path, port: int | None = None, metrics_port: int | None = None) -> None:
        super().__init__(log_dir, port=port)
        self.metrics_port = metrics_port or free_port()

    @property
    def metrics_address(self) -> str:
        return f"{LOOPBACK}:{self.metrics_port}"

    def command(self) -> list[str]:
        return ["env", "OTEL_SEMCONV_STABILITY_OPT_IN=http", f"{METRICS_PORT_VARIABLE}={self.metrics_port}",
                *super().command()]
