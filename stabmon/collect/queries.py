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
``{by}``, ``{by:LABELS}``
    an aggregation's grouping: nothing (``by (LABELS)``) for one target,
    ``by (<service label>)`` (``by (<service label>, LABELS)``) in a fleet.
``{cpu_limit_cores}``, ``{memory_limit_bytes}``
    the limits given by ``--cpu-limit`` / ``--memory-limit``; without the
    flag the query is withheld (``NaN``, recorded missing), never 0.

The templates come from the run's presets (:mod:`stabmon.collect.preset`,
``prometheus`` and ``cadvisor`` by default) with a ``--queries`` file's
expressions on top; each query keeps the labels of the file it came from
(``service_label``, ``namespace_label``), and ``alerts`` is matched by
``service="NAME"`` unless a file's ``alerts_selector`` says otherwise.

Rendering is a single left-to-right pass that copies string literals of the
template unchanged and never re-scans inserted text, so a label value
containing ``[w]``, ``sel``, quotes or braces stays a value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from stabmon.collect.preset import (
    LIMIT_PLACEHOLDERS,
    QUERY_NAMES,
    QueryFile,
    check_label_name,
    limits_used,
    read_query_file,
    resolve_presets,
)
from stabmon.core.errors import InputError
from stabmon.core.model import METRIC_FIELDS


def default_templates(label: str | None = None) -> dict[str, str]:
    """The default expressions (docs/contract.md §2.2), keyed by query name: the presets
    ``prometheus`` and ``cadvisor``, grouped by ``label`` (a fleet) or not (one target).

    One zero rule for both shapes: a target with request series but no 5xx
    series has 0 errors, taken from its own traffic times 0
    (``or (0 * <total>)``); a target with no request series has no zero
    either, so its error figures are missing, never 0 (``vector(0)`` would
    turn "matched nothing" into "no errors"). Whether the error label exists
    on the request series at all is the preflight's question
    (:mod:`stabmon.collect.check`).
    """
    files = _default_files()
    merged = {**files["http"].queries, **files["resources"].queries}
    return {name: group_by(merged[name], label) for name in QUERY_NAMES}


@lru_cache(maxsize=None)
def _default_files() -> dict[str, QueryFile]:
    return resolve_presets(None)


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
    r"""|(?P<limit>\{(?:""" + "|".join(LIMIT_PLACEHOLDERS) + r""")\})"""
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


