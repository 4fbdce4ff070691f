"""The real ``stabmon`` command in a subprocess: exit codes, one-line errors, the demo's output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stabmon.store import schemas
from stabmon.demo.synthetic import generate_week

STABMON = [sys.executable, "-m", "stabmon.cli.main"]
#: The demo week: 7 days at a 30-minute interval, 48 snapshots a day.
DEMO_PER_DAY = 48


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*STABMON, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = run("demo", "--no-report", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    # The verdict leads; the score is labelled and never stands as a grade word beside a rollback.
    assert "verdict ROLLBACK: rollback RECOMMENDED; SLO-compliance score " in proc.stdout
    assert "Excellent" not in proc.stdout
    return out


def test_help_everywhere():
    for args in ([], ["monitor"], ["analyze"], ["report"], ["demo"], ["baseline"]):
        proc = run(*args, "--help")
        assert proc.returncode == 0, (args, proc.stderr)
        assert "usage: stabmon" in proc.stdout


def test_unknown_flag_exits_1_with_one_line():
    assert_one_line_error(run("analyze", "--input", "x", "--nope"), "unrecognized arguments: --nope")


def test_demo_writes_the_full_layout(demo_dir):
    raw = sorted(demo_dir.glob("day_*_raw/snapshot_*.json"))
    assert len(raw) == 7 * DEMO_PER_DAY
    assert sorted(p.name for p in demo_dir.glob("day_*_summary.json")) == [f"day_0{d}_summary.json" for d in range(1, 8)]
    for path in raw[::7]:
        schemas.validate(json.loads(path.read_text()), "snapshot")
    for path in demo_dir.glob("day_*_summary.json"):
        schemas.validate(json.loads(path.read_text()), "daily")
    weekly = json.loads((demo_dir / "weekly_summary.json").read_text())
    schemas.validate(weekly, "weekly")
    md = (demo_dir / "weekly_summary.md").read_text()
    for section in ("## Executive Summary", "## Key Metrics", "## Trends", "## Daily Breakdown",
                    "## Recommendations", "## Action Items"):
        assert section in md
    assert "- [ ] " in md
    assert "## Error Budget" in md
    burndown = json.loads((demo_dir / "slo_burndown.json").read_text())
    schemas.validate(burndown, "burndown")
    assert [d["day_number"] for d in burndown["days"]] == list(range(1, 8))
    events = [json.loads(line) for line in (demo_dir / "anomalies.jsonl").read_text().splitlines()]
    for event in events:
        schemas.validate(event, "anomaly")
    # The incident week's high-severity events fall on the incident days and metrics.
    high = {(e["day_number"], e["metric"]) for e in events if e["severity"] == "high"}
    assert (3, "error_rate") in high and (5, "p99_latency_ms") in high
    assert {day for day, _ in high} <= {3, 5}
    daily3 = json.loads((demo_dir / "day_03_summary.json").read_text())
    assert daily3["anomaly_counts"]["high"] >= 1
    assert weekly["baseline_comparison"], "the demo records a baseline window, so the comparison runs"


def test_demo_degraded_days_are_the_planted_ones(demo_dir):
    weekly = json.loads((demo_dir / "weekly_summary.json").read_text())
    planted = generate_week("incident", seed=42).planted.degraded_days
    assert weekly["degraded_days"] == sorted(planted)
    assert weekly["rollback_recommended"] is True


def test_analyze_rebuilds_the_same_summaries(demo_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(demo_dir, copy)
    for summary in copy.glob("*_summary.json"):
        summary.unlink()
    proc = run("analyze", "--input", str(copy))
    assert proc.returncode == 0, proc.stderr
    for name in [f"day_0{d}_summary.json" for d in range(1, 8)] + ["weekly_summary.json"]:
        a = json.loads((demo_dir / name).read_text())
        b = json.loads((copy / name).read_text())
        for doc in (a, b):
            doc["_metadata"].pop("generated_at")
            for day in doc.get("daily_summaries", []):
                day["_metadata"].pop("generated_at")
        assert a == b, name


def test_analyze_names_a_torn_file_and_keeps_the_rest(demo_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(demo_dir, copy)
    torn = copy / "day_02_raw" / "snapshot_2026-01-06_00-00-00.json"
    torn.write_text(torn.read_text()[:40])
    proc = run("analyze", "--input", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert "snapshot_2026-01-06_00-00-00.json" in proc.stderr
    day2 = json.loads((copy / "day_02_summary.json").read_text())
    assert day2["snapshot_count"] == DEMO_PER_DAY - 1  # all but the torn one
    assert day2["_metadata"]["data_completeness"] == "partial"


def test_analyze_bad_baseline_is_one_line(demo_dir, tmp_path):
    bad = tmp_path / "baseline.json"
    bad.write_text('{"timestamp": "2026-01-01T00:00:00Z", "availability": 120}')
    assert_one_line_error(run("analyze", "--input", str(demo_dir), "--baseline", str(bad)),
                          str(bad), "must not exceed 100")
    assert_one_line_error(run("analyze", "--input", str(demo_dir), "--baseline", str(tmp_path / "nope.json")),
                          "baseline file not found")


def test_analyze_folder_without_snapshots(tmp_path):
    assert_one_line_error(run("analyze", "--input", str(tmp_path)), "no raw snapshots in")
    assert_one_line_error(run("analyze", "--input", str(tmp_path / "absent")), "no such folder")


def test_analyze_with_settings_file(demo_dir, tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("rollback_degraded_days: 3\nrollback_drift_percent: 1000\n")
    copy = tmp_path / "copy"
    shutil.copytree(demo_dir, copy)
    proc = run("analyze", "--input", str(copy), "--settings", str(settings))
    assert proc.returncode == 0, proc.stderr
    weekly = json.loads((copy / "weekly_summary.json").read_text())
    assert weekly["settings"]["rollback_degraded_days"] == 3
    assert "degraded_days" not in [e["criterion"] for e in weekly["rollback_evidence"]]
    settings.write_text("no_such_threshold: 3\n")
    assert_one_line_error(run("analyze", "--input", str(copy), "--settings", str(settings)),
                          "unknown setting 'no_such_threshold'")


def test_the_command_keeps_the_iri_grammar_out_of_the_notebook_stack():
    # jupyter installs rfc3987_syntax, and jsonschema (imported by nbformat,
    # which papermill and nbconvert import) compiles its grammar at import:
    # about 2.4 s of CPU in every `stabmon report`. The command keeps it out.
    import importlib.util

    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987_syntax is not installed: nothing to keep out")
    probe = ("import sys\n"
             "from stabmon.cli.main import main\n"
             "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
             "import nbformat, jsonschema\n"
             "print(repr(sys.modules.get('rfc3987_syntax')))\n"
             "print(jsonschema.FormatChecker().conforms('2026-01-05', 'date'))\n")
    kept_out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert kept_out.returncode == 0, kept_out.stderr
    assert kept_out.stdout.splitlines()[-2:] == ["None", "True"]  # absent for jsonschema; its other formats still check
    # Without the command, the same imports load it: the check above can fail.
    loaded = subprocess.run([sys.executable, "-c", "import sys, nbformat\nprint(type(sys.modules.get('rfc3987_syntax')))"],
                            capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip() == "<class 'module'>", loaded.stderr
