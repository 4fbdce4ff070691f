"""Hostile or broken input (issue 6, item 5).

Names and selectors built to break a query must not change it: the run reads
exactly the series of that label value. Broken files and folders end the real
command with exit 1 and one line on stderr, no traceback, and a write that
fails half-way leaves the previous files as they were.
"""

from __future__ import annotations

import json
import math
import resource
from datetime import timedelta
from pathlib import Path

import pytest

from stabmon import store
from stabmon.collect.run import monitor
from stabmon.collect.window import make_window
from stabmon.core.model import METRIC_FIELDS
from stabmon.collect.queries import build_catalogue

from support.runs import HOSTILE_SERVICE, options
from .reliability_helpers import check_folder, monitor_args, one_line_error, run_cli

pytestmark = pytest.mark.server


@pytest.fixture
def day_window(recent_data):
    """A past day inside the data: 48 snapshots."""
    return make_window(recent_data.midnight - timedelta(days=5), 24, 30)


def snapshots_by_time(out) -> dict:
    folder = store.read_snapshots(out)
    assert not folder.warnings, folder.warnings
    return {s.timestamp: s for s in folder.snapshots}


# --------------------------------------------------------------------------- names that try to change the query


def test_hostile_service_name_reads_exactly_that_series(prometheus, recent_data, day_window, tmp_path):
    """Quotes, braces, a backslash, a newline, ``or vector(1)`` and a comment in --service: still one label value.

    The real command collects the hostile service's own numbers (as the
    generator made them), not checkout's and not ``vector(1)``.
    """
    out = tmp_path / "run"
    proc = run_cli(*monitor_args(prometheus.url, recent_data.baseline, out, day_window.start, 24,
                                 service=HOSTILE_SERVICE))
    assert proc.returncode == 0, proc.stderr
    got = snapshots_by_time(out)
    want = {s.timestamp: s for s in recent_data.hostile.snapshots}
    checkout = {s.timestamp: s for s in recent_data.week.snapshots}
    assert len(got) == 48
    for ts, snapshot in got.items():
        assert snapshot.missing == [], snapshot.to_dict()
        for metric in METRIC_FIELDS:
            assert math.isclose(snapshot.values[metric], want[ts].values[metric], rel_tol=1e-6, abs_tol=1e-9), metric
        # The two services' counts differ by far more than the tolerance: the match above is not checkout's.
        assert not math.isclose(snapshot.values["requests"], checkout[ts].values["requests"], rel_tol=1e-6)
    info = store.read_json(out / store.RUN_FILE)
    assert info["service"] == HOSTILE_SERVICE
    assert info["selector"] == "service=" + json.dumps(HOSTILE_SERVICE, ensure_ascii=False)


@pytest.mark.parametrize("name", [
    'checkout"} or vector(1) #',
    'checkout"}[5m]) or on() vector(1) or sum(rate(x{a="',
    "checkout\\",
    "checkout\n",
    "checkout' or service='checkout",
    ".*",
    "checkout`",
], ids=["close-and-or", "close-range", "backslash", "newline", "single-quotes", "regex", "backtick"])
def test_injection_attempts_match_no_series(proxy, recent_data, day_window, tmp_path, name):
    """A name that would escape the string matches nothing: no data, not checkout's data, not vector(1).

    ``errors`` is missing too, not 0: since issue 11 the zero of the error
    figures comes from the target's own request series, and this name has
    none (the contract's ``or vector(0)`` used to record 0 errors here).
    Every request the server saw carries the name as one escaped string.
    """
    window = make_window(day_window.start, 2, 30)
    outcome = monitor(options(proxy.url, tmp_path / "run", window, service=name))
    assert outcome.exit_code == 0
    for snapshot in snapshots_by_time(tmp_path / "run").values():
        values = snapshot.to_dict()
        assert all(values[m] is None for m in METRIC_FIELDS), values
        assert values["alerts"] == []
    expressions = build_catalogue(service=name, interval_seconds=1800).snapshot_expressions()
    assert all(f"service={json.dumps(name, ensure_ascii=False)}" in e for e in expressions.values())


