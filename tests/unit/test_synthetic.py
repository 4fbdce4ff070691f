"""The synthetic week: deterministic, realistic, and what PromQL would say about it.

The degradation rule and the PromQL evaluation below are written here, on
purpose independently of ``stabmon.core`` and of the generator's numpy
code, so a bug in either side shows up as a disagreement.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from statistics import fmean

import pytest

from support.synthetic_export import generate_fleet, generate_week, write_fleet_openmetrics

from stabmon.core.model import METRIC_FIELDS, Snapshot, Window
from stabmon.demo.synthetic import DEFAULT_START, SCENARIOS, SyntheticWeek

PERCENT_FIELDS = ("availability", "error_rate", "cpu_percent", "memory_percent")

#: The healthy profile as SCENARIOS["healthy"] states it: 0.02 % of requests fail
#: (availability ~99.98 %), p99 ~250 ms, CPU ~40 %, memory ~30 %, traffic between
#: 50 and 300 req/s. The bands below leave room for a week's noise around it.
HEALTHY_AVAILABILITY = (99.95, 99.99)
HEALTHY_MAX_ERROR_RATE = 0.05     # a snapshot's error rate stays under 2.5x the mean
HEALTHY_MAX_P99_MS = 400.0        # well under the 500 ms SLO
HEALTHY_CPU = (35.0, 45.0)        # 40 % +- 5 points
HEALTHY_MEMORY = (25.0, 35.0)     # 30 % +- 5 points
#: Requests in one 30-minute snapshot (1,800 s) at the traffic's floor and peak, with
#: room for the slow multiplicative noise (up to -15 % at night, +20 % at the peak).
INTERVAL_S = 1800
HEALTHY_MIN_REQUESTS = 50 * INTERVAL_S * 0.85
HEALTHY_MAX_REQUESTS = 300 * INTERVAL_S * 1.2


@pytest.fixture(scope="module")
def healthy() -> SyntheticWeek:
    return generate_week("healthy")


@pytest.fixture(scope="module")
def incident() -> SyntheticWeek:
    return generate_week("incident")


# ---------------------------------------------------------------------------
# the seed's rules, re-implemented by hand


def days_of(week: SyntheticWeek) -> dict[int, list[Snapshot]]:
    days: dict[int, list[Snapshot]] = defaultdict(list)
    for snap in week.snapshots:
        days[week.window.day_of(snap.timestamp)].append(snap)
    return dict(days)


def degraded_days(week: SyntheticWeek) -> set[int]:
    """Availability or latency SLO compliance < 95 %, or mean error rate >= 0.1 %."""
    out = set()
    for day, snaps in days_of(week).items():
        availability_ok = 100.0 * sum(s.values["availability"] >= 99.9 for s in snaps) / len(snaps)
        latency_ok = 100.0 * sum(s.values["p99_latency_ms"] < 500.0 for s in snaps) / len(snaps)
        error_rate = fmean(s.values["error_rate"] for s in snaps)
        if availability_ok < 95.0 or latency_ok < 95.0 or error_rate >= 0.1:
            out.add(day)
    return out


def resource_trend(week: SyntheticWeek) -> str:
    """First n//2 days against the last n//2 days, relative change of CPU and memory (5 %)."""
    days = days_of(week)
    n = len(days)
    first, last = list(range(1, n // 2 + 1)), list(range(n - n // 2 + 1, n + 1))
    changes = []
    for metric in ("cpu_percent", "memory_percent"):
        daily = {d: fmean(s.values[metric] for s in days[d]) for d in days}
        a, b = fmean(daily[d] for d in first), fmean(daily[d] for d in last)
        changes.append((b - a) / a * 100.0)
    if any(c > 5.0 for c in changes):
        return "degrading"
    if all(c < -5.0 for c in changes):
        return "improving"
    return "stable"


# ---------------------------------------------------------------------------
# shape and determinism


def test_scenarios_are_described():
    assert {"healthy", "incident"} <= set(SCENARIOS)
    assert all(isinstance(text, str) and text for text in SCENARIOS.values())


def test_week_layout(healthy):
    window = healthy.window
    assert window == Window(DEFAULT_START, 168.0, 30.0)
    assert window.start == datetime(2026, 1, 5, tzinfo=timezone.utc)
    assert len(healthy.snapshots) == 336
    assert [s.timestamp for s in healthy.snapshots] == window.times()
    for snap in healthy.snapshots:
        assert snap.missing == []
        assert snap.drift_percent == {}
        assert set(snap.values) == set(METRIC_FIELDS)
    assert healthy.service == "checkout" and healthy.scenario == "healthy"
    assert healthy.baseline.timestamp == window.start - timedelta(hours=6)
    assert healthy.baseline.service == "checkout"


def test_same_seed_same_week_other_seed_other_week():
    a = generate_week("incident", seed=7, duration_hours=24)
    b = generate_week("incident", seed=7, duration_hours=24)
    c = generate_week("incident", seed=8, duration_hours=24)
    assert [s.to_dict() for s in a.snapshots] == [s.to_dict() for s in b.snapshots]
    assert a.baseline == b.baseline
    digest = lambda w: hashlib.sha256("".join(w.iter_vm_import_lines()).encode()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b)
    assert [s.values for s in a.snapshots] != [s.values for s in c.snapshots]


def test_scenarios_share_the_noise_outside_incidents(healthy, incident):
    # Traffic is its own random stream, so an incident does not reshuffle it.
    assert [s.values["requests"] for s in healthy.snapshots] == [s.values["requests"] for s in incident.snapshots]
    assert healthy.baseline == incident.baseline


def test_percentages_stay_in_range():
    for scenario in SCENARIOS:
        week = generate_week(scenario, seed=3)
        for snap in week.snapshots:
            for name in PERCENT_FIELDS:
                assert 0.0 <= snap.values[name] <= 100.0, (scenario, name, snap.values[name])
            assert 0.0 <= snap.values["errors"] <= snap.values["requests"]
            assert 0.0 < snap.values["p95_latency_ms"] <= snap.values["p99_latency_ms"]
            assert math.isclose(snap.values["availability"] + snap.values["error_rate"], 100.0, abs_tol=1e-9)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown scenario"):
        generate_week("nope")
    with pytest.raises(ValueError, match="multiple of scrape_seconds"):
        generate_week(interval_minutes=30, scrape_seconds=7)
    with pytest.raises(ValueError):
        generate_week(duration_hours=0)
    with pytest.raises(ValueError, match="unique"):
        generate_fleet([("a", "healthy"), ("a", "incident")])


# ---------------------------------------------------------------------------
# scenario facts


@pytest.mark.parametrize("seed", [42, 1, 2, 3, 4])
def test_healthy_week_is_healthy(seed):
    week = generate_week("healthy", seed=seed)
    values = {m: [s.values[m] for s in week.snapshots] for m in METRIC_FIELDS}
    assert HEALTHY_AVAILABILITY[0] <= fmean(values["availability"]) <= HEALTHY_AVAILABILITY[1]
    assert max(values["error_rate"]) < HEALTHY_MAX_ERROR_RATE
    assert max(values["p99_latency_ms"]) < HEALTHY_MAX_P99_MS
    assert HEALTHY_CPU[0] <= fmean(values["cpu_percent"]) <= HEALTHY_CPU[1]
    assert HEALTHY_MEMORY[0] <= fmean(values["memory_percent"]) <= HEALTHY_MEMORY[1]
    assert min(values["requests"]) >= HEALTHY_MIN_REQUESTS
    assert max(values["requests"]) <= HEALTHY_MAX_REQUESTS
    assert degraded_days(week) == set() == week.planted.degraded_days
    assert resource_trend(week) == "stable" == week.planted.resource_trend
    assert all(not s.alerts for s in week.snapshots)
    assert week.planted.incidents == [] and week.planted.alert_episodes == []


def test_healthy_baseline_matches_the_week(healthy):
    # Drift of a quiet week against its own release day stays small.
    base = healthy.baseline.values
    assert set(base) == {"availability", "error_rate", "p95_latency_ms", "p99_latency_ms", "cpu_percent",
                         "memory_percent"}
    for metric in ("availability", "p99_latency_ms", "cpu_percent", "memory_percent"):
        mean = fmean(s.values[metric] for s in healthy.snapshots)
        assert abs(mean - base[metric]) / base[metric] < 0.05, metric


@pytest.mark.parametrize("seed", [42, 5, 6])
def test_incident_degrades_the_planted_days(seed):
    week = generate_week("incident", seed=seed)
    assert week.planted.degraded_days == {3, 5}
    assert degraded_days(week) == week.planted.degraded_days
    assert resource_trend(week) == "degrading" == week.planted.resource_trend


def test_incident_timeline(incident):
    kinds = {i["kind"]: i for i in incident.planted.incidents}
    assert set(kinds) == {"error_rate", "latency", "resource_creep"}
    errors, latency = kinds["error_rate"], kinds["latency"]
    assert errors["day_number"] == 3 and errors["degrades_days"] == [3]
    assert errors["start"] == datetime(2026, 1, 7, 13, tzinfo=timezone.utc)
    assert errors["end"] == datetime(2026, 1, 7, 17, tzinfo=timezone.utc)
    assert latency["day_number"] == 5 and latency["metric"] == "p99_latency_ms"
    assert latency["start"] == datetime(2026, 1, 9, 9, tzinfo=timezone.utc)

    # 13:00-17:00 is 4 h: 8 snapshots at 30 min, each 1 % to 4 % of requests failing
    # (SCENARIOS["incident"]) plus the base 0.02 %, within [1, 5].
    during = [s for s in incident.snapshots if errors["start"] < s.timestamp <= errors["end"]]
    assert len(during) == 8
    assert all(1.0 <= s.values["error_rate"] <= 5.0 for s in during)
    # 09:00-14:00 is 5 h: 10 snapshots, every p99 over the 500 ms SLO.
    slow = [s for s in incident.snapshots if latency["start"] < s.timestamp <= latency["end"]]
    assert all(s.values["p99_latency_ms"] > 500.0 for s in slow) and len(slow) == 10
    outside = [s for s in incident.snapshots
               if not any(i["start"] < s.timestamp <= i["end"] + timedelta(minutes=30)
                          for i in (errors, latency))]
    assert max(s.values["error_rate"] for s in outside) < HEALTHY_MAX_ERROR_RATE
    assert max(s.values["p99_latency_ms"] for s in outside) < 500.0

    # Memory creeps up 28 points linearly over the week: the last day's mean is
    # 28 * 6/7 = 24 points above the first day's; 20 leaves room for noise.
    memory = [s.values["memory_percent"] for s in incident.snapshots]
    assert fmean(memory[-48:]) - fmean(memory[:48]) > 20.0


def test_incident_alert_episodes(incident):
    episodes = incident.planted.alert_episodes
    critical = incident.planted.episodes_by_severity("critical")
    warning = incident.planted.episodes_by_severity("warning")
    assert [(e["alertname"], e["day_number"]) for e in critical] == [("HighErrorRate", 3), ("HighLatencyP99", 5)]
    assert len(warning) == 1
    across = warning[0]
    assert across["day_number"] == 4
    assert incident.window.day_of(across["last_snapshot"]) == 5  # spans midnight day 4 -> 5
    assert across["fired_at"].hour == 23 and across["resolved_at"].hour == 1
    for episode in episodes:
        assert episode["resolved_at"] is not None and episode["labels"]["alertstate"] == "firing"
        assert episode["labels"]["service"] == "checkout"
    # The planted episodes are exactly the runs of consecutive snapshots with the alert.
    runs = []
    current: dict = {}
    for k, snap in enumerate(incident.snapshots):
        names = {a.alertname: a for a in snap.alerts}
        for name in names:
            if name in current and current[name][1] == k - 1:
                current[name][1] = k
            else:
                current[name] = [k, k]
                runs.append((name, current[name]))
    assert sorted((n, r[0], r[1]) for n, r in runs) == sorted(
        (e["alertname"], incident.window.index_of(e["first_snapshot"]), incident.window.index_of(e["last_snapshot"]))
        for e in episodes)


def test_latency_regression_degrades_the_rest_of_the_week():
    week = generate_week("latency_regression")
    assert week.planted.degraded_days == {4, 5, 6, 7} == degraded_days(week)
    assert week.planted.alert_episodes[0]["resolved_at"] is None  # still firing at the end


def test_short_window_plants_nothing_it_cannot_show():
    week = generate_week("incident", duration_hours=2, interval_minutes=10)
    assert len(week.snapshots) == 12
    assert week.planted.degraded_days == set()
    assert [i["kind"] for i in week.planted.incidents] == ["resource_creep"]
    assert all(not s.alerts for s in week.snapshots)


def test_fleet_services_differ_but_each_is_its_own_week():
    fleet = generate_fleet({"checkout": "incident", "payments": "healthy"}, duration_hours=24)
    assert [(w.service, w.scenario) for w in fleet] == [("checkout", "incident"), ("payments", "healthy")]
    alone = generate_week("incident", service="checkout", duration_hours=24)
    assert [s.values for s in fleet[0].snapshots] == [s.values for s in alone.snapshots]
    assert [s.values["requests"] for s in fleet[0].snapshots] != [s.values["requests"] for s in fleet[1].snapshots]


# ---------------------------------------------------------------------------
# the text output, and PromQL evaluated on it by hand

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+) (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_samples(lines) -> dict[tuple, list[tuple[float, float]]]:
    """``(name, sorted labels) -> [(t seconds, value)]`` from VictoriaMetrics import lines."""
    series: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for line in lines:
        match = LINE.match(line.rstrip("\n"))
        assert match, line
        name, labels, value, ts = match.groups()
        key = (name, tuple(sorted(LABEL.findall(labels))))
        series[key].append((int(ts) / 1000.0, float(value)))
    return series


def promql_rate(samples, t, w, *, is_rate=True):
    """Prometheus 2.x ``extrapolatedRate``: samples in the closed range [t - w, t]."""
    pts = [(ts, v) for ts, v in samples if t - w <= ts <= t]
    if len(pts) < 2:
        return None
    result = pts[-1][1] - pts[0][1]
    result += sum(prev for (_, prev), (_, cur) in zip(pts, pts[1:]) if cur < prev)  # counter resets
    sampled = pts[-1][0] - pts[0][0]
    average = sampled / (len(pts) - 1)
    to_start, to_end = pts[0][0] - (t - w), t - pts[-1][0]
    if result > 0 and pts[0][1] >= 0:
        to_start = min(to_start, sampled * (pts[0][1] / result))
    extrapolate = sampled
    extrapolate += to_start if to_start < average * 1.1 else average / 2
    extrapolate += to_end if to_end < average * 1.1 else average / 2
    result = result * (extrapolate / sampled)
    return result / w if is_rate else result


def bucket_quantile(q, buckets):
    """PromQL ``bucketQuantile`` (Prometheus 2.x) on ``[(upper bound, cumulative count)]``."""
    buckets = sorted(buckets)
    if not math.isinf(buckets[-1][0]):
        return math.nan
    running = 0.0
    fixed = []
    for bound, count in buckets:  # ensureMonotonic
        running = max(running, count)
        fixed.append((bound, running))
    observations = fixed[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(fixed) - 1) if fixed[i][1] >= rank), len(fixed) - 1)
    if b == len(fixed) - 1:
        return fixed[-2][0]
    if b == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    start, end, count = 0.0, fixed[b][0], fixed[b][1]
    if b > 0:
        start = fixed[b - 1][0]
        count -= fixed[b - 1][1]
        rank -= fixed[b - 1][1]
    return start + (end - start) * (rank / count)


