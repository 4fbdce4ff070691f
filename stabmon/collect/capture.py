"""``stabmon baseline``: the release-day baseline, averaged from a past window's snapshots."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from stabmon.collect.collector import Collector
from stabmon.collect.prom import PrometheusClient
from stabmon.collect.queries import QueryCatalogue
from stabmon.collect.window import make_window
from stabmon.core.errors import InputError, PrometheusError
from stabmon.core.model import DRIFT_METRICS, Baseline, format_time

log = logging.getLogger(__name__)


def capture_baseline(client: PrometheusClient, catalogue: QueryCatalogue, start: datetime, end: datetime,
                     interval_minutes: float, *, service: str | None = None) -> Baseline:
    """Average a past window's snapshots into a baseline (docs/contract.md §4).

    Raises
    ------
    PrometheusError
        When the server fails or no metric has any data in the window.
    """
    duration = (end - start).total_seconds() / 3600.0
    if duration <= 0:
        raise InputError("--end: must be after --start")
    window = make_window(start, duration, interval_minutes)
    target = service or ""
    client.check()
    snapshots = Collector(client, catalogue, window).range_snapshots(
        list(range(window.snapshot_count)), [target], strict=True)[target]
    values: dict[str, float] = {}
    for metric in DRIFT_METRICS:
        present = [s.values[metric] for s in snapshots.values() if s.values.get(metric) is not None]
        if present:
            values[metric] = round(sum(present) / len(present), 6)
        else:
            log.warning("baseline: %s has no data in the window; left out", metric)
    if not values:
        raise PrometheusError(
            f"no data for the window {format_time(start)} .. {format_time(end)}: nothing to put in a baseline"
        )
    extra: dict[str, Any] = {"snapshot_count": len(snapshots), "interval_minutes": interval_minutes}
    if catalogue.selector and service is None:
        extra["selector"] = catalogue.selector
    return Baseline(
        timestamp=end,
        values=values,
        service=service,
        window={"start": format_time(start), "end": format_time(end)},
        extra=extra,
    )
