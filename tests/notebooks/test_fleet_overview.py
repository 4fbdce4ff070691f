"""What the fleet notebook shows besides charts: the verdict is a report block, escaped like the others."""

from __future__ import annotations

from stabmon.report import fleet_views
from stabmon.report.views import Block

HOSTILE = '<script>alert("svc")</script>'


def summary(**overrides) -> dict:
    document = {"service_count": 3, "window": {"duration_hours": 168.0, "start": "2026-01-05T00:00:00Z"},
                "rollback_recommended": [], "no_data": [], "shards": None}
    document.update(overrides)
    return document


def test_fleet_verdict_names_the_rollbacks_with_service_names_escaped():
    verdict = fleet_views.fleet_verdict(summary(rollback_recommended=[HOSTILE, "svc-02"], no_data=["svc_03"]))
    assert isinstance(verdict, Block)
    assert "<script>" not in verdict.html and "&lt;script&gt;" in verdict.html
    # CommonMark: a backslash before "<" keeps the tag literal text, never raw HTML
    assert r"\<script>alert(" in verdict.markdown and r"\</script>" in verdict.markdown
    assert "Roll back 2:" in verdict.text and "svc-02" in verdict.text
    assert "No data for: svc_03." in verdict.text
    assert "svc_03" in verdict.markdown  # an intraword "_" starts no emphasis in CommonMark: no escape


def test_fleet_verdict_without_rollback_and_with_missing_shards():
    verdict = fleet_views.fleet_verdict(summary(shards={"count": 4, "missing": [2]}))
    assert "3 services over 168 h from 2026-01-05T00:00:00Z." in verdict.text
    assert "No service needs a rollback." in verdict.text
    assert "Incomplete: shards [2] of 4 are missing." in verdict.text


def test_fleet_verdict_lists_the_inconclusive_services_apart_with_their_reasons():
    blind = {"service": "svc-04", "verdict": "inconclusive",
             "inconclusive_reasons": ["error rate: value in 0 of 336 snapshots (0.0 % < 90 %)"]}
    verdict = fleet_views.fleet_verdict(summary(services=[blind, {"service": "svc-05", "verdict": "pass"}]))
    assert "INCONCLUSIVE 1: svc-04 (error rate: value in 0 of 336 snapshots (0.0 % < 90 %))." in verdict.text
    assert "svc-05" not in verdict.text
    assert "#e67e22" in verdict.html  # the warning colour, apart from the rollbacks' red