def last_at(samples, t, lookback=300.0):
    pts = [v for ts, v in samples if t - lookback < ts <= t]
    return pts[-1] if pts else None


def evaluate(series, t, w):
    """The contract's default expressions (section 2) for one ``t_k``."""
    def pick(name, **match):
        return [s for (n, labels), s in series.items()
                if n == name and all(dict(labels).get(k) == v for k, v in match.items())]

    requests = pick("http_requests_total")
    errors = [s for (n, labels), s in series.items() if n == "http_requests_total" and dict(labels)["code"][0] == "5"]
    total_rate = sum(promql_rate(s, t, w) for s in requests)
    error_rate = sum(promql_rate(s, t, w) for s in errors)
    buckets = [(float(dict(labels)["le"]), promql_rate(s, t, w)) for (n, labels), s in series.items()
               if n == "http_request_duration_seconds_bucket"]
    quota = last_at(pick("container_spec_cpu_quota")[0], t)
    period = last_at(pick("container_spec_cpu_period")[0], t)
    alerts = sorted(
        dict(labels)["alertname"] for (n, labels), s in series.items()
        if n == "ALERTS" and dict(labels)["alertstate"] == "firing" and any(t - w < ts <= t for ts, _ in s))
    return {
        "availability": 100 * (1 - error_rate / total_rate),
        "error_rate": 100 * error_rate / total_rate,
        "requests": sum(promql_rate(s, t, w, is_rate=False) for s in requests),
        "errors": sum(promql_rate(s, t, w, is_rate=False) for s in errors),
        "p95_latency_ms": 1000 * bucket_quantile(0.95, buckets),
        "p99_latency_ms": 1000 * bucket_quantile(0.99, buckets),
        "cpu_percent": 100 * promql_rate(pick("container_cpu_usage_seconds_total")[0], t, w) / (quota / period),
        "memory_percent": 100 * last_at(pick("container_memory_working_set_bytes")[0], t)
        / last_at(pick("container_spec_memory_limit_bytes")[0], t),
        "alerts": alerts,
    }


