"""``stabmon compare`` (issue 14): this release's week against an earlier release's, day by day.

This release: three days of the incident week collected from the real
Prometheus (days 3-5 of the generator: CPU and memory creep up all week; a
four-hour 5xx incident on day 1 and a five-hour latency regression on day 3
are too short to move a whole day's distribution, as in the baseline
comparison). The earlier release: a healthy three days of the same service
at the same interval, written by the demo pipeline. A release whose latency
stays three times higher from day 4 noon (the ``latency_regression`` demo)
shows the day-level test at work on a golden signal.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import nbformat
import pytest

from stabmon.cli.main import main
from stabmon.collect.run import monitor
from stabmon.demo.fleet import build_demo_fleet
from stabmon.demo.week import run_demo_week
from stabmon.store.release_history import COMPARISON_JSON, COMPARISON_MD
from stabmon.store.schemas import validate

from support.runs import options
from collect_helpers import week_window

pytestmark = pytest.mark.server

START = datetime(2026, 1, 7, tzinfo=timezone.utc)
HOURS = 72.0
EARLIER_START = datetime(2025, 12, 31, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def runs(prometheus_week, incident_week, tmp_path_factory):
    """This release's run (incident days, from Prometheus), an earlier healthy one, and misfits."""
    folder = tmp_path_factory.mktemp("releases")
    current = folder / "v1.5"
    window = week_window(incident_week, start=START, duration_hours=HOURS)
    outcome = monitor(options(prometheus_week.url, current, window,
                              baseline=incident_week.baseline,
                              release={"name": "v1.5", "commit": "5a5a5a5", "deployed_at": "2026-01-06T23:30:00Z"}))
    assert outcome.exit_code == 0
    earlier = folder / "v1.4"
    run_demo_week(earlier, scenario="healthy", seed=11, duration_hours=HOURS, start=EARLIER_START,
                  release={"name": "v1.4", "commit": "4b4b4b4", "deployed_at": "2025-12-30T23:30:00Z"})
    other_service = folder / "payments"
    run_demo_week(other_service, scenario="healthy", service="payments", duration_hours=24, start=EARLIER_START)
    other_interval = folder / "hourly"
    run_demo_week(other_interval, scenario="healthy", duration_hours=24, interval_minutes=60, start=EARLIER_START)
    not_a_run = folder / "empty"
    not_a_run.mkdir()
    return {"current": current, "earlier": earlier, "other_service": other_service,
            "other_interval": other_interval, "not_a_run": not_a_run}


def test_an_incident_week_against_a_healthy_one_names_the_worse_days(runs, capsys):
    assert main(["compare", str(runs["current"]), "--previous", str(runs["earlier"])]) == 0
    document = json.loads((runs["current"] / COMPARISON_JSON).read_text())
    validate(document, "release_comparison")
    worse = {(w["day_number"], w["metric"]) for w in document["worse"]}
    # The creeping memory (from day 1) and CPU (from day 2); no golden signal moved a whole day.
    assert worse == {(1, "memory_percent"), (2, "cpu_percent"), (2, "memory_percent"), (3, "cpu_percent"),
                     (3, "memory_percent")}
    memory = document["days"][2]["metrics"]["memory_percent"]
    assert memory["current"] > memory["previous"]
    assert memory["change"] == pytest.approx(memory["current"] - memory["previous"])
    assert document["days"][0]["metrics"]["error_rate"]["status"] == "same"
    assert document["verdicts"]["current"] == "rollback"
    assert document["current"]["release"]["name"] == "v1.5"
    assert document["previous"][0]["release"]["name"] == "v1.4" and document["previous"][0]["included"]
    assert document["verdicts"]["previous"] == ["pass"]
    out = capsys.readouterr().out
    assert "worse than the earlier releases: day 1 memory_percent, day 2 cpu_percent" in out
    assert "verdicts: this ROLLBACK, earlier PASS" in out
    assert "| 3 | memory_percent |" in (runs["current"] / COMPARISON_MD).read_text()


def test_a_lasting_latency_regression_is_worse_from_its_day_on(tmp_path):
    slow, healthy = tmp_path / "slow", tmp_path / "healthy"
    run_demo_week(slow, scenario="latency_regression", duration_hours=120, start=START)
    run_demo_week(healthy, scenario="healthy", seed=11, duration_hours=120, start=EARLIER_START)
    assert main(["compare", str(slow), "--previous", str(healthy)]) == 0
    document = json.loads((slow / COMPARISON_JSON).read_text())
    latency = {(w["day_number"], w["metric"]) for w in document["worse"] if "latency" in w["metric"]}
    # From day 4 12:00 on every request is ~3x slower: all of day 5 is worse. Day 4 is slow only from
    # noon, with the quiet night before it: its whole-day shift stays under the test's guard.
    assert latency == {(5, "p95_latency_ms"), (5, "p99_latency_ms")}
    day4 = document["days"][3]["metrics"]["p99_latency_ms"]
    assert day4["status"] == "same" and day4["current"] > day4["previous"]
    day5 = document["days"][4]["metrics"]["p99_latency_ms"]
    assert day5["change_percent"] > 100


