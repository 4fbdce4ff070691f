"""The query catalogue: the contract's PromQL expressions, rendered for one service.

Pure logic, no I/O except :func:`load_overrides` reading the ``--queries`` YAML
file. Templates use the contract's placeholders:

``{sel}``
    the service's label matchers, inside a matcher list (``{sel}``,
    ``{sel,code=~"5.."}``, ``{alertstate="firing",sel}``); with no selector
    the placeholder and its comma disappear.
``[w]`` or ``{w}``
    the snapshot interval as a PromQL duration (``30m``, ``90s``).
``[d]``
    the length of a day (``24h``; shorter for a last, partial day), only in
    the day figures ``day_p95_latency_ms`` / ``day_p99_latency_ms``.

Rendering is a single left-to-right pass that copies string literals of the
template unchanged and never re-scans inserted text, so a label value
containing ``[w]``, ``sel``, quotes or braces stays a value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from stabmon.core.errors import InputError
from stabmon.core.model import METRIC_FIELDS

_FIVE_XX = 'code=~"5.."'
_TOTAL = "http_requests_total"
_BUCKET = "http_request_duration_seconds_bucket"


def default_templates(label: str | None = None) -> dict[str, str]:
    """The default expressions (docs/contract.md §2), keyed by snapshot field.

    The single place the PromQL is written, for one target and for many. With
    ``label`` (a fleet: one target per value of that label) every aggregation
    keeps the label. One zero rule for both shapes: a target with request
    series but no 5xx series has 0 errors, taken from its own traffic times 0
    (``or (0 * <total>)``); a target with no request series has no zero
    either, so its error figures are missing, never 0 (``vector(0)`` would
    turn "matched nothing" into "no errors"). Whether the error label exists
    on the request series at all is the preflight's question
    (:mod:`stabmon.collect.check`).
    """
    by = f" by ({label}) " if label else ""
    by_le = f" by ({label}, le) " if label else " by (le) "
    errors_rate = f'sum{by}(rate({_TOTAL}{{sel,{_FIVE_XX}}}[w]))'
    total_rate = f"sum{by}(rate({_TOTAL}{{sel}}[w]))"
    errors_count = f'sum{by}(increase({_TOTAL}{{sel,{_FIVE_XX}}}[w]))'
    total_count = f"sum{by}(increase({_TOTAL}{{sel}}[w]))"
    return {
        "availability": f"100 * (1 - ({errors_rate} or (0 * {total_rate})) / {total_rate})",
        "error_rate": f"100 * ({errors_rate} or (0 * {total_rate})) / {total_rate}",
        "requests": total_count,
        "errors": f"{errors_count} or (0 * {total_count})",
        "p95_latency_ms": f"1000 * histogram_quantile(0.95, sum{by_le}(rate({_BUCKET}{{sel}}[w])))",
        "p99_latency_ms": f"1000 * histogram_quantile(0.99, sum{by_le}(rate({_BUCKET}{{sel}}[w])))",
        "cpu_percent": (
            f"100 * sum{by}(rate(container_cpu_usage_seconds_total{{sel}}[w]))"
            f" / sum{by}(container_spec_cpu_quota{{sel}} / container_spec_cpu_period{{sel}})"
        ),
        "memory_percent": (
            f"100 * sum{by}(container_memory_working_set_bytes{{sel}}) / sum{by}(container_spec_memory_limit_bytes{{sel}})"
        ),
        "alerts": 'max_over_time(ALERTS{alertstate="firing",sel}[w])',
        # Day figures from merged histograms: the quantile of the day's pooled
        # buckets, not a mean of per-snapshot quantiles.
        "day_p95_latency_ms": f"1000 * histogram_quantile(0.95, sum{by_le}(increase({_BUCKET}{{sel}}[d])))",
        "day_p99_latency_ms": f"1000 * histogram_quantile(0.99, sum{by_le}(increase({_BUCKET}{{sel}}[d])))",
    }


#: The contract's default expressions for one target, as templates.
DEFAULT_QUERIES: dict[str, str] = default_templates()

#: Names a ``--queries`` file may override.
QUERY_NAMES: tuple[str, ...] = tuple(DEFAULT_QUERIES)
#: The per-snapshot queries (numeric fields, then alerts).
SNAPSHOT_QUERIES: tuple[str, ...] = METRIC_FIELDS + ("alerts",)
#: The per-day queries.
DAY_QUERIES: tuple[str, ...] = ("day_p95_latency_ms", "day_p99_latency_ms")

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# RE2 (Prometheus, VictoriaMetrics) metacharacters; everything else is literal.
_RE2_META = frozenset("\\.+*?()|[]{}^$")
_OPERATORS = ("=~", "!~", "!=", "=")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}

# One pass over a template. String literals come first so placeholders inside
# them are left alone; the four ``sel`` shapes carry their comma so an empty
# selector leaves valid PromQL behind.
_TEMPLATE_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
    r"""|(?P<sel_only>\{\s*sel\s*\})"""
    r"""|(?P<sel_first>\{\s*sel\s*,)"""
    r"""|(?P<sel_after>,\s*sel\s*(?=[,}]))"""
    r"""|(?P<by>\{by(?::\s*(?P<by_labels>[a-zA-Z_][a-zA-Z0-9_]*(?:\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*)*))?\s*\})"""
    r"""|(?P<window>\[w\]|\{w\})"""
    r"""|(?P<day>\[d\])""",
    re.DOTALL,
)


def promql_string(value: str) -> str:
    """Quote ``value`` as a PromQL double-quoted string literal.

    PromQL strings follow Go's escaping rules; JSON's escapes (``\\"``,
    ``\\\\``, ``\\n``, ``\\uXXXX`` ...) are a subset of them, so JSON encoding
    gives a literal that PromQL decodes back to exactly ``value``.
    """
    return json.dumps(str(value), ensure_ascii=False)


def promql_duration(seconds: float) -> str:
    """Format a whole number of seconds as a PromQL duration (``30m``, ``90s``, ``24h``).

    Raises
    ------
    ValueError
        When ``seconds`` is not a whole number >= 1.
    """
    whole = round(seconds)
    if whole < 1 or abs(seconds - whole) > 1e-6:
        raise ValueError(f"a PromQL duration needs a whole number of seconds >= 1, got {seconds!r}")
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def _unquote(text: str, pos: int) -> tuple[str, int]:
    """Decode the PromQL string literal starting at ``text[pos]``; return (value, end)."""
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    if quote == "`":
        end = text.find("`", i)
        if end < 0:
            raise ValueError("unterminated `...` string")
        return text[i:end], end + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\n":
            raise ValueError("newline inside a quoted value (write it as \\n)")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(text):
            break
        esc = text[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in "\"'":
            out.append(esc)
            i += 2
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"bad \\{esc} escape")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif esc in "01234567":
            digits = text[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                raise ValueError("bad octal escape")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{esc}")
    raise ValueError(f"unterminated {quote}...{quote} string")


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name``, operator and the decoded (raw) value."""

    name: str
    op: str
    value: str

    def render(self) -> str:
        return f"{self.name}{self.op}{promql_string(self.value)}"


