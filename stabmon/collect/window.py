"""A run's window from its inputs: validated, with the flag named in every error."""

from __future__ import annotations

import math
from datetime import datetime

from stabmon.core.errors import InputError
from stabmon.core.model import Window, parse_time, utc


def parse_start(text: str, flag: str = "--start") -> datetime:
    """Parse a window start; sub-second parts are dropped (snapshot files name whole seconds).

    Raises
    ------
    InputError
        Naming ``flag`` when ``text`` is not an ISO 8601 time.
    """
    try:
        return parse_time(text).replace(microsecond=0)
    except ValueError:
        raise InputError(f"{flag}: not an ISO 8601 time: {text!r}") from None


def check_interval(minutes: float, flag: str = "--interval") -> float:
    """Return the interval in whole seconds; raise :class:`InputError` naming ``flag`` otherwise."""
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise InputError(f"{flag}: must be a positive number of minutes, got {minutes!r}")
    seconds = minutes * 60.0
    if abs(seconds - round(seconds)) > 1e-6 or round(seconds) < 1:
        raise InputError(f"{flag}: {minutes!r} minutes is not a whole number of seconds (>= 1 s)")
    return float(round(seconds))


def make_window(start: datetime, duration_hours: float, interval_minutes: float) -> Window:
    """A validated window; flags are named in the errors."""
    if not (math.isfinite(duration_hours) and duration_hours > 0):
        raise InputError(f"--duration: must be a positive number of hours, got {duration_hours!r}")
    check_interval(interval_minutes)
    window = Window(start=utc(start).replace(microsecond=0), duration_hours=duration_hours,
                    interval_minutes=interval_minutes)
    if window.snapshot_count < 1:
        raise InputError(f"--duration: {duration_hours} h is shorter than one --interval of {interval_minutes} min")
    return window
