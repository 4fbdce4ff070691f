"""The notebooks' verdict views show INCONCLUSIVE as plainly as ROLLBACK, and no figure from no data as PASS."""

from __future__ import annotations

import json

import pytest

from factories import START, make_snapshot
from stabmon import store
from stabmon.core.model import Window
from stabmon.report import rundata, views
from stabmon.store.rebuild import rebuild_summaries

WINDOW = Window(start=START, duration_hours=48, interval_minutes=60)  # 24 hourly snapshots a day, 48 in all


def write_run(folder, preflight=None, **values):
    info = {"window": WINDOW.to_dict(), "service": "checkout"}
    if preflight is not None:
        info["preflight"] = {"findings": preflight}
    store.write_run_info(folder, info)
    for ts in WINDOW.times():
        store.write_snapshot(folder, WINDOW, make_snapshot(ts, **values), fsync=False)
    rebuild_summaries(folder)
    return rundata.load_run(folder)


def test_a_week_without_p99_reads_inconclusive_everywhere(tmp_path):
    run = write_run(tmp_path, p99_latency_ms=None)
    verdict = views.weekly_verdict(run)
    assert "Verdict: INCONCLUSIVE" in verdict.text
    assert "p99 latency: value in 0 of 48 snapshots (0.0 % < 90 %)" in verdict.text
    assert "#e67e22" in verdict.html  # the warning colour, not the healthy green
    table = views.key_metrics_table(run).text
    p99_row = next(line for line in table.splitlines() if "P99" in line)
    assert "NO DATA" in p99_row and "PASS" not in p99_row
    # Each day: 24 of 24 snapshots, none with a p99 -> incomplete, not healthy.
    day = views.day_verdict(run, 1).text
    assert "Day 1: INCOMPLETE DATA" in day and "p99 latency: value in 0 of 24 snapshots" in day
    figures = views.day_key_figures(run, 1).markdown
    assert "| Snapshots | 24 / 24 (partial) | all | PASS |" in figures
    assert "| Key metric coverage | availability 100.0 %, error rate 100.0 %, p99 latency 0.0 % " in figures
    assert "| Latency SLO compliance | n/a | ≥ 95 % | no data |" in figures
    assert "INCONCLUSIVE" in views.retrospective_summary(run).text


def test_a_preflight_error_reads_inconclusive_in_the_notebooks(tmp_path):
    finding = {"metric": "error_rate", "severity": "error", "code": "error_label_absent",
               "message": "label code is not on the request series"}
    run = write_run(tmp_path, preflight=[finding])
    assert "error rate: label code is not on the request series" in views.weekly_verdict(run).text
    error_row = next(line for line in views.key_metrics_table(run).text.splitlines() if "Error rate" in line)
    assert "INCONCLUSIVE" in error_row
    # A recomputation in memory (a changed notebook threshold) keeps the preflight finding.
    recomputed = rundata.load_run(tmp_path, degradation_compliance_percent=50.0)
    assert recomputed.weekly["verdict"] == "inconclusive"


def test_a_complete_healthy_run_reads_pass(tmp_path):
    run = write_run(tmp_path)
    assert "Verdict: PASS" in views.weekly_verdict(run).text
    assert "Day 1: healthy" in views.day_verdict(run, 1).text
    weekly = json.loads((tmp_path / store.WEEKLY_JSON).read_text())
    assert weekly["verdict"] == "pass" and weekly["score_basis"]["partial"] is False


@pytest.mark.parametrize("verdict, word", [("rollback", "ROLLBACK"), ("inconclusive", "INCONCLUSIVE"),
                                           ("pass", "PASS")])
def test_the_ranking_shows_each_verdict(verdict, word):
    from stabmon.report import fleet_views
    entry = {"rank": 1, "service": "a", "stability_score": 90.0, "stability_grade": "A", "verdict": verdict,
             "rollback_recommended": verdict == "rollback", "degraded_days": []}
    assert fleet_views.ranking_table({"services": [entry]})["verdict"].tolist() == [word]
