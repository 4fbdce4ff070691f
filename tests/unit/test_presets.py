"""Presets and query files: the loader, each preset rendered by hand, placeholders, bad input, check --print."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from stabmon.cli.args import byte_size, cpu_cores
from stabmon.cli.main import main
from stabmon.collect import preset as presets
from stabmon.collect.check import check_target, withheld_metrics
from stabmon.collect.queries import QUERY_NAMES, build_catalogue, default_templates
from stabmon.core.errors import InputError
from unit.test_check import APP_ANSWERS, RecordedServer

MINE = {"prometheus", "cadvisor", "process", "fastapi", "otel"}
AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
NOT_METRICS = 'handler!~"/metrics|none"'


# --------------------------------------------------------------------------- the loader


def test_shipped_presets_load_with_their_kind_and_every_query_of_it():
    assert MINE <= set(presets.known_presets())
    for name in MINE:
        loaded = presets.load_preset(name)
        assert set(loaded.queries) == set(presets.KIND_QUERIES[loaded.kind]), name
        assert loaded.description and loaded.families, name
        # Every query a family names is one of the preset's own.
        assert {q for names in loaded.families.values() for q in names} <= set(loaded.queries), name


def test_default_is_prometheus_and_cadvisor_and_the_contracts_expressions():
    plain = build_catalogue(service="checkout", interval_seconds=1800)
    named = build_catalogue(service="checkout", interval_seconds=1800, preset="prometheus,cadvisor")
    assert plain.preset == named.preset == "prometheus,cadvisor"
    for name in QUERY_NAMES:
        assert plain.expression(name) == named.expression(name)
    # docs/contract.md §2.2, rendered for checkout at 30 minutes.
    assert plain.expression("availability") == (
        '100 * (1 - (sum(rate(http_requests_total{service="checkout",code=~"5.."}[30m])) or (0 * '
        'sum(rate(http_requests_total{service="checkout"}[30m])))) / '
        'sum(rate(http_requests_total{service="checkout"}[30m])))')
    assert plain.expression("memory_percent") == (
        '100 * sum(container_memory_working_set_bytes{service="checkout"}) / '
        'sum(container_spec_memory_limit_bytes{service="checkout"})')
    # A fleet on service: §2.4.
    assert default_templates("service")["p99_latency_ms"] == (
        "1000 * histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{sel}[w])))")


def test_one_preset_of_a_kind_keeps_the_default_of_the_other():
    assert build_catalogue(preset="fastapi").preset == "fastapi,cadvisor"
    assert build_catalogue(preset="process").preset == "prometheus,process"
    assert build_catalogue(preset="process, otel").preset == "otel,process"


# --------------------------------------------------------------------------- each preset, by hand


def test_fastapi_for_one_service():
    c = build_catalogue(service="checkout", interval_seconds=300, preset="fastapi")
    total = f'http_requests_total{{job="checkout",{NOT_METRICS}}}'
    fives = f'http_requests_total{{job="checkout",{NOT_METRICS},status=~"5.."}}'
    assert c.expression("error_rate") == (
        f"100 * (sum(rate({fives}[5m])) or (0 * sum(rate({total}[5m])))) / sum(rate({total}[5m]))")
    assert c.expression("requests") == f"sum(increase({total}[5m]))"
    assert c.expression("p95_latency_ms") == (
        '1000 * histogram_quantile(0.95, sum by (le) '
        '(rate(http_request_duration_highr_seconds_bucket{job="checkout"}[5m])))')
    assert c.expression("day_p99_latency_ms", day_seconds=43200) == (
        '1000 * histogram_quantile(0.99, sum by (le) '
        '(increase(http_request_duration_highr_seconds_bucket{job="checkout"}[12h])))')
    # Alerts: service="NAME" unless the preset says otherwise.
    assert c.expression("alerts") == 'max_over_time(ALERTS{alertstate="firing",service="checkout"}[5m])'


def test_fastapi_status_matcher_matches_grouped_and_plain_codes():
    import re

    for status, hit in (("5xx", True), ("500", True), ("503", True), ("2xx", False), ("404", False)):
        assert bool(re.fullmatch("5..", status)) is hit, status


def test_fastapi_fleet_groups_by_job():
    c = build_catalogue(fleet=True, interval_seconds=600, preset="fastapi,process")
    assert c.label == "job"
    assert c.expression("requests", ["a", "b"]) == (
        f'sum by (job) (increase(http_requests_total{{job=~"a|b",{NOT_METRICS}}}[10m]))')
    assert c.expression("p99_latency_ms", ["a"]) == (
        '1000 * histogram_quantile(0.99, sum by (job, le) '
        '(rate(http_request_duration_highr_seconds_bucket{job=~"a"}[10m])))')
    # ALERTS is matched on service and relabelled to job so that it reaches its service.
    assert c.expression("alerts", ["a", "b"]) == (
        'label_replace(max_over_time(ALERTS{alertstate="firing",service=~"a|b"}[10m]), '
        '"job", "$1", "service", "(.*)")')
    # A fleet service's run.json reads exactly its series, as a single run of it does.
    single = build_catalogue(service="a", interval_seconds=600, preset="fastapi,process")
    for name in ("requests", "p99_latency_ms", "cpu_percent", "alerts"):
        assert c.for_target("a").expression(name) == single.expression(name)
    assert c.discovery_metrics == ("http_requests_total", "http_request_duration_highr_seconds_bucket",
                                   "process_cpu_seconds_total", "process_resident_memory_bytes")


def test_otel_for_one_service_and_a_namespace():
    c = build_catalogue(service="checkout", namespace="shop", interval_seconds=30, preset="otel")
    count = 'http_server_request_duration_seconds_count{job="checkout",namespace="shop"}'
    fives = 'http_server_request_duration_seconds_count{job="checkout",namespace="shop",http_response_status_code=~"5.."}'
    assert c.expression("errors") == f"sum(increase({fives}[30s])) or (0 * sum(increase({count}[30s])))"
    assert c.expression("availability") == (
        f"100 * (1 - (sum(rate({fives}[30s])) or (0 * sum(rate({count}[30s])))) / sum(rate({count}[30s])))")
    assert c.expression("p99_latency_ms") == (
        '1000 * histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket'
        '{job="checkout",namespace="shop"}[30s])))')
    assert c.expression("alerts") == (
        'max_over_time(ALERTS{alertstate="firing",service="checkout",namespace="shop"}[30s])')
    # cadvisor (the default resources preset) keeps its own label: service.
    assert c.expression("cpu_percent") == (
        '100 * sum(rate(container_cpu_usage_seconds_total{service="checkout",namespace="shop"}[30s])) / '
        'sum(container_spec_cpu_quota{service="checkout",namespace="shop"} / '
        'container_spec_cpu_period{service="checkout",namespace="shop"})')


def test_a_resources_preset_on_another_label_is_relabelled_in_a_fleet():
    c = build_catalogue(fleet=True, interval_seconds=60, preset="otel")  # otel on job, cadvisor on service
    assert c.expression("memory_percent", ["a"]) == (
        'label_replace(100 * sum by (service) (container_memory_working_set_bytes{service=~"a"}) / '
        'sum by (service) (container_spec_memory_limit_bytes{service=~"a"}), "job", "$1", "service", "(.*)")')
    # An explicit --service-label names the service everywhere, ALERTS included: nothing to relabel.
    app = build_catalogue(label="app", interval_seconds=60, preset="otel")
    assert app.expression("memory_percent", ["a"]).startswith("100 * sum by (app) (")
    assert app.expression("alerts", ["a"]) == 'max_over_time(ALERTS{alertstate="firing",app=~"a"}[1m])'


# --------------------------------------------------------------------------- limits


def test_process_divides_by_the_given_limits():
    c = build_catalogue(service="api", interval_seconds=300, preset="process", cpu_limit=0.5,
                        memory_limit=512 * 1024 * 1024)
    assert c.expression("cpu_percent") == '100 * avg(rate(process_cpu_seconds_total{job="api"}[5m])) / 0.5'
    assert c.expression("memory_percent") == '100 * avg(process_resident_memory_bytes{job="api"}) / 536870912'
    assert c.withheld == {}
    fleet = build_catalogue(fleet=True, interval_seconds=300, preset="fastapi,process", cpu_limit=2)
    assert fleet.expression("cpu_percent", ["a"]) == (
        '100 * avg by (job) (rate(process_cpu_seconds_total{job=~"a"}[5m])) / 2')


def test_a_missing_limit_withholds_the_metric_never_zero():
    c = build_catalogue(service="checkout", interval_seconds=60, preset="fastapi,process", memory_limit=1e9)
    # NaN: whatever the server answers is recorded missing.
    assert c.expression("cpu_percent") == '100 * avg(rate(process_cpu_seconds_total{job="checkout"}[1m])) / NaN'
    assert list(c.withheld) == ["cpu_percent"]
    assert "--cpu-limit" in c.withheld["cpu_percent"] and "never 0" in c.withheld["cpu_percent"]
    # The preflight names it without querying it, and monitor records it missing with the reason.
    server = RecordedServer(answers=APP_ANSWERS)
    report = check_target(server, c, at=AT)
    cpu = next(m for m in report.metrics if m.metric == "cpu_percent")
    assert cpu.series is None and [f.code for f in cpu.findings] == ["limit_absent"]
    assert withheld_metrics(report.findings)["cpu_percent"] == f"preflight: {c.withheld['cpu_percent']}"


def test_check_names_the_missing_family_and_the_queries_it_withholds():
    """Recorded series of a real instrumentator app, trimmed: no highr histogram, no process metrics."""
    report = check_target(RecordedServer(answers=APP_ANSWERS),
                          build_catalogue(service="checkout", interval_seconds=60, preset="fastapi,process",
                                          cpu_limit=1, memory_limit=1e9), at=AT)
    lines = report.lines()
    assert lines[1:4] == [
        "family http_request_duration_highr_seconds_bucket not found: p95_latency_ms, p99_latency_ms, "
        "day_p95_latency_ms, day_p99_latency_ms withheld",
        "family process_cpu_seconds_total not found: cpu_percent withheld",
        "family process_resident_memory_bytes not found: memory_percent withheld",
    ]
    # status=~"5.." is on the request series: the error figures can be trusted (the default's code=~ cannot).
    assert not [f for f in report.findings if f.code == "error_label_absent"]
    default = check_target(RecordedServer(answers=APP_ANSWERS), build_catalogue(service="checkout"), at=AT)
    assert {f.metric for f in default.findings if f.code == "error_label_absent"} == {
        "availability", "error_rate", "errors"}


@pytest.mark.parametrize("text, value", [("512Mi", 536870912), ("1G", 1e9), ("1.5Gi", 1.5 * 2**30),
                                         ("1073741824", 1073741824), ("256MiB", 268435456), ("2k", 2000)])
def test_memory_limit_sizes(text, value):
    assert byte_size(text) == value


@pytest.mark.parametrize("text, value", [("0.5", 0.5), ("2", 2.0), ("500m", 0.5), ("250m", 0.25)])
def test_cpu_limit_cores(text, value):
    assert cpu_cores(text) == value


@pytest.mark.parametrize("parse, text", [(byte_size, "12 apples"), (byte_size, "0"), (byte_size, "-1G"),
                                         (cpu_cores, "2 cores"), (cpu_cores, "0m"), (cpu_cores, "1Gi")])
def test_bad_limits(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


# --------------------------------------------------------------------------- query files on top


def test_queries_file_overrides_single_expressions_with_its_own_labels(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("service_label: app\n"
                    "p99_latency_ms: '1000 * histogram_quantile(0.99, sum{by:le}(rate(lat_bucket{sel}[w])))'\n"
                    "alerts_selector: 'app=\"{service}\",severity!=\"info\"'\n")
    c = build_catalogue(service="x", interval_seconds=60, preset="otel", queries_file=path)
    assert c.expression("p99_latency_ms") == '1000 * histogram_quantile(0.99, sum by (le) (rate(lat_bucket{app="x"}[1m])))'
    assert c.expression("p95_latency_ms").endswith('{job="x"}[1m])))')  # the preset's, on job
    assert c.expression("alerts") == 'max_over_time(ALERTS{alertstate="firing",app="x",severity!="info"}[1m])'
    fleet = build_catalogue(fleet=True, interval_seconds=60, preset="otel", queries_file=path)
    assert fleet.expression("alerts", ["a"]) == (
        'label_replace(max_over_time(ALERTS{alertstate="firing",app=~"a",severity!="info"}[1m]), '
        '"job", "$1", "app", "(.*)")')


def test_a_range_inside_a_label_value_is_a_value(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("requests: 'sum(increase(x_total{sel,path=\"/a[5m]\"}[w]))'\n")
    assert build_catalogue(service="s", interval_seconds=60, queries_file=path).expression("requests") == (
        'sum(increase(x_total{service="s",path="/a[5m]"}[1m]))')


@pytest.mark.parametrize("text, fragment", [
    ("requests: 'sum(increase(http_requests_total[w]))'\n", "expression of requests lacks {sel}"),
    ("errors: 'sum(increase(x_total{sel}[5m]))'\n", "expression of errors hard-codes the range [5m]; write [w]"),
    ("p99_latency_ms: 'max_over_time(x{sel}[1h:1m])'\n", "hard-codes the range [1h:1m]"),
    ("p95_latency_ms: 'histogram_quantile(0.95, sum by (le) (increase(x_bucket{sel}[d])))'\n",
     "uses [d], the day's length, which only day_p95_latency_ms and day_p99_latency_ms may use"),
    ("kind: resources\nrequests: 'sum(x{sel})'\n", "requests is not a query of a resources file"),
    ("kind: grpc\n", "kind must be http or resources"),
    ("service_label: 'not a label'\n", "service_label: not a label"),
    ("alerts_selector: 'job=\"x\"'\n", "alerts_selector must be a matcher list holding {service}"),
    ("families: {http_requests_total: [nope]}\n", "families: http_requests_total must list query names"),
    ("latency: 'x{sel}'\n", "unknown metric 'latency'"),
])
def test_bad_query_files_are_one_line_naming_file_and_query(tmp_path, text, fragment):
    path = tmp_path / "q.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        build_catalogue(service="s", queries_file=path)
    message = str(caught.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_day_queries_may_use_d(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("day_p95_latency_ms: '1000 * histogram_quantile(0.95, sum{by:le}(increase(x_bucket{sel}[d])))'\n")
    c = build_catalogue(service="s", queries_file=path)
    assert c.expression("day_p95_latency_ms", day_seconds=3600) == (
        '1000 * histogram_quantile(0.95, sum by (le) (increase(x_bucket{service="s"}[1h])))')


@pytest.mark.parametrize("preset, fragment", [
    ("nope", "--preset: unknown preset 'nope' (known: "),
    ("fastapi,otel", "fastapi and otel are both http presets"),
    ("cadvisor,process", "cadvisor and process are both resources presets"),
    ("fastapi,", "expected HTTP[,RESOURCES]"),
])
def test_bad_presets(preset, fragment):
    with pytest.raises(InputError) as caught:
        build_catalogue(preset=preset)
    assert fragment in str(caught.value)
    if preset == "nope":
        assert all(name in str(caught.value) for name in MINE)


def test_bad_alerts_selector_in_a_file(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("alerts_selector: 'job=~\"{service}\"'\n")
    with pytest.raises(InputError, match="exactly one LABEL=\"{service}\""):
        build_catalogue(service="s", queries_file=path)


# --------------------------------------------------------------------------- the command line


def test_check_print_shows_every_rendered_query_and_exits_0(capsys):
    code = main(["check", "--preset", "fastapi,process", "--service", "checkout", "--interval", "5",
                 "--cpu-limit", "500m", "--print", "--prometheus-url", "http://127.0.0.1:9"])  # no server is asked
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "preset: fastapi,process"
    printed = dict(line.split(": ", 1) for line in out[1:] if not line.startswith("  "))
    assert list(printed) == list(QUERY_NAMES)
    assert printed["cpu_percent"] == '100 * avg(rate(process_cpu_seconds_total{job="checkout"}[5m])) / 0.5'
    assert printed["memory_percent"].endswith("/ NaN")
    assert [line for line in out if line.startswith("  withheld: ")] == [
        "  withheld: no --memory-limit given: memory_percent divides by that limit (fastapi,process), "
        "so it is withheld, never 0"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stabmon.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, fragment", [
    (["check", "--preset", "grafana", "--print"], "unknown preset 'grafana' (known: "),
    (["check", "--preset", "process", "--memory-limit", "lots", "--print"], "not a size: 'lots'"),
    (["baseline", "--preset", "otel", "--namespace", "", "--start", "2026-11-01T00:00:00Z"], "--namespace: empty"),
])
def test_cli_bad_input_is_one_line_and_exit_1(args, fragment):
    proc = _run(*args)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_cli_queries_file_lacking_sel_is_one_line(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("requests: 'sum(increase(my_requests_total[w]))'\n")
    proc = _run("check", "--queries", str(path), "--print")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"stabmon: error: --queries {path}: expression of requests lacks {{sel}} "
                                   "(the service's matchers), so it would read every service's series")


def test_the_readme_example_for_a_stack_not_shipped_loads_and_renders(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("A stack we do not ship", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "traefik.yaml"
    path.write_text(block)
    c = build_catalogue(service="default-checkout-80@kubernetes", interval_seconds=300, queries_file=path)
    sel = 'service="default-checkout-80@kubernetes"'
    assert c.expression("requests") == f"sum(increase(traefik_service_requests_total{{{sel}}}[5m]))"
    assert c.expression("p99_latency_ms") == (
        f"1000 * histogram_quantile(0.99, sum by (le) (rate(traefik_service_request_duration_seconds_bucket{{{sel}}}[5m])))")
    assert c.expression("alerts") == f'max_over_time(ALERTS{{alertstate="firing",{sel},severity!="info"}}[5m])'
    assert "traefik_service_requests_total" in c.families


def test_the_old_otel_conventions_file_in_the_docs_reads_milliseconds_as_they_are(tmp_path):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "presets.md").read_text()
    block = doc.split("### OpenTelemetry's old HTTP conventions", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "otel-old.yaml"
    path.write_text(block)
    c = build_catalogue(service="checkout", interval_seconds=60, preset="otel", queries_file=path)
    assert c.expression("p95_latency_ms") == (
        'histogram_quantile(0.95, sum by (le) (rate(http_server_duration_milliseconds_bucket{job="checkout"}[1m])))')
    assert c.expression("errors") == (
        'sum(increase(http_server_duration_milliseconds_count{job="checkout",http_status_code=~"5.."}[1m])) or '
        '(0 * sum(increase(http_server_duration_milliseconds_count{job="checkout"}[1m])))')
    # Every http query is overridden: nothing of the stable family is read any more.
    assert all("request_duration_seconds" not in c.expression(n) for n in presets.KIND_QUERIES["http"])
    # check looks for the families the expressions read now, not the preset's.
    assert "http_server_request_duration_seconds_bucket" not in c.families
    assert c.families["http_server_duration_milliseconds_bucket"] == (
        "p95_latency_ms", "p99_latency_ms", "day_p95_latency_ms", "day_p99_latency_ms")


def test_a_folder_is_resumed_only_with_its_own_preset(tmp_path):
    from dataclasses import replace

    from stabmon import store
    from stabmon.collect.prom import ConnectionSettings
    from stabmon.collect.run import RunOptions, check_resume, run_info
    from stabmon.collect.window import make_window

    window = make_window(AT, 1.0, 30.0)
    connection = ConnectionSettings.from_env("http://127.0.0.1:9", env={})
    opts = RunOptions(out_dir=tmp_path, window=window, connection=connection,
                      catalogue=build_catalogue(service="checkout", preset="fastapi,process", cpu_limit=1),
                      service="checkout")
    info = run_info(opts)
    assert info["preset"] == "fastapi,process"
    store.write_json_atomic(tmp_path / store.RUN_FILE, info)
    check_resume(opts)  # the same run: resumed
    other = replace(opts, catalogue=build_catalogue(service="checkout", preset="otel,process", cpu_limit=1))
    with pytest.raises(InputError, match="holds a run with --preset fastapi,process; use another --output"):
        check_resume(other)
    # A run.json from before presets read prometheus,cadvisor: resumed without --preset, refused with another.
    del info["preset"]
    store.write_json_atomic(tmp_path / store.RUN_FILE, info)
    plain = replace(opts, catalogue=build_catalogue(service="checkout"))
    with pytest.raises(InputError, match="--output .* holds a run for another selector"):
        check_resume(plain)  # job="checkout" was recorded; the default reads service="checkout"
    with pytest.raises(InputError, match="--preset prometheus,cadvisor"):
        check_resume(other)
