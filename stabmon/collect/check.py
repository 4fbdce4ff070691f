"""The preflight: can the run's catalogue read this target, and can its figures be trusted?

``stabmon check`` prints it; ``monitor`` runs it before collecting and records
its findings in each target's ``run.json`` (docs/contract.md §2, §5). For every
metric of the catalogue it reports the rendered expression, the number of
series the expression returns, a recent value and (given a window) the share
of snapshot times with a value. When an expression matches nothing it says
why, from the metadata API:

- ``metric_absent``: no series of that metric name (closest names offered);
- ``label_absent``: the selector's label is not on that metric (its labels listed);
- ``value_absent``: no series has that label value ("did you mean checkout?");
- ``no_series``: each matcher matches some series, not all of them together;
- ``no_recent_sample``: series exist in the window, with no sample at the time checked.

And, whatever the expression returns:

- ``error_label_absent``: the error matcher's label (``code`` in
  ``code=~"5.."``) is not on the request series, so "no errors" cannot be
  told from "wrong label": the error figures are not to be trusted;
- ``buckets_coarse``: no bucket bound of the latency histogram within a
  factor 2 of the latency SLO threshold;
- ``quantile_pinned`` / ``quantile_interpolated``: a p95/p99 equal to a
  bucket bound, or inside a bucket so wide the value says little;
- ``not_a_counter``: ``rate()``/``increase()`` of a series whose metadata type
  is not a counter (or, without metadata, whose name is not a counter's);
- ``limit_absent``: the query divides by ``--cpu-limit``/``--memory-limit``
  and the flag was not given: withheld (recorded missing), never 0.

Before the metrics, each metric family the presets name (``families``) is
looked up: a family with no series at all is one line naming it and the
queries it withholds ("family X not found: p95_latency_ms, ... withheld").

Selectors are found by a small scan of ``name{matchers}`` in the rendered
PromQL, enough for the catalogue's templates; it is not a PromQL parser.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Protocol, Sequence

from stabmon.collect.prom import Series
from stabmon.collect.queries import SNAPSHOT_QUERIES, Matcher, QueryCatalogue, parse_selector
from stabmon.core.errors import InputError, PrometheusError, QueryError
from stabmon.core.model import Window, format_time
from stabmon.core.settings import DEFAULT_SETTINGS, Settings

#: The metrics without which a week cannot be judged (issue 11: the verdict's key metrics).
KEY_METRICS: tuple[str, ...] = ("availability", "error_rate", "p99_latency_ms")
#: Metrics whose zero depends on the error matcher's label being there.
ERROR_METRICS: tuple[str, ...] = ("availability", "error_rate", "errors")
#: Finding codes that make a metric's figures untrustworthy: monitor records them as missing.
WITHHOLD_CODES: frozenset[str] = frozenset({"error_label_absent", "limit_absent"})
ERROR, WARNING = "error", "warning"
#: How far back the metadata API is searched when no window says where the data is.
LOOKBACK_SECONDS = 3600.0
#: A bucket bound within this factor of the SLO threshold can tell the SLO.
BUCKET_FACTOR = 2.0
#: A quantile inside a bucket whose bounds are this far apart (or whose lower bound is 0) says little.
WIDE_BUCKET_RATIO = 4.0
_PINNED_TOLERANCE = 0.005
_SHOWN_LABELS = 12
#: Label names that usually carry the HTTP status, offered when the error label is absent.
_STATUS_LABELS = ("status", "status_code", "code", "http_status", "http_status_code", "response_code")

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_COUNTER_FUNCTIONS = ("rate", "irate", "increase")
_COUNTER_SUFFIXES = ("_total", "_count", "_bucket", "_sum")


class MetadataClient(Protocol):
    """What the preflight asks of the server (:class:`~stabmon.collect.prom.PrometheusClient`)."""

    def instant(self, expr: str, at: datetime, *, step_seconds: float | None = None) -> list[Series]: ...

    def range(self, expr: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]: ...

    def labels(self, matchers: list[str], start: datetime | None = None,
               end: datetime | None = None) -> list[str]: ...

    def label_values(self, label: str, matchers: list[str], start: datetime, end: datetime) -> list[str]: ...

    def series(self, matchers: list[str], start: datetime | None = None,
               end: datetime | None = None) -> list[dict[str, str]]: ...

    def metadata(self, metric: str) -> list[dict[str, str]]: ...


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One thing the preflight found about one metric of the catalogue."""

    metric: str
    severity: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"metric": self.metric, "severity": self.severity, "code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(str(data["metric"]), str(data["severity"]), str(data["code"]), str(data["message"]))

    def line(self) -> str:
        return f"  {self.severity.upper()} {self.metric} [{self.code}]: {self.message}"