def parse_selector(text: str) -> list[Matcher]:
    """Parse a ``--selector`` matcher list such as ``job="api",env=~"prod|stage"``.

    Values may be quoted with ``"``, ``'`` or backticks (PromQL rules) or be
    bare words up to the next comma; optional surrounding braces are accepted.
    Every value is decoded here and re-escaped by :meth:`Matcher.render`, so
    nothing in a value can close the string or the matcher list.

    Raises
    ------
    InputError
        Naming ``--selector`` and what is wrong.
    """
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers: list[Matcher] = []
    i = 0
    n = len(body)

    def fail(reason: str) -> InputError:
        return InputError(f"--selector: {reason} in {text!r}")

    while True:
        while i < n and body[i] in " \t":
            i += 1
        if i >= n:
            break
        name_match = _LABEL_NAME.match(body, i)
        if not name_match:
            raise fail(f"expected a label name at position {i}")
        name = name_match.group(0)
        if name == "__name__":
            raise fail("__name__ cannot be part of a service selector")
        i = name_match.end()
        while i < n and body[i] == " ":
            i += 1
        op = next((o for o in _OPERATORS if body.startswith(o, i)), None)
        if op is None:
            raise fail(f"expected =, !=, =~ or !~ after {name}")
        i += len(op)
        while i < n and body[i] == " ":
            i += 1
        if i < n and body[i] in "\"'`":
            try:
                value, i = _unquote(body, i)
            except ValueError as exc:
                raise fail(f"value of {name}: {exc}") from None
        else:
            end = body.find(",", i)
            end = n if end < 0 else end
            value = body[i:end].strip()
            if not value or any(c in value for c in "\"'`{}\n"):
                raise fail(f"value of {name} must be quoted (e.g. {name}=\"...\")")
            i = end
        matchers.append(Matcher(name, op, value))
        while i < n and body[i] in " \t":
            i += 1
        if i < n:
            if body[i] != ",":
                raise fail(f"expected ',' at position {i}")
            i += 1
    if not matchers:
        raise fail("no matcher")
    return matchers


