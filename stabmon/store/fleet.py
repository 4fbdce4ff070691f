"""Fleet folders: fleet_run.json, each service's folder, the fleet summary, shard merging.

A fleet folder (``stabmon monitor --services ...``) holds ``fleet_run.json``
(window, service label, services, shard), one single-target folder per
service, and ``fleet_summary.json``/``.md``. A folder of shard folders is
merged into one fleet summary by :func:`merge_fleet`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from stabmon.core.baseline import baseline_from_run_info, load_baseline
from stabmon.core.errors import BaselineError, StoreError
from stabmon.core.fleet_summary import (
    DEFAULT_SERVICE_LABEL,
    build_fleet_summary,
    fleet_entry,
    fleet_summary_markdown,
)
from stabmon.core.model import Baseline
from stabmon.store.files import read_json, write_json_atomic, write_text_atomic
from stabmon.store.folder import iter_snapshot_files, read_run_info, window_from_run_info
from stabmon.store.layout import (
    FLEET_RUN_FILE,
    FLEET_SUMMARY_JSON,
    FLEET_SUMMARY_MD,
    RUN_FILE,
    WEEKLY_JSON,
    service_folder,
)
from stabmon.store.rebuild import rebuild_summaries
from stabmon.store.work import TargetWork, default_jobs, run_target_work

log = logging.getLogger(__name__)


def write_fleet_run(out_dir: Path, info: dict[str, Any]) -> None:
    """Write ``fleet_run.json``: the fleet's window, service label, services, shard and queries."""
    write_json_atomic(Path(out_dir) / FLEET_RUN_FILE, info)


def read_fleet_run(out_dir: Path) -> dict[str, Any] | None:
    """``fleet_run.json`` of a fleet folder, or ``None``."""
    path = Path(out_dir) / FLEET_RUN_FILE
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or "window" not in data or "services" not in data:
        raise StoreError(f"{path}: not a fleet run description")
    return data


def write_fleet_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    """Write ``fleet_summary.json`` (schema-checked) and ``fleet_summary.md`` atomically."""
    write_json_atomic(Path(out_dir) / FLEET_SUMMARY_JSON, summary, schema="fleet")
    write_text_atomic(Path(out_dir) / FLEET_SUMMARY_MD, fleet_summary_markdown(summary))


def load_fleet_baselines(path: str | Path | None, services: Sequence[str]) -> tuple[dict[str, Baseline | None], list[str]]:
    """Baselines of the services: one file for all, or a folder of ``<service>.json``.

    A service with no file in the folder gets ``None`` (no drift) and a
    warning; the run goes on.

    Returns
    -------
    (baselines, warnings)

    Raises
    ------
    BaselineError
        A file that exists but is not a valid baseline.
    """
    if path is None:
        return dict.fromkeys(services), []
    path = Path(path)
    if not path.exists():
        raise BaselineError(f"baseline file or folder not found: {path}")
    if path.is_file():
        baseline = load_baseline(path)
        return dict.fromkeys(services, baseline), []
    baselines: dict[str, Baseline | None] = {}
    warnings: list[str] = []
    for service in services:
        candidates = [path / f"{service_folder(service)}.json"]
        if "/" not in service and "\0" not in service and service not in (".", ".."):
            candidates.insert(0, path / f"{service}.json")
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            baselines[service] = None
            warnings.append(f"no baseline for service {service!r} in {path}: no drift for it")
        else:
            baselines[service] = load_baseline(found)
    return baselines, warnings