def _number(value: float) -> str:
    """A limit as a PromQL number literal (``0.5``, ``536870912``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(template: str, *, selector: str, interval_seconds: float, day_seconds: float = 86400.0,
           label: str | None = None, limits: Mapping[str, float] | None = None) -> str:
    """Fill one template's placeholders (see the module docstring).

    ``label`` is the target label of a grouped catalogue: ``{by}`` becomes
    ``by (<label>)`` and ``{by:le}`` becomes ``by (<label>, le)``; without it
    ``{by}`` disappears and ``{by:le}`` is ``by (le)``. A limit placeholder
    missing from ``limits`` becomes ``NaN``: the query answers nothing a
    snapshot would keep (missing), never a figure against a made-up limit.
    """
    window = promql_duration(interval_seconds)
    day = promql_duration(day_seconds)
    limits = limits or {}

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
            return _grouping(match, label)
        if kind == "limit":
            value = limits.get(match.group(0)[1:-1])
            return "NaN" if value is None else _number(value)
        if kind == "window":
            return f"[{window}]" if match.group(0).startswith("[") else window
        return f"[{day}]"

    return _TEMPLATE_TOKEN.sub(replace, template)


def _grouping(match: re.Match[str], label: str | None) -> str:
    labels = [x.strip() for x in (match.group("by_labels") or "").split(",") if x.strip()]
    if label:
        labels.insert(0, label)
    return f" by ({', '.join(labels)}) " if labels else ""


def group_by(template: str, label: str | None) -> str:
    """``template`` with only its ``{by}`` placeholders filled (the grouped template a fleet records)."""
    return _TEMPLATE_TOKEN.sub(
        lambda m: _grouping(m, label) if m.lastgroup == "by" else m.group(0), template)


@dataclass(frozen=True)
class Scope:
    """How ``--service`` and ``--namespace`` map to the labels of some queries' series.

    ``fixed``: matchers always added (an ``alerts_selector``'s other matchers).
    ``service_matcher``: a file's ``service_selector`` (a regex matcher whose
    value holds ``{service}``), used instead of ``<service_label>="NAME"``.
    """

    service_label: str = "service"
    namespace_label: str | None = None
    fixed: tuple[Matcher, ...] = ()
    service_matcher: Matcher | None = None


#: ``ALERTS`` is matched by ``service="NAME"`` (and ``namespace="NS"``) unless a file says otherwise.
DEFAULT_ALERTS_SCOPE = Scope("service", "namespace")


def alerts_scope(text: str, where: str) -> Scope:
    """Read an ``alerts_selector`` such as ``job="{service}",namespace="{namespace}",severity!="info"``.

    Raises
    ------
    InputError
        When it is not a matcher list with exactly one ``LABEL="{service}"``
        (and at most one ``LABEL="{namespace}"``).
    """
    try:
        matchers = parse_selector(text)
    except InputError as exc:
        raise InputError(f"{where}: alerts_selector: {str(exc).removeprefix('--selector: ')}") from None
    service = [m for m in matchers if m.value == "{service}" and m.op == "="]
    namespace = [m for m in matchers if m.value == "{namespace}" and m.op == "="]
    fixed = tuple(m for m in matchers if m not in service and m not in namespace)
    if len(service) != 1 or len(namespace) > 1 or any("{service}" in m.value or "{namespace}" in m.value
                                                       for m in fixed):
        raise InputError(f"{where}: alerts_selector needs exactly one LABEL=\"{{service}}\" matcher and at most "
                         f"one LABEL=\"{{namespace}}\", each a whole value; got {text!r}")
    return Scope(service[0].name, namespace[0].name if namespace else None, fixed)


@dataclass(frozen=True)
class QueryCatalogue:
    """The expressions of one run: templates (presets + overrides), the target and how it maps to labels.

    Parameters
    ----------
    service
        ``--service``: every query selects ``<its service label>="NAME"``.
    namespace
        ``--namespace``: every query selects ``<its namespace label>="NS"``.
    extra
        Rendered matchers every series must match (``--selector``).
    interval_seconds
        The snapshot interval (``[w]``).
    overrides
        Expressions from a ``--queries`` file, by query name (on top of ``base``).
    label
        The target label of a fleet: queries are grouped by their service
        label and each value is one target; a query whose service label is
        another is relabelled to this one. ``None``: one target.
    base
        The presets' templates by query name (``None``: ``prometheus,cadvisor``).
    scopes
        Query name -> :class:`Scope` (absent: ``service``, no namespace label).
    limits
        ``cpu_limit_cores`` / ``memory_limit_bytes`` given on the command line.
    preset
        The presets' names (``fastapi,process``), recorded in ``run.json``.
    families
        Metric family -> the queries that need it (``check`` names a missing one).
    """

    service: str | None = None
    namespace: str | None = None
    extra: str = ""
    interval_seconds: float = 1800.0
    overrides: Mapping[str, str] = field(default_factory=dict)
    label: str | None = None
    base: Mapping[str, str] | None = None
    scopes: Mapping[str, Scope] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)
    preset: str | None = None
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def _template(self, name: str) -> str:
        if name in self.overrides:
            return self.overrides[name]
        base = self.base if self.base is not None else default_templates()
        return base[name]

    def scope(self, name: str) -> Scope:
        """How query ``name`` maps the service and namespace to labels."""
        if name in self.scopes:
            return self.scopes[name]
        return DEFAULT_ALERTS_SCOPE if name == "alerts" else Scope()

    def _group_label(self, name: str) -> str | None:
        return self.scope(name).service_label if self.label is not None else None

    @property
    def templates(self) -> dict[str, str]:
        """Every template of the run, ``{by}`` grouped as the run groups it (what ``fleet_run.json`` records)."""
        return {name: group_by(self._template(name), self._group_label(name)) for name in QUERY_NAMES}

    @property
    def withheld(self) -> dict[str, str]:
        """Query -> why it is withheld: it divides by a limit no flag gave (recorded missing, never 0)."""
        out = {}
        for name in QUERY_NAMES:
            lacking = [LIMIT_PLACEHOLDERS[p] for p in limits_used(self._template(name)) if p not in self.limits]
            if lacking:
                out[name] = (f"no {' or '.join(lacking)} given: {name} divides by that limit "
                             f"({self.preset or 'the queries file'}), so it is withheld, never 0")
        return out

    def scope_selector(self, scope: Scope, targets: Sequence[str] = (), *, target: bool = True) -> str:
        """The matchers of one scope: the target (a batch regex in a fleet), the namespace, fixed, ``--selector``."""
        parts = []
        if target and scope.service_matcher is not None and self.service is not None and self.label is None:
            m = scope.service_matcher
            parts.append(Matcher(m.name, m.op, m.value.replace("{service}", regex_escape(self.service))).render())
        elif target and self.label is not None:
            parts.append(Matcher(scope.service_label, "=~", "|".join(regex_escape(t) for t in targets)).render())
        elif target and self.service is not None:
            parts.append(Matcher(scope.service_label, "=", self.service).render())
        if self.namespace is not None and scope.namespace_label:
            parts.append(Matcher(scope.namespace_label, "=", self.namespace).render())
        parts.extend(m.render() for m in scope.fixed)
        if self.extra:
            parts.append(self.extra)
        return ",".join(parts)

    @property
    def selector(self) -> str:
        """The run's matchers as ``run.json`` records them: the request queries' for one target,
        the matchers besides the target label's in a fleet (``--selector``, ``--namespace``)."""
        return self.scope_selector(self.scope("availability"), target=self.label is None)

    def target_selector(self, targets: Sequence[str] = ()) -> str:
        """The matchers of a batch of targets (regex- then PromQL-escaped) plus the run's own."""
        return self.scope_selector(self.scope("availability"), targets)

    def expression(self, name: str, targets: Sequence[str] = (), *, day_seconds: float = 86400.0) -> str:
        """The rendered PromQL of query ``name`` (for a batch of ``targets`` when grouped).

        In a fleet, a query whose service label is not the fleet's gets the
        fleet's label copied from its own (``label_replace``), so its series
        reach their service.
        """
        scope = self.scope(name)
        group = self._group_label(name)
        expr = render(self._template(name), selector=self.scope_selector(scope, targets),
                      interval_seconds=self.interval_seconds, day_seconds=day_seconds, label=group,
                      limits=self.limits)
        if self.label is not None and group != self.label:
            expr = f'label_replace({expr}, {promql_string(self.label)}, "$1", {promql_string(group)}, "(.*)")'
        return expr

    def snapshot_expressions(self, targets: Sequence[str] = ()) -> dict[str, str]:
        """Rendered expressions of the per-snapshot queries, in the contract's order."""
        return {name: self.expression(name, targets) for name in SNAPSHOT_QUERIES}

    def for_target(self, target: str) -> "QueryCatalogue":
        """The ungrouped catalogue that reads exactly ``target``'s series (what its run.json records)."""
        if self.label is None:
            return self
        scopes = {name: self.scope(name) for name in QUERY_NAMES}
        return replace(self, service=target, label=None, scopes=scopes)

    @property
    def discovery_metrics(self) -> tuple[str, ...]:
        """The metric families whose series carry the fleet's label (``--all-services`` looks there)."""
        label = self.label or "service"
        families = self.families or {**_default_files()["http"].families, **_default_files()["resources"].families}
        return tuple(family for family, names in families.items()
                     if family != "ALERTS" and any(self.scope(n).service_label == label for n in names))


