"""A window's length in words, in one place, for every title and sentence that states it.

A run may last from a few minutes (a test run) to weeks; the reports say how
long it was from the window itself, never assuming the seed's seven days.
"""

from __future__ import annotations

_MINUTE = 60
_HOUR = 3600
_DAY = 86_400


def _seconds(hours: float) -> int:
    # Whole seconds: a window is a whole number of intervals of whole seconds,
    # and rounding absorbs the float noise of ``days * 24`` (0.010417 days).
    return max(int(round(float(hours) * 3600.0)), 0)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def format_duration(hours: float) -> str:
    """A duration for running text: ``15 min``, ``2 h``, ``1 h 30 min``, ``1 day 6 h``, ``7 days``.

    Parameters
    ----------
    hours : float
        The duration in hours (fractions allowed).

    Returns
    -------
    str
        Days, hours and minutes, each only when not zero (rounded to the
        minute); seconds below a minute.
    """
    total = _seconds(hours)
    if total < _MINUTE:
        return f"{total} s"
    minutes_total = int(round(total / _MINUTE))
    if minutes_total < 60:
        return f"{minutes_total} min"
    days, rest = divmod(minutes_total, 24 * 60)
    whole_hours, minutes = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(_plural(days, "day"))
    if whole_hours:
        parts.append(f"{whole_hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def duration_adjective(hours: float, *, title_case: bool = False) -> str:
    """The length before a noun: ``15-minute``, ``2-hour``, ``30-hour``, ``7-day``, ``14-day``.

    The largest unit the duration is a whole number of (days, then hours,
    then minutes below two hours: ``1 h 30 min`` is ``90-minute``); otherwise
    the :func:`format_duration` words (``2 h 30 min``, ``100 s``).
    """
    total = _seconds(hours)
    for size, unit, below in ((_DAY, "day", None), (_HOUR, "hour", None), (_MINUTE, "minute", 2 * _HOUR)):
        if total >= size and total % size == 0 and (below is None or total < below):
            word = f"{total // size}-{unit}"
            return word.title() if title_case else word
    return format_duration(hours)


def period_name(hours: float) -> str:
    """How a sentence names the whole window: ``the week`` (7 days), ``the day`` (24 h), else ``the 2-hour window``."""
    total = _seconds(hours)
    if total == 7 * _DAY:
        return "the week"
    if total == _DAY:
        return "the day"
    return f"the {duration_adjective(hours)} window"
