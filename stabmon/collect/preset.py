"""Query files: the shipped presets (``--preset``) and a user's ``--queries`` file, one format.

A query file is a YAML mapping of query name to PromQL template (the
placeholders of :mod:`stabmon.collect.queries`) plus optional metadata keys
(docs/presets.md):

``kind``
    ``http`` (the request queries and ``alerts``) or ``resources``
    (``cpu_percent``, ``memory_percent``); a preset must say which.
``description``
    one line: the stack the file reads.
``families``
    metric family -> the query names that need it; ``check`` names the
    family that is missing and the queries it withholds.
``service_label``
    the label ``--service NAME`` maps to (``service`` by default); a fleet
    groups this file's queries by it.
``namespace_label``
    the label ``--namespace NS`` maps to; without it ``--namespace`` is
    refused for this file's queries.
``service_selector``
    how ``--service NAME`` maps when the series carry no label equal to the
    name: one regex matcher whose value holds ``{service}`` (the name,
    RE2-escaped), e.g. ``pod=~"{service}-[a-z0-9]+"``; one service only.
``alerts_selector``
    how ``ALERTS`` is matched when not by ``service="NAME"`` (plus
    ``namespace="NS"`` when given): a matcher list whose values may be
    ``{service}`` and ``{namespace}``, e.g. ``job="{service}"``.

Pure logic except :func:`read_query_file` and :func:`load_preset` reading the
YAML; every problem is one line naming the file (or the preset) and the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from stabmon.core.errors import InputError

#: Every query a catalogue has, in snapshot order (docs/contract.md §2.2), then the day figures.
QUERY_NAMES: tuple[str, ...] = (
    "availability", "error_rate", "requests", "errors", "p95_latency_ms", "p99_latency_ms",
    "cpu_percent", "memory_percent", "alerts", "day_p95_latency_ms", "day_p99_latency_ms",
)
#: The queries of each kind of preset.
KIND_QUERIES: dict[str, tuple[str, ...]] = {
    "http": ("availability", "error_rate", "requests", "errors", "p95_latency_ms", "p99_latency_ms", "alerts",
             "day_p95_latency_ms", "day_p99_latency_ms"),
    "resources": ("cpu_percent", "memory_percent"),
}
#: The queries whose template may use ``[d]`` (the day's length).
DAY_QUERY_NAMES: tuple[str, ...] = ("day_p95_latency_ms", "day_p99_latency_ms")
#: Placeholders filled from ``--cpu-limit`` / ``--memory-limit``; a query using one without its flag is withheld.
LIMIT_PLACEHOLDERS: dict[str, str] = {"cpu_limit_cores": "--cpu-limit", "memory_limit_bytes": "--memory-limit"}
METADATA_KEYS: tuple[str, ...] = ("kind", "description", "families", "service_label", "namespace_label",
                                  "service_selector", "alerts_selector")
#: The presets used when ``--preset`` is not given (today's expressions).
DEFAULT_PRESETS: dict[str, str] = {"http": "prometheus", "resources": "cadvisor"}
PRESET_DIR = Path(__file__).resolve().parent / "presets"

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""", re.DOTALL)
_SEL = re.compile(r"\{\s*sel\s*[,}]|,\s*sel\s*[,}]")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_LIMIT = re.compile(r"\{(" + "|".join(LIMIT_PLACEHOLDERS) + r")\}")


def check_label_name(label: Any, flag: str = "--service-label") -> str:
    """Return ``label`` when it is a valid Prometheus label name.

    Raises
    ------
    InputError
        Naming ``flag`` otherwise.
    """
    if not isinstance(label, str) or not _LABEL_NAME.fullmatch(label) or label == "__name__":
        raise InputError(f"{flag}: not a label name: {label!r}")
    return label


def _outside_strings(template: str) -> str:
    """``template`` with its string literals blanked, so a label value is never read as PromQL."""
    return _STRING.sub(lambda m: '""', template)


def template_problem(name: str, template: str) -> str | None:
    """Why ``template`` cannot be the expression of query ``name``, or ``None`` when it can.

    Every expression selects its series with ``{sel}`` (else it reads every
    service's); a range is ``[w]`` (the interval) or, in a day query, ``[d]``:
    a hard-coded ``[5m]`` would not follow ``--interval``.
    """
    code = _outside_strings(template)
    if not _SEL.search(code):
        return "lacks {sel} (the service's matchers), so it would read every service's series"
    for match in _RANGE.finditer(code):
        inner = match.group(1).strip()
        if inner == "w" or (inner == "d" and name in DAY_QUERY_NAMES):
            continue
        if inner == "d":
            return "uses [d], the day's length, which only day_p95_latency_ms and day_p99_latency_ms may use"
        return f"hard-codes the range [{inner}]; write [w] (the snapshot interval) instead"
    return None


def limits_used(template: str) -> tuple[str, ...]:
    """The limit placeholders (``cpu_limit_cores``, ``memory_limit_bytes``) of ``template``."""
    return tuple(dict.fromkeys(_LIMIT.findall(_outside_strings(template))))


@dataclass(frozen=True)
class QueryFile:
    """One query file: a preset or a ``--queries`` file, its templates and how a service maps to labels.

    ``service_label`` / ``namespace_label`` / ``alerts_selector`` are ``None``
    when the file does not say (a ``--queries`` file then keeps the preset's);
    :func:`stabmon.collect.queries.alerts_scope` reads ``alerts_selector``.
    """

    name: str
    queries: Mapping[str, str]
    kind: str | None = None
    description: str = ""
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    service_label: str | None = None
    namespace_label: str | None = None
    alerts_selector: str | None = None
    service_selector: str | None = None


