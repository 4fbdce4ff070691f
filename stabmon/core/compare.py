"""Statistical comparison of each day with the baseline window, as Kayenta's judge.

Pure logic, no I/O. For each metric and each day of the run, the day's
snapshot values are compared with the baseline window's snapshot values
(when the baseline records its window, the collector fetches that window's
snapshots too):

1. **Mann-Whitney U**, two-sided (``scipy.stats.mannwhitneyu``): is one
   distribution shifted against the other? Significant when ``p <
   p_value_threshold`` (0.05, Kayenta's 95 % confidence level).
2. **Effect size guard.** With 48 snapshots a day even a 1 % shift can be
   significant, and nobody rolls back for 1 %. As in Kayenta (whose classifier
   also requires the shift to clear a fraction of the Hodges-Lehmann estimate
   and an effect-size ratio), a significant shift only fails when the
   **Hodges-Lehmann shift** (median of all pairwise differences ``day -
   baseline``, the location shift Mann-Whitney tests) is large enough:
   ``|shift| >= max(min_relative_effect * |baseline median|,
   min_absolute_effect)``. The default relative effect is the contract's drift
   threshold, 10 %; error rate and availability, where relative change means
   little, need 0.1 percentage points (the seed's degraded error rate).
3. Verdict: ``high`` (day shifted up) or ``low`` (down) when both hold, else
   ``pass``. ``nodata`` (as Kayenta) when the day or the baseline has fewer
   than ``min_samples`` values of the metric. Identical samples, or samples
   that are all one value, ``pass`` with ``p_value`` 1 (Kayenta does the same;
   the test is undefined there).

Each result is a dict: ``day_number, metric, verdict, p_value, effect_size,
baseline_median, day_median, n_baseline, n_day`` plus ``shift`` (the
Hodges-Lehmann shift in the metric's unit), ``u_statistic`` (U of the day's
sample) and ``degraded`` (the verdict is in the metric's bad direction: low
availability, high everything else; never for requests). ``effect_size`` is
the relative shift ``shift / |baseline median|`` (0.12 = 12 % higher), ``None``
when the baseline median is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from stabmon.core.errors import InputError
from stabmon.core.model import DRIFT_METRICS, METRIC_FIELDS, Snapshot, Window

VERDICTS: tuple[str, ...] = ("pass", "high", "low", "nodata")

#: The verdict that means "worse" for each metric (``None``: neither).
BAD_DIRECTION: Mapping[str, str | None] = MappingProxyType({
    "availability": "low",
    "error_rate": "high",
    "requests": None,
    "errors": "high",
    "p95_latency_ms": "high",
    "p99_latency_ms": "high",
    "cpu_percent": "high",
    "memory_percent": "high",
})

DEFAULT_MIN_RELATIVE_EFFECT: Mapping[str, float] = MappingProxyType({
    "availability": 0.0,
    "error_rate": 0.0,
    "requests": 0.1,
    "errors": 0.1,
    "p95_latency_ms": 0.1,
    "p99_latency_ms": 0.1,
    "cpu_percent": 0.1,
    "memory_percent": 0.1,
})

DEFAULT_MIN_ABSOLUTE_EFFECT: Mapping[str, float] = MappingProxyType({
    "availability": 0.1,
    "error_rate": 0.1,
})


@dataclass(frozen=True)
class CompareSettings:
    """Thresholds of the baseline comparison.

    Parameters
    ----------
    metrics : tuple of str
        Metrics compared (default: the baseline's metrics, docs/contract.md §4).
    p_value_threshold : float
        Significance level of the two-sided Mann-Whitney test (0.05).
    min_relative_effect : Mapping[str, float]
        Smallest shift that fails, as a fraction of the baseline median.
    min_absolute_effect : Mapping[str, float]
        Smallest shift that fails, in the metric's unit (points for rates).
    min_samples : int
        Fewer values than this in the day or the baseline gives ``nodata``.
    """

    metrics: tuple[str, ...] = DRIFT_METRICS
    p_value_threshold: float = 0.05
    min_relative_effect: Mapping[str, float] = field(default_factory=lambda: DEFAULT_MIN_RELATIVE_EFFECT)
    min_absolute_effect: Mapping[str, float] = field(default_factory=lambda: DEFAULT_MIN_ABSOLUTE_EFFECT)
    min_samples: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "min_relative_effect", MappingProxyType(dict(self.min_relative_effect)))
        object.__setattr__(self, "min_absolute_effect", MappingProxyType(dict(self.min_absolute_effect)))
        unknown = [m for m in self.metrics if m not in METRIC_FIELDS]
        if unknown:
            raise InputError(f"unknown comparison metric(s): {', '.join(unknown)}")
        if not 0.0 < self.p_value_threshold < 1.0:
            raise InputError("p_value_threshold must be between 0 and 1")
        if self.min_samples < 1:
            raise InputError("min_samples must be >= 1")

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any] | None) -> "CompareSettings":
        """Build settings from defaults and overrides (effect mappings merge into the defaults).

        Raises
        ------
        InputError
            When a key is unknown or a value has the wrong type.
        """
        if not overrides:
            return cls()
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise InputError(f"unknown comparison setting {key!r}")
            if key in ("min_relative_effect", "min_absolute_effect"):
                if not isinstance(value, Mapping):
                    raise InputError(f"{key} must be a mapping metric -> number")
                merged = dict(getattr(cls(), key))
                merged.update({str(k): float(v) for k, v in value.items()})
                values[key] = merged
            elif key == "metrics":
                values[key] = tuple(str(m) for m in value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"comparison setting {key!r} must be a number, got {value!r}")
            else:
                values[key] = int(value) if key == "min_samples" else float(value)
        return cls(**values)

    def min_effect(self, metric: str, baseline_median: float) -> float:
        """Smallest ``|shift|`` that can fail for ``metric``."""
        relative = self.min_relative_effect.get(metric, 0.0) * abs(baseline_median)
        return max(relative, self.min_absolute_effect.get(metric, 0.0))


DEFAULT_COMPARE_SETTINGS = CompareSettings()


def hodges_lehmann_shift(day: Sequence[float], baseline: Sequence[float]) -> float:
    """Hodges-Lehmann location shift: median of all differences ``day_i - baseline_j``."""
    diffs = np.subtract.outer(np.asarray(day, dtype=float), np.asarray(baseline, dtype=float))
    return float(np.median(diffs))


def compare_samples(
    metric: str,
    baseline: Sequence[float],
    day: Sequence[float],
    settings: CompareSettings = DEFAULT_COMPARE_SETTINGS,
    *,
    test: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Compare one day's values of ``metric`` with the baseline's.

    ``test`` is the ``(U, p-value)`` of ``mannwhitneyu(day, baseline)`` when the
    caller already computed it in a batch (see :func:`compare_days`).

    Returns
    -------
    dict
        ``metric, verdict, p_value, effect_size, shift, u_statistic,
        baseline_median, day_median, n_baseline, n_day, degraded`` (no
        ``day_number``; :func:`compare_days` adds it).
    """
    base = np.asarray(baseline, dtype=float)
    cur = np.asarray(day, dtype=float)
    result: dict[str, Any] = {
        "metric": metric,
        "verdict": "nodata",
        "p_value": None,
        "effect_size": None,
        "shift": None,
        "u_statistic": None,
        "baseline_median": float(np.median(base)) if base.size else None,
        "day_median": float(np.median(cur)) if cur.size else None,
        "n_baseline": int(base.size),
        "n_day": int(cur.size),
        "degraded": False,
    }
    if base.size < settings.min_samples or cur.size < settings.min_samples:
        return result
    baseline_median = result["baseline_median"]
    if np.array_equal(np.sort(base), np.sort(cur)) or np.unique(np.concatenate([base, cur])).size == 1:
        result.update(verdict="pass", p_value=1.0, shift=0.0, effect_size=0.0 if baseline_median else None,
                      u_statistic=float(base.size * cur.size) / 2.0)
        return result

    if test is None:
        from scipy.stats import mannwhitneyu  # 1.6 s to import: only when a comparison runs

        found = mannwhitneyu(cur, base, alternative="two-sided")
        test = (float(found.statistic), float(found.pvalue))
    statistic, p_value = float(test[0]), float(test[1])
    shift = hodges_lehmann_shift(cur, base)
    verdict = "pass"
    if p_value < settings.p_value_threshold and shift != 0.0 and abs(shift) >= settings.min_effect(
            metric, baseline_median):
        verdict = "high" if shift > 0 else "low"
    result.update(
        verdict=verdict,
        p_value=p_value,
        shift=shift,
        effect_size=(shift / abs(baseline_median)) if baseline_median else None,
        u_statistic=statistic,
        degraded=verdict != "pass" and BAD_DIRECTION.get(metric) == verdict,
    )
    return result


def _values(snapshots: Iterable[Snapshot], metric: str) -> list[float]:
    return [v for s in snapshots if (v := s.values.get(metric)) is not None]


def compare_days(
    baseline_snapshots: Iterable[Snapshot],
    snapshots: Iterable[Snapshot],
    window: Window,
    settings: CompareSettings = DEFAULT_COMPARE_SETTINGS,
) -> list[dict[str, Any]]:
    """Compare each day's distribution of each metric with the baseline window's.

    Parameters
    ----------
    baseline_snapshots : iterable of Snapshot
        Snapshots of the baseline's window (e.g. release day), all pooled.
    snapshots : iterable of Snapshot
        The run's snapshots; those outside ``window`` are ignored, duplicate
        times count once.
    window : Window
        The run's window (gives each snapshot its day).
    settings : CompareSettings
        Thresholds.

    Returns
    -------
    list of dict
        One result per day that has snapshots and per metric, ordered by day
        then metric: ``{day_number, metric, verdict, p_value, effect_size,
        baseline_median, day_median, n_baseline, n_day, shift, u_statistic,
        degraded}``. Missing values (``None``) are left out of the samples.
    """
    baseline_snapshots = list(baseline_snapshots)
    by_day: dict[int, list[Snapshot]] = {}
    seen = set()
    for snapshot in snapshots:
        ts = snapshot.timestamp
        if ts in seen or not (window.start <= ts < window.end):
            continue
        seen.add(ts)
        by_day.setdefault(window.day_of(ts), []).append(snapshot)

    baseline_values = {m: _values(baseline_snapshots, m) for m in settings.metrics}
    day_values = {(d, m): _values(by_day[d], m) for d in by_day for m in settings.metrics}
    tests = _batched_tests(baseline_values, day_values)
    results: list[dict[str, Any]] = []
    for day_number in sorted(by_day):
        for metric in settings.metrics:
            row = compare_samples(metric, baseline_values[metric], day_values[(day_number, metric)], settings,
                                  test=tests.get((day_number, metric)))
            results.append({"day_number": day_number, **row})
    return results


def _batched_tests(
    baseline_values: dict[str, list[float]], day_values: dict[tuple[int, str], list[float]]
) -> dict[tuple[int, str], tuple[float, float]]:
    """Mann-Whitney U of every (day, metric) against the baseline, one scipy call per metric and sample size.

    scipy's per-call overhead (~3 ms) dominates on samples of 48, and days
    almost always have the same size, so the days of a metric go in as the
    rows of one array. Below 9 values scipy may pick its exact method, which
    depends on the whole batch: those are left to :func:`compare_samples`.
    """
    groups: dict[tuple[str, int], list[int]] = {}
    for (day, metric), values in day_values.items():
        if len(values) > 8 and len(baseline_values[metric]) > 8:
            groups.setdefault((metric, len(values)), []).append(day)
    tests: dict[tuple[int, str], tuple[float, float]] = {}
    if groups:
        from scipy.stats import mannwhitneyu  # 1.6 s to import: only when a comparison runs
    for (metric, _), days in groups.items():
        rows = np.array([day_values[(d, metric)] for d in days], dtype=float)
        base = np.asarray(baseline_values[metric], dtype=float)[None, :]
        found = mannwhitneyu(rows, base, alternative="two-sided", axis=1)
        for day, statistic, p_value in zip(days, np.atleast_1d(found.statistic), np.atleast_1d(found.pvalue)):
            tests[(day, metric)] = (float(statistic), float(p_value))
    return tests
