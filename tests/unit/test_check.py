"""The preflight's findings, on recorded metadata answers (no server).

``INSTRUMENTATOR_SERIES`` is what ``/api/v1/series`` answered for a FastAPI
app instrumented with prometheus-fastapi-instrumentator (defaults) and
scraped with ``service="checkout"`` added by the scrape config: status codes
are grouped in ``status``, there is no ``code`` label, and the duration
histogram has the bounds 0.1, 0.5 and 1 s.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone


from stabmon.cli.main import main
from stabmon.collect.check import (
    KEY_METRICS,
    Finding,
    Preflight,
    check_target,
    scan_selectors,
    withheld_metrics,
)
from stabmon.collect.prom import Series
from stabmon.collect.queries import build_catalogue, build_selector
from stabmon.core.model import Window
from stabmon.core.settings import Settings

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)

# Recorded /api/v1/series answer (label sets), trimmed to one handler.
INSTRUMENTATOR_SERIES = json.loads("""[
 {"__name__": "http_requests_total", "handler": "/checkout", "instance": "127.0.0.1:40001",
  "job": "checkout", "method": "GET", "service": "checkout", "status": "2xx"},
 {"__name__": "http_requests_total", "handler": "/checkout", "instance": "127.0.0.1:40001",
  "job": "checkout", "method": "GET", "service": "checkout", "status": "5xx"},
 {"__name__": "http_request_duration_seconds_bucket", "handler": "/checkout", "instance": "127.0.0.1:40001",
  "job": "checkout", "le": "0.1", "method": "GET", "service": "checkout"},
 {"__name__": "http_request_duration_seconds_bucket", "handler": "/checkout", "instance": "127.0.0.1:40001",
  "job": "checkout", "le": "0.5", "method": "GET", "service": "checkout"},
 {"__name__": "http_request_duration_seconds_bucket", "handler": "/checkout", "instance": "127.0.0.1:40001",
  "job": "checkout", "le": "1.0", "method": "GET", "service": "checkout"},
 {"__name__": "http_request_duration_seconds_bucket", "handler": "/checkout", "instance": "127.0.0.1:40001",
  "job": "checkout", "le": "+Inf", "method": "GET", "service": "checkout"}
]""")
# Recorded /api/v1/metadata answers (data part).
INSTRUMENTATOR_METADATA = json.loads("""{
 "http_requests_total": [{"type": "counter", "help": "Total number of requests by method, status and handler.",
                          "unit": ""}],
 "http_request_duration_seconds": [{"type": "histogram", "help": "Latency with only few buckets by handler.",
                                    "unit": ""}]
}""")


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Whether a recorded series matches a match[] selector (bare name or name{matchers})."""
    if "{" not in selector:
        return labels.get("__name__") == selector
    (parsed,) = scan_selectors(selector)
    if labels.get("__name__") != parsed.metric:
        return False
    for m in parsed.matchers:
        value = labels.get(m.name, "")
        hit = value == m.value if m.op in ("=", "!=") else re.fullmatch(m.value, value) is not None
        if hit != (m.op in ("=", "=~")):
            return False
    return True


class RecordedServer:
    """Answers the metadata API from recorded series and metadata, queries from canned answers."""

    def __init__(self, series=INSTRUMENTATOR_SERIES, metadata=INSTRUMENTATOR_METADATA, answers=None,
                 ranges=None):
        self.all_series = series
        self.meta = metadata
        self.answers = answers or {}  # substring of the expression -> instant value (None: no series)
        self.ranges = ranges or {}
        self.calls: list[str] = []

    def _matching(self, matchers):
        if not matchers:
            return list(self.all_series)
        return [s for s in self.all_series if any(_selects(m, s) for m in matchers)]

    def instant(self, expr, at, *, step_seconds=None):
        self.calls.append("query")
        for key, value in self.answers.items():
            if key in expr:
                return [] if value is None else [Series({}, [(at.timestamp(), value)])]
        return []

    def range(self, expr, start, end, step_seconds):
        self.calls.append("query_range")
        for key, points in self.ranges.items():
            if key in expr:
                return [Series({}, points)]
        return []

    def labels(self, matchers, start=None, end=None):
        self.calls.append("labels")
        return sorted({k for s in self._matching(matchers) for k in s})

    def label_values(self, label, matchers, start, end):
        self.calls.append("values")
        return sorted({s[label] for s in self._matching(matchers) if label in s})

    def series(self, matchers, start=None, end=None):
        self.calls.append("series")
        return self._matching(matchers)

    def metadata(self, metric):
        self.calls.append("metadata")
        return self.meta.get(metric, [])


