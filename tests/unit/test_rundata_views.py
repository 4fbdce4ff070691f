"""Loading a run folder for the notebooks, the retrospective's sentences, and escaping in views."""

from __future__ import annotations

import pandas as pd
import pytest

from factories import START, make_snapshot
from stabmon.report import retrospective, rundata, views
from stabmon import store
from stabmon.core.errors import InputError, StoreError
from stabmon.core.model import Alert, Window
from stabmon.store.rebuild import rebuild_summaries

WINDOW = Window(start=START, duration_hours=48, interval_minutes=60)
#: Hourly snapshots: 24 a day, 48 in WINDOW.
PER_DAY = 24
#: Snapshots k = 30..32 (day 2, 06:00 to 08:00) are the incident: 3 of day 2's 24.
INCIDENT = range(30, 33)
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture()
def run_dir(tmp_path):
    """Two days, hourly; day 2 has a 3-hour availability incident and a critical alert named with a script."""
    alert = Alert(alertname=SCRIPT, severity="critical", labels={"alertname": SCRIPT, "severity": "critical",
                                                                  "pod": "a|b"})
    store.write_run_info(tmp_path, {"window": WINDOW.to_dict(), "service": "checkout"})
    for k, ts in enumerate(WINDOW.times()):
        bad = k in INCIDENT
        snapshot = make_snapshot(ts, alerts=[alert] if bad else [],
                                 **({"availability": 97.0, "error_rate": 3.0} if bad else {}))
        store.write_snapshot(tmp_path, WINDOW, snapshot, fsync=False)
    rebuild_summaries(tmp_path)
    return tmp_path


def test_load_run_tables(run_dir):
    run = rundata.load_run(str(run_dir))
    assert run.service == "checkout"
    assert len(run.snapshots) == 2 * PER_DAY and run.snapshots.index.tz is not None
    assert list(run.daily.index) == [1, 2] and run.days == [1, 2]
    assert bool(run.daily.loc[2, "degraded"]) and not bool(run.daily.loc[1, "degraded"])
    assert len(run.episodes) == 1 and run.episodes.loc[0, "alertname"] == SCRIPT
    day = rundata.day_view(run, 2)
    # A day's view starts one interval before its first snapshot (24:00): at 23:00.
    assert len(day.snapshots) == PER_DAY and day.start == pd.Timestamp(START) + pd.Timedelta(hours=23)
    assert rundata.metric_series(run, "availability", 2).min() == 97.0
    # start <= t < end: 06:00, 07:00 and 08:00.
    assert len(rundata.time_slice(run, "2026-01-06T06:00:00Z", "2026-01-06T09:00:00Z")) == 3


def test_missing_analysis_files_are_none_not_errors(run_dir):
    (run_dir / "anomalies.jsonl").unlink(missing_ok=True)
    (run_dir / "slo_burndown.json").unlink(missing_ok=True)
    run = rundata.load_run(run_dir)
    assert run.anomalies is None
    assert "not available" in views.anomalies_table(run).text
    assert "not available" in views.burndown_table(run).text


def test_a_changed_threshold_recomputes_in_memory_and_says_so(run_dir):
    before = (run_dir / "weekly_summary.json").read_bytes()
    run = rundata.load_run(run_dir, degradation_compliance_percent=50.0, error_rate_degraded_percent=1.0)
    # 21 of 24 hours compliant is above 50 %; the average error rate 0.375 % is below 1 %
    assert not bool(run.daily.loc[2, "degraded"])
    assert any("recomputed" in note for note in run.notes)
    assert (run_dir / "weekly_summary.json").read_bytes() == before  # nothing written


def test_bad_inputs_are_named(run_dir, tmp_path_factory):
    with pytest.raises(InputError, match="unknown threshold"):
        rundata.load_run(run_dir, latency_slo_ms=1.0)
    with pytest.raises(InputError, match="day 9 is not in this run"):
        rundata.day_view(rundata.load_run(run_dir), 9)
    with pytest.raises(StoreError, match="no raw snapshots"):
        rundata.load_run(tmp_path_factory.mktemp("empty"))


def test_baseline_comparison_without_baseline_is_empty(run_dir):
    run = rundata.load_run(run_dir)
    assert rundata.baseline_comparison(run).empty
    assert "No baseline" in views.baseline_table(run).text


def test_retrospective_sentences_cite_figures(run_dir):
    run = rundata.load_run(run_dir)
    well = retrospective.went_well(run)
    bad = retrospective.did_not_go_well(run)
    actions = retrospective.action_items(run)
    assert any("1 of 2 days met every daily target (days 1)" in line for line in well)
    # 21 of day 2's 24 snapshots meet the SLO: 87.5 %; the alert fires in 3 hourly snapshots: 3 h.
    assert any(line.startswith("Day 2 was degraded: availability SLO compliance 87.5 %") for line in bad)
    assert any(f"Critical alert {SCRIPT} fired for 3 h on day 2" in line for line in bad)
    # The alert fired during the availability breach: one item for the breach, none for the alert alone.
    assert any(line.startswith("Find the cause of the availability breach of day 2 (Tue 06 Jan 05:00-08:00 UTC): "
                               "3 h of availability below the 99.9 % SLO, lowest 97.000 %") for line in actions)
    assert not any(SCRIPT in line for line in actions)
    assert all(line.endswith("owner: TBD · due: TBD") for line in actions)
    events = retrospective.incident_events(run)
    assert [k for k in events["kind"] if k != "anomaly"] == ["degraded day", "SLO breach", "alert"]


def test_prometheus_text_is_escaped_in_html_and_markdown(run_dir):
    run = rundata.load_run(run_dir)
    for block in (views.alert_episodes_table(run), views.what_happened(run), views.did_not_go_well(run)):
        assert SCRIPT not in block.html and "&lt;script&gt;" in block.html
        # CommonMark text, never a tag and never an HTML entity (it would show literally once pasted).
        assert SCRIPT not in block.markdown and "&lt;" not in block.markdown
    table = views.alert_episodes_table(run).markdown
    assert "pod=a\\|b" in table  # a pipe in a label does not split the Markdown cell


def test_blocks_render_for_jupyter():
    block = views.bullets(["check <this>"], checklist=True)
    assert block._repr_markdown_() == "- [ ] check \\<this>"
    assert "&#9744; check &lt;this&gt;" in block._repr_html_()
    assert repr(block) == "[ ] check <this>"
