"""Catch-up runs for schedulers (issue 14): hourly ``monitor --catch-up`` runs equal one run.

A past window of the loaded incident week, and a simulated clock set to each
hour of it: every catch-up run sees only the snapshots whose time has passed
at that hour, writes the closed days, the current day as partial and the
week so far, and returns. Against the real Prometheus.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from stabmon import store
from stabmon.cli.main import main
from stabmon.collect.prom import ConnectionSettings
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions, monitor
from stabmon.report.due import RENDERED_FILE, reports_as_days_close
from stabmon.store.lock import run_lock

from support.runs import HOSTILE_SERVICE, options
from support.servers import SimulatedClock
from collect_helpers import week_window

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
#: The Markdown's "generated <time>" stamps.
STAMP = re.compile(r"[Gg]enerated (by stabmon at )?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

#: Day 3 of the incident week: its 13:00-17:00 5xx incident falls on day 1 of this window.
START = datetime(2026, 1, 7, tzinfo=timezone.utc)
HOURS = 30.0


def catch_up_window(week):
    return week_window(week, start=START, duration_hours=HOURS)


def catch_up_at(url: str, out: Path, week, hour: float):
    """One catch-up run with the clock at ``START + hour`` hours (plus five minutes, as a cron line at :05)."""
    clock = SimulatedClock(START + timedelta(hours=hour, minutes=5))
    return monitor(options(url, out, catch_up_window(week), baseline=week.baseline, catch_up=True), clock=clock)


def without_stamps(value):
    """``value`` without the ``generated_at`` and ``checked_at`` stamps (at any depth)."""
    if isinstance(value, dict):
        return {k: without_stamps(v) for k, v in value.items() if k not in ("generated_at", "checked_at")}
    if isinstance(value, list):
        return [without_stamps(v) for v in value]
    return value


def folder_contents(folder: Path) -> dict[str, object]:
    """Every file of a run folder, parsed, without what only says when it was written."""
    contents: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        name = str(path.relative_to(folder))
        if path.suffix == ".json":
            contents[name] = without_stamps(json.loads(path.read_text()))
        elif path.suffix == ".md":
            contents[name] = STAMP.sub("generated", path.read_text())
        else:
            contents[name] = path.read_text()
    return contents


def test_hourly_catch_up_runs_equal_one_run(prometheus_week, incident_week, tmp_path):
    """Cron every hour over the window leaves exactly the folder one run leaves."""
    hourly = tmp_path / "hourly"
    for hour in range(int(HOURS) + 1):
        outcome = catch_up_at(prometheus_week.url, hourly, incident_week, hour)
        assert outcome.exit_code == 0
        # One hour at 30 minutes is two snapshots; the first run takes t_0 alone, the last t_59 (29:30).
        assert outcome.collected == (1 if hour in (0, HOURS) else 2), hour
        assert outcome.window_complete == (hour >= HOURS)
    one = tmp_path / "one"
    assert monitor(options(prometheus_week.url, one, catch_up_window(incident_week),
                           baseline=incident_week.baseline)).exit_code == 0

    got, want = folder_contents(hourly), folder_contents(one)
    assert sorted(got) == sorted(want)
    assert len([n for n in got if n.startswith("day_01_raw/")]) == 48
    assert len([n for n in got if n.startswith("day_02_raw/")]) == 12
    for name in want:
        assert got[name] == want[name], name
    weekly = got[store.WEEKLY_JSON]
    assert weekly["window_complete"] is True and weekly["days_closed"] == 2


def test_week_so_far_is_partial_and_never_a_pass(prometheus_week, incident_week, tmp_path):
    out = tmp_path / "run"
    # 10:05 on day 1: t_0 .. t_20 (00:00 .. 10:00) have passed; no day has closed.
    outcome = catch_up_at(prometheus_week.url, out, incident_week, 10)
    assert (outcome.collected, outcome.window_complete, outcome.days_closed) == (21, False, [])
    day1 = json.loads(store.day_summary_path(out, 1).read_text())
    assert day1["_metadata"]["data_completeness"] == "partial"
    assert day1["snapshot_count"] == 21
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert (weekly["window_complete"], weekly["days_closed"]) == (False, 0)
    assert weekly["total_snapshots"] == 21
    assert [d["day_number"] for d in weekly["daily_summaries"]] == [1]
    # Ten healthy hours: everything measured, nothing fired, and still no pass before the end.
    assert weekly["verdict"] == "inconclusive"
    assert {"metric": "window", "source": "window",
            "reason": "the window is not over: 0 of 2 days closed"} in weekly["inconclusive_reasons"]
    assert not store.day_summary_path(out, 2).exists()

    # 24:05: day 1 (with the 13:00-17:00 incident) has closed; day 2 has one snapshot.
    outcome = catch_up_at(prometheus_week.url, out, incident_week, 24)
    assert outcome.collected == 28 and outcome.days_closed == [1]
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert (weekly["window_complete"], weekly["days_closed"]) == (False, 1)
    assert json.loads(store.day_summary_path(out, 1).read_text())["_metadata"]["data_completeness"] == "complete"
    assert json.loads(store.day_summary_path(out, 2).read_text())["snapshot_count"] == 1
    # A rollback may come early: the incident day is evidence already.
    assert weekly["verdict"] == "rollback" and weekly["rollback_evidence"]


def test_a_window_in_the_future_has_nothing_to_catch_up(tmp_path, capsys):
    out = tmp_path / "future"
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"timestamp": "2026-01-01T00:00:00Z", "availability": 99.9}))
    start = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code = main(["monitor", "--catch-up", "--baseline", str(baseline), "--service", "checkout",
                 "--prometheus-url", "http://127.0.0.1:9", "--start", start, "--output", str(out)])
    printed = capsys.readouterr()
    assert code == 0
    assert printed.out == f"{out}: nothing has passed yet: the window starts at {start}\n"
    assert not out.exists()


def test_overlapping_catch_up_runs_are_refused_by_the_lock(prometheus_week, incident_week, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(incident_week.baseline.to_dict()))
    with run_lock(out):
        code = main(["monitor", "--catch-up", "--baseline", str(baseline), "--service", "checkout",
                     "--prometheus-url", prometheus_week.url, "--start", "2026-01-07T00:00:00Z",
                     "--duration", "30", "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith(f"stabmon: error: output folder {out} is in use by another stabmon run (pid ")
    assert not (out / store.RUN_FILE).exists()


def test_daily_reports_appear_as_days_close(prometheus_week, incident_week, tmp_path):
    """A simulated-clock live run with --report: day 1's notebook when day 1 closes, the week at the end."""
    out = tmp_path / "live"
    window = week_window(incident_week, start=START, duration_hours=26.0, interval_minutes=60.0)
    reports = out / store.REPORTS_DIR
    seen: list[tuple[datetime, set[str]]] = []

    def look(clock: SimulatedClock, seconds: float) -> None:
        seen.append((clock.now(), {p.name for p in reports.glob("*.html")} if reports.is_dir() else set()))

    clock = SimulatedClock(window.start - timedelta(seconds=5), on_sleep=look)
    outcome = monitor(options(prometheus_week.url, out, window, baseline=incident_week.baseline,
                              release={"name": "v1.5", "commit": None, "deployed_at": None}),
                      clock=clock, on_close=reports_as_days_close(out, jobs=2))
    assert outcome.exit_code == 0 and outcome.days_closed == [1, 2]
    day1_closed = window.day_bounds(1)[1]
    before = [names for at, names in seen if at < day1_closed]
    after = [names for at, names in seen if at > day1_closed + timedelta(seconds=5)]
    assert before and all(names == set() for names in before)
    # Between day 1's close and the end: day 1's notebook only; the week waits for the window to end.
    assert after and all(names == {"day_01_analysis.html"} for names in after)
    assert {p.name for p in reports.glob("*.html")} == {
        "day_01_analysis.html", "day_02_analysis.html", "weekly_summary.html", "retrospective.html"}
    assert "Release v1.5" in (reports / "retrospective.md").read_text()
    rendered = json.loads((reports / RENDERED_FILE).read_text())
    assert sorted(rendered) == ["day_01", "day_02", "retrospective", "weekly"]

    # A catch-up run after the end changes no input: nothing is rendered again.
    stamps = {p.name: p.stat().st_mtime_ns for p in reports.glob("*.html")}
    again = monitor(options(prometheus_week.url, out, window, baseline=incident_week.baseline,
                            release={"name": "v1.5", "commit": None, "deployed_at": None}, catch_up=True),
                    on_close=reports_as_days_close(out, week_so_far=True))
    assert again.collected == 0 and again.window_complete
    assert {p.name: p.stat().st_mtime_ns for p in reports.glob("*.html")} == stamps


