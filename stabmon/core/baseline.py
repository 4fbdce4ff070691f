"""Reading and checking the baseline file (docs/contract.md §4)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from stabmon.core.errors import BaselineError
from stabmon.core.model import DRIFT_METRICS, Baseline, parse_time

log = logging.getLogger(__name__)

#: Metrics that are percentages and must lie in 0..100.
PERCENT_METRICS = ("availability", "error_rate", "cpu_percent", "memory_percent")


def baseline_from_dict(data: Any, source: str = "baseline") -> Baseline:
    """Check a baseline document and build a :class:`Baseline`.

    ``timestamp`` is required; any subset of the metric fields may be given;
    unknown keys are kept and ignored.

    Raises
    ------
    BaselineError
        Naming ``source`` and the problem: not an object, no or bad timestamp,
        a value that is not a finite number, a negative value, or a percentage
        over 100 (CPU and memory may exceed 100 % of their limit only in
        theory, so they are held to 0..100 as well, as the seed's data were).
    """
    if not isinstance(data, dict):
        raise BaselineError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if "timestamp" not in data:
        raise BaselineError(f"{source}: 'timestamp' is required")
    try:
        timestamp = parse_time(data["timestamp"])
    except (ValueError, TypeError):
        raise BaselineError(f"{source}: 'timestamp' is not an ISO 8601 time: {data['timestamp']!r}") from None
    values: dict[str, float] = {}
    for metric in DRIFT_METRICS:
        if metric not in data or data[metric] is None:
            continue
        value = data[metric]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BaselineError(f"{source}: '{metric}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise BaselineError(f"{source}: '{metric}' must be a finite number, got {value!r}")
        if value < 0:
            raise BaselineError(f"{source}: '{metric}' must not be negative, got {value!r}")
        if metric in PERCENT_METRICS and value > 100:
            raise BaselineError(f"{source}: '{metric}' is a percentage and must not exceed 100, got {value!r}")
        values[metric] = float(value)
    service = data.get("service")
    if service is not None and not isinstance(service, str):
        raise BaselineError(f"{source}: 'service' must be a string, got {service!r}")
    window = data.get("window") if isinstance(data.get("window"), dict) else None
    extra = {k: v for k, v in data.items() if k not in DRIFT_METRICS and k not in ("timestamp", "service", "window")}
    return Baseline(timestamp=timestamp, values=values, service=service, window=window, extra=extra)


def _reject_constant(token: str) -> float:
    # json accepts NaN/Infinity by default; a baseline holding them is bad input.
    raise ValueError(f"{token} is not a valid JSON number")


def load_baseline(path: str | Path) -> Baseline:
    """Read and check a baseline JSON file.

    Raises
    ------
    BaselineError
        One line naming the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"baseline file not found: {path}") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline {path} is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise BaselineError(f"baseline {path} is not valid JSON: {exc}") from None
    return baseline_from_dict(data, source=f"baseline {path}")


def baseline_from_run_info(info: dict[str, Any] | None) -> Baseline | None:
    """The baseline recorded in a run's ``run.json``, if any (a bad one is warned about and ignored)."""
    if not info or not info.get("baseline"):
        return None
    try:
        return baseline_from_dict(info["baseline"], source="run.json baseline")
    except BaselineError as exc:
        log.warning("%s", exc)
        return None
