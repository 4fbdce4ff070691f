"""How the summaries compute and cite figures.

The missing-data rules live here: a missing value (``None``) is left out of
a mean, a maximum or a minimum, never treated as 0, and a figure made of no
value at all is ``None`` (shown as "n/a"); a day without snapshots is left
out of every weekly figure.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any, Iterable


def mean_of(values: Iterable[float | None]) -> float | None:
    """Mean of the values present, ``None`` when there are none."""
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def max_of(values: Iterable[float | None]) -> float | None:
    """Largest value present, ``None`` when there are none."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def min_of(values: Iterable[float | None]) -> float | None:
    """Smallest value present, ``None`` when there are none."""
    present = [v for v in values if v is not None]
    return min(present) if present else None


def rounded(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded for the JSON documents; ``None`` stays ``None``."""
    return None if value is None else round(value, digits)


def day_list(days: Iterable[dict[str, Any]]) -> str:
    """The day numbers of daily summaries as ``"3, 5"``, or ``"none"``."""
    numbers = [str(d["day_number"]) for d in days]
    return ", ".join(numbers) if numbers else "none"


def days_with_data(daily: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The daily summaries that hold snapshots: a missing day is left out of every weekly figure."""
    return [d for d in daily if d["snapshot_count"] > 0]
