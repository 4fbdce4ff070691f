"""Shared fixtures of the notebook tests: one demo week and one rendering of it per session.

Rendering the reports is the slow part (nine kernels), so it happens once:
the demo week is written into a temporary folder, an alert whose name holds
a ``<script>`` is planted in it, a fake Prometheus token is put in the
environment, and ``render_reports`` runs. Every end-to-end test then reads
the same ``reports/`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stabmon.report import render as report
from stabmon import store
from stabmon.demo.week import run_demo_week
from stabmon.core.model import Alert, Snapshot

from notebook_helpers import FAKE_TOKEN, PLANTED_ALERTNAME, PLANTED_DAY, PLANTED_TIMES

@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh demo week (the incident scenario), not rendered."""
    folder = tmp_path_factory.mktemp("demo-run")
    run_demo_week(folder, fsync=False)
    return folder


def plant_alert(run_dir: Path) -> None:
    """Add an info alert named :data:`PLANTED_ALERTNAME` to three snapshots and rebuild the summaries."""
    from stabmon.store.rebuild import rebuild_summaries

    raw = store.day_raw_dir(run_dir, PLANTED_DAY)
    for stamp in PLANTED_TIMES:
        path = raw / f"snapshot_{stamp}.json"
        snapshot = Snapshot.from_dict(store.read_json(path))
        snapshot.alerts = list(snapshot.alerts or []) + [
            Alert(alertname=PLANTED_ALERTNAME, severity="info",
                  labels={"alertname": PLANTED_ALERTNAME, "severity": "info", "team": "<b>sre</b>"})
        ]
        store.write_json_atomic(path, snapshot.to_dict(), schema="snapshot", fsync=False)
    rebuild_summaries(run_dir)


@pytest.fixture(scope="session")
def rendered_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, report.ReportResult]:
    """A demo week with a planted ``<script>`` alert, rendered with a token in the environment."""
    folder = tmp_path_factory.mktemp("rendered-run")
    run_demo_week(folder, fsync=False)
    plant_alert(folder)
    previous = os.environ.get("STABMON_PROMETHEUS_TOKEN")
    os.environ["STABMON_PROMETHEUS_TOKEN"] = FAKE_TOKEN
    try:
        result = report.render_reports(folder, jobs=2, progress=False)
    finally:
        if previous is None:
            os.environ.pop("STABMON_PROMETHEUS_TOKEN", None)
        else:
            os.environ["STABMON_PROMETHEUS_TOKEN"] = previous
    return folder, result