# What the real app answers with the default queries: traffic, and a 0 from "or (0 * traffic)".
APP_ANSWERS = {"histogram_quantile(0.99": 99.0, "histogram_quantile(0.95": 95.0, "100 * (1 -": 100.0,
               "100 * (sum(rate": 0.0, "increase(http_requests_total": 600.0}


def _check(service="checkout", server=None, **kw):
    catalogue = build_catalogue(service=service, interval_seconds=60, **kw)
    return check_target(server or RecordedServer(answers=APP_ANSWERS), catalogue, at=AT)


def _codes(report, metric):
    return [f.code for f in report.findings if f.metric == metric]


# --------------------------------------------------------------------------- the scan


def test_scan_finds_each_selector_once_with_its_matchers_and_counter_context():
    expr = build_catalogue(service="checkout", interval_seconds=60).expression("error_rate")
    found = scan_selectors(expr)
    # The request selector appears twice in the expression (zero and divisor): listed once.
    assert [s.render() for s in found] == ['http_requests_total{service="checkout",code=~"5.."}',
                                           'http_requests_total{service="checkout"}']
    assert all(s.counter for s in found)
    gauge = scan_selectors(build_catalogue(interval_seconds=60).expression("memory_percent"))
    assert [s.counter for s in gauge] == [False, False]


def test_scan_keeps_a_hostile_value_inside_its_string():
    selector = build_selector(service='a"} or x{b="c')
    (found,) = scan_selectors(f"rate(m{{{selector}}}[1m])")
    assert found.metric == "m" and found.matchers[0].value == 'a"} or x{b="c'


# --------------------------------------------------------------------------- the error label


def test_error_label_absent_on_the_request_series_makes_the_error_figures_unreadable():
    report = _check()
    for metric in ("availability", "error_rate", "errors"):
        assert _codes(report, metric) == ["error_label_absent"], report.lines()
    message = next(f.message for f in report.findings if f.metric == "error_rate")
    assert 'code=~"5.."' in message and "status" in message and "wrong label" in message
    assert report.unreadable == ["availability", "error_rate"]  # p99 reads (with a warning)
    assert report.exit_code == 1
    assert set(withheld_metrics(report.findings)) == {"availability", "error_rate", "errors"}


def test_error_label_present_is_no_finding_even_with_no_5xx():
    with_code = [{**s, "code": "200"} if s["__name__"] == "http_requests_total" else s
                 for s in INSTRUMENTATOR_SERIES]
    report = _check(server=RecordedServer(series=with_code, answers=APP_ANSWERS))
    assert not [f for f in report.findings if f.metric in ("availability", "error_rate", "errors")]


# --------------------------------------------------------------------------- why nothing matched


def test_mistyped_service_names_the_closest_value():
    report = _check(service="chekout", server=RecordedServer())
    assert _codes(report, "error_rate") == ["value_absent"]
    message = next(f.message for f in report.findings if f.metric == "p99_latency_ms")
    assert message == ('no http_request_duration_seconds_bucket series has service="chekout"; '
                       "did you mean checkout?")
    assert report.unreadable == list(KEY_METRICS) and report.exit_code == 1


def test_label_not_on_the_metric_lists_its_labels():
    report = check_target(RecordedServer(), build_catalogue(selector='team="pay"', interval_seconds=60), at=AT)
    message = next(f.message for f in report.findings if f.metric == "requests")
    assert message == ('label team is not on http_requests_total (in team="pay"); its labels: handler, '
                       "instance, job, method, service, status")


def test_absent_metric_suggests_a_close_name(tmp_path):
    queries = tmp_path / "q.yaml"
    queries.write_text("requests: sum(increase(http_request_total{sel}[w]))\n")
    report = _check(server=RecordedServer(answers=APP_ANSWERS | {"http_request_total": None}), queries_file=queries)
    (finding,) = [f for f in report.findings if f.metric == "requests"]
    assert finding.code == "metric_absent" and "did you mean http_requests_total?" in finding.message


