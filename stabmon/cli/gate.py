"""``--gate``: the verdict as the exit status, for a CD pipeline or a scheduler.

0 pass, 2 rollback, 3 inconclusive; 1 (bad input, an error) and 130
(interrupted) keep their meaning. Without ``--gate`` a finished run exits 0
whatever the verdict.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stabmon import store
from stabmon.core.markdown import verdict_of

#: Exit status of each verdict under ``--gate`` (docs/contract.md §5).
GATE_EXIT_CODES = {"pass": 0, "rollback": 2, "inconclusive": 3}


def add_gate_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--gate`` to ``parser`` (monitor and analyze)."""
    parser.add_argument("--gate", action="store_true",
                        help="exit with the verdict: 0 pass, 2 rollback, 3 inconclusive "
                        "(a fleet: its worst service); 1 and 130 keep their meaning")


def gate_exit(verdict: str, gate: bool) -> int:
    """The exit status of a finished run: the verdict's under ``gate``, else 0."""
    return GATE_EXIT_CODES[verdict] if gate else 0


def folder_verdict(folder: Path) -> str:
    """The verdict of a run folder's ``weekly_summary.json``; ``inconclusive`` when there is none
    (nothing was collected, so nothing was judged)."""
    path = folder / store.WEEKLY_JSON
    weekly: dict[str, Any] | None = store.read_json(path) if path.exists() else None
    return verdict_of(weekly) if weekly is not None else "inconclusive"