def parse_query_file(data: Any, where: str) -> QueryFile:
    """Check and read the mapping of one query file (``where`` names it in every error).

    Raises
    ------
    InputError
        One line: not a mapping, an unknown query or key, an empty or
        non-string expression, an expression lacking ``{sel}`` or hard-coding
        a range, bad metadata.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of metric name to PromQL expression")
    kind = data.get("kind")
    if kind is not None and kind not in KIND_QUERIES:
        raise InputError(f"{where}: kind must be http or resources, got {kind!r}")
    queries: dict[str, str] = {}
    for name, expr in data.items():
        if name in METADATA_KEYS:
            continue
        if name not in QUERY_NAMES:
            raise InputError(f"{where}: unknown metric {name!r} (known: {', '.join(QUERY_NAMES)}; "
                             f"metadata: {', '.join(METADATA_KEYS)})")
        if kind is not None and name not in KIND_QUERIES[kind]:
            raise InputError(f"{where}: {name} is not a query of a {kind} file "
                             f"({', '.join(KIND_QUERIES[kind])})")
        if not isinstance(expr, str) or not expr.strip():
            raise InputError(f"{where}: expression of {name} must be a non-empty string")
        problem = template_problem(name, expr)
        if problem:
            raise InputError(f"{where}: expression of {name} {problem}")
        queries[str(name)] = expr.strip()
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{where}: description must be a string")
    labels = {}
    for key in ("service_label", "namespace_label"):
        labels[key] = check_label_name(data[key], f"{where}: {key}") if data.get(key) is not None else None
    alerts = data.get("alerts_selector")
    if alerts is not None and (not isinstance(alerts, str) or "{service}" not in alerts):
        raise InputError(f"{where}: alerts_selector must be a matcher list holding {{service}}, "
                         f"e.g. job=\"{{service}}\"")
    service_selector = data.get("service_selector")
    if service_selector is not None and (not isinstance(service_selector, str) or "{service}" not in service_selector):
        raise InputError(f"{where}: service_selector must be one regex matcher holding {{service}}, "
                         f"e.g. pod=~\"{{service}}-[a-z0-9]+\"")
    families = _families(data.get("families"), where)
    return QueryFile(name=where, queries=queries, kind=kind, description=description.strip(), families=families,
                     alerts_selector=alerts, service_selector=service_selector, **labels)


def _families(data: Any, where: str) -> dict[str, tuple[str, ...]]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: families must map a metric family to the queries that need it")
    families: dict[str, tuple[str, ...]] = {}
    for family, names in data.items():
        if not isinstance(family, str) or not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", family):
            raise InputError(f"{where}: families: not a metric name: {family!r}")
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or any(n not in QUERY_NAMES for n in names):
            raise InputError(f"{where}: families: {family} must list query names (known: {', '.join(QUERY_NAMES)})")
        families[family] = tuple(names)
    return families


def read_query_file(path: str | Path, flag: str = "--queries") -> QueryFile:
    """Read and check a query file from disk.

    Raises
    ------
    InputError
        One line, naming ``flag`` and the file: unreadable, not YAML, or any
        problem of :func:`parse_query_file`.
    """
    path = Path(path)
    where = f"{flag} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{where}: cannot read: {reason}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{where}: not valid YAML{line}") from None
    return parse_query_file(data, where)


def known_presets() -> list[str]:
    """The shipped presets' names, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> QueryFile:
    """The shipped preset ``name`` (its ``service_label`` defaults to ``service``).

    Raises
    ------
    InputError
        An unknown preset, listing the known ones.
    """
    known = known_presets()
    if name not in known or not _PRESET_NAME.fullmatch(name):
        raise InputError(f"--preset: unknown preset {name!r} (known: {', '.join(known)})")
    loaded = read_query_file(PRESET_DIR / f"{name}.yaml", flag="preset")
    if loaded.kind is None:
        raise InputError(f"preset {name}: no kind (http or resources)")
    missing = [q for q in KIND_QUERIES[loaded.kind] if q not in loaded.queries]
    if missing:
        raise InputError(f"preset {name}: lacks {', '.join(missing)}")
    return QueryFile(name=name, queries=loaded.queries, kind=loaded.kind, description=loaded.description,
                     families=loaded.families, service_label=loaded.service_label or "service",
                     namespace_label=loaded.namespace_label, alerts_selector=loaded.alerts_selector,
                     service_selector=loaded.service_selector)


def resolve_presets(text: str | None) -> dict[str, QueryFile]:
    """``--preset HTTP[,RESOURCES]``: the http and the resources preset (defaults for a kind not named).

    Raises
    ------
    InputError
        An unknown name, two presets of one kind, or an empty list.
    """
    chosen: dict[str, QueryFile] = {}
    names = [n.strip() for n in (text or "").split(",")] if text is not None else []
    if text is not None and (not names or any(not n for n in names)):
        raise InputError(f"--preset: expected HTTP[,RESOURCES] such as fastapi,process, got {text!r}")
    for name in names:
        preset = load_preset(name)
        kind = preset.kind or "http"
        if kind in chosen:
            raise InputError(f"--preset: {chosen[kind].name} and {name} are both {kind} presets; "
                             "give one http and one resources preset")
        chosen[kind] = preset
    for kind, name in DEFAULT_PRESETS.items():
        if kind not in chosen:
            chosen[kind] = load_preset(name)
    return chosen
