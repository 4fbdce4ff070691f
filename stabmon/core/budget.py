"""Error budget and burn-down of the availability SLO over the run's window.

Pure logic, no I/O: snapshots in, the contract's ``slo_burndown.json`` document
out (section 4). The arithmetic is the one of the SRE workbook, Sloth and
Pyrra, with the run's window as the SLO window:

* ``error_budget_requests = (1 - slo) * total requests of the window``.
* A day's ``budget_consumed_percent = day errors / error budget * 100``;
  ``cumulative_consumed_percent`` is its running sum and
  ``budget_remaining_percent = 100 - cumulative``. Remaining goes **negative**
  once the budget is overspent (as Pyrra shows it): how far past the budget the
  release went is worth seeing, clamping at 0 would hide it.
* ``burn_rate = error ratio / (1 - slo)``: 1 spends exactly the budget over the
  window, 2 spends it in half the window. A day without requests has no error
  ratio, so its burn rate is ``null``.
* Multi-window burn rates over the trailing 1 h and 6 h (the SRE workbook's
  fast- and slow-burn windows), computed from the snapshots: at snapshot
  ``t_k``, the errors over the requests of the snapshots with ``t`` in
  ``(t_k - W, t_k]`` (each snapshot counts ``(t - interval, t]``, contract
  section 1, so this covers exactly ``W`` when ``W`` is a multiple of the
  interval; when the interval is longer than ``W`` the snapshot itself is used).

Choices the contract leaves open:

* **Window not over yet.** The total requests of the window are projected from
  the observed request rate: ``observed requests * snapshots of the window /
  snapshots accounted``. The same formula fills gaps of missing snapshots in a
  finished window (on a complete window it is just the observed total). Early
  in a run this follows the hours seen so far, so the budget moves with the
  diurnal cycle until the first full day is in.
* **Which snapshots count.** A snapshot counts when its ``requests`` and its
  errors are known. Errors are the ``errors`` field, else ``requests *
  error_rate / 100``, else ``requests * (100 - availability) / 100``. A
  snapshot without requests or errors is left out of both sums (never read as
  0), and the projection above stretches the others over it.
* **Projected exhaustion.** The time at which the remaining budget runs out at
  the current burn rate, taken as the latest **6 h** burn rate (at a 30-minute
  interval the 1 h rate is two snapshots, too jumpy to project days ahead).
  With the window's average traffic, burn rate ``b`` spends the whole budget in
  ``window / b``, so the remaining fraction ``r`` lasts ``r * window / b`` from
  the last snapshot. ``null`` when the budget is not burning (6 h burn rate 0 or
  unknown), when there is no budget (no requests), and when the budget is
  already exhausted: then ``budget_exhausted_at`` says when it ran out. The
  time is given even when it falls after the end of the window;
  ``exhaustion_within_window`` says whether it does.

Extra keys beside the contract's (all documented in the JSON Schema):
``burn_rate_1h``, ``burn_rate_6h`` (latest values), ``burn_rate_1h_series``,
``burn_rate_6h_series`` (``[{timestamp, burn_rate}]``, one per snapshot),
``window_requests`` (the total the budget was computed from),
``requests_projected`` (whether it is a projection), ``projection_basis``,
``budget_exhausted_at``, ``exhaustion_within_window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from stabmon.core.durations import format_duration
from stabmon.core.errors import InputError
from stabmon.core.model import Snapshot, Window, format_time

#: Trailing windows of the multi-window burn rates, in hours.
BURN_RATE_WINDOWS_HOURS: tuple[float, ...] = (1.0, 6.0)

#: The multi-window burn rate the exhaustion projection uses.
PROJECTION_BASIS = "burn_rate_6h"

_DIGITS = 6  # rounding of the written numbers; sums are taken before rounding


@dataclass(frozen=True)
class _Point:
    """One accounted snapshot: its time, requests and errors."""

    timestamp: datetime
    requests: float
    errors: float


def snapshot_errors(snapshot: Snapshot) -> float | None:
    """Errors of a snapshot's interval, or ``None`` when they cannot be known.

    The ``errors`` field, else ``requests * error_rate / 100``, else
    ``requests * (100 - availability) / 100``.
    """
    errors = snapshot.values.get("errors")
    if errors is not None:
        return errors
    requests = snapshot.values.get("requests")
    if requests is None:
        return None
    error_rate = snapshot.values.get("error_rate")
    if error_rate is not None:
        return requests * error_rate / 100.0
    availability = snapshot.values.get("availability")
    if availability is not None:
        return requests * (100.0 - availability) / 100.0
    return None


def _accounted_points(snapshots: Iterable[Snapshot], window: Window) -> list[_Point]:
    points: list[_Point] = []
    seen: set[datetime] = set()
    for snapshot in sorted(snapshots, key=lambda s: s.timestamp):
        ts = snapshot.timestamp
        if ts in seen or not (window.start <= ts < window.end):
            continue
        seen.add(ts)
        requests = snapshot.values.get("requests")
        errors = snapshot_errors(snapshot)
        if requests is None or errors is None:
            continue
        points.append(_Point(ts, requests, errors))
    return points


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)


def _burn_rate(errors: float, requests: float, budget_ratio: float) -> float | None:
    if requests <= 0:
        return None
    return (errors / requests) / budget_ratio


def burn_rate_series(
    snapshots: Iterable[Snapshot],
    window: Window,
    hours: float,
    slo_target_percent: float = 99.9,
) -> list[dict[str, Any]]:
    """Trailing burn rate over ``hours`` at each accounted snapshot.

    Parameters
    ----------
    snapshots : iterable of Snapshot
        The run's snapshots (any order; those outside ``window`` are ignored).
    window : Window
        The run's window.
    hours : float
        Length of the trailing window (1 and 6 in the burn-down).
    slo_target_percent : float
        Availability SLO, e.g. 99.9.

    Returns
    -------
    list of dict
        ``[{"timestamp": ISO Z, "burn_rate": float or None}]`` in time order;
        ``None`` where the trailing window holds no requests.
    """
    budget_ratio = _budget_ratio(slo_target_percent)
    return _series(_accounted_points(snapshots, window), hours, budget_ratio)


def _series(points: list[_Point], hours: float, budget_ratio: float) -> list[dict[str, Any]]:
    span = timedelta(hours=hours)
    out: list[dict[str, Any]] = []
    lo = 0
    req_sum = err_sum = 0.0
    # Two pointers over the time-ordered points: add the new one, drop those
    # that fell out of (t - span, t]; O(n) for the whole series. The newest
    # point always stays, so a span shorter than the interval uses it alone.
    for hi, point in enumerate(points):
        req_sum += point.requests
        err_sum += point.errors
        while lo < hi and points[lo].timestamp <= point.timestamp - span:
            req_sum -= points[lo].requests
            err_sum -= points[lo].errors
            lo += 1
        if lo == hi:
            # Exact sums for a single point (no float residue from subtraction).
            req_sum, err_sum = point.requests, point.errors
        out.append({"timestamp": format_time(point.timestamp),
                    "burn_rate": _round(_burn_rate(err_sum, req_sum, budget_ratio))})
    return out


def _budget_ratio(slo_target_percent: float) -> float:
    if isinstance(slo_target_percent, bool) or not isinstance(slo_target_percent, (int, float)):
        raise InputError(f"SLO target must be a number, got {slo_target_percent!r}")
    if not 0.0 < slo_target_percent < 100.0:
        raise InputError(f"SLO target must be between 0 and 100 % (exclusive), got {slo_target_percent}")
    return 1.0 - slo_target_percent / 100.0


def compute_burndown(
    snapshots: Iterable[Snapshot],
    window: Window,
    slo_target_percent: float = 99.9,
) -> dict[str, Any]:
    """Error budget burn-down of the availability SLO over the run's window.

    Parameters
    ----------
    snapshots : iterable of Snapshot
        The run's snapshots so far (any order; those outside ``window`` and
        duplicate times are ignored).
    window : Window
        The run's window: the SLO window of the budget.
    slo_target_percent : float
        Availability SLO in percent, strictly between 0 and 100.

    Returns
    -------
    dict
        The contract's ``slo_burndown.json`` document plus the extra keys listed
        in the module docstring. ``days`` runs from day 1 to the last day with
        an accounted snapshot; a day in between without one has 0 requests, 0
        errors and a ``null`` burn rate.

    Raises
    ------
    InputError
        When ``slo_target_percent`` is not strictly between 0 and 100.
    """
    budget_ratio = _budget_ratio(slo_target_percent)
    points = _accounted_points(snapshots, window)

    observed_requests = sum(p.requests for p in points)
    expected = window.snapshot_count
    if points and len(points) < expected:
        window_requests = observed_requests * expected / len(points)
        projected = True
    else:
        window_requests = observed_requests
        projected = False
    budget = budget_ratio * window_requests

    def consumed(errors: float) -> float:
        # No budget means no requests at all, hence no errors either.
        return errors / budget * 100.0 if budget > 0 else 0.0

    last_day = window.day_of(points[-1].timestamp) if points else 0
    day_requests = {d: 0.0 for d in range(1, last_day + 1)}
    day_errors = {d: 0.0 for d in range(1, last_day + 1)}
    for p in points:
        d = window.day_of(p.timestamp)
        day_requests[d] += p.requests
        day_errors[d] += p.errors

    days: list[dict[str, Any]] = []
    cumulative = 0.0
    for d in range(1, last_day + 1):
        day_consumed = consumed(day_errors[d])
        cumulative += day_consumed
        days.append({
            "day_number": d,
            "requests": _round(day_requests[d]),
            "errors": _round(day_errors[d]),
            "budget_consumed_percent": _round(day_consumed),
            "cumulative_consumed_percent": _round(cumulative),
            "budget_remaining_percent": _round(100.0 - cumulative),
            "burn_rate": _round(_burn_rate(day_errors[d], day_requests[d], budget_ratio)),
        })

    exhausted_at: datetime | None = None
    if budget > 0:
        running = 0.0
        for p in points:
            running += p.errors
            if running >= budget:
                exhausted_at = p.timestamp
                break

    series = {hours: _series(points, hours, budget_ratio) for hours in BURN_RATE_WINDOWS_HOURS}
    latest = {hours: (s[-1]["burn_rate"] if s else None) for hours, s in series.items()}

    exhaustion: datetime | None = None
    remaining_fraction = 1.0 - cumulative / 100.0
    current = latest[6.0]
    if budget > 0 and exhausted_at is None and remaining_fraction > 0 and current and current > 0:
        exhaustion = points[-1].timestamp + timedelta(hours=remaining_fraction * window.duration_hours / current)

    window_days = window.duration_hours / 24.0
    return {
        "slo_target_percent": slo_target_percent,
        "window_days": int(window_days) if window_days.is_integer() else round(window_days, _DIGITS),
        "error_budget_requests": _round(budget),
        "days": days,
        "projected_exhaustion": format_time(exhaustion.replace(microsecond=0)) if exhaustion else None,
        "burn_rate_1h": latest[1.0],
        "burn_rate_6h": latest[6.0],
        "burn_rate_1h_series": series[1.0],
        "burn_rate_6h_series": series[6.0],
        "window_requests": _round(window_requests),
        "requests_projected": projected,
        "projection_basis": PROJECTION_BASIS,
        "budget_exhausted_at": format_time(exhausted_at) if exhausted_at else None,
        "exhaustion_within_window": bool(exhaustion is not None and exhaustion <= window.end),
    }


def _fmt_count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


def _fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def window_length(burndown: dict[str, Any]) -> str:
    """The SLO window of a burn-down in words (``15 min``, ``7 days``), from its ``window_days``."""
    return format_duration(float(burndown["window_days"]) * 24.0)


def burndown_markdown_table(burndown: dict[str, Any]) -> str:
    """The burn-down as a Markdown table for ``weekly_summary.md``.

    One row per day (requests, errors, burn rate, budget consumed that day,
    cumulative consumed, remaining), followed by one line with the budget, the
    latest 1 h / 6 h burn rates and the projected exhaustion.

    Parameters
    ----------
    burndown : dict
        A document returned by :func:`compute_burndown`.

    Returns
    -------
    str
        Markdown text ending with a newline; the caller adds the heading.
    """
    lines = [
        "| Day | Requests | Errors | Burn rate | Budget consumed | Cumulative consumed | Budget remaining |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for day in burndown.get("days", []):
        lines.append(
            f"| {day['day_number']} | {_fmt_count(day['requests'])} | {_fmt_count(day['errors'])} "
            f"| {_fmt_rate(day['burn_rate'])} | {day['budget_consumed_percent']:.2f} % "
            f"| {day['cumulative_consumed_percent']:.2f} % | {day['budget_remaining_percent']:.2f} % |"
        )
    outlook = budget_outlook(burndown)
    lines += [
        "",
        f"SLO {burndown['slo_target_percent']} % over {window_length(burndown)}: error budget "
        f"{_fmt_count(burndown['error_budget_requests'])} requests"
        f"{' (projected from the traffic so far)' if burndown.get('requests_projected') else ''}. "
        f"Burn rate 1 h: {_fmt_rate(burndown.get('burn_rate_1h'))}, "
        f"6 h: {_fmt_rate(burndown.get('burn_rate_6h'))}. Budget {outlook}.",
    ]
    return "\n".join(lines) + "\n"


def budget_used_percent(burndown: dict[str, Any] | None) -> float | None:
    """How much of the error budget the window used, in % (the last day's cumulative); ``None`` without data."""
    days = sorted((burndown or {}).get("days") or [], key=lambda d: d["day_number"])
    return days[-1].get("cumulative_consumed_percent") if days else None


def budget_exhausted_day(burndown: dict[str, Any] | None) -> int | None:
    """The day on which the error budget ran out, or ``None`` when it did not (``budget_exhausted_at`` is null).

    The day whose snapshots brought the running error count to the budget:
    the first whose cumulative use reached 100 % (the sums are rounded to 6
    digits in the file, hence the tolerance). It is the day of
    ``budget_exhausted_at``, since both come from the same running sum.
    """
    if not (burndown or {}).get("budget_exhausted_at"):
        return None
    days = sorted(burndown["days"], key=lambda d: d["day_number"])
    for day in days:
        if (day.get("cumulative_consumed_percent") or 0.0) >= 100.0 - 1e-6:
            return int(day["day_number"])
    return int(days[-1]["day_number"]) if days else None


def budget_outlook(burndown: dict[str, Any] | None) -> str:
    """The error budget's state in words, from ``budget_exhausted_at`` and ``projected_exhaustion``.

    ``"exhausted on day 3 (2026-01-07T16:00:00Z); 138.4 % used by day 7"``,
    ``"projected to run out at ... (within the window, at the 6 h burn rate); 42.0 % used by day 2"``,
    ``"not burning: no exhaustion projected; 0.0 % used by day 1"``, or
    ``"not available (no burn-down)"``. Every report that says when the budget
    ran out says it with this sentence.
    """
    if not burndown or not burndown.get("days"):
        return "not available (no burn-down)"
    days = sorted(burndown["days"], key=lambda d: d["day_number"])
    used = budget_used_percent(burndown)
    tail = f"{used:.1f} % used by day {days[-1]['day_number']}" if used is not None else "use unknown"
    if burndown.get("budget_exhausted_at"):
        return f"exhausted on day {budget_exhausted_day(burndown)} ({burndown['budget_exhausted_at']}); {tail}"
    if not burndown.get("error_budget_requests"):
        return "none: no requests were counted, so there is no budget to spend"
    if burndown.get("projected_exhaustion"):
        when = "within" if burndown.get("exhaustion_within_window") else "after the end of"
        return (f"projected to run out at {burndown['projected_exhaustion']} ({when} the window, "
                f"at the 6 h burn rate); {tail}")
    return f"not burning: no exhaustion projected; {tail}"
