"""``--gate``: the real ``stabmon analyze`` in a subprocess exits with the verdict (0 pass, 2 rollback, 3 inconclusive)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stabmon import store
from stabmon.demo.fleet import build_demo_fleet
from stabmon.demo.week import run_demo_week

STABMON = [sys.executable, "-m", "stabmon.cli.main"]


def analyze(folder: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STABMON, "analyze", "--input", str(folder), *flags],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gate")
    folders = {}
    for scenario in ("healthy", "incident"):
        folders[scenario] = root / scenario
        run_demo_week(folders[scenario], scenario=scenario, fsync=False)
    # The healthy week with every snapshot's p99 nulled: a key metric in 0 of 336 snapshots.
    folders["no_p99"] = root / "no_p99"
    shutil.copytree(folders["healthy"], folders["no_p99"])
    for path in store.iter_snapshot_files(folders["no_p99"]):
        data = json.loads(path.read_text())
        data["p99_latency_ms"] = None
        path.write_text(json.dumps(data))
    return folders


def test_healthy_week_passes_with_exit_0(demos):
    proc = analyze(demos["healthy"], "--gate")
    assert proc.returncode == 0, proc.stderr
    assert "verdict: PASS" in proc.stdout


def test_incident_week_is_a_rollback_with_exit_2(demos):
    proc = analyze(demos["incident"], "--gate")
    assert proc.returncode == 2, proc.stderr
    assert "verdict: ROLLBACK" in proc.stdout
    # Without --gate a finished analysis still exits 0, as before.
    assert analyze(demos["incident"]).returncode == 0


def test_a_week_without_p99_is_inconclusive_with_exit_3(demos):
    proc = analyze(demos["no_p99"], "--gate")
    assert proc.returncode == 3, proc.stderr
    assert "verdict: INCONCLUSIVE" in proc.stdout
    assert "p99 latency: value in 0 of 336 snapshots (0.0 % < 90 %)" in proc.stdout
    weekly = json.loads((demos["no_p99"] / store.WEEKLY_JSON).read_text())
    assert weekly["verdict"] == "inconclusive" and weekly["rollback_recommended"] is False
    assert "INCONCLUSIVE" in (demos["no_p99"] / store.WEEKLY_MD).read_text()


def test_a_preflight_error_in_run_json_is_inconclusive(demos, tmp_path):
    folder = tmp_path / "flagged"
    shutil.copytree(demos["healthy"], folder)
    info = json.loads((folder / store.RUN_FILE).read_text())
    info["preflight"] = {"findings": [{"metric": "error_rate", "severity": "error", "code": "error_label_absent",
                                       "message": "label code is not on the request series"}]}
    (folder / store.RUN_FILE).write_text(json.dumps(info))
    proc = analyze(folder, "--gate")
    assert proc.returncode == 3, proc.stderr
    assert "error rate: label code is not on the request series" in proc.stdout


def test_bad_input_keeps_exit_1_under_gate(tmp_path):
    proc = analyze(tmp_path / "absent", "--gate")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_a_fleet_gates_on_its_worst_service(tmp_path):
    # The demo fleet's scenarios include an incident: a rollback somewhere -> 2.
    folder = tmp_path / "fleet"
    build_demo_fleet(folder, services=3)
    proc = analyze(folder, "--gate")
    assert proc.returncode == 2, proc.stderr
    assert "verdict: ROLLBACK" in proc.stdout
