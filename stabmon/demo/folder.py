"""The demo's output folder: never over someone's run, never with an earlier demo's leftovers.

A demo may write into a missing or empty folder, or over an earlier demo
(its ``run.json`` says ``synthetic:...``). Anything else (a real run, a fleet,
files of another kind) is refused unless the caller forces it: a demo
replaces raw snapshots and summaries, which for a real run are not
recoverable. Before a demo writes, every file an earlier run left is removed
(raw snapshots, summaries, rendered reports, comparisons), so no report of an
earlier week sits beside the new one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stabmon import store
from stabmon.core.errors import InputError, StoreError
from stabmon.store import layout
from stabmon.store.release_history import COMPARISON_JSON, COMPARISON_MD

#: How ``run.json`` names a demo's source (``synthetic:<scenario>:seed=<n>``).
DEMO_SOURCE_PREFIX = "synthetic:"

#: Files of a run folder (docs/contract.md §4.1) that a demo rewrites or that would be stale after it.
RUN_FILES = (
    layout.RUN_FILE, layout.BASELINE_FILE, layout.ANOMALIES_FILE, layout.BURNDOWN_FILE, layout.DAY_LATENCY_FILE,
    layout.WEEKLY_JSON, layout.WEEKLY_MD, layout.FLEET_RUN_FILE, layout.FLEET_SUMMARY_JSON, layout.FLEET_SUMMARY_MD,
    COMPARISON_JSON, COMPARISON_MD,
)
RUN_DIRS = (layout.REPORTS_DIR, layout.BASELINE_RAW_DIR)


def _entries(folder: Path) -> list[Path]:
    """What the folder holds, but for the run lock."""
    try:
        return sorted(p for p in folder.iterdir() if p.name != layout.LOCK_FILE)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(f"--output {folder}: cannot read it: {exc.strerror or exc}") from None


def earlier_demo(folder: Path) -> bool:
    """Whether ``folder`` holds a run that ``stabmon demo`` wrote."""
    try:
        info = store.read_run_info(folder)
    except (StoreError, ValueError, OSError):
        return False
    return bool(info) and str(info.get("source") or "").startswith(DEMO_SOURCE_PREFIX)


def what_a_demo_would_replace(folder: Path) -> str | None:
    """Why a demo must not write into ``folder`` without ``--force``, or ``None`` when it may."""
    folder = Path(folder)
    entries = _entries(folder)
    if not entries or earlier_demo(folder):
        return None
    if (folder / layout.FLEET_RUN_FILE).exists() or (folder / layout.FLEET_SUMMARY_JSON).exists():
        return "holds a fleet run, which a demo would replace"
    try:
        info = store.read_run_info(folder)
    except (StoreError, ValueError, OSError):
        return f"holds a {layout.RUN_FILE} that is not a demo's, which a demo would replace"
    if info:
        window = info.get("window") or {}
        return (f"holds a run of {info.get('service') or 'a selector'} (source {info.get('source') or 'unknown'}, "
                f"window from {window.get('start', '?')}), which a demo would replace")
    if store.iter_snapshot_files(folder):
        return "holds raw snapshots, which a demo would replace"
    names = ", ".join(p.name for p in entries[:3]) + (", ..." if len(entries) > 3 else "")
    return f"is not empty ({names}) and holds no earlier demo"


def clear_run_outputs(folder: Path) -> list[Path]:
    """Remove every file and folder a run writes (not other files); return what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    for entry in _entries(folder):
        name = entry.name
        is_run_dir = name in RUN_DIRS or bool(layout.DAY_RAW_RE.match(name))
        is_run_file = (name in RUN_FILES or layout.TEMP_RE.match(name) is not None
                       or (name.startswith("day_") and name.endswith("_summary.json")))
        if is_run_dir and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif is_run_file and (entry.is_file() or entry.is_symlink()):
            entry.unlink()
        else:
            continue
        removed.append(entry)
    return removed


def check_demo_folder(folder: str | Path, *, force: bool = False) -> None:
    """Refuse a folder that holds something other than an earlier demo, unless ``force``.

    Raises
    ------
    InputError
        One line naming the folder and what it holds.
    """
    reason = what_a_demo_would_replace(Path(folder))
    if reason and not force:
        raise InputError(f"--output {folder} {reason}: choose another folder or add --force")


def prepare_demo_folder(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Check the folder (:func:`check_demo_folder`) and clear an earlier run's files; return what was removed."""
    check_demo_folder(folder, force=force)
    return clear_run_outputs(Path(folder))