@pytest.mark.parametrize("selector, reason", [
    ('service="checkout"} or vector(1) #', "expected ','"),
    ('service="checkout"}) or vector(1', "expected ','"),
    ("service=checkout}", "must be quoted"),
    ('service="checkout', "value of service"),
    ('__name__="up"', "__name__"),
    ('service="a"\njob="b"', "expected ','"),
    ("", "no matcher"),
])
def test_selector_that_would_change_the_query_is_refused(recent_data, tmp_path, selector, reason):
    proc = run_cli("monitor", "--baseline", str(recent_data.baseline), "--prometheus-url", "http://127.0.0.1:9",
                   "--selector", selector, "--start", "2026-01-05T00:00:00Z", "--duration", "1",
                   "--output", str(tmp_path / "out"))
    line = one_line_error(proc)
    assert "--selector" in line and reason in line
    assert not (tmp_path / "out").exists()


def test_selector_with_an_escaped_hostile_value_reads_that_series(prometheus, recent_data, day_window, tmp_path):
    """--selector with the hostile name as a quoted PromQL string equals --service with it."""
    selector = "service=" + json.dumps(HOSTILE_SERVICE)
    assert build_catalogue(selector=selector).snapshot_expressions() == \
        build_catalogue(service=HOSTILE_SERVICE).snapshot_expressions()
    window = make_window(day_window.start, 2, 30)
    opts = options(prometheus.url, tmp_path / "run", window, service=None)
    opts.catalogue = build_catalogue(selector=selector, interval_seconds=1800)
    assert monitor(opts).exit_code == 0
    want = {s.timestamp: s for s in recent_data.hostile.snapshots}
    for ts, snapshot in snapshots_by_time(tmp_path / "run").items():
        assert snapshot.values["requests"] == pytest.approx(want[ts].values["requests"], rel=1e-6)


# --------------------------------------------------------------------------- broken files


QUERIES_FILES = {
    "not-yaml": ("cpu_percent: [unclosed\n  - :\n", "not valid YAML"),
    "binary": (b"\xff\xfe\x00garbage\x81", "cannot read"),
    "a-list": ("- cpu_percent\n- memory_percent\n", "expected a mapping"),
    "unknown-metric": ("latency_p50_ms: 'sum(x{sel})'\n", "unknown metric 'latency_p50_ms'"),
    "not-a-string": ("cpu_percent: 5\n", "must be a non-empty string"),
    "empty-expression": ("cpu_percent: ''\n", "must be a non-empty string"),
}


@pytest.mark.parametrize("case", sorted(QUERIES_FILES))
def test_broken_queries_file(recent_data, tmp_path, case):
    content, reason = QUERIES_FILES[case]
    path = tmp_path / "queries.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = run_cli("monitor", "--baseline", str(recent_data.baseline), "--prometheus-url", "http://127.0.0.1:9",
                   "--service", "checkout", "--queries", str(path), "--start", "2026-01-05T00:00:00Z",
                   "--duration", "1", "--output", str(tmp_path / "out"))
    line = one_line_error(proc)
    assert str(path) in line and reason in line


def test_missing_queries_file(recent_data, tmp_path):
    proc = run_cli("monitor", "--baseline", str(recent_data.baseline), "--service", "checkout",
                   "--queries", str(tmp_path / "nope.yaml"), "--start", "2026-01-05T00:00:00Z", "--duration", "1",
                   "--output", str(tmp_path / "out"))
    assert "cannot read" in one_line_error(proc)


