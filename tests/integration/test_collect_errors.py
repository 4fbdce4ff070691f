"""Bad input and server faults at the command line: exit 1 and one line, no traceback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stabmon.collect.run import monitor
from support.servers import Fault, FaultProxy, free_port

from support.runs import options
from collect_helpers import read_folder, week_window

pytestmark = pytest.mark.server

STABMON = str(Path(sys.executable).with_name("stabmon"))
WEEK = ["--service", "checkout", "--start", "2026-01-05T00:00:00Z", "--duration", "24"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABMON_")}
    return subprocess.run([STABMON, *args], capture_output=True, text=True, timeout=timeout, env=env)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("stabmon: error")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_unreachable_server_at_start(week_files, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(run_cli("monitor", "--baseline", str(week_files["baseline"]), "--prometheus-url", url,
                                  *WEEK, "--output", str(tmp_path / "out")))
    assert url in line and "connection refused" in line


def test_authentication_failure_keeps_the_servers_words(prometheus_week, week_files, tmp_path):
    with FaultProxy(prometheus_week.url) as proxy:
        proxy.inject(Fault("status", count=100, status=401, body="Unauthorized: token expired for tenant x"))
        line = one_line_error(run_cli("monitor", "--baseline", str(week_files["baseline"]), "--prometheus-url",
                                      proxy.url, *WEEK, "--output", str(tmp_path / "out")))
    assert "authentication failed" in line and "token expired for tenant x" in line


def test_rejected_custom_query_names_metric_expression_and_error(prometheus_week, week_files, tmp_path):
    queries = tmp_path / "queries.yaml"
    queries.write_text("cpu_percent: 'sum(rate(container_cpu_usage_seconds_total{sel}[w])'\n")
    line = one_line_error(run_cli("monitor", "--baseline", str(week_files["baseline"]), "--prometheus-url",
                                  prometheus_week.url, *WEEK, "--queries", str(queries),
                                  "--output", str(tmp_path / "out")))
    assert "cpu_percent" in line
    assert 'sum(rate(container_cpu_usage_seconds_total{service="checkout"}[30m])' in line
    assert "bad_data" in line and "parse error" in line


def test_several_series_where_one_is_expected(week_backend, week_files, incident_week, tmp_path):
    queries = tmp_path / "queries.yaml"
    queries.write_text("requests: 'increase(http_requests_total{sel}[w])'\n")
    with pytest.raises(Exception) as caught:
        monitor(options(week_backend.url, tmp_path / "out", week_window(incident_week, duration_hours=2),
                        queries=queries))
    message = str(caught.value)
    assert type(caught.value).__name__ == "QueryError"
    assert "requests" in message and "series where one is expected" in message


def test_metric_without_data_is_missing_with_one_warning(week_backend, incident_week, tmp_path, caplog):
    queries = tmp_path / "queries.yaml"
    queries.write_text("cpu_percent: 'sum(rate(no_such_metric_total{sel}[w]))'\n")
    with caplog.at_level(logging.WARNING, logger="stabmon.collect.run"):
        outcome = monitor(options(week_backend.url, tmp_path / "out", week_window(incident_week, duration_hours=12),
                                  queries=queries))
    assert outcome.exit_code == 0
    snapshots = read_folder(tmp_path / "out")
    assert len(snapshots) == 24
    for snapshot in snapshots.values():
        assert snapshot.values["cpu_percent"] is None and snapshot.missing == ["cpu_percent"]
    warnings = [r for r in caplog.records if "cpu_percent" in r.getMessage() and "no data" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("flags, named", [
    (["--start", "yesterday"], "--start"),
    (["--start", "2026-01-05T00:00:00Z", "--duration", "0"], "--duration"),
    (["--start", "2026-01-05T00:00:00Z", "--duration", "-3"], "--duration"),
    (["--start", "2026-01-05T00:00:00Z", "--interval", "0"], "--interval"),
    (["--start", "2026-01-05T00:00:00Z", "--interval", "0.001"], "--interval"),
    (["--start", "2026-01-05T00:00:00Z", "--interval", "abc"], "--interval"),
])
def test_bad_flags_are_named(week_files, tmp_path, flags, named):
    line = one_line_error(run_cli("monitor", "--baseline", str(week_files["baseline"]), "--service", "x",
                                  "--prometheus-url", "http://127.0.0.1:9", *flags, "--output", str(tmp_path / "o")))
    assert named in line


def test_baseline_capture_from_a_past_window(week_backend, incident_week, tmp_path):
    out = tmp_path / "baseline.json"
    proc = run_cli("baseline", "--prometheus-url", week_backend.url, "--service", "checkout",
                   "--start", "2026-01-05T00:00:00Z", "--duration", "24", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    import json

    data = json.loads(out.read_text())
    assert data["window"] == {"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"}
    assert data["service"] == "checkout" and data["timestamp"] == "2026-01-06T00:00:00Z"
    day1 = [s for s in incident_week.snapshots if s.timestamp < incident_week.window.start.replace(day=6)]
    for metric in ("availability", "error_rate", "p95_latency_ms", "p99_latency_ms", "cpu_percent", "memory_percent"):
        want = sum(s.values[metric] for s in day1) / len(day1)
        assert data[metric] == pytest.approx(want, rel=1e-5)
    from stabmon.core.baseline import load_baseline

    assert load_baseline(out).values["availability"] == pytest.approx(data["availability"])
