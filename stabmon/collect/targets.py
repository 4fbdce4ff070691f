"""Which targets a run judges: service lists, shards, request batches, discovery.

A run judges one target (``--service`` or ``--selector``: every series of the
selector is that target's) or many (``--services a,b,c`` or
``--all-services``: one target per value of the service label). Many targets
are fetched together: each request selects a batch of them with a bounded
``label=~"a|b|c"`` matcher, and a shard (``--shard I/N``) keeps the targets
whose stable hash falls in part ``I`` of ``N``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Iterable, Sequence

from stabmon.collect.prom import PrometheusClient
from stabmon.collect.queries import QueryCatalogue, regex_escape
from stabmon.core.errors import InputError
from stabmon.core.fleet_summary import DEFAULT_SERVICE_LABEL
from stabmon.core.model import Window


#: Longest ``service=~"..."`` regex of one request (characters before URL
#: encoding): keeps a GET well under the 8 KiB URL limit of common proxies.
MAX_REGEX_CHARS = 2500
#: Most targets in one request (bounds the answer's size and the server's work).
MAX_BATCH_SERVICES = 400


def parse_service_list(text: str) -> list[str]:
    """Split ``--services a,b,c`` into names (stripped, duplicates dropped, order kept).

    Raises
    ------
    InputError
        When the list or one of its names is empty.
    """
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            raise InputError(f"--services: empty service name in {text!r}")
        if name not in names:
            names.append(name)
    if not names:
        raise InputError("--services: no service given")
    return names


def shard_of(name: str, count: int) -> int:
    """The shard (1-based) of a service: a stable hash of its name, never its list position."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``--shard I/N`` (1 <= I <= N).

    Raises
    ------
    InputError
        When the text is not of that form.
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise InputError(f"--shard: expected I/N such as 2/8, got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise InputError(f"--shard: need 1 <= I <= N, got {text!r}")
    return index, count


def select_shard(services: Iterable[str], index: int, count: int) -> list[str]:
    """The services of shard ``index`` of ``count``, in their given order."""
    return [s for s in services if shard_of(s, count) == index]


def batch_services(services: Sequence[str], max_chars: int = MAX_REGEX_CHARS,
                   max_services: int = MAX_BATCH_SERVICES) -> list[list[str]]:
    """Split services into request batches by the length of their regex alternation."""
    batches: list[list[str]] = []
    current: list[str] = []
    length = 0
    for name in services:
        size = len(regex_escape(name)) + 1
        if current and (length + size > max_chars or len(current) >= max_services):
            batches.append(current)
            current, length = [], 0
        current.append(name)
        length += size
    if current:
        batches.append(current)
    return batches


def discover_services(client: PrometheusClient, catalogue: QueryCatalogue, window: Window,
                      now: datetime | None = None) -> list[str]:
    """Every value of the target label with series in the window (``--all-services``), sorted.

    One request to the label-values API, with a match per metric family of
    the presets that carries the label (and the ``--selector`` matchers).

    Raises
    ------
    PrometheusError
        When the server refuses or cannot be reached.
    """
    label = catalogue.label or DEFAULT_SERVICE_LABEL
    end = min(window.end, now or datetime.now(timezone.utc))
    if end < window.start:
        end = window.start
    inner = f'{label}!=""' + (f",{catalogue.selector}" if catalogue.selector else "")
    matchers = [f"{metric}{{{inner}}}" for metric in catalogue.discovery_metrics]
    names = client.label_values(label, matchers, window.start - window.interval, end)
    return sorted({n for n in names if n})
