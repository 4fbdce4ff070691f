"""The demo incident week, rendered once: every figure shown in several places says the same thing.

The weekly notebook, the retrospective and ``weekly_summary.md`` are parsed as
Markdown (the notebook from its executed outputs) and each figure they share
is checked against the others and against the JSON the pipeline wrote
(``weekly_summary.json``, ``slo_burndown.json``) or against a count made here
from the raw snapshots.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from stabmon import store
from stabmon.cli.demo import DEMO_RELEASE
from stabmon.core.model import parse_time
from stabmon.demo.week import run_demo_week
from stabmon.report import render as report


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo incident week with its weekly notebook and retrospective rendered, and the texts to compare."""
    folder = tmp_path_factory.mktemp("consistency-run")
    run_demo_week(folder, fsync=False, release=DEMO_RELEASE)
    report.render_reports(folder, jobs=2, notebooks=["weekly", "retrospective"], progress=False)
    reports = folder / "reports"
    notebook = nbformat.read(reports / "weekly_summary.ipynb", as_version=4)
    notebook_md = "\n\n".join(
        "".join(output["data"]["text/markdown"]) if isinstance(output["data"]["text/markdown"], list)
        else output["data"]["text/markdown"]
        for cell in notebook.cells for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {}))
    return {
        "folder": folder,
        "weekly": json.loads((folder / "weekly_summary.json").read_text(encoding="utf-8")),
        "burndown": json.loads((folder / "slo_burndown.json").read_text(encoding="utf-8")),
        "run": json.loads((folder / "run.json").read_text(encoding="utf-8")),
        "texts": {
            "weekly_summary.md": (folder / "weekly_summary.md").read_text(encoding="utf-8"),
            "weekly notebook": notebook_md,
            "retrospective.md": (reports / "retrospective.md").read_text(encoding="utf-8"),
        },
    }


def found(week: dict, pattern: str) -> dict[str, set[str]]:
    """Every capture of ``pattern`` in each report (a report without it maps to an empty set)."""
    return {name: set(re.findall(pattern, text)) for name, text in week["texts"].items()}


def only(values: dict[str, set[str]], expected: str, *, everywhere: bool = True) -> None:
    for name, seen in values.items():
        if everywhere:
            assert seen, f"{name}: the figure is not shown"
        assert seen <= {expected}, f"{name}: {seen} where {expected} was expected"


def test_the_incident_week_is_a_rollback_with_an_exhausted_budget(week):
    # The premise of every check below.
    assert week["weekly"]["verdict"] == "rollback"
    assert week["burndown"]["budget_exhausted_at"] is not None
    assert [e["criterion"] for e in week["weekly"]["rollback_evidence"]] == ["drift", "degraded_days"]


def test_the_verdict_comes_first_and_is_the_same_everywhere(week):
    fired = len(week["weekly"]["rollback_evidence"])
    for name, text in week["texts"].items():
        assert re.search(r"Verdict:?\**:? ?(⛔ )?ROLLBACK RECOMMENDED", text), name
        assert "PASS:" not in text and "Verdict: PASS" not in text, name
        assert f"{fired} of 4 rollback limits reached" in text, name
    # The retrospective's first section opens with the verdict, before any score.
    summary = week["texts"]["retrospective.md"].split("## 1. Summary", 1)[1].split("\n## ", 1)[0]
    assert summary.lstrip().startswith("**Verdict: ROLLBACK RECOMMENDED**")
    assert summary.index("ROLLBACK") < summary.index("SLO-compliance score")
    md = week["texts"]["weekly_summary.md"]
    assert md.index("ROLLBACK RECOMMENDED") < md.index("SLO-compliance score")


def test_the_score_is_labelled_and_never_praises_a_rollback_week(week):
    weekly = week["weekly"]
    label = f"SLO-compliance score {weekly['stability_score']:.1f}/100, grade {weekly['stability_grade']}"
    only(found(week, r"SLO-compliance score \d+\.\d/100, grade [A-F]"), label)
    for name, text in week["texts"].items():
        assert "Stability score" not in text and "Stability Score" not in text, name
        assert "Excellent" not in text, name
    went_well = week["texts"]["retrospective.md"].split("## 8. What went well", 1)[1].split("\n## ", 1)[0]
    assert "score" not in went_well.lower()


