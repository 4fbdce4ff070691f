"""A failing or hanging notebook: ReportError naming the notebook and the cell, partial notebook kept."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from stabmon.report import render as report
from stabmon.core.errors import ReportError


def tiny_notebook(path: Path, *cells: str) -> Path:
    """A notebook with a parameters cell and ``cells`` after it."""
    parameters = new_code_cell('run_dir: str = ""  # run folder')
    parameters.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[parameters, *(new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def job_for(template: Path, name: str = "broken") -> report.NotebookJob:
    return report.NotebookJob(name=name, kind="daily", template=template, parameters={"run_dir": "/nowhere"},
                              title="broken")


def test_a_failing_cell_is_named_and_the_partial_notebook_kept(tmp_path):
    template = tiny_notebook(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('the checkout exploded')\n# more")
    reports = tmp_path / "reports"
    reports.mkdir()
    with pytest.raises(ReportError) as caught:
        report.execute_notebook(job_for(template), reports, timeout=60)
    message = str(caught.value)
    assert "notebook broken" in message
    # Cell 0 is the parameters cell, 1 the injected parameters, 2 "x = 1", 3 the failing one.
    assert "cell 3" in message
    assert "raise ValueError('the checkout exploded')" in message
    assert "ValueError: the checkout exploded" in message
    kept = reports / "broken.failed.ipynb"
    assert kept.is_file() and str(kept) in message
    nb = nbformat.read(kept, as_version=4)
    assert any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    assert not (reports / "broken.ipynb").exists()
    assert not list(reports.glob(".*"))  # no scratch file left


def test_a_cell_timeout_is_handled_like_a_failure(tmp_path):
    template = tiny_notebook(tmp_path / "slow.ipynb", "import time", "time.sleep(30)")
    reports = tmp_path / "reports"
    reports.mkdir()
    with pytest.raises(ReportError) as caught:
        report.execute_notebook(job_for(template, "slow"), reports, timeout=2)
    message = str(caught.value)
    assert "notebook slow" in message
    assert "cell 3" in message and "time.sleep(30)" in message
    assert "timed out" in message
    assert (reports / "slow.failed.ipynb").is_file()


def test_render_reports_reports_a_failing_notebook_and_keeps_the_others(tmp_path, demo_run, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    tiny_notebook(notebooks / "daily_analysis.ipynb", "day_number = 0", "1 / 0")
    tiny_notebook(notebooks / "weekly_summary.ipynb", "print('fine')")
    original = report.plan_jobs
    monkeypatch.setattr(report, "plan_jobs", lambda run_dir, kinds, **options: original(run_dir, kinds, notebooks, **options))
    with pytest.raises(ReportError) as caught:
        report.render_reports(demo_run, jobs=2, notebooks=["weekly", "daily"], progress=False)
    message = str(caught.value)
    assert message.startswith("7 of 8 notebooks failed")
    assert "notebook day_01_analysis failed at cell 3 (1 / 0): ZeroDivisionError" in message
    assert (demo_run / "reports" / "weekly_summary.html").is_file()
    assert (demo_run / "reports" / "day_01_analysis.failed.ipynb").is_file()


def test_stabmon_report_exits_1_naming_the_notebook(tmp_path, demo_run, monkeypatch, capsys):
    from stabmon.cli import main as cli

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    tiny_notebook(notebooks / "retrospective.ipynb", "raise RuntimeError('no data')")
    original = report.plan_jobs
    monkeypatch.setattr(report, "plan_jobs", lambda run_dir, kinds, **options: original(run_dir, kinds, notebooks, **options))
    code = cli.main(["report", "--input", str(demo_run), "--only", "retrospective", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "notebook retrospective failed at cell 2" in err and "RuntimeError: no data" in err