def test_matchers_each_fine_but_not_together_is_no_series():
    preflight = Preflight(RecordedServer(), at=AT, start=AT - timedelta(hours=1))
    (selector,) = scan_selectors('http_requests_total{status="5xx",handler="/other"}')
    assert preflight.why_empty(selector)[0] == "value_absent"  # /other is no handler
    (selector,) = scan_selectors('http_requests_total{status="5xx",method="GET"}')
    assert preflight.why_empty(selector) is None  # that series exists


def test_nan_answer_with_series_is_no_value():
    # The answer parser turns NaN into None: a series with no value is "no_value", not "no series".
    report = check_target(_NanServer(), build_catalogue(service="checkout", interval_seconds=60), at=AT)
    assert "no_value" in _codes(report, "p99_latency_ms")


class _NanServer(RecordedServer):
    def __init__(self):
        super().__init__(answers=APP_ANSWERS)

    def instant(self, expr, at, *, step_seconds=None):
        if "histogram_quantile(0.99" in expr:
            return [Series({}, [(at.timestamp(), None)])]
        return super().instant(expr, at, step_seconds=step_seconds)


def test_no_alert_series_is_no_finding():
    assert _codes(_check(), "alerts") == []


# --------------------------------------------------------------------------- histograms


def _histogram(bounds, p95, p99, slo=500.0):
    series = [{"__name__": "lat_bucket", "service": "checkout", "le": b} for b in bounds]
    preflight = Preflight(RecordedServer(series=series), at=AT, start=AT - timedelta(hours=1),
                          settings=Settings(latency_slo_p99_ms=slo))
    (selector,) = scan_selectors('lat_bucket{service="checkout"}')
    return (preflight.histogram("p95_latency_ms", [selector], p95),
            preflight.histogram("p99_latency_ms", [selector], p99))


def test_instrumentator_buckets_interpolate_inside_the_first_bucket():
    p95, p99 = _histogram(["0.1", "0.5", "1.0", "+Inf"], 95.0, 99.0)
    # SLO 500 ms is a bound (within a factor 2): the SLO itself can be told. But 95 and 99 ms lie in
    # the bucket 0-100 ms: histogram_quantile interpolates 95 % and 99 % of the way through it.
    assert [f.code for f in p95] == ["quantile_interpolated"] and [f.code for f in p99] == ["quantile_interpolated"]
    assert p99[0].message == ("p99 99 ms is interpolated inside the bucket 0-100 ms of lat_bucket: "
                              "it only says p99 is between 0 ms and 100 ms")


def test_coarse_buckets_around_the_slo_and_a_quantile_pinned_to_a_bound():
    # Bounds 100, 1500, 5000 ms; the SLO window is 500/2 = 250 .. 500*2 = 1000 ms: no bound in it.
    p95, p99 = _histogram(["0.1", "1.5", "5", "+Inf"], 1500.0, 1200.0)
    assert [f.code for f in p95] == ["quantile_pinned"]  # 1500 ms is the bound itself
    # 1200 ms lies in 100..1500 ms: 1500/100 = 15 >= 4, so it is interpolated too.
    assert [f.code for f in p99] == ["buckets_coarse", "quantile_interpolated"]
    assert "nearest: 100 ms and 1500 ms" in p99[0].message


def test_fine_buckets_give_no_finding():
    # 700 ms in 500..1000 ms: bounds a factor 2 apart (< 4), a bound at the SLO: nothing to say.
    p95, p99 = _histogram(["0.25", "0.5", "1", "2", "+Inf"], 700.0, 700.0)
    assert p95 == [] and p99 == []


def test_wide_bucket_edge_is_four_times():
    # 300 ms in 100..400 ms: 400/100 = 4, at the edge -> interpolated; in 100..350 (3.5): fine.
    assert [f.code for f in _histogram(["0.1", "0.4", "+Inf"], 300.0, 300.0)[0]] == ["quantile_interpolated"]
    assert _histogram(["0.1", "0.35", "+Inf"], 300.0, 300.0)[0] == []