BASELINES = {
    "nan": ('{"timestamp": "2026-01-01T00:00:00Z", "availability": NaN}', "NaN"),
    "infinity": ('{"timestamp": "2026-01-01T00:00:00Z", "p99_latency_ms": Infinity}', "Infinity"),
    "string": ('{"timestamp": "2026-01-01T00:00:00Z", "availability": "99.9"}', "'availability' must be a number"),
    "boolean": ('{"timestamp": "2026-01-01T00:00:00Z", "cpu_percent": true}', "'cpu_percent' must be a number"),
    "negative": ('{"timestamp": "2026-01-01T00:00:00Z", "p95_latency_ms": -5}', "must not be negative"),
    "over-100": ('{"timestamp": "2026-01-01T00:00:00Z", "error_rate": 140}', "must not exceed 100"),
    "no-timestamp": ('{"availability": 99.9}', "'timestamp' is required"),
    "bad-timestamp": ('{"timestamp": "last tuesday"}', "not an ISO 8601 time"),
    "not-json": ("availability = 99.9", "not valid JSON"),
    "a-list": ("[99.9]", "expected a JSON object"),
    "binary": (b"\xff\xfe\x00\x81", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(BASELINES))
def test_broken_baseline(prometheus, tmp_path, case):
    content, reason = BASELINES[case]
    path = tmp_path / "baseline.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = run_cli("monitor", "--baseline", str(path), "--prometheus-url", prometheus.url, "--service", "checkout",
                   "--start", "2026-01-05T00:00:00Z", "--duration", "1", "--output", str(tmp_path / "out"))
    line = one_line_error(proc)
    assert str(path) in line and reason in line
    assert not list((tmp_path / "out").rglob("snapshot_*.json"))  # refused before collecting anything


# --------------------------------------------------------------------------- folders that cannot be written


def _output_below_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file" / "run"


def _output_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file"


def _output_in_proc(tmp_path: Path) -> Path:
    return Path("/proc/stabmon-cannot-write-here")


def _day_folder_is_a_file(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    (out / "day_01_raw").write_text("not a folder")
    return out


@pytest.mark.parametrize("make", [_output_below_a_file, _output_is_a_file, _output_in_proc, _day_folder_is_a_file],
                         ids=["below-a-file", "is-a-file", "in-proc", "day-folder-is-a-file"])
def test_output_folder_that_cannot_be_written(prometheus, recent_data, day_window, tmp_path, make):
    out = make(tmp_path)
    proc = run_cli(*monitor_args(prometheus.url, recent_data.baseline, out, day_window.start, 2))
    line = one_line_error(proc)
    assert "cannot write" in line and str(out) in line


# --------------------------------------------------------------------------- a write that fails half-way


def test_write_failing_half_way_leaves_previous_files_intact(prometheus, recent_data, day_window, tmp_path):
    """A rerun under a 4 KiB file-size limit (RLIMIT_FSIZE) fails on the first big file, cleanly.

    The first larger write (``slo_burndown.json``, ~17 KB) stops at 4 KiB
    with EFBIG: exit 1 and one line naming the file; that file and every
    summary not reached keep their previous bytes; what was rewritten is
    whole; no temporary file is left.
    """
    out = tmp_path / "run"
    args = monitor_args(prometheus.url, recent_data.baseline, out, day_window.start, 24)
    assert run_cli(*args).returncode == 0
    limit = 4096
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    big = sorted(p.relative_to(out) for p, data in before.items() if len(data) > limit)
    assert Path(store.BURNDOWN_FILE) in big and Path(store.WEEKLY_JSON) in big

    def limit_file_size() -> None:
        # Python ignores SIGXFSZ, so the write fails with EFBIG instead of killing the process.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = run_cli(*args, preexec_fn=limit_file_size)
    line = one_line_error(proc)
    assert "cannot write" in line and "File too large" in line
    for rel in big:
        assert (out / rel).read_bytes() == before[out / rel], f"{rel} changed"
    check_folder(out, day_window)
    assert snapshots_by_time(out).keys() == {ts for ts in day_window.times()}
    # With the limit lifted the same command completes again.
    assert run_cli(*args).returncode == 0
    check_folder(out, day_window)
