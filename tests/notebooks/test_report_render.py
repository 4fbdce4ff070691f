"""`stabmon report` end to end on a demo week: files, charts, verdict, escaping, no credentials."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest

from stabmon.cli import main as cli
from stabmon.report import render as report
from stabmon.core.errors import ReportError

from notebook_helpers import FAKE_TOKEN, PLANTED_ALERTNAME, PLANTED_DAY

#: Charts each report must embed at least (one <img> per chart cell).
MIN_CHARTS = {"day": 6, "weekly_summary": 8, "retrospective": 4}


def expected_files(reports: Path) -> list[Path]:
    names = [f"day_{d:02d}_analysis.{ext}" for d in range(1, 8) for ext in ("ipynb", "html")]
    names += ["weekly_summary.ipynb", "weekly_summary.html", "retrospective.ipynb", "retrospective.html",
              "retrospective.md"]
    return [reports / name for name in names]


def test_every_expected_file_exists(rendered_run):
    folder, result = rendered_run
    reports = folder / "reports"
    for path in expected_files(reports):
        assert path.is_file() and path.stat().st_size > 0, path
    assert result.index == reports / "weekly_summary.html"
    assert set(expected_files(reports)) <= set(result.files)
    assert not list(reports.glob("*.failed.ipynb"))
    assert not list(reports.glob(".*.tmp")) and not list(reports.glob(".*.running.ipynb"))


@pytest.mark.parametrize("stem", [f"day_{d:02d}_analysis" for d in range(1, 8)] + ["weekly_summary", "retrospective"])
def test_html_embeds_its_charts_and_hides_code(rendered_run, stem):
    folder, _ = rendered_run
    text = (folder / "reports" / f"{stem}.html").read_text(encoding="utf-8")
    kind = "day" if stem.startswith("day_") else stem
    assert text.count("data:image/png;base64,") >= MIN_CHARTS[kind]
    # Inputs are hidden: no code from the notebook reaches the page.
    assert "rundata.load_run(" not in text and "charts.plot_" not in text
    # No error output, no stderr, no warning text.
    assert "Traceback" not in text
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in text
    assert "Warning:" not in text


@pytest.mark.parametrize("stem", [f"day_{d:02d}_analysis" for d in range(1, 8)] + ["weekly_summary", "retrospective"])
def test_executed_notebooks_have_no_error_or_stderr(rendered_run, stem):
    folder, _ = rendered_run
    nb = nbformat.read(folder / "reports" / f"{stem}.ipynb", as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
            assert not (output["output_type"] == "stream" and output.get("name") == "stderr"), output


def test_weekly_report_states_the_verdict_and_its_reasons(rendered_run):
    folder, _ = rendered_run
    weekly = json.loads((folder / "weekly_summary.json").read_text(encoding="utf-8"))
    page = (folder / "reports" / "weekly_summary.html").read_text(encoding="utf-8")
    assert weekly["rollback_recommended"] is True  # the incident scenario
    assert "Verdict: ROLLBACK RECOMMENDED" in page
    assert weekly["rollback_reasons"]
    for reason in weekly["rollback_reasons"]:
        assert html.escape(reason, quote=True) in page
    assert f"SLO-compliance score {weekly['stability_score']:.1f}" in page


def test_daily_report_names_its_day_and_verdict(rendered_run):
    folder, _ = rendered_run
    day3 = json.loads((folder / "day_03_summary.json").read_text(encoding="utf-8"))
    page = (folder / "reports" / "day_03_analysis.html").read_text(encoding="utf-8")
    assert day3["degraded"] is True
    assert "Day 3: DEGRADED" in page
    assert "day 3 of 7" in page


def test_retrospective_markdown_has_its_sections_and_images_beside_it(rendered_run):
    folder, _ = rendered_run
    reports = folder / "reports"
    text = (reports / "retrospective.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## .+$", text, flags=re.MULTILINE)
    assert 5 <= len(headings) <= 15
    for section in ("What happened", "What went well", "What did not go well", "Action items", "Verdict"):
        assert section in text
    assert "- [ ] " in text  # action items as a checklist
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) >= MIN_CHARTS["retrospective"]
    for image in images:
        assert not image.startswith("data:")
        assert (reports / image).is_file(), image
    assert "```" not in text  # no code


def test_planted_script_in_an_alert_name_is_escaped(rendered_run):
    folder, _ = rendered_run
    reports = folder / "reports"
    daily_page = (reports / f"day_{PLANTED_DAY:02d}_analysis.html").read_text(encoding="utf-8")
    assert html.escape(PLANTED_ALERTNAME, quote=False) in daily_page  # shown, as text
    for path in reports.glob("*.html"):
        page = path.read_text(encoding="utf-8")
        assert "stabmon-xss\")</script>" not in page, path
        assert "<script>alert(" not in page, path
        assert "<b>sre</b>" not in page, path
    markdown = (reports / "retrospective.md").read_text(encoding="utf-8")
    # CommonMark text: the tag's "<" is backslash-escaped, never an entity (it would show once pasted).
    assert "\\<script>" in markdown and not re.search(r"(?<!\\)<script>", markdown) and "&lt;" not in markdown


def test_no_credential_in_any_rendered_file(rendered_run):
    folder, _ = rendered_run
    for path in (folder / "reports").rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path


def test_only_the_run_folder_and_thresholds_are_recorded_as_parameters(rendered_run):
    folder, _ = rendered_run
    allowed = {"run_dir", "day_number", "availability_slo_percent", "latency_slo_p99_ms",
               "error_rate_degraded_percent", "degradation_compliance_percent", "drift_threshold_percent"}
    for path in (folder / "reports").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        parameters = nb.metadata["papermill"]["parameters"]
        assert set(parameters) <= allowed, path
        assert parameters["run_dir"] == str(folder.resolve())


def test_rendering_again_replaces_the_reports(rendered_run, demo_run):
    # Rendering only the weekly report of another folder leaves that folder
    # with exactly one weekly report and no leftovers.
    result = report.render_reports(demo_run, jobs=1, notebooks=["weekly"], progress=False)
    assert [p.name for p in result.files] == ["weekly_summary.ipynb", "weekly_summary.html"]
    assert result.index.name == "weekly_summary.html"


def test_a_folder_without_snapshots_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(ReportError) as caught:
        report.render_reports(tmp_path, progress=False)
    message = str(caught.value)
    assert "no raw snapshots" in message and "\n" not in message
    code = cli.main(["report", "--input", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "no raw snapshots" in err
