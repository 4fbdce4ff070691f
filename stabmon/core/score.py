"""The week's stability score (0-100) and its letter grade."""

from __future__ import annotations

from stabmon.core.settings import DEFAULT_SETTINGS, Settings

#: Grade letter -> the word the reports print beside it.
GRADE_WORDS = {"A": "Excellent", "B": "Good", "C": "Fair", "D": "Poor", "F": "Failing"}

#: Lowest score of each grade, best first; below the last one the grade is F.
GRADE_FLOORS = (("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0))


def stability_score(
    availability_compliance: float | None,
    latency_compliance: float | None,
    avg_drift: float | None,
    settings: Settings = DEFAULT_SETTINGS,
) -> float | None:
    """The seed's weighted score (0-100).

    ``0.4 * availability compliance + 0.4 * latency compliance
    + 0.2 * (100 - min(drift, 20))``. A missing drift (no baseline) counts as
    no penalty; missing compliance makes the score unknown.
    """
    if availability_compliance is None or latency_compliance is None:
        return None
    drift_penalty = min(avg_drift if avg_drift is not None else 0.0, settings.drift_penalty_cap_percent)
    score = (
        availability_compliance * settings.score_weight_availability
        + latency_compliance * settings.score_weight_latency
        + (100.0 - drift_penalty) * settings.score_weight_drift
    )
    return max(0.0, min(100.0, score))


def grade_for(score: float | None) -> str | None:
    """Letter grade of a stability score: A >= 90, B >= 80, C >= 70, D >= 60, else F."""
    if score is None:
        return None
    for letter, floor in GRADE_FLOORS:
        if score >= floor:
            return letter
    return "F"
