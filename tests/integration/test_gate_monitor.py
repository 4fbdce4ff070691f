"""``stabmon monitor --gate`` against a real Prometheus: the verdict is the exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stabmon import store

pytestmark = pytest.mark.server


def monitor(url: str, baseline: Path, service: str, out: Path, hours: str = "24") -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("stabmon")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABMON_")}
    return subprocess.run(
        [str(exe), "monitor", "--baseline", str(baseline), "--prometheus-url", url, "--service", service,
         "--start", "2026-01-05T00:00:00Z", "--duration", hours, "--output", str(out), "--gate"],
        capture_output=True, text=True, timeout=120, env=env,
    )


def test_incident_week_is_a_rollback_exit_2(prometheus_week, week_files, tmp_path):
    # The synthetic incident week: two degraded days and drift over 15 % -> rollback.
    proc = monitor(prometheus_week.url, week_files["baseline"], "checkout", tmp_path / "run", hours="168")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "verdict: ROLLBACK" in proc.stdout


def test_a_mistyped_service_is_inconclusive_exit_3(prometheus_week, week_files, tmp_path):
    # "chekout" matches no series: every key metric without a value is not a pass.
    proc = monitor(prometheus_week.url, week_files["baseline"], "chekout", tmp_path / "typo")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    weekly = json.loads((tmp_path / "typo" / store.WEEKLY_JSON).read_text())
    assert weekly["verdict"] == "inconclusive" and weekly["rollback_recommended"] is False
    assert {r["metric"] for r in weekly["inconclusive_reasons"]} >= {"availability", "p99_latency_ms"}
    assert "verdict: INCONCLUSIVE" in proc.stdout
