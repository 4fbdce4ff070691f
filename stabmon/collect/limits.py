"""Queries that survive the server's limits: a refused request is split and its pieces asked instead.

A Prometheus-compatible server refuses a query that would load too many
samples (Prometheus ``--query.max-samples``, VictoriaMetrics
``-search.maxSamplesPerQuery``) or that runs out of its time
(``--query.timeout``, ``-search.maxQueryDuration``); the client raises these
as :class:`~stabmon.collect.prom.TooManySamplesError` and
:class:`~stabmon.collect.prom.QueryTimeoutError`. Here, and only here, such a
request is split in two and each half asked in its turn (a half refused again
is split again):

1. a batch of several services (a fleet's grouped query) is halved: each half
   selects its own services with its own ``label=~"a|b"`` matcher, the first
   half keeping the first ``ceil(n/2)`` services of the batch;
2. otherwise a range of several evaluation times is halved on step
   boundaries: the first half keeps the first ``ceil(n/2)`` times, the second
   starts one step after the first half's last time.

The pieces never share a (service, time), and every evaluation time stays on
the unsplit query's grid, so their answers merged by series and time
(:func:`~stabmon.collect.prom.merge_series`) are exactly the unsplit answer.
Once a piece of some size has been refused, pieces at least as large (as
many services and as many times) in the same query are split without being
asked. Each kind of split is logged once per run (per client). A piece that
cannot be split (one service, or a lone target, at one time) and is still
refused ends the query with one line naming it and the server's limit; a
time-out there is first asked again after the client's usual backoff, as a
busy server may answer it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

from stabmon.collect.prom import PrometheusClient, QueryTimeoutError, ServerLimitError, Series, merge_series
from stabmon.core.model import format_time

log = logging.getLogger(__name__)

#: Builds the PromQL of one query for a batch of services (ignored by an ungrouped catalogue).
Expression = Callable[[Sequence[str]], str]

SERVICES = "services"
TIME = "time"


@dataclass(frozen=True)
class Piece:
    """One request of a query: a batch of targets at ``count`` evaluation times, ``step`` apart from ``start``.

    ``start`` is in Unix seconds; an instant query is a piece of one time.
    """

    targets: tuple[str, ...]
    start: float
    count: int = 1

    def end(self, step: float) -> float:
        """The last evaluation time."""
        return self.start + (self.count - 1) * step

    def covers(self, other: "Piece") -> bool:
        """Whether this piece is at least as large as ``other`` in services and in times."""
        return len(self.targets) >= len(other.targets) and self.count >= other.count


def times_between(start: float, end: float, step: float) -> int:
    """How many evaluation times ``start, start+step, ... <= end`` a range query has (0 when ``end < start``)."""
    if end < start:
        return 0
    return int(math.floor((end - start) / step + 1e-9)) + 1


def split_piece(piece: Piece, step: float | None, *, grouped: bool) -> tuple[str, tuple[Piece, Piece]] | None:
    """The two halves of a refused piece and the kind of split, or ``None`` when it cannot be split.

    A grouped piece of several services is halved by services (the first half
    gets ``ceil(n/2)`` of them); otherwise a piece of several times is halved
    by time on the step grid (the first half gets ``ceil(count/2)`` times).
    """
    if grouped and len(piece.targets) > 1:
        half = (len(piece.targets) + 1) // 2
        return SERVICES, (Piece(piece.targets[:half], piece.start, piece.count),
                          Piece(piece.targets[half:], piece.start, piece.count))
    if step and piece.count > 1:
        half = (piece.count + 1) // 2
        return TIME, (Piece(piece.targets, piece.start, half),
                      Piece(piece.targets, piece.start + half * step, piece.count - half))
    return None


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _log_split(client: PrometheusClient, kind: str, name: str, piece: Piece, step: float | None,
               exc: ServerLimitError) -> None:
    if kind == SERVICES:
        what, how = f"{len(piece.targets)} services", "fewer services per request"
    else:
        what = f"{piece.count} times ({format_time(_at(piece.start))} .. {format_time(_at(piece.end(step or 0)))})"
        how = "shorter time ranges"
    if client.first_time(f"split:{kind}:{type(exc).__name__}"):
        log.warning("query for %s over %s refused: over %s (%s); asking for %s instead (the answer is the same; "
                    "further splits like this are not logged)", name, what, exc.limit, exc, how)


def _smallest_refused(name: str, piece: Piece, expr: str, exc: ServerLimitError, *, grouped: bool) -> ServerLimitError:
    """The one-line error of a piece that cannot be split further (same class as ``exc``)."""
    who = f"one service ({piece.targets[0]!r})" if grouped else "one target"
    error = type(exc)(f"still refused for {who} at one time ({format_time(_at(piece.start))}), the smallest query "
                      f"there is: {exc}; over {exc.limit}: raise that limit")
    error.expression = expr
    return error


def fetch(client: PrometheusClient, name: str, expression: Expression, first: Piece, step: float | None, *,
          grouped: bool, ask: Callable[[str, Piece], list[Series]]) -> list[Series]:
    """The answer to ``first``, split as the server's limits require (see the module docstring).

    Parameters
    ----------
    name
        The metric, for the log and error lines.
    step
        The range step (seconds); ``None`` for an instant query (never split in time).
    grouped
        Whether targets are services of a grouped query (split by services first).
    ask
        Makes one request for a piece with its expression.

    Raises
    ------
    ServerLimitError
        A piece of one target at one time refused (its ``expression`` is the piece's).
    """
    pending: list[tuple[Piece, int]] = [(first, 0)]
    refused: list[Piece] = []
    parts: list[list[Series]] = []
    while pending:
        piece, attempt = pending.pop()
        split = split_piece(piece, step, grouped=grouped)
        if split is not None and any(piece.covers(r) for r in refused):
            pending.extend((half, 0) for half in reversed(split[1]))
            continue
        expr = expression(piece.targets)
        try:
            parts.append(ask(expr, piece))
            continue
        except ServerLimitError as exc:
            if split is None:
                if isinstance(exc, QueryTimeoutError) and attempt < client.retries:
                    client.pause_before_retry(attempt)
                    pending.append((piece, attempt + 1))
                    continue
                raise _smallest_refused(name, piece, expr, exc, grouped=grouped) from None
            refused.append(piece)
            _log_split(client, split[0], name, piece, step, exc)
            pending.extend((half, 0) for half in reversed(split[1]))
    return merge_series(parts)


def fetch_range(client: PrometheusClient, name: str, expression: Expression, targets: Sequence[str],
                start: datetime, end: datetime, step: float, *, grouped: bool) -> list[Series]:
    """:meth:`PrometheusClient.range` of ``expression(targets)``, split while the server refuses it."""
    first = Piece(tuple(targets), start.timestamp(), times_between(start.timestamp(), end.timestamp(), step))
    if first.count == 0:
        return []
    return fetch(client, name, expression, first, step, grouped=grouped,
                 ask=lambda expr, piece: client.range(expr, _at(piece.start), _at(piece.end(step)), step))


def fetch_instant(client: PrometheusClient, name: str, expression: Expression, targets: Sequence[str],
                  at: datetime, *, grouped: bool, step_seconds: float | None = None) -> list[Series]:
    """:meth:`PrometheusClient.instant` of ``expression(targets)`` at ``at``, split by services while refused."""
    return fetch(client, name, expression, Piece(tuple(targets), at.timestamp()), None, grouped=grouped,
                 ask=lambda expr, piece: client.instant(expr, _at(piece.start), step_seconds=step_seconds))
