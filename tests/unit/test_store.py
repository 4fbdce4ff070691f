"""The file store: layout, atomic writes, torn and foreign files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from factories import START, make_snapshot

from stabmon.store import schemas
from stabmon import store
from stabmon.core.errors import StoreError
from stabmon.core.model import Alert, Window

WINDOW = Window(start=START, duration_hours=48, interval_minutes=30)


def test_snapshot_path_follows_the_seed_layout(tmp_path):
    t = WINDOW.time_of(49)  # day 2, 00:30
    assert store.snapshot_path(tmp_path, WINDOW, t) == tmp_path / "day_02_raw" / "snapshot_2026-01-06_00-30-00.json"


def test_snapshot_round_trip_is_schema_valid(tmp_path):
    alert = Alert("HighErrorRate", "critical", {"alertname": "HighErrorRate", "severity": "critical", "pod": "a"})
    snap = make_snapshot(WINDOW.time_of(3), alerts=[alert], drift={"cpu_percent": 4.5}, cpu_percent=None)
    path = store.write_snapshot(tmp_path, WINDOW, snap)
    data = json.loads(path.read_text())
    schemas.validate(data, "snapshot")
    assert data["cpu_percent"] is None and data["missing"] == ["cpu_percent"]
    assert data["timestamp"] == "2026-01-05T01:30:00Z"
    back = store.read_snapshots(tmp_path).snapshots
    assert len(back) == 1
    assert back[0].to_dict() == snap.to_dict()


def test_torn_and_foreign_files_are_named_and_skipped(tmp_path):
    for k in range(3):
        store.write_snapshot(tmp_path, WINDOW, make_snapshot(WINDOW.time_of(k)))
    raw = tmp_path / "day_01_raw"
    (raw / "snapshot_2026-01-05_05-00-00.json").write_text('{"timestamp": "2026-01-05T05:00:00Z", "avail')
    (raw / "snapshot_2026-01-05_06-00-00.json").write_text('{"hello": "world"}')
    (raw / "notes.txt").write_text("ignored, not a snapshot name")
    found = store.read_snapshots(tmp_path)
    assert len(found.snapshots) == 3
    assert len(found.warnings) == 2
    assert any("05-00-00.json" in w and "not valid JSON" in w for w in found.warnings)
    assert any("06-00-00.json" in w and "schema" in w for w in found.warnings)


def test_atomic_write_leaves_no_temp_file_and_replaces(tmp_path):
    target = tmp_path / "a.json"
    store.write_json_atomic(target, {"v": 1})
    store.write_json_atomic(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    # A file-size limit makes the write fail half-way; the old content must survive.
    target = tmp_path / "weekly_summary.json"
    store.write_json_atomic(target, {"old": True})
    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
from stabmon import store
from stabmon.core.errors import StoreError
try:
    store.write_json_atomic({str(target)!r}, {{"new": "x" * 100000}})
except StoreError as exc:
    print("StoreError", exc)
    sys.exit(3)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert "cannot write" in proc.stdout
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["weekly_summary.json"]


def test_unwritable_folder_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        store.write_json_atomic(blocker / "sub" / "a.json", {"v": 1})


def test_nan_is_never_written(tmp_path):
    with pytest.raises(ValueError):
        store.write_json_atomic(tmp_path / "a.json", {"v": float("nan")})


def test_duplicate_timestamp_keeps_one(tmp_path):
    snap = make_snapshot(WINDOW.time_of(0))
    store.write_snapshot(tmp_path, WINDOW, snap)
    # Same t_k filed under another day folder by a foreign tool.
    other = tmp_path / "day_02_raw"
    other.mkdir()
    (other / "snapshot_2026-01-05_00-00-00.json").write_text(json.dumps(snap.to_dict()))
    found = store.read_snapshots(tmp_path)
    assert len(found.snapshots) == 1
    assert "duplicate" in found.warnings[0]


def test_json_is_json_modules_indented_text_and_refuses_nan_anywhere(tmp_path):
    # orjson writes the files (issue 13); the text is what json.dumps(indent=2) wrote, numpy's floats
    # are numbers (as json took them), and a NaN or infinity nested anywhere is refused (orjson alone would write null).
    import json

    import numpy as np

    from stabmon.store.files import dumps, json_bytes

    doc = {"service": "checkout", "días": ["ünïcode", 1, 2.5, None, True], "nested": {"a": [{"b": 0.1 + 0.2}]},
           3: "int key"}
    assert dumps(doc) == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert json_bytes({"v": np.float64(1.5), "n": 7}, compact=True) == b'{"v":1.5,"n":7}\n'
    for bad in (float("nan"), float("inf"), -float("inf"), np.float64("nan")):
        with pytest.raises(ValueError, match="not JSON compliant"):
            json_bytes({"days": [{"figures": {"p99": bad}}]})
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_bytes({"when": object()})