def test_a_week_against_itself_is_the_same_everywhere(runs, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(runs["current"], twin)
    # The incident week's verdict is rollback: compared only when asked.
    assert main(["compare", str(runs["current"]), "--previous", str(twin), "--include-rollbacks"]) == 0
    document = json.loads((runs["current"] / COMPARISON_JSON).read_text())
    statuses = {row["status"] for day in document["days"] for row in day["metrics"].values()}
    assert statuses == {"same"}
    assert len(document["days"]) == 3 and document["worse"] == [] and document["better"] == []


def test_an_earlier_rollback_is_left_out_unless_included(runs, tmp_path, capsys):
    rolled_back = tmp_path / "rolled-back"
    shutil.copytree(runs["current"], rolled_back)
    assert json.loads((rolled_back / "weekly_summary.json").read_text())["verdict"] == "rollback"
    assert main(["compare", str(runs["current"]), "--previous", str(rolled_back)]) == 0
    document = json.loads((runs["current"] / COMPARISON_JSON).read_text())
    assert document["previous"][0]["included"] is False
    assert {row["status"] for day in document["days"] for row in day["metrics"].values()} == {"nodata"}
    assert "left out (verdict rollback" in capsys.readouterr().out
    assert main(["compare", str(runs["current"]), "--previous", str(rolled_back), "--include-rollbacks"]) == 0
    document = json.loads((runs["current"] / COMPARISON_JSON).read_text())
    assert document["previous"][0]["included"] is True and document["include_rollbacks"] is True


@pytest.mark.parametrize("which, message", [
    ("not_a_run", "is not a run folder (no run.json)"),
    ("other_service", "is a run of 'payments', not 'checkout'"),
    ("other_interval", "was sampled every 60 min, this run every 30 min"),
])
def test_bad_previous_runs_are_one_line(runs, capsys, which, message):
    before = (runs["current"] / COMPARISON_JSON).read_text() if (runs["current"] / COMPARISON_JSON).exists() else None
    assert main(["compare", str(runs["current"]), "--previous", str(runs[which])]) == 1
    err = capsys.readouterr().err
    assert err == f"stabmon: error: --previous {runs[which]} {message}\n"
    after = (runs["current"] / COMPARISON_JSON).read_text() if (runs["current"] / COMPARISON_JSON).exists() else None
    assert before == after


def test_the_weekly_notebook_shows_the_comparison_with_previous_runs(runs, capsys):
    assert main(["report", "--input", str(runs["current"]), "--only", "weekly", "--no-progress",
                 "--previous", str(runs["earlier"])]) == 0
    html = (runs["current"] / "reports" / "weekly_summary.html").read_text()
    assert "This release against earlier ones" in html
    assert "Release v1.5 (commit 5a5a5a5, deployed 2026-01-06T23:30:00Z)" in html
    assert "Release v1.4 (commit 4b4b4b4, deployed 2025-12-30T23:30:00Z): PASS" in html
    assert "5 day-metrics worse and" in html
    # The section's last cell is the band chart.
    executed = nbformat.read(runs["current"] / "reports" / "weekly_summary.ipynb", as_version=4)
    assert executed.cells[-1].source == "release_views.release_band_figure(run, previous_runs)"
    assert [list(o.get("data", {})) for o in executed.cells[-1].outputs] == [["image/png", "text/plain"]]
    assert "stabmon: error" not in capsys.readouterr().err


def test_a_run_folder_that_is_not_a_run_is_one_line(runs, capsys):
    assert main(["compare", str(runs["not_a_run"]), "--previous", str(runs["earlier"])]) == 1
    assert capsys.readouterr().err == f"stabmon: error: RUN {runs['not_a_run']} is not a run folder (no run.json)\n"


def test_report_refuses_a_previous_run_of_another_service(runs, capsys):
    assert main(["report", "--input", str(runs["current"]), "--previous", str(runs["other_service"])]) == 1
    assert capsys.readouterr().err == (f"stabmon: error: --previous {runs['other_service'].resolve()} is a run of "
                                       "'payments', not 'checkout'\n")


def test_a_fleet_is_compared_service_by_service(tmp_path, capsys):
    current, earlier = tmp_path / "fleet-now", tmp_path / "fleet-before"
    build_demo_fleet(current, services=3, seed=42)
    build_demo_fleet(earlier, services=2, seed=7)
    assert main(["compare", str(current), "--previous", str(earlier), "--include-rollbacks"]) == 0
    summary = json.loads((current / COMPARISON_JSON).read_text())
    validate(summary, "release_comparison")
    assert [s["service"] for s in summary["services"]] == ["svc-01", "svc-02", "svc-03"]
    assert summary["warnings"] == [f"svc-03: not in {earlier}"]
    for name in ("svc-01", "svc-02"):
        document = json.loads((current / name / COMPARISON_JSON).read_text())
        assert document["service"] == name
        assert [p["run"] for p in document["previous"]] == [str(earlier / name)]
    # svc-03 has no earlier week: every day and metric is nodata.
    alone = json.loads((current / "svc-03" / COMPARISON_JSON).read_text())
    assert {row["status"] for day in alone["days"] for row in day["metrics"].values()} == {"nodata"}
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("svc-01: ")
    assert not main(["compare", str(current), "--previous", str(earlier / "svc-01")]) == 0
    assert capsys.readouterr().err == (f"stabmon: error: --previous {earlier / 'svc-01'} is not a fleet run folder "
                                       f"(no fleet_run.json), as {current} is\n")
