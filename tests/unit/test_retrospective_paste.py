"""The retrospective pastes as it is: plain CommonMark, text in every section, a zip with its charts, and
action items that come from this window's evidence (rules worked by hand)."""

from __future__ import annotations

import re
import zipfile
from datetime import timedelta

import pytest

from factories import START, make_snapshot
from stabmon import store
from stabmon.core.advice import ACTION_FIELDS, retrospective_actions
from stabmon.core.errors import ReportError
from stabmon.core.impact import slo_breaches
from stabmon.core.model import Alert, Window, format_time
from stabmon.report import render as report
from stabmon.report.bundle import BUNDLE_NAME, image_links, write_bundle
from stabmon.store.rebuild import rebuild_summaries

WINDOW = Window(start=START, duration_hours=48, interval_minutes=60)
#: Day 2, 06:00 to 08:00 (k = 30..32): availability 97 % and a critical alert whose name holds a tag.
INCIDENT = range(30, 33)
ALERTNAME = "<b>Checkout_5xx</b>"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A two-day hourly run with one incident, its retrospective rendered (the only notebook), and its bundle."""
    folder = tmp_path_factory.mktemp("paste-run")
    alert = Alert(alertname=ALERTNAME, severity="critical",
                  labels={"alertname": ALERTNAME, "severity": "critical", "pod": "a|b"})
    store.write_run_info(folder, {"window": WINDOW.to_dict(), "service": "checkout_api",
                                  "release": {"name": "v2.0.1", "commit": "abc1234", "deployed_at": None}})
    for k, ts in enumerate(WINDOW.times()):
        bad = k in INCIDENT
        store.write_snapshot(folder, WINDOW, make_snapshot(ts, alerts=[alert] if bad else [],
                                                           **({"availability": 97.0, "error_rate": 3.0,
                                                               "errors": 30.0} if bad else {})), fsync=False)
    rebuild_summaries(folder)
    report.render_reports(folder, jobs=1, notebooks=["retrospective"], progress=False)
    reports = folder / "reports"
    return folder, reports, (reports / "retrospective.md").read_text(encoding="utf-8"), write_bundle(reports)


def test_no_html_entity_and_the_tag_stays_text(rendered):
    _, _, text, _ = rendered
    assert not re.search(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);", text)
    assert "\\<b>Checkout_5xx\\</b>" in text  # escaped once, as CommonMark needs; the underscore inside a word is not
    assert not re.search(r"(?<!\\)<b>", text)


def _needless(text: str) -> list[str]:
    """Backslash escapes CommonMark does not need where they stand (what md_escape must never write)."""
    bad = []
    for line in text.splitlines():
        for m in re.finditer(r"\\(.)", line):
            char, before, after = m.group(1), line[:m.start()], line[m.end():]
            needed = (
                char in "`*~\\"
                or (char == "_" and not (before[-1:].isalnum() and after[:1].isalnum()))
                or (char == "<" and re.match(r"[A-Za-z/!?]", after) is not None)
                or (char == "&" and re.match(r"#?[A-Za-z0-9]+;", after) is not None)
                or (char == "]" and after[:1] in "([:")
                or (char == "|" and line.startswith("|"))
                or (char in "#-+>" and after[:1] in (" ", ""))
                or (char in ".)" and re.search(r"(^|\s)\d+$", before) is not None and after[:1] in (" ", ""))
            )
            if not needed:
                bad.append(line)
    return bad


def test_no_needless_backslash_escape(rendered):
    _, _, text, _ = rendered
    assert _needless(text) == []
    # The usual suspects of the old export stay plain.
    for plain in ("degraded_days", "error_rate", "checkout_api", "< 95 %"):
        assert "\\" + plain not in text
    assert not re.search(r"\\-\d", text)
    # The rule itself, on lines the escaper never writes.
    assert len(_needless("a\\_b and \\-27.00 and 99 \\< 100")) == 3


def test_every_heading_is_followed_by_text(rendered):
    _, _, text, _ = rendered
    sections = re.split(r"^(#{1,6} .+)$", text, flags=re.MULTILINE)
    headings = sections[1::2]
    bodies = sections[2::2]
    assert len(headings) >= 10
    for heading, body in zip(headings, bodies):
        lines = [line for line in body.splitlines() if line.strip()]
        prose = [line for line in lines if not re.fullmatch(r"!\[[^\]]*\]\([^)]+\)", line.strip())]
        assert prose, f"{heading!r} holds only an image"


def test_the_first_screen_states_release_verdict_impact_and_detection(rendered):
    folder, _, text, _ = rendered
    first = text.split("## 2.", 1)[0]
    assert "**Release v2.0.1 (commit abc1234)**" in first
    assert "**Verdict: " in first and "User impact:" in first
    # 3 hourly snapshots below the SLO: 180 min; 3 x 30 = 90 failed requests of 48 x 1,000.
    assert "90 failed requests of 48,000 (0.188 %)" in first and "180 min below the 99.9 % availability SLO" in first
    # The alert fires at the first snapshot out of the SLO; back within it at 09:00, 3 h after 06:00.
    assert "within 1 h (\\<b>Checkout_5xx\\</b> was firing at the first snapshot out of the SLO)" in first
    assert "Time to mitigate (to the first snapshot back within the SLO): 3 h." in first
    assert f"-p run_dir {folder.resolve()}" in text


def test_action_items_have_fields_to_fill_and_nothing_a_retrospective_is(rendered):
    _, _, text, _ = rendered
    items = re.findall(r"^- \[ \] (.+)$", text, flags=re.MULTILINE)
    assert items and len(items) == len(set(items))
    for item in items:
        assert item.endswith(ACTION_FIELDS)
        assert not re.search(r"retrospective|Schedule|database|EXPLAIN|tracing", item), item


def test_the_bundle_holds_the_markdown_and_every_chart_it_links(rendered):
    _, reports, text, bundle = rendered
    assert bundle == reports / BUNDLE_NAME
    links = image_links(text)
    assert len(links) >= 4 and all(link.startswith("retrospective_files/") for link in links)
    with zipfile.ZipFile(bundle) as archive:
        assert archive.namelist() == ["retrospective.md", *links]
        assert archive.read("retrospective.md").decode("utf-8") == text
        for link in links:  # the relative link resolves inside the zip, to the same PNG
            data = archive.read(link)
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data == (reports / link).read_bytes()
    assert (reports / "retrospective.html").is_file()  # the single-file HTML stays


def test_the_bundle_refuses_a_missing_markdown_or_image(tmp_path):
    with pytest.raises(ReportError, match="render the retrospective first"):
        write_bundle(tmp_path)
    (tmp_path / "retrospective.md").write_text("# R\n\n![png](retrospective_files/x.png)\n", encoding="utf-8")
    with pytest.raises(ReportError, match="not in"):
        write_bundle(tmp_path)
    (tmp_path / "retrospective.md").write_text("# R\n\n![png](../secret.png)\n", encoding="utf-8")
    with pytest.raises(ReportError, match="outside"):
        write_bundle(tmp_path)


# ---------------------------------------------------------------------------- the rules, by hand

HALF_HOUR = Window(start=START, duration_hours=6, interval_minutes=30)
TIMES = HALF_HOUR.times()  # 12 snapshots, k = 0 at 00:00 to k = 11 at 05:30


def _alert(name, first_k, last_k, severity="critical"):
    return {"alertname": name, "severity": severity, "start": format_time(TIMES[first_k]),
            "end": format_time(TIMES[last_k]), "day_number": 1, "snapshots": last_k - first_k + 1}


def _summary(alerts=(), **extra):
    summary = {"settings": {}, "interval_minutes": 30.0, "start_time": format_time(START), "service": "checkout",
               "verdict": "pass", "rollback_evidence": [], "daily_summaries": [{"alert_episodes": list(alerts)}],
               "resource_trend": "stable", "trend_details": {}, "anomaly_summary": None,
               "inconclusive_reasons": [], "missing_days": []}
    summary.update(extra)
    return summary


def _availability(*out):
    """99.95 % everywhere but the snapshots ``out`` (99.0 %)."""
    return [99.0 if k in out else 99.95 for k in range(len(TIMES))]


def test_breaches_time_detection_and_mitigation():
    # Out of the SLO at k = 2, 3, 4 (01:00 to 02:00); the alert first fires at k = 5 (02:30); back at k = 5.
    alerts = [_alert("HighErrorRate", 5, 6)]
    (late,) = slo_breaches(TIMES, {"availability": _availability(2, 3, 4)}, alerts, 30.0)
    assert (late.first, late.last, late.minutes) == (TIMES[2], TIMES[4], 90.0)
    # The alert fires during the breach? Its first snapshot (k = 5) is after the breach's last (k = 4): no.
    assert late.alert is None and late.time_to_detect is None
    assert late.time_to_mitigate == timedelta(minutes=90)  # 01:00 -> 02:30
    alerts = [_alert("HighErrorRate", 4, 6)]
    (breach,) = slo_breaches(TIMES, {"availability": _availability(2, 3, 4)}, alerts, 30.0)
    assert breach.alert == "HighErrorRate" and breach.time_to_detect == timedelta(minutes=60)  # 01:00 -> 02:00
    # A missing value ends a breach and is skipped when looking for the return; the end of the data: never back.
    values = _availability(10, 11)
    values[9] = None
    (open_breach,) = slo_breaches(TIMES, {"availability": values}, [], 30.0)
    assert open_breach.snapshots == 2 and open_breach.back_at is None and open_breach.time_to_mitigate is None


def test_an_alert_at_the_first_snapshot_asks_for_nothing_but_the_cause():
    alerts = [_alert("HighErrorRate", 2, 4)]
    breaches = slo_breaches(TIMES, {"availability": _availability(2, 3, 4)}, alerts, 30.0)
    items = retrospective_actions(_summary(alerts), breaches)
    assert items == ["Find the cause of the availability breach of day 1 (Mon 05 Jan 00:30-02:00 UTC): 1 h 30 min of "
                     "availability below the 99.9 % SLO, lowest 99.000 %; record what ended it. " + ACTION_FIELDS]


def test_a_missing_or_late_alert_and_a_breach_not_over_each_get_an_item():
    silent = slo_breaches(TIMES, {"availability": _availability(2, 3)}, [], 30.0)
    assert any(i.startswith("Add an alert on availability below the 99.9 % SLO: the breach of day 1 "
                            "(Mon 05 Jan 00:30-01:30 UTC) fired no critical or warning alert.")
               for i in retrospective_actions(_summary(), silent))
    # Out from k = 2; the warning fires at k = 5: 1 h 30 min later, more than one 30-min interval.
    alerts = [_alert("SlowBurn", 5, 7, severity="warning")]
    late = slo_breaches(TIMES, {"availability": _availability(2, 3, 4, 5, 6)}, alerts, 30.0)
    assert any("SlowBurn fired 1 h 30 min after the breach" in i for i in retrospective_actions(_summary(alerts), late))
    unfinished = slo_breaches(TIMES, {"availability": _availability(10, 11)}, [], 30.0)
    assert any(i.startswith("Bring availability back within its SLO: out of it since Mon 05 Jan 04:30 UTC")
               for i in retrospective_actions(_summary(), unfinished))


def test_evidence_decides_each_item_and_none_repeats():
    breaches = slo_breaches(TIMES, {"availability": _availability(2)}, [_alert("A", 2, 2)], 30.0)
    alerts = [_alert("A", 2, 2), _alert("Lonely", 8, 9)]
    summary = _summary(
        alerts, verdict="rollback", rollback_evidence=[{"criterion": "degraded_days", "value": 2}],
        resource_trend="degrading", trend_details={"cpu_change_percent": 2.0, "memory_change_percent": 12.5},
        anomaly_summary={"episodes": [
            {"metric": "cpu_percent", "type": "spike", "day_number": 1, "severity": "high",
             "start": format_time(TIMES[10]), "end": format_time(TIMES[10]), "peak_value": 95.0, "expected": 40.0},
            {"metric": "error_rate", "type": "level_shift", "day_number": 1, "severity": "high",  # inside the breach
             "start": format_time(TIMES[2]), "end": format_time(TIMES[2]), "peak_value": 3.0, "expected": 0.02}]})
    burndown = {"slo_target_percent": 99.9, "budget_exhausted_at": format_time(TIMES[2]),
                "days": [{"day_number": 1, "cumulative_consumed_percent": 120.0}]}
    items = retrospective_actions(summary, breaches + breaches, burndown=burndown,
                                  drifting={"memory_percent": 47.3, "error_rate": 342.1}, release="v2.0.1")
    text = [i.removesuffix(" " + ACTION_FIELDS) for i in items]
    assert text[0] == "Decide whether to roll back v2.0.1: 1 of 4 rollback limits reached (at least 2 degraded days: 2)."
    assert sum(i.startswith("Find the cause of the availability breach") for i in text) == 1  # given twice, listed once
    assert any(i.startswith("Find why Lonely fired on day 1 (Mon 05 Jan 03:30-04:30 UTC) while the SLOs held")
               for i in text)
    assert not any(i.startswith("Find why A fired") for i in text)  # A is the breach's own alert
    assert ("Hold non-urgent releases of checkout until the error budget of the 99.9 % SLO recovers (exhausted on "
            "day 1, 120.0 % used).") in text
    # Only memory rose past the 5 % trend threshold; error_rate's drift is the breach's, memory's is not.
    assert any(i.startswith("Check the rise of memory +12.5 % over the window") for i in text)
    assert ("Explain the drift from the baseline of memory_percent (+47.3 %): over the drift target (10 % from the "
            "baseline).") in text
    # The CPU spike at 05:00 is outside every breach and critical alert; the error-rate shift is inside the breach.
    assert sum(i.startswith("Explain the cpu_percent spike of day 1 at 05:00 UTC") for i in text) == 1
    assert not any("error_rate level shift" in i for i in text)
    for item in text:
        assert not re.search(r"retrospective|Schedule|database|EXPLAIN", item), item


def test_bundle_without_a_retrospective_is_one_line_and_exit_1(tmp_path, capsys):
    from stabmon.cli.main import main

    assert main(["report", "--input", str(tmp_path), "--only", "weekly", "--bundle", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "stabmon: error: --bundle needs the retrospective: add --only retrospective"


def test_each_chart_is_named_by_its_section_not_by_its_format(rendered):
    _, _, text, _ = rendered
    assert "![png]" not in text and "![](" not in text
    assert re.search(r"!\[Chart: [^\]]+\]\(retrospective_files/", text)


def test_name_images_takes_the_nearest_heading_without_its_number():
    text = "# Retro\n\n![png](a.png)\n\n## 3. What happened, and when\n\n![png](b.png) ![](c.png)\n"
    assert report.name_images(text) == (
        "# Retro\n\n![Chart: Retro](a.png)\n\n## 3. What happened, and when\n\n"
        "![Chart: What happened, and when](b.png) ![Chart: What happened, and when](c.png)\n")
