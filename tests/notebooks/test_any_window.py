"""Reports of a 15-minute test run and of a 14-day run render, and their words fit the window.

The 15-minute window starts at 01:00 UTC: it holds no 3-hour boundary, the
case where the seed's time axis got no tick and every notebook failed
(``TypeError: ufunc 'isfinite' not supported``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stabmon.demo.week import run_demo_week
from stabmon.report import render

pytestmark = pytest.mark.slow


def _text(path: Path) -> str:
    # The visible text of an exported report, tags dropped, whitespace folded.
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def test_a_15_minute_run_renders_every_report_with_its_length(tmp_path: Path) -> None:
    run_dir = tmp_path / "quarter-hour"
    # 15 snapshots, one a minute, scraped every 15 s (the interval is 4 scrapes).
    run_demo_week(run_dir, fsync=False, duration_hours=0.25, interval_minutes=1, scrape_seconds=15,
                  start=datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc))
    result = render.render_reports(run_dir, jobs=2, progress=False)
    assert sorted(result.notebooks) == ["day_01_analysis", "retrospective", "weekly_summary"]
    weekly = _text(result.reports_dir / "weekly_summary.html")
    assert "(UTC, 15 min)" in weekly
    assert "7-Day" not in weekly and "over 7 days" not in weekly
    assert "days vs ." not in weekly
    # One day with data: the trend note says why nothing was compared.
    assert "Not compared: a trend needs two days with data or more; the 15-minute window has 1." in weekly
    daily = _text(result.reports_dir / "day_01_analysis.html")
    assert "day 1 of 1" in daily
    retrospective = _text(result.reports_dir / "retrospective.html")
    assert "(UTC, 15 min)" in retrospective
    assert "all week" not in retrospective and "over the week" not in retrospective
    markdown = (run_dir / "weekly_summary.md").read_text(encoding="utf-8")
    assert markdown.startswith("# 15-Minute Post-Release Stability Summary: checkout\n")
    assert "**Duration:** 15 min (15/15 snapshots every 1 min)" in markdown


def test_a_14_day_run_renders_the_summary_and_a_day(tmp_path: Path) -> None:
    run_dir = tmp_path / "fortnight"
    run_demo_week(run_dir, fsync=False, duration_hours=336, interval_minutes=60)
    # The summary and the last day only: fourteen daily notebooks would say nothing more.
    jobs = [job for job in render.plan_jobs(run_dir, ["weekly", "daily"])
            if job.kind == "weekly" or job.name == "day_14_analysis"]
    assert [job.name for job in jobs] == ["day_14_analysis", "weekly_summary"]
    reports_dir = run_dir / "reports"
    reports_dir.mkdir()
    for job in jobs:
        render.render_job(job, reports_dir, timeout=600)
    weekly = _text(reports_dir / "weekly_summary.html")
    assert "(UTC, 14 days), 336 of 336 snapshots" in weekly
    assert "7-Day" not in weekly
    assert "Compared: days 1, 2, 3, 4, 5, 6, 7 vs 8, 9, 10, 11, 12, 13, 14." in weekly
    assert "day 14 of 14" in _text(reports_dir / "day_14_analysis.html")
    markdown = (run_dir / "weekly_summary.md").read_text(encoding="utf-8")
    assert markdown.startswith("# 14-Day Post-Release Stability Summary: checkout\n")