def is_fleet_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a fleet folder or holds shard folders (``stabmon analyze`` dispatch)."""
    folder = Path(folder)
    if (folder / FLEET_RUN_FILE).exists() or (folder / FLEET_SUMMARY_JSON).exists():
        return True
    return any((sub / FLEET_RUN_FILE).exists() for sub in _subfolders(folder))


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


@dataclass
class _Part:
    root: Path
    info: dict[str, Any]


def _fleet_parts(folder: Path) -> list[_Part]:
    parts = []
    own = read_fleet_run(folder)
    if own is not None:
        parts.append(_Part(folder, own))
    for sub in _subfolders(folder):
        info = read_fleet_run(sub)
        if info is not None:
            parts.append(_Part(sub, info))
    return parts


def merge_fleet(folder: str | Path, *, baseline_path: str | Path | None = None, settings: Any = None,
                rebuild: bool = True, jobs: int | None = None,
                generated_at: datetime | None = None) -> dict[str, Any]:
    """Rebuild a fleet folder's summaries, merging shard folders found directly under it.

    ``folder`` may be a fleet folder (``fleet_run.json``), a folder of shard
    folders (each a fleet folder), or both. Each service's summaries are
    rebuilt from its raw snapshots (``rebuild``), and one
    ``fleet_summary.json`` listing every service of every shard is written
    into ``folder``. A service found in two shards is kept once, with a
    warning; missing shards are named.

    Raises
    ------
    StoreError
        When no fleet folder is found.
    """
    folder = Path(folder)
    parts = _fleet_parts(folder)
    if not parts:
        raise StoreError(f"{folder}: no {FLEET_RUN_FILE} here or in its subfolders (not a fleet folder)")
    window = window_from_run_info(parts[0].info)
    label = parts[0].info.get("service_label") or DEFAULT_SERVICE_LABEL
    warnings: list[str] = []
    seen: dict[str, Path] = {}
    works: list[TargetWork] = []
    shard_counts: set[int] = set()
    shard_indexes: set[int] = set()
    for part in parts:
        if window_from_run_info(part.info).to_dict() != window.to_dict():
            warnings.append(f"{part.root}: a different window from {parts[0].root}; merged anyway")
        if part.info.get("shard"):
            shard_counts.add(int(part.info["shard"]["count"]))
            shard_indexes.add(int(part.info["shard"]["index"]))
        else:
            shard_counts.add(1)
            shard_indexes.add(1)
        names = [(s["service"], s.get("folder") or service_folder(s["service"])) for s in part.info["services"]]
        baselines: dict[str, Baseline | None] = {}
        if baseline_path is not None:
            baselines, missing = load_fleet_baselines(baseline_path, [n for n, _ in names])
            warnings.extend(missing)
        for service, sub in names:
            if service in seen:
                warnings.append(f"service {service!r} is in {seen[service]} and {part.root}: kept the first")
                continue
            path = part.root / sub
            seen[service] = path
            works.append(TargetWork(service=service, folder=path, window=window, final=True,
                                     baseline=baselines.get(service), settings=settings))
    if len(shard_counts) > 1:
        warnings.append(f"shards of different counts merged: {sorted(shard_counts)}")
    count = max(shard_counts)
    shards = None
    if count > 1:
        shards = {"count": count, "merged": sorted(shard_indexes),
                  "missing": [i for i in range(1, count + 1) if i not in shard_indexes]}
        if shards["missing"]:
            warnings.append(f"shards {shards['missing']} of {count} are missing: the fleet summary is incomplete")
    if rebuild:
        entries = _rebuild_entries(works, jobs or default_jobs(), baseline_path is not None)
    else:
        entries = [_entry_from_folder(w.service, w.folder) for w in works]
    for entry, work in zip(entries, works):
        entry["folder"] = os.path.relpath(work.folder, folder)
    for message in warnings:
        log.warning("%s", message)
    summary = build_fleet_summary(entries, window, service_label=label, shards=shards, warnings=warnings,
                                  generated_at=generated_at)
    write_fleet_summary(folder, summary)
    return summary


def _rebuild_entries(works: list[TargetWork], jobs: int, recompute: bool) -> list[dict[str, Any]]:
    if recompute:
        # Drift from the given baselines: recomputed per service, in process.
        entries = []
        for w in works:
            if not iter_snapshot_files(w.folder):
                entries.append(fleet_entry(w.service, w.folder.name, None))
                continue
            result = rebuild_summaries(w.folder, baseline=w.baseline, settings=w.settings, recompute_drift=True,
                                       service=w.service)
            entries.append(fleet_entry(w.service, w.folder.name, result.weekly))
        return entries
    # Rebuild with the window and baseline of each service's run.json.
    for w in works:
        info = read_run_info(w.folder) if (w.folder / RUN_FILE).exists() else None
        if info is not None:
            w.window = window_from_run_info(info)
            w.baseline = baseline_from_run_info(info)
    return [r.entry if r.entry is not None else fleet_entry(w.service, w.folder.name, None)
            for r, w in zip(run_target_work(works, jobs), works)]


def _entry_from_folder(service: str, path: Path) -> dict[str, Any]:
    weekly_path = path / WEEKLY_JSON
    weekly = read_json(weekly_path) if weekly_path.exists() else None
    return fleet_entry(service, path.name, weekly)