def test_budget_used_and_exhaustion_day_agree_with_slo_burndown_json(week):
    burndown, run = week["burndown"], week["run"]
    used = f"{burndown['days'][-1]['cumulative_consumed_percent']:.1f}"
    # 138.4 % in the demo; shown as "X % of it used", "X % used by day 7" and in the Key Metrics row.
    only(found(week, r"(\d+\.\d) % (?:of it )?used"), used)
    only(found(week, r"Error budget used \| (\d+\.\d) %"), used,
         everywhere=False)
    assert found(week, r"Error budget used \| (\d+\.\d) %")["weekly_summary.md"] == {used}
    assert found(week, r"Error budget used \| (\d+\.\d) %")["weekly notebook"] == {used}
    # The day of budget_exhausted_at, counted from the window's start.
    start = parse_time(run["window"]["start"])
    day = int((parse_time(burndown["budget_exhausted_at"]) - start).total_seconds() // 86400) + 1
    only(found(week, r"exhausted on day (\d+)"), str(day))
    only(found(week, r"exhausted on day \d+ \(([^)]+)\)"), burndown["budget_exhausted_at"])
    for name, text in week["texts"].items():
        assert "not projected" not in text and "no exhaustion projected" not in text, name


def test_error_rate_and_failed_requests_are_the_request_weighted_ones(week):
    weekly, burndown = week["weekly"], week["burndown"]
    errors = sum(d["errors"] for d in burndown["days"])
    requests = sum(d["requests"] for d in burndown["days"])
    assert weekly["total_errors"] == round(errors) and weekly["total_requests"] == round(requests)
    rate = f"{errors / requests * 100:.3f}"  # 0.138 %: never the mean of the daily means (0.090 %)
    for name in ("weekly_summary.md", "weekly notebook"):
        rows = found(week, r"\| Error rate \(request-weighted\) \| (\d+\.\d+) % \|[^\n]*\| ([^|\n]*FAIL|[^|\n]*PASS)")
        assert {value for value, _ in rows[name]} == {rate}, name
        assert all("FAIL" in status for _, status in rows[name]), name
    only(found(week, r"([\d,]+) failed requests(?! allowed)"), f"{weekly['total_errors']:,}", everywhere=False)
    assert found(week, r"([\d,]+) failed requests(?! allowed)")["retrospective.md"] == {f"{weekly['total_errors']:,}"}


def test_drift_target_and_rollback_limit_are_named_apart_in_the_same_words(week):
    settings = week["weekly"]["settings"]
    target, limit = f"{settings['drift_threshold_percent']:g}", f"{settings['rollback_drift_percent']:g}"
    only(found(week, r"average regression drift above (\d+(?:\.\d+)?) %"), limit)
    only(found(week, r"drift target \((\d+(?:\.\d+)?) % from the baseline\)"), target, everywhere=False)
    only(found(week, r"≤ (\d+(?:\.\d+)?) % \(drift target\)"), target, everywhere=False)
    only(found(week, r"each metric within (\d+(?:\.\d+)?) % of the baseline"), target, everywhere=False)
    days = [d for d in week["weekly"]["daily_summaries"] if d["snapshot_count"]]
    regression = sum(d["avg_regression_drift_percent"] for d in days) / len(days)
    only(found(week, r"Average regression drift from the baseline (\d+\.\d) %"), f"{regression:.1f}")
    for name, text in week["texts"].items():
        assert "exceeds" not in text, name


def test_degraded_days_read_at_least_and_match_the_json(week):
    weekly = week["weekly"]
    count, days = weekly["days_with_degradation"], ", ".join(map(str, weekly["degraded_days"]))
    only(found(week, r"(\d+ degraded days, days [\d, ]+\d)"), f"{count} degraded days, days {days}")
    only(found(week, r"at least (\d+) degraded days"), str(weekly["settings"]["rollback_degraded_days"]))
    for name, text in week["texts"].items():
        assert not re.search(r"limit \d", text), name  # "limit 2" read as if 2 were allowed


def test_minutes_out_of_slo_match_the_raw_snapshots(week):
    snapshots = store.read_snapshots(week["folder"]).snapshots
    settings = week["weekly"]["settings"]
    interval = week["run"]["window"]["interval_minutes"]
    below = sum(1 for s in snapshots if s.values.get("availability") is not None
                and s.values["availability"] < settings["availability_slo_percent"]) * interval
    over = sum(1 for s in snapshots if s.values.get("p99_latency_ms") is not None
               and s.values["p99_latency_ms"] >= settings["latency_slo_p99_ms"]) * interval
    assert below > 0 and over > 0  # the demo's two incidents
    only(found(week, r"([\d,]+) min below the [\d.]+ % availability SLO"), f"{below:,.0f}")
    only(found(week, r"([\d,]+) min at or over the [\d.]+ ms p99 latency SLO"), f"{over:,.0f}")
    # The retrospective's breach table adds up to the same minutes.
    rows = re.findall(r"^\| (availability|latency) \| [^|]+ \| [^|]+ \| (\d+) \|", week["texts"]["retrospective.md"],
                      flags=re.MULTILINE)
    assert sum(int(m) for s, m in rows if s == "availability") == below
    assert sum(int(m) for s, m in rows if s == "latency") == over


def test_detection_and_mitigation_are_measured_or_named_never_zero(week):
    text = week["texts"]["retrospective.md"]
    detect = re.findall(r"Time to detect[^:]*: ([^.]+)\.", text)
    mitigate = re.findall(r"Time to mitigate[^:]*: ([^.]+)\.", text)
    assert detect and mitigate
    for value in detect + mitigate:
        assert not re.match(r"0( min| s|$)", value), value
    # The availability breach: 13:30 to 17:00 out of the SLO, back at 17:30: 4 h.
    assert "Time to mitigate (to the first snapshot back within the SLO): 4 h." in text


def test_reports_paste_as_text_and_name_their_run_folder(week):
    folder = str(week["folder"].resolve())
    for name, text in week["texts"].items():
        assert not re.search(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);", text), name
    for name in ("weekly notebook", "retrospective.md"):
        text = week["texts"][name]
        assert f"-p run_dir {folder}" in text and "outputs/stability" not in text, name
    assert "Release v1.4.0-demo (commit 0000000demo, deployed 2026-01-04T00:00:00Z)" in week["texts"]["retrospective.md"]
