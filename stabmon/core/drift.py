"""Drift of a snapshot's metrics from the release-day baseline (docs/contract.md §3).

Two figures per metric. The *absolute* drift ``|value - baseline| / |baseline|
* 100`` is the seed's, kept as it was (``drift_percent``, ``avg_drift_percent``,
``drift_by_metric``). The *regression* drift keeps only the moves that hurt
(availability down; error rate, latency, CPU and memory up) and that clear a
floor of practical significance: an improvement is never a regression. The
threshold lists, the drift rollback criterion and the recommendations use the
regression drift (docs/contract.md §3.2, §3.8, §3.9).
"""

from __future__ import annotations

from typing import Sequence

from stabmon.core.anomaly import DEFAULT_ANOMALY_SETTINGS, AnomalySettings
from stabmon.core.model import DRIFT_METRICS, Baseline, Snapshot


def compute_drift(values: dict[str, float | None], baseline: Baseline | None) -> tuple[dict[str, float], list[str]]:
    """Drift of each metric against the baseline (docs/contract.md §3).

    ``|value - baseline| / |baseline| * 100`` for the metrics present in both;
    a baseline of 0 is skipped with a warning.

    Returns
    -------
    (drift, warnings)
        ``drift`` maps metric to percent; ``warnings`` names skipped zero baselines.
    """
    drift: dict[str, float] = {}
    warnings: list[str] = []
    if baseline is None:
        return drift, warnings
    for metric in DRIFT_METRICS:
        base = baseline.values.get(metric)
        value = values.get(metric)
        if base is None or value is None:
            continue
        if base == 0:
            warnings.append(f"baseline {metric} is 0: drift not computed for it")
            continue
        drift[metric] = abs(value - base) / abs(base) * 100.0
    return drift, warnings


def apply_drift(snapshots: Sequence[Snapshot], baseline: Baseline | None) -> list[str]:
    """Recompute ``drift_percent`` of every snapshot in place; return the distinct warnings."""
    warnings: list[str] = []
    for snapshot in snapshots:
        snapshot.drift_percent, found = compute_drift(snapshot.values, baseline)
        for message in found:
            if message not in warnings:
                warnings.append(message)
    return warnings


#: The harmful direction of each drift metric: +1 when a rise hurts, -1 when a fall does.
HARMFUL_DIRECTION: dict[str, int] = {
    "availability": -1,
    "error_rate": 1,
    "p95_latency_ms": 1,
    "p99_latency_ms": 1,
    "cpu_percent": 1,
    "memory_percent": 1,
}


def regression_floor(metric: str, settings: AnomalySettings = DEFAULT_ANOMALY_SETTINGS) -> float:
    """Smallest move in the harmful direction that can count as a regression.

    The absolute part of the anomaly detector's floor of practical
    significance (:meth:`AnomalySettings.floor` with no relative part): 0.2
    percentage points for ``error_rate`` and ``availability``, nothing for the
    others. The detector's *relative* floors (30-50 %) are for abrupt
    excursions; applied to drift they would hide every sustained move the
    10 % drift threshold exists to catch, so the drift threshold stays the
    relative test and this floor only stops a tiny rate (0.03 -> 0.033 %
    errors, 10 % relative) from reading as a problem.
    """
    return settings.floor(metric, 0.0)


def compute_regression_drift(
    values: dict[str, float | None],
    baseline: Baseline | None,
    settings: AnomalySettings = DEFAULT_ANOMALY_SETTINGS,
) -> dict[str, float]:
    """Drift in the harmful direction only, per metric, in percent of the baseline.

    ``|value - baseline| / |baseline| * 100`` (the absolute drift) when the
    value moved the harmful way (:data:`HARMFUL_DIRECTION`) by at least
    :func:`regression_floor`; 0 for an improvement or a move under the floor.
    Metrics missing from either side, or with a 0 baseline, are left out
    (exactly as :func:`compute_drift` leaves them out).
    """
    absolute, _ = compute_drift(values, baseline)
    regression: dict[str, float] = {}
    for metric, drift in absolute.items():
        assert baseline is not None  # compute_drift gives nothing without one
        move = (values[metric] - baseline.values[metric]) * HARMFUL_DIRECTION[metric]  # type: ignore[operator]
        regression[metric] = drift if move > 0 and move >= regression_floor(metric, settings) else 0.0
    return regression
