"""Fleet logic without a server: names, folders, shards, grouped queries, collector routing, summary."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from stabmon.collect import targets
from stabmon.collect.collector import Collector
from stabmon.collect.queries import build_catalogue
from stabmon.core import fleet_summary
from stabmon.demo.fleet import build_demo_fleet
from stabmon.store import fleet as fleet_folder
from stabmon.store import layout
from stabmon.store import schemas
from stabmon.core.errors import InputError
from stabmon.core.model import Window
from stabmon.collect.prom import Series
from stabmon.collect.queries import SNAPSHOT_QUERIES, _unquote

WINDOW = Window(start=datetime(2026, 1, 5, tzinfo=timezone.utc), duration_hours=2, interval_minutes=30)


def test_service_list_is_split_stripped_and_deduplicated():
    assert targets.parse_service_list(" a, b ,a,c") == ["a", "b", "c"]
    with pytest.raises(InputError, match="empty service name"):
        targets.parse_service_list("a,,b")


@pytest.mark.parametrize("name", ["reports", "fleet_summary.json", "..", ".", "a/b", "../../etc", "x" * 300,
                                  "we\"ird}\n", "%41", ".hidden", "ünï"])
def test_odd_names_get_their_own_folder_inside_the_fleet(name):
    folder = layout.service_folder(name)
    assert "/" not in folder and folder not in (".", "..") and folder not in layout.RESERVED_NAMES
    assert folder.startswith("%") and len(folder) <= 200


def test_plain_names_are_their_folder_and_folders_are_distinct():
    assert layout.service_folder("checkout-v2_eu.1") == "checkout-v2_eu.1"
    names = ["a/b", "a%2Fb", "%61%2Fb", "a_b", "A", "a"]
    assert len({layout.service_folder(n) for n in names}) == len(names)


def test_shards_are_stable_and_cover_every_service_once():
    names = [f"svc-{i}" for i in range(500)]
    parts = [targets.select_shard(names, i, 4) for i in range(1, 5)]
    assert sorted(sum(parts, [])) == sorted(names)
    assert all(parts)  # a hash spreads them
    # Stable: not the list position; reordering or removing others changes nothing.
    assert targets.select_shard(list(reversed(names)), 2, 4) == list(reversed(parts[1]))
    assert targets.shard_of("svc-7", 4) == targets.shard_of("svc-7", 4)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_bad_shards_are_refused(text):
    with pytest.raises(InputError, match="--shard"):
        targets.parse_shard(text)


def test_batch_matcher_matches_exactly_the_names():
    names = ['a.b', 'c|d', 'e"f\\', "g\nh", "(x)*"]
    catalogue = build_catalogue(label="service")
    matcher = catalogue.target_selector(names)
    assert matcher.startswith('service=~"')
    regex, _ = _unquote(matcher, len("service=~"))
    pattern = re.compile(f"^(?:{regex})$")
    for name in names:
        assert pattern.match(name)
    for other in ["aXb", "c", "d", "e\"f", "x", "(x)"]:
        assert not pattern.match(other), other


def test_batches_respect_the_regex_budget():
    names = [f"service-{i:04d}" for i in range(1000)]
    batches = targets.batch_services(names, max_chars=2500)
    assert sum(batches, []) == names
    assert all(sum(len(n) + 1 for n in b) <= 2500 for b in batches)
    assert len(batches) == 6  # 13 characters a name, 192 names a batch


def test_grouped_error_rate_keeps_a_zero_for_services_without_5xx():
    expr = build_catalogue(label="service").expression("error_rate", ["a", "b"])
    assert "or vector(0)" not in expr
    assert "or (0 * sum by (service) (rate(http_requests_total{service=~\"a|b\"}[30m])))" in expr
    assert "sum by (service, le)" in build_catalogue(label="service").expression("p99_latency_ms", ["a"])
    errors = build_catalogue(label="service").expression("errors", ["a"])
    # The zero of a service without 5xx comes from its own traffic (issue 11), as for one service.
    assert errors == ('sum by (service) (increase(http_requests_total{service=~"a",code=~"5.."}[30m]))'
                      ' or (0 * sum by (service) (increase(http_requests_total{service=~"a"}[30m])))')


def test_extra_selector_and_label_are_applied():
    catalogue = build_catalogue(label="app", interval_seconds=600, selector='env="prod"')
    expr = catalogue.expression("requests", ["a"])
    assert expr == 'sum by (app) (increase(http_requests_total{app=~"a",env="prod"}[10m]))'
    assert catalogue.for_target("a").selector == 'app="a",env="prod"'
    with pytest.raises(InputError):
        build_catalogue(label="app", interval_seconds=600, selector='app="x"')
    with pytest.raises(InputError):
        build_catalogue(label="bad-label")


class FakeClient:
    """Answers range queries with canned series per metric name."""

    def __init__(self, answers):
        self.answers = answers
        self.request_count = 0

    def range(self, expr, start, end, step):
        self.request_count += 1
        for key, series in self.answers.items():
            if key in expr:
                return series
        return []


def _points(value):
    return [(WINDOW.time_of(k).timestamp(), value) for k in range(WINDOW.snapshot_count)]


def test_collector_routes_series_and_keeps_the_servers_zero_errors():
    answers = {
        "ALERTS": [Series({"alertname": "X", "severity": "critical", "service": "a"}, _points(1.0))],
        # What the server answers for "errors": a's 5xx, and b's 0 from "or (0 * its traffic)".
        "increase(http_requests_total{service=~\"a|b\",code": [Series({"service": "a"}, _points(3.0)),
                                                                Series({"service": "b"}, _points(0.0))],
        "sum by (service) (increase(http_requests_total": [Series({"service": "a"}, _points(100.0)),
                                                            Series({"service": "b"}, _points(50.0))],
    }
    client = FakeClient(answers)
    collector = Collector(client, build_catalogue(label="service"), WINDOW, {})
    got = collector.range_snapshots([0, 1, 2, 3], ["a", "b"])
    assert client.request_count == len(SNAPSHOT_QUERIES)  # one range query per metric for the whole batch
    assert got["a"][0].values["errors"] == 3.0 and got["b"][0].values["errors"] == 0.0
    assert got["b"][2].values["requests"] == 50.0
    assert [a.alertname for a in got["a"][1].alerts] == ["X"] and got["b"][1].alerts == []
    assert "p99_latency_ms" in got["b"][0].missing


def _entry(name, score, rollback=False, degraded=(), weekly=True):
    if not weekly:
        return fleet_summary.fleet_entry(name, name, None)
    days = [{"day_number": d, "snapshot_count": 48, "degraded": d in degraded,
             "_metadata": {"data_completeness": "complete"}} for d in range(1, 8)]
    return fleet_summary.fleet_entry(name, name, {
        "stability_score": score, "stability_grade": "A" if score >= 90 else "C", "rollback_recommended": rollback,
        "rollback_reasons": ["why"] if rollback else [], "degraded_days": list(degraded), "missing_days": [],
        "daily_summaries": days, "total_snapshots": 336, "avg_availability": 99.9, "avg_error_rate": 0.1,
        "avg_p99_latency_ms": 200.0, "total_critical_alerts": 0, "baseline_timestamp": "2026-01-04T18:00:00Z",
    })


def test_summary_ranks_worst_first_and_validates():
    entries = [_entry("ok", 99.0), _entry("meh", 75.0, degraded=(2,)), _entry("bad", 95.0, rollback=True),
               _entry("gone", None, weekly=False)]
    summary = fleet_summary.build_fleet_summary(entries, WINDOW, service_label="service")
    schemas.validate(summary, "fleet")
    assert [e["service"] for e in summary["services"]] == ["bad", "gone", "meh", "ok"]
    assert summary["rollback_recommended"] == ["bad"] and summary["no_data"] == ["gone"]
    assert summary["services"][2]["day_status"][1] == "degraded"
    text = fleet_summary.fleet_summary_markdown(summary)
    assert "**Roll back (1):** `bad`" in text
    json.dumps(summary)


def test_baseline_folder_warns_for_a_missing_service(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"timestamp": "2026-01-04T18:00:00Z", "availability": 99.9}))
    baselines, warnings = fleet_folder.load_fleet_baselines(tmp_path, ["a", "b"])
    assert baselines["a"].values == {"availability": 99.9} and baselines["b"] is None
    assert warnings == [f"no baseline for service 'b' in {tmp_path}: no drift for it"]


def test_demo_fleet_needs_no_server(tmp_path):
    summary = build_demo_fleet(tmp_path / "fleet", services=3)
    assert summary["service_count"] == 3
    assert summary["rollback_recommended"] == ["svc-03"]  # the incident week
    assert fleet_folder.is_fleet_folder(tmp_path / "fleet")
    merged = fleet_folder.merge_fleet(tmp_path / "fleet")
    assert [e["service"] for e in merged["services"]] == [e["service"] for e in summary["services"]]


@pytest.mark.slow
def test_fleet_notebook_runs_on_a_fleet_folder_and_is_stored_thin(tmp_path):
    import nbformat
    import papermill as pm

    from stabmon.core import paths

    template = paths.NOTEBOOKS_DIR / "fleet_overview.ipynb"
    stored = nbformat.read(template, as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert code[1].metadata.get("tags") == ["parameters"]
    build_demo_fleet(tmp_path / "fleet", services=3)
    nb = pm.execute_notebook(str(template), str(tmp_path / "out.ipynb"), kernel_name="python3",
                             parameters={"fleet_dir": str(tmp_path / "fleet")}, progress_bar=False)
    text = json.dumps(nb["cells"][-1]["outputs"])
    assert "svc-03" in text


def test_one_queries_file_serves_one_service_and_a_fleet(tmp_path):
    """``{by}`` groups an override by the service label in a fleet and disappears for one service."""
    queries = tmp_path / "queries.yaml"
    queries.write_text("requests: 'sum{by}(increase(my_requests_total{sel}[w]))'\n"
                       "p99_latency_ms: '1000 * histogram_quantile(0.99, sum{by:le}(rate(my_bucket{sel}[w])))'\n")
    single = build_catalogue(service="a", interval_seconds=600, queries_file=queries)
    fleet = build_catalogue(label="service", interval_seconds=600, queries_file=queries)
    assert single.expression("requests") == 'sum(increase(my_requests_total{service="a"}[10m]))'
    assert fleet.expression("requests", ["a", "b"]) == (
        'sum by (service) (increase(my_requests_total{service=~"a|b"}[10m]))')
    assert fleet.expression("p99_latency_ms", ["a"]) == (
        '1000 * histogram_quantile(0.99, sum by (service, le) (rate(my_bucket{service=~"a"}[10m])))')
    assert single.expression("p99_latency_ms") == (
        '1000 * histogram_quantile(0.99, sum by (le) (rate(my_bucket{service="a"}[10m])))')
    # The fleet service's own run.json records the single-service form of the same file.
    assert fleet.for_target("a").expression("requests") == single.expression("requests")
