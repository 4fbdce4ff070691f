"""How every report names a threshold: one phrase per threshold, with its role.

A threshold is either a **target** (what a healthy snapshot, day or metric
meets: the SLOs, the degraded-day limits, the drift target) or a **rollback
limit** (what makes the verdict a rollback). The verdict, the Key Metrics
table, the recommendations, the notebook headers and the retrospective all
take their words from here, so the drift target (10 %) and the drift rollback
limit (15 %) are never confused, and a limit that fires *at* its value reads
"at least 2", never "limit 2".
"""

from __future__ import annotations

from stabmon.core.settings import DEFAULT_SETTINGS, Settings

#: The rollback criteria in the order the verdict lists them.
CRITERIA: tuple[str, ...] = ("availability", "drift", "degraded_days", "critical_alerts")


def rollback_limit(criterion: str, settings: Settings = DEFAULT_SETTINGS) -> str:
    """The condition under which a rollback criterion fires, in words.

    ``"average availability below 99.9 %"``, ``"average regression drift above 15 %"``,
    ``"at least 2 degraded days"``, ``"more than 5 critical alert episodes"``.

    Raises
    ------
    KeyError
        When ``criterion`` is not one of :data:`CRITERIA`.
    """
    s = settings
    return {
        "availability": f"average availability below {s.rollback_availability_percent:g} %",
        "drift": f"average regression drift above {s.rollback_drift_percent:g} %",
        "degraded_days": f"at least {s.rollback_degraded_days} degraded days",
        "critical_alerts": f"more than {s.rollback_critical_alerts} critical alert episodes",
    }[criterion]


def drift_target(settings: Settings = DEFAULT_SETTINGS) -> str:
    """``"drift target (10 % from the baseline)"``: a metric over it is flagged, with no rollback by itself."""
    return f"drift target ({settings.drift_threshold_percent:g} % from the baseline)"


def targets_text(settings: Settings = DEFAULT_SETTINGS) -> str:
    """Every target in one sentence, each named once with its role."""
    s = settings
    return (f"Targets: availability ≥ {s.availability_slo_percent:g} % and p99 latency < {s.latency_slo_p99_ms:g} ms "
            f"in each snapshot (the SLOs); a day is degraded below {s.degradation_compliance_percent:g} % SLO "
            f"compliance or at an average error rate of {s.error_rate_degraded_percent:g} % or more; "
            f"drift target: each metric within {s.drift_threshold_percent:g} % of the baseline.")


def rollback_limits_text(settings: Settings = DEFAULT_SETTINGS) -> str:
    """Every rollback limit in one sentence: ``"Rollback limits: ... ; any one recommends a rollback."``"""
    return ("Rollback limits (any one recommends a rollback): "
            + "; ".join(rollback_limit(c, settings) for c in CRITERIA) + ".")
