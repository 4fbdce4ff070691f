"""A run folder read and written: raw snapshots, run.json, the day figures.

Every read of a run folder goes through here (or :mod:`stabmon.store.fleet`
for a fleet folder), so its layout is known in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stabmon.core.errors import StoreError
from stabmon.core.model import Snapshot, Window, format_time, parse_time
from stabmon.store import schemas
from stabmon.store.files import read_json, write_json_atomic
from stabmon.store.layout import (
    BASELINE_RAW_DIR,
    DAY_LATENCY_FILE,
    DAY_RAW_RE,
    RUN_FILE,
    SNAPSHOT_RE,
    snapshot_filename,
    snapshot_path,
)

log = logging.getLogger(__name__)


def write_snapshot(out_dir: Path, window: Window, snapshot: Snapshot, *, fsync: bool = True) -> Path:
    """Write one raw snapshot into its day's folder; return its path."""
    path = snapshot_path(out_dir, window, snapshot.timestamp)
    write_json_atomic(path, snapshot.to_dict(), schema="snapshot", fsync=fsync, compact=True)
    return path


@dataclass
class SnapshotFolder:
    """What :func:`read_snapshots` found: the snapshots and a warning per bad file."""

    snapshots: list[Snapshot] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_baseline_snapshot(out_dir: Path, snapshot: Snapshot, *, fsync: bool = True) -> Path:
    """Write one snapshot of the baseline's window into ``baseline_raw/``."""
    path = Path(out_dir) / BASELINE_RAW_DIR / snapshot_filename(snapshot.timestamp)
    write_json_atomic(path, snapshot.to_dict(), schema="snapshot", fsync=fsync, compact=True)
    return path


def iter_snapshot_files(out_dir: Path) -> list[Path]:
    """Every ``day_NN_raw/snapshot_*.json`` file of a run folder, sorted by name."""
    out_dir = Path(out_dir)
    files: list[Path] = []
    if not out_dir.is_dir():
        return files
    for day_dir in sorted(out_dir.iterdir()):
        if day_dir.is_dir() and DAY_RAW_RE.match(day_dir.name):
            files.extend(p for p in sorted(day_dir.iterdir()) if p.name.startswith("snapshot_") and p.suffix == ".json")
    return files


def read_snapshots(out_dir: Path, *, baseline_window: bool = False, validate: bool = True) -> SnapshotFolder:
    """Read every raw snapshot of a run folder (or of its ``baseline_raw/``).

    A torn or foreign file is named in a warning and skipped; nothing else is
    lost. Two files with the same timestamp keep the first. ``validate=False``
    skips the JSON Schema check (the files were validated when written; a
    notebook kernel reading 336 of them saves most of a second) but still
    skips a file that does not parse into a snapshot.
    """
    found = SnapshotFolder()
    seen: set[datetime] = set()
    if baseline_window:
        folder = Path(out_dir) / BASELINE_RAW_DIR
        files = sorted(folder.glob("snapshot_*.json")) if folder.is_dir() else []
    else:
        files = iter_snapshot_files(out_dir)
    for path in files:
        try:
            data = read_json(path)
            if validate:
                schemas.validate(data, "snapshot")
            snapshot = Snapshot.from_dict(data)
        except (StoreError, schemas.SchemaError, ValueError, KeyError, TypeError, AttributeError) as exc:
            message = f"skipped {path}: {exc}"
            log.warning(message)
            found.warnings.append(message)
            continue
        if snapshot.timestamp in seen:
            message = f"skipped {path}: duplicate snapshot for {format_time(snapshot.timestamp)}"
            log.warning(message)
            found.warnings.append(message)
            continue
        seen.add(snapshot.timestamp)
        found.snapshots.append(snapshot)
    found.snapshots.sort(key=lambda s: s.timestamp)
    return found


def write_run_info(out_dir: Path, info: dict[str, Any]) -> None:
    """Write ``run.json``: the window and target of a run (used to resume and re-analyse)."""
    write_json_atomic(Path(out_dir) / RUN_FILE, info, schema="run")


def read_run_info(out_dir: Path) -> dict[str, Any] | None:
    """Read ``run.json`` when present, else ``None``."""
    path = Path(out_dir) / RUN_FILE
    if not path.exists():
        return None
    data = read_json(path)
    try:
        schemas.validate(data, "run")
    except schemas.SchemaError as exc:
        raise StoreError(f"{path}: {exc}") from exc
    return data


def window_from_run_info(info: dict[str, Any]) -> Window:
    """The :class:`Window` recorded in ``run.json``."""
    window = info["window"]
    return Window(
        start=parse_time(window["start"]),
        duration_hours=float(window["duration_hours"]),
        interval_minutes=float(window["interval_minutes"]),
    )


def existing_snapshot_indexes(out_dir: Path, window: Window) -> set[int]:
    """Indexes ``k`` of the snapshots already on disk (read from file names, not contents)."""
    found: set[int] = set()
    for path in iter_snapshot_files(out_dir):
        match = SNAPSHOT_RE.match(path.name)
        if not match:
            continue
        day, hh, mm, ss = match.groups()
        try:
            ts = datetime.strptime(f"{day} {hh}:{mm}:{ss}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        k = window.index_of(ts)
        if k is not None and snapshot_path(out_dir, window, ts) == path:
            found.add(k)
    return found


def read_day_latency(out_dir: Path) -> dict[int, dict[str, float | None]]:
    """The merged-histogram day quantiles the collector stored (``day_latency.json``), if any."""
    path = Path(out_dir) / DAY_LATENCY_FILE
    if not path.exists():
        return {}
    data = read_json(path)
    if not isinstance(data, dict):
        raise StoreError(f"{path}: expected an object of day numbers")
    return day_latency_figures(data)


def day_latency_figures(document: dict[str, Any]) -> dict[int, dict[str, float | None]]:
    """The day figures of a ``day_latency.json`` document, by day number."""
    return {int(k): v for k, v in document.items() if isinstance(v, dict)}


def read_day_latency_document(out_dir: Path) -> dict[str, Any]:
    """``day_latency.json`` as stored (``{}`` when absent; a broken file is named and replaced)."""
    path = Path(out_dir) / DAY_LATENCY_FILE
    if not path.exists():
        return {}
    try:
        loaded = read_json(path)
    except StoreError as exc:
        log.warning("%s; rewriting it", exc)
        return {}
    return loaded if isinstance(loaded, dict) else {}


def merge_day_latency(current: dict[str, Any], figures: dict[int, dict[str, float | None]]) -> dict[str, Any]:
    """``day_latency.json`` with ``figures`` merged in (``{"<day>": {"p95_latency_ms": .., ...}}``)."""
    merged = dict(current)
    for day, values in figures.items():
        merged[str(day)] = {k: (None if v is None else round(v * 1.0, 6)) for k, v in values.items()}
    return dict(sorted(merged.items(), key=lambda kv: int(kv[0])))


def write_day_latency(out_dir: Path, figures: dict[int, dict[str, float | None]]) -> None:
    """Merge day figures into ``day_latency.json``."""
    write_json_atomic(Path(out_dir) / DAY_LATENCY_FILE, merge_day_latency(read_day_latency_document(out_dir), figures))