def build_selector(service: str | None = None, selector: str | None = None) -> str:
    """The matcher list that replaces ``{sel}``: from ``--service`` or ``--selector``.

    Returns an empty string when neither is given (every series matches).

    Raises
    ------
    InputError
        When both are given or the selector does not parse.
    """
    if service is not None and selector is not None:
        raise InputError("--service and --selector cannot be used together")
    if service is not None:
        if service == "":
            raise InputError("--service: empty service name")
        return Matcher("service", "=", service).render()
    if selector is not None:
        return ",".join(m.render() for m in parse_selector(selector))
    return ""


def render(template: str, *, selector: str, interval_seconds: float, day_seconds: float = 86400.0,
           label: str | None = None) -> str:
    """Fill one template's placeholders (see the module docstring).

    ``label`` is the target label of a grouped catalogue: ``{by}`` becomes
    ``by (<label>)`` and ``{by:le}`` becomes ``by (<label>, le)``; without it
    ``{by}`` disappears and ``{by:le}`` is ``by (le)``.
    """
    window = promql_duration(interval_seconds)
    day = promql_duration(day_seconds)

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "string":
            return match.group(0)
        if kind == "sel_only":
            return "{" + selector + "}"
        if kind == "sel_first":
            return "{" + selector + "," if selector else "{"
        if kind == "sel_after":
            return "," + selector if selector else ""
        if kind == "by":
            labels = [x.strip() for x in (match.group("by_labels") or "").split(",") if x.strip()]
            if label:
                labels.insert(0, label)
            return f" by ({', '.join(labels)}) " if labels else ""
        if kind == "window":
            return f"[{window}]" if match.group(0).startswith("[") else window
        return f"[{day}]"

    return _TEMPLATE_TOKEN.sub(replace, template)


