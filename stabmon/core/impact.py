"""What the users felt, and how fast it was seen and fixed: the figures several reports cite.

Pure, no I/O. Each figure has one function here, and the weekly Markdown, the
weekly notebook and the retrospective all call it, so no two places of a
report can disagree:

* :func:`user_impact`: failed requests, the request-weighted error rate,
  minutes below each SLO and the error budget used (from the weekly summary
  and the burn-down);
* :func:`slo_breaches`: each run of snapshots out of an SLO, with its time to
  detect (first snapshot out of the SLO to the first alert firing during it)
  and its time to mitigate (first snapshot out of the SLO to the first one
  back within it). A time that cannot be measured is ``None`` with the reason
  named, never 0.

Times are snapshot times ``t_k``; each snapshot stands for the interval
``(t_k - interval, t_k]`` (docs/contract.md §1), so a time to detect of 0
means "the alert was firing at the first snapshot out of the SLO", that is
within one interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from stabmon.core.budget import budget_exhausted_day, budget_used_percent
from stabmon.core.figures import days_with_data
from stabmon.core.model import parse_time
from stabmon.core.settings import DEFAULT_SETTINGS, Settings

#: The SLOs whose breaches are timed: name -> (snapshot value key, what the reports call it).
SLO_NAMES: dict[str, str] = {"availability": "availability", "latency": "p99 latency"}

#: Alert severities that count as detection.
DETECTING_SEVERITIES: tuple[str, ...] = ("critical", "warning")


@dataclass(frozen=True)
class UserImpact:
    """The window's user impact (``None`` where the run has no figure for it)."""

    requests: int | None
    failed_requests: int | None
    #: Failed over all requests of the window, in % (request-weighted).
    error_rate_percent: float | None
    #: Minutes of snapshots below the availability SLO / at or over the latency SLO.
    minutes_below_availability_slo: float | None
    minutes_over_latency_slo: float | None
    budget_used_percent: float | None
    budget_exhausted_at: str | None
    budget_exhausted_day: int | None

    @property
    def budget_exhausted(self) -> bool:
        """Whether the error budget ran out in the window."""
        return self.budget_exhausted_at is not None


def _minutes_out(day: Mapping[str, Any], compliance_key: str, metric: str, interval_minutes: float) -> float | None:
    compliance = day.get(compliance_key)
    counts = (day.get("_metadata") or {}).get("metric_value_counts") or {}
    values = counts.get(metric)
    if compliance is None or not values:
        return None
    # compliance = in-SLO snapshots / snapshots with a value (rounded to 4 digits: the product rounds exactly).
    return round(values * (100.0 - compliance) / 100.0) * interval_minutes


def minutes_out_of_slo(daily: Sequence[Mapping[str, Any]], interval_minutes: float) -> dict[str, float | None]:
    """Minutes of snapshots out of each SLO over the days with data: ``{"availability": ..., "latency": ...}``.

    From each day's SLO compliance and its count of snapshots with a value:
    ``round(values * (100 - compliance) / 100) * interval``. ``None`` when no
    day has a value of the metric (never 0: nothing was measured).
    """
    out: dict[str, float | None] = {}
    for name, key, metric in (("availability", "slo_compliance_percent", "availability"),
                              ("latency", "latency_slo_compliance_percent", "p99_latency_ms")):
        minutes = [_minutes_out(d, key, metric, interval_minutes) for d in days_with_data(daily)]
        known = [m for m in minutes if m is not None]
        out[name] = float(sum(known)) if known else None
    return out


def user_impact(summary: Mapping[str, Any], burndown: Mapping[str, Any] | None = None) -> UserImpact:
    """The window's user impact from the weekly summary and ``slo_burndown.json``.

    Parameters
    ----------
    summary
        The weekly summary document.
    burndown
        The burn-down document; without it the budget figures are ``None``.
    """
    minutes = minutes_out_of_slo(summary["daily_summaries"], float(summary["interval_minutes"]))
    requests = summary.get("total_requests")
    has_traffic = bool(requests) and summary.get("request_weighted_error_rate") is not None
    return UserImpact(
        requests=int(requests) if has_traffic else None,
        failed_requests=int(summary["total_errors"]) if has_traffic else None,
        error_rate_percent=summary.get("request_weighted_error_rate"),
        minutes_below_availability_slo=minutes["availability"],
        minutes_over_latency_slo=minutes["latency"],
        budget_used_percent=budget_used_percent(dict(burndown)) if burndown else None,
        budget_exhausted_at=(burndown or {}).get("budget_exhausted_at"),
        budget_exhausted_day=budget_exhausted_day(dict(burndown)) if burndown else None,
    )