@pytest.mark.parametrize("scenario,scrape", [("incident", 600), ("latency_regression", 300)])
def test_snapshots_equal_promql_on_the_exported_samples(scenario, scrape):
    week = generate_week(scenario, scrape_seconds=scrape)
    series = parse_samples(week.iter_vm_import_lines())
    w = week.window.interval_minutes * 60
    for snap in week.snapshots:
        expected = evaluate(series, snap.timestamp.timestamp(), w)
        for name in METRIC_FIELDS:
            assert snap.values[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-9), (snap.timestamp, name)
        assert sorted(a.alertname for a in snap.alerts) == expected["alerts"], snap.timestamp


def test_alerts_agree_with_closed_and_open_ranges(incident):
    # Prometheus 2.x includes the sample at t_k - interval, the contract does not:
    # no firing series may end exactly on a snapshot time or the two would differ.
    grid = {t.timestamp() for t in incident.window.times()}
    series = parse_samples(line for line in incident.iter_vm_import_lines() if line.startswith("ALERTS"))
    firing = [s for (_, labels), s in series.items() if dict(labels)["alertstate"] == "firing"]
    assert len(firing) == 3
    assert all(s[-1][0] not in grid for s in firing)


def test_every_series_carries_the_service_label():
    incident = generate_week("incident", scrape_seconds=600)
    series = parse_samples(incident.iter_vm_import_lines())
    names = {name for name, _ in series}
    assert names >= {"http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
                     "http_request_duration_seconds_count", "container_cpu_usage_seconds_total",
                     "container_spec_cpu_quota", "container_spec_cpu_period", "container_memory_working_set_bytes",
                     "container_spec_memory_limit_bytes", "ALERTS"}
    assert all(dict(labels)["service"] == "checkout" for _, labels in series)
    codes = {dict(labels)["code"] for name, labels in series if name == "http_requests_total"}
    assert codes == {"200", "404", "500", "503"}
    les = {dict(labels)["le"] for name, labels in series if name == "http_request_duration_seconds_bucket"}
    assert {"0.005", "10.0", "+Inf"} <= les
    # Counters start before the window, so the first snapshot has a full window of data.
    first = min(ts for s in series.values() for ts, _ in s)
    assert first <= incident.window.start.timestamp() - 3600


