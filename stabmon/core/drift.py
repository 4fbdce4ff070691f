"""Drift of a snapshot's metrics from the release-day baseline (contract section 3)."""

from __future__ import annotations

from typing import Sequence

from stabmon.core.model import DRIFT_METRICS, Baseline, Snapshot


def compute_drift(values: dict[str, float | None], baseline: Baseline | None) -> tuple[dict[str, float], list[str]]:
    """Drift of each metric against the baseline (contract section 3).

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