def regex_escape(value: str) -> str:
    """Escape ``value`` so an RE2 regex matches exactly it (PromQL quoting comes after)."""
    return "".join("\\" + c if c in _RE2_META else c for c in value)


def load_overrides(path: str | Path) -> dict[str, str]:
    """The expressions of a ``--queries`` file (:func:`stabmon.collect.preset.read_query_file`).

    Raises
    ------
    InputError
        One line, naming the file.
    """
    return dict(read_query_file(path).queries)


def _file_scope(file: QueryFile, fallback: Scope) -> Scope:
    matcher = fallback.service_matcher
    if file.service_selector is not None:
        matcher = service_matcher(file.service_selector, file.name)
    elif file.service_label is not None:
        matcher = None
    return Scope(file.service_label or fallback.service_label,
                 file.namespace_label if file.namespace_label is not None else fallback.namespace_label,
                 service_matcher=matcher)


def service_matcher(text: str, where: str) -> Matcher:
    """Read a ``service_selector`` such as ``pod=~"{service}-[a-z0-9]+"``: one regex matcher holding ``{service}``.

    Raises
    ------
    InputError
        When it is not exactly one ``=~`` matcher whose value holds ``{service}``.
    """
    try:
        matchers = parse_selector(text)
    except InputError as exc:
        raise InputError(f"{where}: service_selector: {str(exc).removeprefix('--selector: ')}") from None
    if len(matchers) != 1 or matchers[0].op != "=~" or "{service}" not in matchers[0].value:
        raise InputError(f"{where}: service_selector must be one LABEL=~\"...{{service}}...\" matcher; got {text!r}")
    return matchers[0]