@dataclass(frozen=True)
class QueryCatalogue:
    """The expressions of one run: templates (defaults + overrides), selector and target label.

    Parameters
    ----------
    selector
        Rendered matchers every series must match (``--service`` or
        ``--selector``; in a fleet, the ``--selector`` matchers only).
    interval_seconds
        The snapshot interval (``[w]``).
    overrides
        Expressions from a ``--queries`` file, by metric name.
    label
        The target label of a fleet: queries are grouped by it and each
        value is one target. ``None``: one target, every series is its.
    """

    selector: str = ""
    interval_seconds: float = 1800.0
    overrides: Mapping[str, str] = field(default_factory=dict)
    label: str | None = None

    @property
    def templates(self) -> dict[str, str]:
        """Every template of the run: the defaults for this grouping, then the overrides."""
        return {**default_templates(self.label), **self.overrides}

    def target_selector(self, targets: Sequence[str] = ()) -> str:
        """The matchers of a batch of targets (regex- then PromQL-escaped) plus the run's own."""
        if self.label is None:
            return self.selector
        matcher = Matcher(self.label, "=~", "|".join(regex_escape(t) for t in targets)).render()
        return f"{matcher},{self.selector}" if self.selector else matcher

    def expression(self, name: str, targets: Sequence[str] = (), *, day_seconds: float = 86400.0) -> str:
        """The rendered PromQL of query ``name`` (for a batch of ``targets`` when grouped)."""
        return render(self.templates[name], selector=self.target_selector(targets),
                      interval_seconds=self.interval_seconds, day_seconds=day_seconds, label=self.label)

    def snapshot_expressions(self, targets: Sequence[str] = ()) -> dict[str, str]:
        """Rendered expressions of the per-snapshot queries, in the contract's order."""
        return {name: self.expression(name, targets) for name in SNAPSHOT_QUERIES}

    def for_target(self, target: str) -> "QueryCatalogue":
        """The ungrouped catalogue that reads exactly ``target``'s series (what its run.json records)."""
        if self.label is None:
            return self
        matcher = Matcher(self.label, "=", target).render()
        return QueryCatalogue(selector=f"{matcher},{self.selector}" if self.selector else matcher,
                              interval_seconds=self.interval_seconds, overrides=self.overrides)


def regex_escape(value: str) -> str:
    """Escape ``value`` so an RE2 regex matches exactly it (PromQL quoting comes after)."""
    return "".join("\\" + c if c in _RE2_META else c for c in value)


def load_overrides(path: str | Path) -> dict[str, str]:
    """Read a ``--queries`` YAML file: a mapping of query name to PromQL template.

    Raises
    ------
    InputError
        One line, naming the file: unreadable, not YAML, not a mapping, an
        unknown query name or a non-string expression.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"--queries {path}: cannot read: {reason}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"--queries {path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"--queries {path}: expected a mapping of metric name to PromQL expression")
    overrides: dict[str, str] = {}
    for name, expr in data.items():
        if name not in DEFAULT_QUERIES:
            raise InputError(
                f"--queries {path}: unknown metric {name!r} (known: {', '.join(QUERY_NAMES)})"
            )
        if not isinstance(expr, str) or not expr.strip():
            raise InputError(f"--queries {path}: expression of {name} must be a non-empty string")
        overrides[str(name)] = expr.strip()
    return overrides


def check_label_name(label: str, flag: str = "--service-label") -> str:
    """Return ``label`` when it is a valid Prometheus label name.

    Raises
    ------
    InputError
        Naming ``flag`` otherwise.
    """
    if not isinstance(label, str) or not _LABEL_NAME.fullmatch(label) or label == "__name__":
        raise InputError(f"{flag}: not a label name: {label!r}")
    return label


def build_catalogue(
    *,
    service: str | None = None,
    selector: str | None = None,
    interval_seconds: float = 1800.0,
    queries_file: str | Path | None = None,
    label: str | None = None,
) -> QueryCatalogue:
    """The catalogue of a run from the command-line inputs.

    With ``label`` (a fleet) the catalogue is grouped by that label and
    ``selector`` only adds matchers; it may not match on the label itself.

    Raises
    ------
    InputError
        Conflicting or malformed inputs, naming the flag.
    """
    overrides = load_overrides(queries_file) if queries_file is not None else {}
    if label is None:
        return QueryCatalogue(selector=build_selector(service, selector), interval_seconds=interval_seconds,
                              overrides=overrides)
    check_label_name(label)
    extra = ""
    if selector:
        matchers = parse_selector(selector)
        if any(m.name == label for m in matchers):
            raise InputError(f"--selector: cannot match on the service label {label!r} in a fleet run "
                             "(use --services)")
        extra = ",".join(m.render() for m in matchers)
    return QueryCatalogue(selector=extra, interval_seconds=interval_seconds, overrides=overrides, label=label)