def test_milliseconds_histograms_are_not_scaled():
    series = [{"__name__": "lat_ms_bucket", "le": b} for b in ("250", "500", "1000")]
    preflight = Preflight(RecordedServer(series=series), at=AT, start=AT)
    (selector,) = scan_selectors("lat_ms_bucket{}")
    assert preflight.histogram("p99_latency_ms", [selector], 700.0) == []


# --------------------------------------------------------------------------- counters


def test_a_gauge_under_rate_is_not_a_counter():
    meta = {**INSTRUMENTATOR_METADATA, "http_requests_total": [{"type": "gauge", "help": "", "unit": ""}]}
    report = _check(server=RecordedServer(metadata=meta, answers=APP_ANSWERS))
    assert "not_a_counter" in _codes(report, "requests")
    assert "not_a_counter" not in _codes(report, "p99_latency_ms")  # the histogram's family is a histogram


def test_without_metadata_the_name_decides():
    preflight = Preflight(RecordedServer(metadata={}), at=AT, start=AT)
    found = preflight.counter("requests", scan_selectors("rate(queue_depth{}[1m]) + rate(jobs_total{}[1m])"))
    assert [f.message.split()[0] for f in found] == ["queue_depth"]


# --------------------------------------------------------------------------- coverage and records


def test_coverage_is_the_share_of_snapshot_times_with_a_value():
    window = Window(start=AT - timedelta(hours=1), duration_hours=1, interval_minutes=15)
    times = [window.time_of(k).timestamp() for k in range(4)]
    # 4 snapshot times, values at 3 of them (one NaN): 3 / 4 = 75 %.
    server = RecordedServer(answers=APP_ANSWERS, ranges={"increase(http_requests_total{service=\"checkout\"}[15m]))":
                                                         [(times[0], 1.0), (times[1], None), (times[2], 2.0),
                                                          (times[3], 3.0)]})
    report = check_target(server, build_catalogue(service="checkout", interval_seconds=900), at=AT,
                          window=window, coverage=True)
    by_name = {m.metric: m for m in report.metrics}
    assert by_name["requests"].coverage_percent == 75.0
    assert by_name["cpu_percent"].coverage_percent == 0.0


def test_findings_round_trip_and_print_one_line_each():
    report = _check()
    for finding in report.findings:
        assert Finding.from_dict(finding.to_dict()) == finding
    lines = report.lines()
    assert len(lines) == 1 + len(report.missing_families) + len(report.metrics) + len(report.findings) + 1
    assert all("\n" not in line for line in lines)


def test_check_command_refuses_half_a_window(capsys):
    assert main(["check", "--prometheus-url", "http://127.0.0.1:9", "--service", "x", "--start",
                 "2026-01-05T00:00:00Z"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--start and --duration" in err


# --------------------------------------------------------------------------- what monitor does with it


def test_withheld_figures_are_missing_with_the_preflight_reason_whatever_the_server_says():
    from stabmon.collect.collector import Collector

    window = Window(start=AT, duration_hours=1, interval_minutes=30)
    server = RecordedServer(answers={"": 0.0})  # every query answers 0: "no errors", "100 %"
    reason = withheld_metrics(_check().findings)
    collector = Collector(server, build_catalogue(service="checkout", interval_seconds=1800), window, {},
                          withheld={"checkout": reason})
    (snapshot,) = collector.instant_snapshots(0, ["checkout"]).values()
    data = snapshot.to_dict()
    assert data["availability"] is None and data["error_rate"] is None and data["errors"] is None
    assert data["requests"] == 0.0  # what is not withheld is read as answered
    assert data["missing_reasons"]["error_rate"].startswith('preflight: the error matcher code=~"5.."')


def test_a_preflight_that_cannot_reach_the_server_is_recorded_not_fatal(tmp_path):
    from stabmon.collect.run import Target, preflight
    from support.runs import options
    from support.servers import free_port

    window = Window(start=AT, duration_hours=1, interval_minutes=30)
    opts = options(f"http://127.0.0.1:{free_port()}", tmp_path, window, backoff=0.01)
    (record,) = preflight(opts, [Target("checkout", tmp_path)], AT).values()
    assert record["findings"] == [] and "connection refused" in record["error"]