def check_openmetrics(path, services):
    """Structural rules promtool relies on: one block per family, rising timestamps, # EOF."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    families, current, kinds = [], None, {}
    last_ts: dict[str, float] = {}
    seen_services = set()
    for line in text.splitlines()[:-1]:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in kinds, f"family {name} twice"
            kinds[name] = kind
            families.append(name)
            current = name
            continue
        if line.startswith("#"):
            continue
        match = LINE.match(line)
        assert match, line
        name, labels, value, ts = match.groups()
        kind = kinds[current]
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}[kind]
        assert any(name == current + suffix for suffix in suffixes), (current, name)
        key = name + "{" + labels + "}"
        assert float(ts) > last_ts.get(key, -math.inf), key
        last_ts[key] = float(ts)
        float(value)
        seen_services.add(dict(LABEL.findall(labels))["service"])
    assert families[:2] == ["http_requests", "http_request_duration_seconds"]
    assert kinds["http_requests"] == "counter" and kinds["http_request_duration_seconds"] == "histogram"
    assert seen_services == set(services)


def test_openmetrics_file_is_well_formed(tmp_path):
    week = generate_week("incident", duration_hours=60, scrape_seconds=300)
    path = tmp_path / "week.om"
    week.write_openmetrics(path)
    check_openmetrics(path, ["checkout"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["week.om"]  # no temporary left behind


def test_fleet_openmetrics_has_each_family_once(tmp_path):
    fleet = generate_fleet({"checkout": "incident", "payments": "healthy", 'we"ird\\name': "healthy"},
                           duration_hours=6, scrape_seconds=300)
    path = tmp_path / "fleet.om"
    write_fleet_openmetrics(fleet, path)
    text = path.read_text(encoding="utf-8")
    assert 'service="we\\"ird\\\\name"' in text
    check_openmetrics(path, ["checkout", "payments", 'we\\"ird\\\\name'])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_openmetrics_file(tmp_path):
    fleet = generate_fleet({"checkout": "incident", "payments": "healthy"}, duration_hours=3, interval_minutes=10)
    path = tmp_path / "fleet.om"
    write_fleet_openmetrics(fleet, path)
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path), str(tmp_path / "db")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # 2 services x 26 series (4 codes, 15 buckets + sum + count, 5 container series, no alerts in 3 h)
    per_block = [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]
    samples = sum(int(cols[4]) for cols in per_block)
    n_scrapes = (3 * 3600 + 3600) // 60 + 1
    assert samples == 2 * 26 * n_scrapes
