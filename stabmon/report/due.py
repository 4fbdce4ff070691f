"""Which reports a run needs rendered now: the days that closed, the week when it ends.

``stabmon monitor --report`` (live or ``--catch-up``) renders each day's
notebook when the day closes and the weekly notebook and the retrospective
when the window ends; a catch-up run of an unfinished window also renders
the weekly notebook of the week so far. A report already rendered is not
rendered again unless its inputs changed: the hash of each report's inputs
(the day's or the week's summary without its ``generated_at``, and the
release record) is kept in ``reports/rendered.json`` beside the reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from stabmon import store
from stabmon.core.errors import ReportError
from stabmon.report.render import render_reports

log = logging.getLogger(__name__)

#: Beside the reports: the input hash each report was rendered from.
RENDERED_FILE = "rendered.json"


def _without_stamps(value: Any) -> Any:
    """``value`` without any ``generated_at`` (a rebuild alone changes nothing a report shows)."""
    if isinstance(value, dict):
        return {k: _without_stamps(v) for k, v in value.items() if k != "generated_at"}
    if isinstance(value, list):
        return [_without_stamps(v) for v in value]
    return value


def _summary_hash(path: Path, release: Any, extra: Any = None) -> str | None:
    """sha256 of a summary without its ``generated_at`` stamps, plus the release record and ``extra``."""
    if not path.exists():
        return None
    canonical = json.dumps({"summary": _without_stamps(store.read_json(path)), "release": release, "extra": extra},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def input_hashes(run_dir: Path, days: Sequence[int], *, previous_runs: Sequence[str] = ()) -> dict[str, str]:
    """The input hash of each report that could be rendered now: ``day_NN`` for ``days``, and ``week``."""
    info = store.read_run_info(run_dir) or {}
    release = info.get("release")
    hashes = {f"day_{d:02d}": h for d in days
              if (h := _summary_hash(store.day_summary_path(run_dir, d), release)) is not None}
    week = _summary_hash(run_dir / store.WEEKLY_JSON, release, sorted(previous_runs))
    if week is not None:
        hashes["week"] = week
    return hashes


def read_rendered(run_dir: Path) -> dict[str, str]:
    """The input hashes recorded when the folder's reports were last rendered (empty when none)."""
    path = run_dir / store.REPORTS_DIR / RENDERED_FILE
    if not path.exists():
        return {}
    recorded = store.read_json(path)
    return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


@dataclass
class DueReports:
    """What to render now: the daily notebooks of ``days`` and the ``kinds`` of week reports."""

    days: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.days and not self.kinds


def due_reports(closed_days: Sequence[int], week_kinds: Sequence[str], current: dict[str, str],
                rendered: dict[str, str]) -> DueReports:
    """Decide what to render (pure).

    Parameters
    ----------
    closed_days
        The days closed so far: each is due when its inputs changed since it was rendered.
    week_kinds
        The week reports that may be rendered now: ``weekly`` and
        ``retrospective`` once the window has ended, ``weekly`` alone for a
        catch-up run's week so far, none in a live run before the end. Each is
        due when the week's inputs changed since it was rendered.
    current, rendered
        Input hashes now (:func:`input_hashes`) and when last rendered.
    """
    days = [d for d in closed_days if f"day_{d:02d}" in current
            and rendered.get(f"day_{d:02d}") != current[f"day_{d:02d}"]]
    kinds = [k for k in week_kinds if "week" in current and rendered.get(k) != current["week"]]
    return DueReports(days=days, kinds=kinds, hashes=current)


def week_kinds_due(window_over: bool, week_so_far: bool) -> list[str]:
    """The week reports a run renders: both at the end, the weekly one for a catch-up's week so far."""
    if window_over:
        return ["weekly", "retrospective"]
    return ["weekly"] if week_so_far else []


def render_due(run_dir: Path, closed_days: Sequence[int], window_over: bool, *, week_so_far: bool = False,
               jobs: int = 2, timeout: float = 600.0, previous_runs: Sequence[str] = ()) -> DueReports:
    """Render the reports that are due (:func:`due_reports`) and record their input hashes.

    Raises
    ------
    ReportError
        When a notebook fails (the hashes of that render are not recorded, so
        the next run tries again).
    """
    run_dir = Path(run_dir)
    current = input_hashes(run_dir, closed_days, previous_runs=previous_runs)
    rendered = read_rendered(run_dir)
    due = due_reports(closed_days, week_kinds_due(window_over, week_so_far), current, rendered)
    if due.empty:
        return due
    kinds = (["daily"] if due.days else []) + due.kinds
    render_reports(run_dir, jobs=jobs, timeout=timeout, notebooks=kinds, progress=False, days=due.days,
                   previous_runs=list(previous_runs) or None)
    updated = dict(rendered)
    updated.update({f"day_{d:02d}": current[f"day_{d:02d}"] for d in due.days})
    updated.update({kind: current["week"] for kind in due.kinds})
    store.write_json_atomic(run_dir / store.REPORTS_DIR / RENDERED_FILE, dict(sorted(updated.items())))
    log.info("reports rendered: %s", ", ".join([f"day {d}" for d in due.days] + due.kinds))
    return due


class ReportsAsDaysClose:
    """The ``on_close`` hook of a run: render what is due each time days close (and once at the end).

    The hook is told the days closed in the step; it renders every closed
    day whose inputs changed, so a catch-up run that closed three days at
    once renders the three. ``week_so_far``: a catch-up run, which also
    renders the weekly notebook of an unfinished window. A failing notebook
    does not stop the run (collection goes on; the next close tries again):
    its message is kept in ``failures`` for the command to report at the end.
    """

    def __init__(self, run_dir: Path, *, week_so_far: bool = False, jobs: int = 2, timeout: float = 600.0) -> None:
        self.run_dir = Path(run_dir)
        self.week_so_far = week_so_far
        self.jobs = jobs
        self.timeout = timeout
        self.failures: list[str] = []
        self.rendered = False

    def __call__(self, days: list[int], window_over: bool) -> None:
        info = store.read_run_info(self.run_dir) or {}
        day_count = store.window_from_run_info(info).day_count if info else max(days, default=0)
        last = day_count if window_over else max(days, default=0)
        try:
            due = render_due(self.run_dir, list(range(1, last + 1)), window_over, week_so_far=self.week_so_far,
                             jobs=self.jobs, timeout=self.timeout)
        except ReportError as exc:
            log.error("reports not rendered: %s", exc)
            self.failures.append(str(exc))
            return
        self.rendered = self.rendered or not due.empty


def reports_as_days_close(run_dir: Path, *, week_so_far: bool = False, jobs: int = 2,
                          timeout: float = 600.0) -> ReportsAsDaysClose:
    """The ``on_close`` hook of ``monitor --report`` for the run folder (see :class:`ReportsAsDaysClose`)."""
    return ReportsAsDaysClose(run_dir, week_so_far=week_so_far, jobs=jobs, timeout=timeout)
