"""The query catalogue: the contract's expressions, selectors and escaping."""

from __future__ import annotations

import pytest

from stabmon.core.errors import InputError
from stabmon.collect.queries import (
    DEFAULT_QUERIES,
    build_catalogue,
    build_selector,
    load_overrides,
    parse_selector,
    promql_duration,
    promql_string,
    render,
)

# Contract section 2, verbatim. Issue 11 changed the zero of the error figures: the contract's
# "or vector(0)" became "or (0 * <the target's own traffic>)", so no request series is missing, never 0.
CONTRACT = {
    "availability": '100 * (1 - (sum(rate(http_requests_total{sel,code=~"5.."}[w])) or (0 * sum(rate(http_requests_total{sel}[w])))) / sum(rate(http_requests_total{sel}[w])))',
    "error_rate": '100 * (sum(rate(http_requests_total{sel,code=~"5.."}[w])) or (0 * sum(rate(http_requests_total{sel}[w])))) / sum(rate(http_requests_total{sel}[w]))',
    "requests": "sum(increase(http_requests_total{sel}[w]))",
    "errors": 'sum(increase(http_requests_total{sel,code=~"5.."}[w])) or (0 * sum(increase(http_requests_total{sel}[w])))',
    "p95_latency_ms": "1000 * histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{sel}[w])))",
    "p99_latency_ms": "1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{sel}[w])))",
    "cpu_percent": "100 * sum(rate(container_cpu_usage_seconds_total{sel}[w])) / sum(container_spec_cpu_quota{sel} / container_spec_cpu_period{sel})",
    "memory_percent": "100 * sum(container_memory_working_set_bytes{sel}) / sum(container_spec_memory_limit_bytes{sel})",
    "alerts": 'max_over_time(ALERTS{alertstate="firing",sel}[w])',
}


def test_defaults_are_the_contracts():
    for name, expr in CONTRACT.items():
        assert DEFAULT_QUERIES[name] == expr


def test_no_default_turns_matched_nothing_into_zero():
    """The zero of every error figure is the target's own traffic times 0, never a label-less vector(0)."""
    for label in (None, "service"):
        for name, expr in build_catalogue(label=label).templates.items():
            assert "vector(0)" not in expr, (label, name)


def test_render_service_and_window():
    catalogue = build_catalogue(service="checkout", interval_seconds=1800)
    assert catalogue.expression("errors") == (
        'sum(increase(http_requests_total{service="checkout",code=~"5.."}[30m]))'
        ' or (0 * sum(increase(http_requests_total{service="checkout"}[30m])))'
    )
    assert catalogue.expression("alerts") == 'max_over_time(ALERTS{alertstate="firing",service="checkout"}[30m])'
    assert catalogue.expression("day_p99_latency_ms", day_seconds=7200).endswith('{service="checkout"}[2h])))')


def test_render_without_selector_leaves_valid_matchers():
    catalogue = build_catalogue(interval_seconds=90)
    assert catalogue.expression("errors") == ('sum(increase(http_requests_total{code=~"5.."}[90s]))'
                                              ' or (0 * sum(increase(http_requests_total{}[90s])))')
    assert catalogue.expression("requests") == "sum(increase(http_requests_total{}[90s]))"
    assert catalogue.expression("alerts") == 'max_over_time(ALERTS{alertstate="firing"}[90s])'


@pytest.mark.parametrize("seconds, text", [(1800, "30m"), (90, "90s"), (3, "3s"), (86400, "24h"), (7200, "2h"), (60, "1m")])
def test_durations(seconds, text):
    assert promql_duration(seconds) == text


@pytest.mark.parametrize("bad", [0, 0.5, 1.5, -60])
def test_duration_needs_whole_seconds(bad):
    with pytest.raises(ValueError):
        promql_duration(bad)


@pytest.mark.parametrize("value", ['a"b', "a\\b", "a\nb", "a}b{", "x\"} or vector(1) #", "é ü 日本", "\t\r", "[w]", "sel"])
def test_hostile_values_round_trip_as_one_string(value):
    literal = promql_string(value)
    # Decoding the literal with PromQL's rules gives the value back, whole.
    parsed = parse_selector(f"service={literal}")
    assert parsed[0].value == value
    expr = render("x{sel}[w]", selector=f"service={literal}", interval_seconds=60)
    assert expr == "x{service=" + literal + "}[1m]"


def test_inserted_values_are_not_rescanned():
    selector = build_selector(service="a[w]{sel}")
    assert render("rate(x{sel}[w])", selector=selector, interval_seconds=60) == 'rate(x{service="a[w]{sel}"}[1m])'


def test_selector_forms():
    got = build_selector(selector="{job='api', env=~\"prod|stage\" , team!=`a\\b`, zone=eu-1}")
    assert got == 'job="api",env=~"prod|stage",team!="a\\\\b",zone="eu-1"'


@pytest.mark.parametrize("bad", ["", "job", "job=", 'job="unterminated', "1abc=\"x\"", 'job="a" env="b"',
                                 'job=a"b', '__name__="x"', 'job="a\\q"'])
def test_bad_selectors(bad):
    with pytest.raises(InputError, match="--selector"):
        build_selector(selector=bad)


def test_service_and_selector_are_exclusive():
    with pytest.raises(InputError):
        build_selector(service="a", selector='b="c"')


def test_queries_file(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("p99_latency_ms: |\n  1000 * histogram_quantile(0.99,\n    sum by (le) (rate(lat_bucket{sel}[w])))\n")
    catalogue = build_catalogue(service="s", queries_file=path, interval_seconds=1800)
    assert "lat_bucket{service=\"s\"}[30m]" in catalogue.expression("p99_latency_ms")
    assert catalogue.expression("requests") == 'sum(increase(http_requests_total{service="s"}[30m]))'


@pytest.mark.parametrize("text, match", [
    ("nonsense_metric: 'up'\n", "unknown metric 'nonsense_metric'"),
    ("requests: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
    ("requests: 3\n", "non-empty string"),
])
def test_bad_queries_file(tmp_path, text, match):
    path = tmp_path / "q.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as caught:
        load_overrides(path)
    assert "\n" not in str(caught.value)


def test_missing_queries_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_overrides(tmp_path / "absent.yaml")