def build_catalogue(
    *,
    service: str | None = None,
    selector: str | None = None,
    interval_seconds: float = 1800.0,
    queries_file: str | Path | None = None,
    label: str | None = None,
    fleet: bool = False,
    preset: str | None = None,
    namespace: str | None = None,
    cpu_limit: float | None = None,
    memory_limit: float | None = None,
) -> QueryCatalogue:
    """The catalogue of a run from the command-line inputs.

    ``preset`` is ``--preset HTTP[,RESOURCES]`` (default
    ``prometheus,cadvisor``); a ``queries_file`` overrides single
    expressions on top, each keeping the labels of the file it came from. A
    fleet (``fleet``, or a ``label`` given) is grouped by ``label``
    (``--service-label``; default the http preset's service label), which
    then also names the service in every query and in ``ALERTS`` unless an
    ``alerts_selector`` says otherwise; ``selector`` only adds matchers and
    may not match on the label itself.

    Raises
    ------
    InputError
        Conflicting or malformed inputs, naming the flag.
    """
    files = resolve_presets(preset)
    http, resources = files["http"], files["resources"]
    scopes: dict[str, Scope] = {}
    for file in (http, resources):
        for name in file.queries:
            scopes[name] = _file_scope(file, Scope())
    scopes["alerts"] = (alerts_scope(http.alerts_selector, f"preset {http.name}") if http.alerts_selector
                        else DEFAULT_ALERTS_SCOPE)
    base = {**http.queries, **resources.queries}
    families = {**http.families, **resources.families}
    overrides: dict[str, str] = {}
    if queries_file is not None:
        user = read_query_file(queries_file)
        if user.service_selector is not None:
            service_matcher(user.service_selector, user.name)
        overrides = dict(user.queries)
        for name in overrides:
            if name != "alerts":
                scopes[name] = _file_scope(user, scopes[name])
        if user.alerts_selector:
            scopes["alerts"] = alerts_scope(user.alerts_selector, f"--queries {queries_file}")
        families.update(user.families)
    # A family stays with the queries whose final expression still reads it (a --queries file may replace them).
    final = {**base, **overrides}
    families = {family: kept for family, names in families.items()
                if (kept := tuple(n for n in names if family in final.get(n, "")))}
    fleet = fleet or label is not None
    by_selector = sorted(n for n, s in scopes.items() if s.service_matcher is not None)
    if fleet and by_selector:
        raise InputError(f"--preset/--queries: {', '.join(by_selector)} select a service by a service_selector "
                         f"({scopes[by_selector[0]].service_matcher.render()}), which a fleet run cannot group "
                         "by; run each service on its own")
    if label is not None:
        check_label_name(label)
        scopes = {name: (s if name == "alerts" and s != DEFAULT_ALERTS_SCOPE
                         else replace(s, service_label=label)) for name, s in scopes.items()}
    if namespace is not None:
        if namespace == "":
            raise InputError("--namespace: empty namespace")
        lacking = sorted({n for n, s in scopes.items() if n != "alerts" and not s.namespace_label})
        if lacking:
            raise InputError(f"--namespace: the queries {', '.join(lacking)} have no namespace label "
                             "(set namespace_label in the preset or --queries file)")
    limits = {key: value for key, value in (("cpu_limit_cores", cpu_limit), ("memory_limit_bytes", memory_limit))
              if value is not None}
    common = dict(namespace=namespace, interval_seconds=interval_seconds, overrides=overrides, base=base,
                  scopes=scopes, limits=limits, preset=f"{http.name},{resources.name}",
                  families=families)
    if not fleet:
        if service is not None and selector is not None:
            raise InputError("--service and --selector cannot be used together")
        if service == "":
            raise InputError("--service: empty service name")
        extra = ",".join(m.render() for m in parse_selector(selector)) if selector is not None else ""
        return QueryCatalogue(service=service, extra=extra, **common)
    fleet_label = label or scopes["availability"].service_label
    extra = ""
    if selector:
        matchers = parse_selector(selector)
        if any(m.name == fleet_label for m in matchers):
            raise InputError(f"--selector: cannot match on the service label {fleet_label!r} in a fleet run "
                             "(use --services)")
        extra = ",".join(m.render() for m in matchers)
    return QueryCatalogue(extra=extra, label=fleet_label, **common)


#: The contract's default expressions for one target, as templates.
DEFAULT_QUERIES: dict[str, str] = default_templates()