@dataclass
class MetricCheck:
    """What the preflight saw of one metric: expression, series, a recent value, coverage, findings."""

    metric: str
    expression: str
    series: int | None = None
    value: float | None = None
    coverage_percent: float | None = None
    findings: list[Finding] = field(default_factory=list)

    def line(self) -> str:
        series = "query failed" if self.series is None else f"{self.series} series"
        value = "no value" if self.value is None else f"value {self.value:.6g}"
        coverage = "" if self.coverage_percent is None else f", coverage {self.coverage_percent:.1f} %"
        return f"{self.metric}: {series}, {value}{coverage}; {self.expression}"


@dataclass
class CheckReport:
    """The preflight of one target."""

    target: str
    at: datetime
    metrics: list[MetricCheck]
    #: Metric families with no series at all, each with the queries that need it.
    missing_families: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for m in self.metrics for f in m.findings]

    @property
    def unreadable(self) -> list[str]:
        """Key metrics with an error finding: the week cannot be judged on them."""
        bad = {f.metric for f in self.findings if f.severity == ERROR}
        return [m for m in KEY_METRICS if m in bad]

    @property
    def exit_code(self) -> int:
        return 1 if self.unreadable else 0

    def lines(self) -> list[str]:
        """One line per metric and per finding, then the outcome."""
        out = [f"check of {self.target} at {format_time(self.at)}"]
        out.extend(f"family {family} not found: {', '.join(names)} withheld" for family, names in self.missing_families)
        for metric in self.metrics:
            out.append(metric.line())
            out.extend(f.line() for f in metric.findings)
        if self.unreadable:
            out.append(f"key metrics that cannot be read: {', '.join(self.unreadable)}")
        else:
            out.append(f"every key metric can be read ({', '.join(KEY_METRICS)})")
        return out


def withheld_metrics(findings: Iterable[Finding]) -> dict[str, str]:
    """Metric -> reason for the figures ``monitor`` must record as missing (see :data:`WITHHOLD_CODES`)."""
    withheld: dict[str, str] = {}
    for finding in findings:
        if finding.code in WITHHOLD_CODES and finding.metric not in withheld:
            withheld[finding.metric] = f"preflight: {finding.message}"
    return withheld


# --------------------------------------------------------------------------- selectors


@dataclass(frozen=True)
class Selector:
    """One ``name{matchers}`` of an expression; ``counter`` when it is inside rate/irate/increase."""

    metric: str
    matchers: tuple[Matcher, ...]
    counter: bool = False

    def render(self) -> str:
        return self.metric + "{" + ",".join(m.render() for m in self.matchers) + "}"


def _skip_string(text: str, i: int) -> int:
    """Index just past the string literal starting at ``text[i]``."""
    quote = text[i]
    i += 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)


def _closing_brace(text: str, i: int) -> int:
    """Index of the ``}`` closing the matcher list opened at ``text[i]``, or -1."""
    i += 1
    while i < len(text):
        if text[i] in "\"'`":
            i = _skip_string(text, i)
            continue
        if text[i] == "}":
            return i
        i += 1
    return -1