def test_the_cronjob_command_catches_up_a_past_window(prometheus_week, incident_week, tmp_path):
    """deploy/kubernetes/cronjob.yaml's container command, run for real: paths, server and window are the test's.

    The baseline and output paths move from the volume to ``tmp_path`` and
    the window becomes one past day (``--duration 24``); the token comes from
    the Secret as in the pod, and must reach no output file or report.
    """
    manifest = (ROOT / "deploy" / "kubernetes" / "cronjob.yaml").read_text()
    documents = {d["kind"]: d for d in yaml.safe_load_all(manifest)}
    container = documents["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    args = list(container["args"])
    baseline, out = tmp_path / "checkout.json", tmp_path / "runs" / "checkout-v1.4.2"
    baseline.write_text(json.dumps(incident_week.baseline.to_dict()))
    replaced = {"--baseline": str(baseline), "--output": str(out), "--start": "2026-01-07T00:00:00Z"}
    for flag, value in replaced.items():
        args[args.index(flag) + 1] = value
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STABMON_")},
           **documents["Secret"]["stringData"], "STABMON_PROMETHEUS_URL": prometheus_week.url}
    command = [str(Path(sys.executable).parent / container["command"][0]), *args, "--duration", "24"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(store.iter_snapshot_files(out)) == 48
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert (weekly["window_complete"], weekly["days_closed"], weekly["verdict"]) == (True, 1, "rollback")
    assert json.loads((out / store.RUN_FILE).read_text())["release"] == {
        "name": "v1.4.2", "commit": None, "deployed_at": None}
    assert {p.name for p in (out / store.REPORTS_DIR).glob("*.html")} == {
        "day_01_analysis.html", "weekly_summary.html", "retrospective.html"}
    assert f"reports: {out / store.REPORTS_DIR}\n" in done.stdout
    token = documents["Secret"]["stringData"]["STABMON_PROMETHEUS_TOKEN"]
    assert not [p for p in out.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert token not in done.stdout + done.stderr


def test_a_fleet_catches_up_service_by_service(prometheus_week, incident_week, tmp_path):
    """A fleet's catch-up: each service's week so far, a fleet summary of it, then the end equals one fleet run."""
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(incident_week.baseline.to_dict()))
    services = ["checkout", HOSTILE_SERVICE]

    def fleet_options(out: Path, catch_up: bool) -> RunOptions:
        window = catch_up_window(incident_week)
        return RunOptions(out_dir=out, window=window, services=services, baseline_path=baseline, progress=False,
                          catalogue=build_catalogue(label="service", interval_seconds=window.interval_minutes * 60),
                          connection=ConnectionSettings.from_env(prometheus_week.url, env={}), catch_up=catch_up,
                          release={"name": "v1.5", "commit": None, "deployed_at": None})

    out = tmp_path / "fleet"
    outcome = monitor(fleet_options(out, True), clock=SimulatedClock(START + timedelta(hours=24, minutes=5)))
    assert (outcome.window_complete, outcome.days_closed, outcome.collected) == (False, [1], 2 * 49)
    summary = json.loads((out / store.FLEET_SUMMARY_JSON).read_text())
    assert summary["release"]["name"] == "v1.5" and summary["service_count"] == 2
    assert "Release v1.5." in (out / store.FLEET_SUMMARY_MD).read_text()
    for entry in summary["services"]:
        weekly = json.loads((out / entry["folder"] / store.WEEKLY_JSON).read_text())
        assert (weekly["window_complete"], weekly["days_closed"]) == (False, 1)
        assert weekly["verdict"] != "pass"
    # checkout's incident day is a rollback already; the quiet hostile-named service is not a pass yet.
    assert summary["rollback_recommended"] == ["checkout"]
    assert summary["inconclusive"] == [HOSTILE_SERVICE]

    monitor(fleet_options(out, True), clock=SimulatedClock(START + timedelta(hours=30, minutes=5)))
    one = tmp_path / "one"
    monitor(fleet_options(one, False))
    got, want = folder_contents(out), folder_contents(one)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name


def test_an_interrupted_live_run_writes_the_week_so_far(prometheus_week, incident_week, tmp_path):
    """Ctrl+C a day into a live run: the partial days are written and the weekly summary is the week so far."""
    def interrupt(clock: SimulatedClock, seconds: float) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run"
    clock = SimulatedClock(START + timedelta(hours=25, minutes=5), on_sleep=interrupt)
    run_options = options(prometheus_week.url, out, catch_up_window(incident_week), baseline=incident_week.baseline)
    outcome = monitor(run_options, clock=clock)
    assert (outcome.exit_code, outcome.interrupted, outcome.collected) == (130, True, 51)
    weekly = json.loads((out / store.WEEKLY_JSON).read_text())
    assert (weekly["window_complete"], weekly["days_closed"], weekly["total_snapshots"]) == (False, 1, 51)
    assert json.loads(store.day_summary_path(out, 2).read_text())["snapshot_count"] == 3
