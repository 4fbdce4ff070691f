"""Unit tests of stabmon.core.budget: burn-down numbers worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from stabmon.store import schemas
from stabmon.core.budget import (
    budget_exhausted_day, budget_outlook, budget_used_percent, burn_rate_series, burndown_markdown_table, compute_burndown,
)
from stabmon.core.errors import InputError
from stabmon.core.model import Snapshot, Window, parse_time

START = datetime(2026, 1, 5, tzinfo=timezone.utc)

#: Three days at a 6-hour interval: 4 snapshots a day, 12 in the window.
TOY = Window(START, duration_hours=72.0, interval_minutes=360.0)
#: Errors per snapshot: day 1 a trickle, day 2 an incident, day 3 clean.
TOY_ERRORS = [1, 2, 1, 2,  5, 10, 5, 10,  0, 0, 0, 0]


def toy_snapshots(errors=TOY_ERRORS, requests=2500.0):
    return [Snapshot(TOY.time_of(k), {"requests": requests, "errors": float(e)})
            for k, e in enumerate(errors)]


def test_three_day_burndown_worked_by_hand():
    # requests: 12 x 2,500 = 30,000; budget = (1 - 0.999) * 30,000 = 30 requests
    # day 1: 10,000 req,  6 errors ->  6/30 =  20 % consumed, cumulative  20, remaining  80,
    #        burn rate = (6/10,000)/0.001 = 0.6
    # day 2: 10,000 req, 30 errors -> 30/30 = 100 %, cumulative 120, remaining -20, burn 3.0
    # day 3: 10,000 req,  0 errors ->   0 %, cumulative 120, remaining -20, burn 0.0
    doc = compute_burndown(toy_snapshots(), TOY, 99.9)
    assert doc["slo_target_percent"] == 99.9
    assert doc["window_days"] == 3
    assert doc["error_budget_requests"] == pytest.approx(30.0)
    expected = [
        (1, 10000, 6, 20.0, 20.0, 80.0, 0.6),
        (2, 10000, 30, 100.0, 120.0, -20.0, 3.0),
        (3, 10000, 0, 0.0, 120.0, -20.0, 0.0),
    ]
    for day, row in zip(doc["days"], expected):
        got = (day["day_number"], day["requests"], day["errors"], day["budget_consumed_percent"],
               day["cumulative_consumed_percent"], day["budget_remaining_percent"], day["burn_rate"])
        assert got == pytest.approx(row)
    # Running errors: 6 after day 1, then 11, 21, 26, 36 >= 30 at the 4th snapshot of day 2
    # (t_7 = start + 42 h). Exhausted: no projection.
    assert doc["budget_exhausted_at"] == "2026-01-06T18:00:00Z"
    assert doc["projected_exhaustion"] is None
    # The 6 h window at a 6 h interval holds the last snapshot alone: 0 errors.
    assert doc["burn_rate_6h"] == 0.0 and doc["burn_rate_1h"] == 0.0
    assert doc["requests_projected"] is False
    schemas.validate(doc, "burndown")


def test_window_not_over_projects_requests_and_exhaustion():
    # Day 1 and the first two snapshots of day 2: 6 snapshots of 2,500 requests.
    # Window requests projected: 15,000 * 12/6 = 30,000 -> budget 30.
    # Errors 1+2+1+2 = 6 (day 1: 20 %), then 1+1 = 2 (day 2: 6.6667 %); cumulative 26.6667 %.
    # 6 h burn rate at t_5 = (1/2,500)/0.001 = 0.4.
    # Remaining 0.733333 of the budget lasts 0.733333 * 72 h / 0.4 = 132 h after t_5 (start + 30 h)
    # -> start + 162 h = 2026-01-11T18:00:00Z, after the window's end (start + 72 h).
    doc = compute_burndown(toy_snapshots([1, 2, 1, 2, 1, 1]), TOY)
    assert doc["requests_projected"] is True
    assert doc["window_requests"] == pytest.approx(30000.0)
    assert doc["error_budget_requests"] == pytest.approx(30.0)
    assert [d["day_number"] for d in doc["days"]] == [1, 2]
    assert doc["days"][1]["budget_consumed_percent"] == pytest.approx(6.666667, abs=1e-6)
    assert doc["days"][1]["cumulative_consumed_percent"] == pytest.approx(26.666667, abs=1e-6)
    assert doc["days"][1]["burn_rate"] == pytest.approx(0.4)
    assert doc["burn_rate_6h"] == pytest.approx(0.4)
    assert doc["projected_exhaustion"] == "2026-01-11T18:00:00Z"
    assert doc["exhaustion_within_window"] is False
    assert doc["budget_exhausted_at"] is None
    schemas.validate(doc, "burndown")


def test_not_burning_projects_nothing():
    doc = compute_burndown(toy_snapshots([0] * 12), TOY)
    assert doc["projected_exhaustion"] is None
    assert doc["days"][-1]["budget_remaining_percent"] == 100.0
    assert doc["burn_rate_6h"] == 0.0


def test_multi_window_burn_rates_at_30_minutes():
    # One day at 30 min, 1,000 requests per snapshot; 5 errors at t_10 and t_11.
    # 1 h window = 2 snapshots: at t_10 (5/2,000)/0.001 = 2.5; at t_11 (10/2,000)/0.001 = 5.0;
    # at t_12 (5/2,000)/0.001 = 2.5;
    # at t_13 0.0. 6 h window = 12 snapshots: at t_12 10/12,000/0.001 = 0.8333; at t_21
    # (window t_10..t_21) still 0.8333; at t_22 (t_11..t_22) 5/12,000/0.001 = 0.4167.
    window = Window(START, duration_hours=24.0, interval_minutes=30.0)
    snaps = [Snapshot(window.time_of(k), {"requests": 1000.0, "errors": 5.0 if k in (10, 11) else 0.0})
             for k in range(48)]
    one = burn_rate_series(snaps, window, 1.0)
    six = burn_rate_series(snaps, window, 6.0)
    assert len(one) == len(six) == 48
    assert one[10]["burn_rate"] == pytest.approx(2.5)
    assert one[11]["burn_rate"] == pytest.approx(5.0)
    assert one[12]["burn_rate"] == pytest.approx(2.5)
    assert one[13]["burn_rate"] == pytest.approx(0.0)
    assert six[12]["burn_rate"] == pytest.approx(0.833333, abs=1e-6)
    assert six[21]["burn_rate"] == pytest.approx(0.833333, abs=1e-6)
    assert six[22]["burn_rate"] == pytest.approx(0.416667, abs=1e-6)
    assert six[23]["burn_rate"] == pytest.approx(0.0)
    assert one[11]["timestamp"] == "2026-01-05T05:30:00Z"
    doc = compute_burndown(snaps, window)
    assert doc["burn_rate_1h_series"] == one and doc["burn_rate_6h_series"] == six


def test_missing_values_are_not_zero():
    # t_1 has no requests: left out of both sums, the projection stretches the
    # 11 others over 12 snapshots. t_2 has no errors field: derived from error_rate.
    snaps = toy_snapshots()
    snaps[1] = Snapshot(TOY.time_of(1), {"requests": None, "errors": 2.0})
    snaps[2] = Snapshot(TOY.time_of(2), {"requests": 2500.0, "errors": None, "error_rate": 0.04})
    doc = compute_burndown(snaps, TOY)
    # observed 11 x 2,500 = 27,500 -> window 30,000 -> budget 30
    assert doc["window_requests"] == pytest.approx(30000.0)
    day1 = doc["days"][0]
    assert day1["requests"] == pytest.approx(7500.0)
    assert day1["errors"] == pytest.approx(1 + 1 + 2)  # 2,500 * 0.04 % = 1 derived error
    assert day1["burn_rate"] == pytest.approx((4 / 7500) / 0.001)


def test_day_without_data_has_null_burn_rate():
    snaps = [s for s in toy_snapshots() if TOY.day_of(s.timestamp) != 2]
    doc = compute_burndown(snaps, TOY)
    day2 = doc["days"][1]
    assert (day2["requests"], day2["errors"], day2["burn_rate"]) == (0.0, 0.0, None)
    schemas.validate(doc, "burndown")


def test_no_snapshots_gives_an_empty_burndown():
    doc = compute_burndown([], TOY)
    assert doc["days"] == [] and doc["error_budget_requests"] == 0.0
    assert doc["projected_exhaustion"] is None and doc["burn_rate_1h"] is None
    schemas.validate(doc, "burndown")


@pytest.mark.parametrize("slo", [0.0, 100.0, 120.0, "99.9"])
def test_bad_slo_target(slo):
    with pytest.raises(InputError):
        compute_burndown(toy_snapshots(), TOY, slo)


def test_markdown_table():
    text = burndown_markdown_table(compute_burndown(toy_snapshots(), TOY))
    lines = text.splitlines()
    assert lines[0].startswith("| Day | Requests | Errors | Burn rate |")
    assert lines[2] == "| 1 | 10,000 | 6 | 0.60x | 20.00 % | 20.00 % | 80.00 % |"
    assert lines[3] == "| 2 | 10,000 | 30 | 3.00x | 100.00 % | 120.00 % | -20.00 % |"
    assert lines[4] == "| 3 | 10,000 | 0 | 0.00x | 0.00 % | 120.00 % | -20.00 % |"
    assert "error budget 30 requests" in text
    # Day 2's 30 errors bring the running sum (6 + 30) past the budget of 30 at its 18:00 snapshot.
    assert "Budget exhausted on day 2 (2026-01-06T18:00:00Z); 120.0 % used by day 3." in text


def test_budget_outlook_and_exhausted_day_follow_budget_exhausted_at():
    doc = compute_burndown(toy_snapshots(), TOY)
    assert budget_exhausted_day(doc) == 2 == TOY.day_of(parse_time(doc["budget_exhausted_at"]))
    assert budget_used_percent(doc) == 120.0
    # Only day 1 (6 errors of a budget of 30): not exhausted, burning at day 1's rate.
    day1 = compute_burndown([s for s in toy_snapshots() if TOY.day_of(s.timestamp) == 1], TOY)
    assert day1["budget_exhausted_at"] is None and budget_exhausted_day(day1) is None
    assert budget_outlook(day1).startswith("projected to run out at ") and "20.0 % used by day 1" in budget_outlook(day1)
    assert budget_outlook(None) == "not available (no burn-down)"


def test_schema_rejects_a_broken_document():
    doc = compute_burndown(toy_snapshots(), TOY)
    del doc["days"][0]["burn_rate"]
    with pytest.raises(schemas.SchemaError):
        schemas.validate(doc, "burndown")
