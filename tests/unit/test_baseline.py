"""Baseline loading: every bad input gives one line naming the file and the problem."""

from __future__ import annotations

import json

import pytest

from stabmon.core.baseline import load_baseline
from stabmon.core.errors import BaselineError

GOOD = {"timestamp": "2026-01-01T18:00:00Z", "service": "checkout", "availability": 99.97, "error_rate": 0.03,
        "p95_latency_ms": 195.0, "p99_latency_ms": 300.0, "cpu_percent": 40.0, "memory_percent": 25.0,
        "release": "v1.0.1"}


def write(tmp_path, content):
    path = tmp_path / "baseline.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_contract_example_loads(tmp_path):
    baseline = load_baseline(write(tmp_path, GOOD))
    assert baseline.values["p99_latency_ms"] == 300.0
    assert baseline.service == "checkout"
    assert baseline.extra == {"release": "v1.0.1"}  # unknown keys kept and ignored
    assert baseline.timestamp.isoformat() == "2026-01-01T18:00:00+00:00"


def test_subset_of_metrics_is_fine(tmp_path):
    baseline = load_baseline(write(tmp_path, {"timestamp": "2026-01-01T18:00:00Z", "cpu_percent": 40}))
    assert baseline.values == {"cpu_percent": 40.0}


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "is not valid JSON"),
        ('{"timestamp": "2026-01-01T18:00:00Z", "availability": NaN}', "NaN is not a valid JSON number"),
        ({"availability": 99.9}, "'timestamp' is required"),
        ({"timestamp": "yesterday"}, "'timestamp' is not an ISO 8601 time"),
        ({"timestamp": "2026-01-01T18:00:00Z", "availability": "99.9"}, "'availability' must be a number"),
        ({"timestamp": "2026-01-01T18:00:00Z", "error_rate": -0.5}, "'error_rate' must not be negative"),
        ({"timestamp": "2026-01-01T18:00:00Z", "availability": 100.5}, "must not exceed 100"),
        ([1, 2, 3], "expected a JSON object"),
    ],
)
def test_bad_baselines(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    text = str(info.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(BaselineError, match="baseline file not found: .*nope.json"):
        load_baseline(tmp_path / "nope.json")
