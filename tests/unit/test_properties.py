"""Property tests: percentages stay in 0..100, the score in 0..100, order does not matter."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from factories import START, make_snapshot

from stabmon.store import schemas
from stabmon.core.daily import aggregate_days
from stabmon.core.score import stability_score
from stabmon.core.weekly import weekly_summary
from stabmon.core.model import Alert, Window

WINDOW = Window(start=START, duration_hours=48, interval_minutes=120)  # 24 snapshots, 2 days

percent = st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False))
positive = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))
alerts = st.lists(st.sampled_from([
    Alert("A", "critical", {"alertname": "A", "severity": "critical"}),
    Alert("B", "warning", {"alertname": "B", "severity": "warning"}),
    Alert("C", "info", {"alertname": "C", "severity": "info"}),
]), max_size=3, unique_by=lambda a: a.alertname)


@st.composite
def snapshot_sets(draw):
    present = draw(st.lists(st.integers(0, WINDOW.snapshot_count - 1), unique=True, min_size=1,
                            max_size=WINDOW.snapshot_count))
    snaps = []
    for k in present:
        requests = draw(positive)
        errors = None if requests is None else draw(st.one_of(st.none(), st.floats(0, requests)))
        snaps.append(make_snapshot(
            WINDOW.time_of(k),
            alerts=draw(alerts),
            drift={"cpu_percent": draw(st.floats(0, 500))} if draw(st.booleans()) else {},
            availability=draw(percent), error_rate=draw(percent), requests=requests, errors=errors,
            p95_latency_ms=draw(positive), p99_latency_ms=draw(positive),
            cpu_percent=draw(percent), memory_percent=draw(percent),
        ))
    return snaps


PERCENT_FIELDS = ("avg_availability", "min_availability", "max_availability", "slo_compliance_percent",
                  "request_weighted_availability", "avg_error_rate", "max_error_rate",
                  "request_weighted_error_rate", "latency_slo_compliance_percent")


@settings(max_examples=60, deadline=None)
@given(snapshot_sets(), st.randoms())
def test_percentages_in_range_and_order_independent(snaps, rnd):
    days = aggregate_days(snaps, WINDOW)
    for day in days:
        schemas.validate(day, "daily")
        for field in PERCENT_FIELDS:
            assert day[field] is None or 0 <= day[field] <= 100, field
    shuffled = list(snaps)
    rnd.shuffle(shuffled)
    assert aggregate_days(shuffled, WINDOW) == days
    weekly = weekly_summary(days, WINDOW, None)
    schemas.validate(weekly, "weekly")
    assert weekly["stability_score"] is None or 0 <= weekly["stability_score"] <= 100


@given(percent.filter(lambda v: v is not None), percent.filter(lambda v: v is not None),
       st.one_of(st.none(), st.floats(0, 1e9)))
def test_score_in_range(a, l, drift):
    assert 0 <= stability_score(a, l, drift) <= 100