# ---------------------------------------------------------------------------
# breaches, detection and mitigation


@dataclass(frozen=True)
class Breach:
    """One run of consecutive snapshots out of an SLO.

    ``alert`` and ``alert_at`` name the first critical or warning alert firing
    during the breach (``None``: no alert fired); ``back_at`` is the first later
    snapshot with a value back within the SLO (``None``: not back by the end of
    the data). ``first`` and ``last`` are snapshot times.
    """

    slo: str
    first: datetime
    last: datetime
    snapshots: int
    worst: float
    interval: timedelta
    alert: str | None
    alert_at: datetime | None
    back_at: datetime | None

    @property
    def minutes(self) -> float:
        """Minutes out of the SLO: the breach's snapshots times the interval."""
        return self.snapshots * self.interval.total_seconds() / 60.0

    @property
    def span_start(self) -> datetime:
        """When the first breaching snapshot's interval began."""
        return self.first - self.interval

    @property
    def time_to_detect(self) -> timedelta | None:
        """First snapshot out of the SLO to the first alert firing (0 when already firing); ``None`` if no alert."""
        if self.alert_at is None:
            return None
        return max(self.alert_at - self.first, timedelta(0))

    @property
    def time_to_mitigate(self) -> timedelta | None:
        """First snapshot out of the SLO to the first snapshot back within it; ``None`` if never back."""
        return None if self.back_at is None else self.back_at - self.first


def _out(slo: str, value: float, settings: Settings) -> bool:
    if slo == "availability":
        return value < settings.availability_slo_percent
    return value >= settings.latency_slo_p99_ms


def slo_breaches(
    times: Sequence[datetime],
    values: Mapping[str, Sequence[float | None]],
    alert_episodes: Sequence[Mapping[str, Any]],
    interval_minutes: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> list[Breach]:
    """Every breach of the availability and latency SLOs, in time order, with detection and mitigation.

    Parameters
    ----------
    times
        Every snapshot time of the window, in order (missing snapshots included).
    values
        ``{"availability": [...], "latency": [...]}``: each snapshot's availability
        and p99 latency, ``None`` where missing. A missing value ends a breach
        (it is not evidence of one) and is skipped when looking for the return.
    alert_episodes
        The daily summaries' ``alert_episodes`` (``alertname``, ``severity``,
        ``start`` and ``end`` as the first and last firing snapshot times).
    interval_minutes
        The snapshot interval.
    """
    interval = timedelta(minutes=interval_minutes)
    alerts = sorted(
        ((parse_time(e["start"]), parse_time(e["end"]), str(e["alertname"]))
         for e in alert_episodes if str(e.get("severity", "")).lower() in DETECTING_SEVERITIES),
        key=lambda a: a[0])
    breaches: list[Breach] = []
    for slo, series in values.items():
        run: list[int] = []
        for k in range(len(times) + 1):
            value = series[k] if k < len(times) else None
            if value is not None and _out(slo, value, settings):
                run.append(k)
                continue
            if run:
                breaches.append(_breach(slo, run, times, series, alerts, interval, settings))
                run = []
    return sorted(breaches, key=lambda b: (b.first, b.slo))


def _breach(slo: str, run: list[int], times: Sequence[datetime], series: Sequence[float | None],
            alerts: Sequence[tuple[datetime, datetime, str]], interval: timedelta, settings: Settings) -> Breach:
    first, last = times[run[0]], times[run[-1]]
    worst_values = [series[k] for k in run]
    worst = min(worst_values) if slo == "availability" else max(worst_values)  # type: ignore[type-var]
    back_at = next((times[k] for k in range(run[-1] + 1, len(times))
                    if series[k] is not None and not _out(slo, series[k], settings)), None)
    firing = next(((start, name) for start, end, name in alerts if start <= last and end >= first), None)
    return Breach(slo=slo, first=first, last=last, snapshots=len(run), worst=float(worst), interval=interval,
                  alert=firing[1] if firing else None, alert_at=firing[0] if firing else None, back_at=back_at)
