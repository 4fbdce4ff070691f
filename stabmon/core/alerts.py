"""Alert episodes and alert-free time (docs/contract.md §3).

An alert episode is a maximal run of consecutive snapshots (``k``, ``k+1``,
...) in which the same alert, identified by its full label set, fires. A day
counts the episodes that *start* in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from stabmon.core.model import SEVERITIES, Alert, Snapshot, Window, format_time

#: Severities that make a snapshot count as alerting (``info`` does not).
ALERTING_SEVERITIES = ("critical", "warning")


@dataclass
class AlertEpisode:
    """A maximal run of consecutive snapshots in which one alert fires."""

    alert: Alert
    first_index: int
    last_index: int
    start: datetime
    end: datetime
    day_number: int

    @property
    def snapshots(self) -> int:
        return self.last_index - self.first_index + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "alertname": self.alert.alertname,
            "severity": self.alert.severity,
            "labels": dict(self.alert.labels),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "snapshots": self.snapshots,
            "day_number": self.day_number,
        }


def _snapshots_by_index(snapshots: Sequence[Snapshot], window: Window) -> dict[int, Snapshot]:
    """Snapshots keyed by ``k``; a time that is not a ``t_k`` of the window is left out."""
    by_index: dict[int, Snapshot] = {}
    for snapshot in snapshots:
        k = window.index_of(snapshot.timestamp)
        if k is not None:
            by_index[k] = snapshot
    return by_index


def alert_episodes(snapshots: Sequence[Snapshot], window: Window) -> list[AlertEpisode]:
    """Alert episodes over the whole window, ordered by start.

    Snapshot ``k`` continues an episode only when snapshot ``k-1`` exists and
    fired the same alert (same full label set); a snapshot that is absent or
    whose alerts query failed ends every open episode.
    """
    by_index = _snapshots_by_index(snapshots, window)
    open_episodes: dict[tuple, AlertEpisode] = {}
    done: list[AlertEpisode] = []
    previous_k: int | None = None
    for k in sorted(by_index):
        snapshot = by_index[k]
        if previous_k is None or k != previous_k + 1:
            # An absent snapshot breaks every run.
            done.extend(open_episodes.values())
            open_episodes = {}
        firing = {a.identity: a for a in (snapshot.alerts or [])}
        for identity in list(open_episodes):
            if identity not in firing:
                done.append(open_episodes.pop(identity))
        for identity, alert in firing.items():
            episode = open_episodes.get(identity)
            if episode is None:
                open_episodes[identity] = AlertEpisode(
                    alert=alert,
                    first_index=k,
                    last_index=k,
                    start=snapshot.timestamp,
                    end=snapshot.timestamp,
                    day_number=window.day_of(snapshot.timestamp),
                )
            else:
                episode.last_index = k
                episode.end = snapshot.timestamp
        previous_k = k
    done.extend(open_episodes.values())
    done.sort(key=lambda e: (e.first_index, e.alert.identity))
    return done


def severity_counts(episodes: Iterable[AlertEpisode]) -> dict[str, int]:
    """Episodes per severity; a severity outside :data:`SEVERITIES` counts as ``info``."""
    counts = {s: 0 for s in SEVERITIES}
    for episode in episodes:
        severity = episode.alert.severity.lower()
        counts[severity if severity in counts else "info"] += 1
    return counts


def alert_free_hours(snapshots: Iterable[Snapshot], interval_minutes: float) -> float:
    """Hours covered by snapshots with no critical or warning alert firing.

    A snapshot whose alerts query failed is not known to be quiet, so it does
    not count.
    """
    quiet = sum(
        1 for s in snapshots
        if s.alerts is not None and not any(a.severity.lower() in ALERTING_SEVERITIES for a in s.alerts)
    )
    return quiet * interval_minutes / 60.0