def _in_counter_function(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    if not before.endswith("("):
        return False
    name = re.search(r"([a-zA-Z_]+)\s*$", before[:-1])
    return bool(name) and name.group(1) in _COUNTER_FUNCTIONS


def scan_selectors(expr: str) -> list[Selector]:
    """The ``name{...}`` selectors of ``expr``, in order, each once (string literals skipped)."""
    found: list[Selector] = []
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'`":
            i = _skip_string(expr, i)
            continue
        match = _IDENT.match(expr, i) if (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_:")) else None
        if match is None:
            i += 1
            continue
        j = match.end()
        while j < len(expr) and expr[j] in " \t\n":
            j += 1
        if j < len(expr) and expr[j] == "{":
            end = _closing_brace(expr, j)
            if end < 0:
                break
            body = expr[j + 1:end].strip()
            try:
                matchers = tuple(parse_selector(body)) if body else ()
            except InputError:
                matchers = None
            if matchers is not None:
                selector = Selector(match.group(0), matchers, _in_counter_function(expr, match.start()))
                if selector not in found:
                    found.append(selector)
            i = end + 1
            continue
        i = match.end()
    return found


def _matches(matcher: Matcher, value: str) -> bool:
    """Whether ``value`` of the label satisfies ``matcher`` (RE2 anchored as Python ``fullmatch``)."""
    if matcher.op in ("=", "!="):
        same = value == matcher.value
        return same if matcher.op == "=" else not same
    try:
        hit = re.fullmatch(matcher.value, value) is not None
    except re.error:
        return True  # a regex Python cannot read: do not claim it matches nothing
    return hit if matcher.op == "=~" else not hit


def _error_pairs(selectors: Sequence[Selector]) -> list[tuple[Selector, list[Matcher]]]:
    """(request selector, the error matchers it lacks) for each error selector of an expression.

    An error selector is one whose matchers are a strict superset of another
    selector of the same metric (``x{sel,code=~"5.."}`` next to ``x{sel}``).
    """
    pairs = []
    for err in selectors:
        for base in selectors:
            if base.metric == err.metric and set(base.matchers) < set(err.matchers):
                pairs.append((base, [m for m in err.matchers if m not in base.matchers]))
                break
    return pairs


def _is_error_selector(selector: Selector, selectors: Sequence[Selector]) -> bool:
    return any(s.metric == selector.metric and set(s.matchers) < set(selector.matchers) for s in selectors)


def _listed(values: Sequence[str], limit: int = _SHOWN_LABELS) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "") if values else "none"


def _ms(value: float) -> str:
    return f"{value:g} ms"


# --------------------------------------------------------------------------- the check


class Preflight:
    """The preflight of one target over one server; API answers are cached for the check's duration.

    Parameters
    ----------
    client
        The server (any :class:`MetadataClient`; tests pass recorded answers).
    at
        When the recent value is read (the end of a past window, else now).
    start
        Where the metadata API looks for series from (to ``at``).
    settings
        The thresholds (``latency_slo_p99_ms``).
    """

    def __init__(self, client: MetadataClient, *, at: datetime, start: datetime,
                 settings: Settings = DEFAULT_SETTINGS) -> None:
        self.client = client
        self.at = at
        self.start = min(start, at)
        self.settings = settings
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _ask(self, *key: Any) -> Any:
        if key not in self._cache:
            kind, *args = key
            if kind == "labels":
                self._cache[key] = sorted(self.client.labels([args[0]], self.start, self.at))
            elif kind == "values":
                self._cache[key] = sorted(self.client.label_values(args[0], [args[1]], self.start, self.at))
            elif kind == "series":
                self._cache[key] = self.client.series([args[0]], self.start, self.at)
            elif kind == "names":
                self._cache[key] = sorted(self.client.label_values("__name__", [], self.start, self.at))
            else:
                try:
                    self._cache[key] = self.client.metadata(args[0])
                except PrometheusError:  # a server without the metadata API: judge by the name
                    self._cache[key] = []
        return self._cache[key]

    def family_exists(self, family: str) -> bool:
        """Whether the metric family has any series in the lookback (whatever its labels)."""
        return bool(self._ask("labels", family))

    # -- why nothing matched ---------------------------------------------------

    def why_empty(self, selector: Selector) -> tuple[str, str] | None:
        """(code, message) saying why ``selector`` matches nothing, or ``None`` when it matches series."""
        metric = selector.metric
        labels = self._ask("labels", metric)
        if not labels:
            close = difflib.get_close_matches(metric, self._ask("names"), n=3, cutoff=0.7)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            return "metric_absent", (f"metric {metric} does not exist: no series of that name between "
                                     f"{format_time(self.start)} and {format_time(self.at)}{hint}")
        for matcher in selector.matchers:
            if matcher.name not in labels:
                if _matches(matcher, ""):
                    continue  # an absent label reads as "": this matcher keeps every series
                shown = [x for x in labels if x != "__name__"]
                return "label_absent", (f"label {matcher.name} is not on {metric} (in {matcher.render()}); "
                                        f"its labels: {_listed(shown)}")
            values = self._ask("values", matcher.name, metric)
            if not any(_matches(matcher, v) for v in values):
                close = difflib.get_close_matches(matcher.value, values, n=3, cutoff=0.6)
                hint = (f"did you mean {' or '.join(close)}?" if close
                        else f"its values: {_listed(values)}")
                return "value_absent", f"no {metric} series has {matcher.render()}; {hint}"
        if not self._ask("series", selector.render()):
            return "no_series", (f"no series matches {selector.render()}: each matcher matches some "
                                 f"{metric} series, not all of them together")
        return None

    def _diagnose(self, name: str, selectors: Sequence[Selector], answered: bool) -> list[Finding]:
        """Findings for an expression that returned no series (``answered``: or only NaN values)."""
        findings = []
        for selector in selectors:
            if _is_error_selector(selector, selectors):
                continue  # no 5xx is no error; the error label has its own check
            why = self.why_empty(selector)
            if why is not None:
                findings.append(Finding(name, ERROR, *why))
        if not findings:
            if answered:
                findings.append(Finding(name, ERROR, "no_value", f"the expression answers NaN or Inf at "
                                        f"{format_time(self.at)} (no traffic in the window?)"))
            else:
                findings.append(Finding(name, ERROR, "no_recent_sample", "its series exist but the expression has "
                                        f"no value at {format_time(self.at)} (data stopped?)"))
        return findings

    # -- what cannot be trusted even with a value ------------------------------

    def error_label(self, name: str, selectors: Sequence[Selector]) -> list[Finding]:
        findings = []
        for base, extra in _error_pairs(selectors):
            labels = self._ask("labels", base.render())
            if not labels:
                continue  # no request series: already "matches nothing"
            for matcher in extra:
                if matcher.name in labels or _matches(matcher, ""):
                    continue
                shown = [x for x in labels if x != "__name__"]
                likely = [x for x in _STATUS_LABELS if x in labels] or \
                    difflib.get_close_matches(matcher.name, shown, n=2, cutoff=0.6)
                hint = f"; did you mean {' or '.join(likely)}?" if likely else ""
                findings.append(Finding(name, ERROR, "error_label_absent", (
                    f"the error matcher {matcher.render()} uses label {matcher.name}, which is not on "
                    f"{base.render()} (its labels: {_listed(shown)}), so \"no errors\" cannot be told "
                    f"from \"wrong label\"{hint}")))
        return findings

    def histogram(self, name: str, selectors: Sequence[Selector], value: float | None) -> list[Finding]:
        """Buckets too coarse around the SLO threshold (p99) and a quantile pinned to a bound (p95, p99)."""
        findings: list[Finding] = []
        for selector in selectors:
            if not selector.metric.endswith("_bucket"):
                continue
            scale = 1.0 if ("_milliseconds" in selector.metric or selector.metric.endswith("_ms_bucket")) else 1000.0
            bounds = sorted({b * scale for b in (_bound(v) for v in self._ask("values", "le", selector.render()))
                             if b is not None})
            if not bounds:
                continue
            slo = self.settings.latency_slo_p99_ms
            if name == "p99_latency_ms" and not any(slo / BUCKET_FACTOR <= b <= slo * BUCKET_FACTOR for b in bounds):
                below = max((b for b in bounds if b < slo), default=None)
                above = min((b for b in bounds if b > slo), default=None)
                around = " and ".join(_ms(b) for b in (below, above) if b is not None)
                findings.append(Finding(name, WARNING, "buckets_coarse", (
                    f"no bucket bound of {selector.metric} within a factor {BUCKET_FACTOR:g} of the latency SLO "
                    f"{_ms(slo)} (nearest: {around}): whether p99 meets the SLO cannot be told")))
            if value is not None:
                findings.extend(_pinned(name, selector.metric, value, bounds))
        return findings

    def counter(self, name: str, selectors: Sequence[Selector]) -> list[Finding]:
        findings = []
        for selector in selectors:
            if not selector.counter:
                continue
            metric = selector.metric
            suffix = next((s for s in _COUNTER_SUFFIXES if metric.endswith(s)), "")
            expected = {"_bucket": ("histogram",), "_count": ("histogram", "summary"),
                        "_sum": ("histogram", "summary")}.get(suffix, ("counter",))
            kind = None
            for family in dict.fromkeys((metric, metric[: len(metric) - len(suffix)] if suffix else metric)):
                entries = self._ask("metadata", family)
                if entries:
                    kind = entries[0].get("type")
                    break
            if kind is not None and kind not in expected and kind not in ("unknown", "untyped", ""):
                findings.append(Finding(name, WARNING, "not_a_counter", (
                    f"{metric} is a {kind} (metadata), not a {' or '.join(expected)}: "
                    f"rate()/increase() of it means nothing")))
            elif kind is None and not suffix:
                findings.append(Finding(name, WARNING, "not_a_counter", (
                    f"{metric} has no metadata and its name lacks _total/_count/_bucket: "
                    "rate()/increase() expects a counter")))
        return findings

    # -- one metric ------------------------------------------------------------

    def metric(self, name: str, expr: str, *, step_seconds: float, window: Window | None = None) -> MetricCheck:
        """Check one metric of the catalogue (see the module docstring)."""
        result = MetricCheck(name, expr)
        try:
            series = self.client.instant(expr, self.at, step_seconds=step_seconds)
        except QueryError as exc:
            result.findings.append(Finding(name, ERROR, "query_rejected", f"rejected by the server: {exc}"))
            return result
        result.series = len(series)
        values = [s.points[-1][1] for s in series if s.points and s.points[-1][1] is not None]
        result.value = values[0] if values else None
        selectors = scan_selectors(expr)
        if window is not None:
            result.coverage_percent = self.coverage(expr, window)
        if result.value is None and name != "alerts":  # no ALERTS series is no alert firing
            result.findings.extend(self._diagnose(name, selectors, answered=bool(series)))
        if name in ERROR_METRICS:
            result.findings.extend(self.error_label(name, selectors))
        if name in ("p95_latency_ms", "p99_latency_ms"):
            result.findings.extend(self.histogram(name, selectors, result.value))
        result.findings.extend(self.counter(name, selectors))
        return result

    def coverage(self, expr: str, window: Window) -> float | None:
        """Share (%) of the window's snapshot times up to :attr:`at` at which ``expr`` has a value."""
        times = [window.time_of(k) for k in range(window.snapshot_count) if window.time_of(k) <= self.at]
        if not times:
            return None
        try:
            series = self.client.range(expr, times[0], times[-1], window.interval_minutes * 60.0)
        except QueryError:
            return None
        seen = {window.index_of_epoch(ts) for s in series for ts, v in s.points if v is not None}
        seen.discard(None)
        return 100.0 * len(seen) / len(times)


def _bound(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _pinned(name: str, metric: str, value: float, bounds: Sequence[float]) -> list[Finding]:
    """A quantile equal to a bucket bound, or interpolated inside a bucket too wide to say much."""
    label = name.replace("_latency_ms", "")
    for bound in bounds:
        if abs(value - bound) <= _PINNED_TOLERANCE * bound:
            return [Finding(name, WARNING, "quantile_pinned", (
                f"{label} {value:.6g} ms is the bucket bound {_ms(bound)} of {metric}: the quantile is pinned "
                "to a bound, the histogram cannot place it more finely"))]
    lower = max((b for b in bounds if b < value), default=0.0)
    upper = min((b for b in bounds if b > value), default=None)
    if upper is not None and (lower <= 0 or upper / lower >= WIDE_BUCKET_RATIO):
        return [Finding(name, WARNING, "quantile_interpolated", (
            f"{label} {value:.6g} ms is interpolated inside the bucket {lower:g}-{upper:g} ms of {metric}: "
            f"it only says {label} is between {_ms(lower)} and {_ms(upper)}"))]
    return []


def check_target(client: MetadataClient, catalogue: QueryCatalogue, *, at: datetime,
                 window: Window | None = None, coverage: bool = False, target: str = "",
                 settings: Settings = DEFAULT_SETTINGS) -> CheckReport:
    """The preflight of one (ungrouped) catalogue at ``at``.

    Parameters
    ----------
    window
        The run's window: the metadata API looks for series from its start
        (or one hour before ``at`` when that is earlier), and with
        ``coverage`` each metric's share of snapshot times with a value is
        measured over it (one range query per metric).

    Raises
    ------
    PrometheusError
        The server cannot be reached or refuses (a rejected query is a finding).
    """
    start = at - timedelta(seconds=LOOKBACK_SECONDS)
    if window is not None:
        start = min(start, window.start)
    step = window.interval_minutes * 60.0 if window is not None else catalogue.interval_seconds
    preflight = Preflight(client, at=at, start=start, settings=settings)
    withheld = catalogue.withheld
    metrics = []
    for name in SNAPSHOT_QUERIES:
        if name in withheld:
            metrics.append(MetricCheck(name, catalogue.expression(name),
                                       findings=[Finding(name, ERROR, "limit_absent", withheld[name])]))
            continue
        metrics.append(preflight.metric(name, catalogue.expression(name), step_seconds=step,
                                        window=window if coverage else None))
    missing = [(family, names) for family, names in catalogue.families.items()
               if not preflight.family_exists(family)]
    who = target or catalogue.selector or "every series (no selector)"
    return CheckReport(target=who, at=at, metrics=metrics, missing_families=missing)
