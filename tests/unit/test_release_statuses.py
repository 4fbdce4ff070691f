"""This release against earlier ones (issue 14): statuses, pooling, verdict filter, Markdown; hand-worked numbers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from stabmon.core.model import METRIC_FIELDS, Snapshot, Window
from stabmon.core.release_compare import (
    RunWeek, compare_metric, compare_weeks, comparison_markdown, release_comparison, release_label, split_by_verdict,
    status_of,
)
from stabmon.store.schemas import validate

LATENCY_BEFORE = [100.0 + i for i in range(10)]  # median 104.5
LATENCY_AFTER = [200.0 + i for i in range(10)]  # median 204.5


def test_a_shift_in_the_bad_direction_is_worse():
    row = compare_metric("p99_latency_ms", LATENCY_AFTER, LATENCY_BEFORE)
    assert row["status"] == "worse"
    assert (row["current"], row["previous"], row["change"]) == (204.5, 104.5, 100.0)
    assert row["change_percent"] == pytest.approx(100.0 / 104.5 * 100.0)
    # Complete separation of 10 and 10 values: U = 100, mean 50, sd sqrt(10*10*21/12) = sqrt(175); scipy's
    # normal approximation with continuity correction: z = (100 - 50 - 0.5) / sqrt(175) = 3.7418, p = erfc(z/sqrt 2).
    assert row["p_value"] == pytest.approx(math.erfc(49.5 / math.sqrt(175) / math.sqrt(2)))
    assert (row["n_current"], row["n_previous"]) == (10, 10)


def test_a_shift_the_other_way_is_better_and_requests_have_no_direction():
    before = [98.0 + 0.1 * i for i in range(10)]
    after = [99.0 + 0.1 * i for i in range(10)]
    assert compare_metric("availability", after, before)["status"] == "better"
    assert compare_metric("p99_latency_ms", LATENCY_BEFORE, LATENCY_AFTER)["status"] == "better"
    assert compare_metric("requests", LATENCY_AFTER, LATENCY_BEFORE)["status"] == "same"


def test_a_small_shift_is_the_same_and_too_few_values_are_nodata():
    # Significant (complete separation) but 5 % of the median: under the 10 % effect guard.
    row = compare_metric("p99_latency_ms", [x + 5.0 for x in LATENCY_BEFORE], LATENCY_BEFORE)
    assert row["p_value"] < 0.05 and row["status"] == "same"
    assert compare_metric("p99_latency_ms", LATENCY_BEFORE, LATENCY_BEFORE)["status"] == "same"
    row = compare_metric("p99_latency_ms", LATENCY_AFTER, [100.0, 101.0])
    assert row["status"] == "nodata" and row["change"] == pytest.approx(204.5 - 100.5)
    assert compare_metric("cpu_percent", [], LATENCY_BEFORE)["current"] is None


def test_status_of_each_verdict():
    assert [status_of("error_rate", v) for v in ("high", "low", "pass", "nodata")] == [
        "worse", "better", "same", "nodata"]
    assert status_of("availability", "low") == "worse"


def _week(start: datetime, p99_by_day: list[list[float]], *, verdict: str = "pass", run: str = "run") -> RunWeek:
    """A window of ``len(p99_by_day)`` days, one snapshot an hour holding the given p99s in order."""
    window = Window(start=start, duration_hours=24.0 * len(p99_by_day), interval_minutes=60.0)
    snapshots = []
    for d, values in enumerate(p99_by_day):
        for h, value in enumerate(values):
            data = dict.fromkeys(METRIC_FIELDS, None)
            data["p99_latency_ms"] = value
            snapshots.append(Snapshot(timestamp=start + timedelta(days=d, hours=h), values=data))
    return RunWeek(run=run, window=window, snapshots=snapshots, verdict=verdict,
                   release={"name": run, "commit": None, "deployed_at": None})


def test_days_are_matched_by_number_and_earlier_weeks_pooled():
    t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
    current = _week(t0 + timedelta(days=14), [LATENCY_BEFORE, LATENCY_AFTER], run="v3")
    first = _week(t0, [LATENCY_BEFORE[:5], LATENCY_BEFORE[:5]], run="v1")
    second = _week(t0 + timedelta(days=7), [LATENCY_BEFORE[5:], LATENCY_BEFORE[5:]], run="v2")
    days = compare_weeks(current, [first, second])
    assert [d["day_number"] for d in days] == [1, 2]
    # Day 1: the two earlier halves pooled are exactly this week's day 1.
    assert days[0]["metrics"]["p99_latency_ms"]["status"] == "same"
    assert days[0]["metrics"]["p99_latency_ms"]["n_previous"] == 10
    assert days[1]["metrics"]["p99_latency_ms"]["status"] == "worse"
    assert days[1]["metrics"]["error_rate"]["status"] == "nodata"


def test_rollback_runs_are_left_out_unless_asked():
    t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
    good, bad = _week(t0, [LATENCY_AFTER], run="good"), _week(t0, [LATENCY_BEFORE], verdict="rollback", run="bad")
    kept, left_out = split_by_verdict([good, bad], include_rollbacks=False)
    assert (kept, left_out) == ([good], [bad])
    assert split_by_verdict([good, bad], include_rollbacks=True) == ([good, bad], [])

    current = _week(t0 + timedelta(days=7), [LATENCY_AFTER], run="now")
    document = release_comparison(current, [good, bad], generated_at="2026-01-13T00:00:00Z")
    validate(document, "release_comparison")
    assert [p["included"] for p in document["previous"]] == [True, False]
    assert document["verdicts"] == {"current": "pass", "previous": ["pass", "rollback"]}
    assert document["worse"] == [] and document["days"][0]["metrics"]["p99_latency_ms"]["status"] == "same"
    # With the rollback week pooled in, the slow week is no longer "the same".
    document = release_comparison(current, [bad], include_rollbacks=True)
    assert document["worse"] == [{"day_number": 1, "metric": "p99_latency_ms"}]
    text = comparison_markdown(document)
    assert "| 1 | p99_latency_ms | 204.5 | 104.5 | 100 | worse |" in text
    assert "| bad | bad | ROLLBACK | yes |" in text


def test_release_label():
    assert release_label(None) == "Release: not recorded"
    assert release_label({"name": "v1.4.2", "commit": "abc1234", "deployed_at": "2026-11-20T09:30:00Z"}) == (
        "Release v1.4.2 (commit abc1234, deployed 2026-11-20T09:30:00Z)")
    assert release_label({"name": None, "commit": "abc1234", "deployed_at": None}) == (
        "Release abc1234 (commit abc1234)")
