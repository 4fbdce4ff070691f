"""Read earlier runs for ``stabmon compare`` and write ``release_comparison.json`` / ``.md``.

The I/O around :mod:`stabmon.core.release_compare`: a run folder becomes a
:class:`~stabmon.core.release_compare.RunWeek` (its window, release,
verdict and raw snapshots); an earlier run must be a run of the same target
at the same interval, or the comparison would mean nothing (one line, exit
1). A fleet folder is compared service by service, each against the same
service's folder in the earlier fleet folders.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from stabmon.core.errors import InputError
from stabmon.core.model import format_time
from stabmon.core.release_compare import RunWeek, comparison_markdown, release_comparison
from stabmon.store.files import read_json, write_json_atomic, write_text_atomic
from stabmon.store.fleet import read_fleet_run
from stabmon.store.folder import read_run_info, read_snapshots, window_from_run_info
from stabmon.store.layout import RUN_FILE, WEEKLY_JSON

log = logging.getLogger(__name__)

COMPARISON_JSON = "release_comparison.json"
COMPARISON_MD = "release_comparison.md"


def _target_of(info: dict[str, Any]) -> str:
    return str(info.get("service") or info.get("selector") or "")


def read_run_week(folder: Path, *, flag: str = "RUN") -> RunWeek:
    """A run folder's week: window, release, verdict (from its weekly summary) and raw snapshots.

    Raises
    ------
    InputError
        The folder is not a run (no ``run.json``).
    """
    folder = Path(folder)
    if not (folder / RUN_FILE).is_file():
        raise InputError(f"{flag} {folder} is not a run folder (no {RUN_FILE})")
    info = read_run_info(folder) or {}
    weekly_path = folder / WEEKLY_JSON
    weekly = read_json(weekly_path) if weekly_path.exists() else {}
    return RunWeek(run=str(folder), window=window_from_run_info(info), snapshots=read_snapshots(folder).snapshots,
                   release=info.get("release"), verdict=(weekly or {}).get("verdict"))


def check_comparable(current: Path, previous: Path) -> None:
    """Refuse an earlier run of another target or interval (``--previous``, one line).

    Raises
    ------
    InputError
        Naming the earlier folder and what differs.
    """
    if not (previous / RUN_FILE).is_file():
        raise InputError(f"--previous {previous} is not a run folder (no {RUN_FILE})")
    mine, theirs = read_run_info(current) or {}, read_run_info(previous) or {}
    if _target_of(mine) != _target_of(theirs):
        raise InputError(f"--previous {previous} is a run of {_target_of(theirs) or 'no service'!r}, "
                         f"not {_target_of(mine) or 'no service'!r}")
    interval, other = (window_from_run_info(mine).interval_minutes, window_from_run_info(theirs).interval_minutes)
    if interval != other:
        raise InputError(f"--previous {previous} was sampled every {other:g} min, this run every {interval:g} min")


def build_comparison(folder: Path, previous: Sequence[Path], *, include_rollbacks: bool = False,
                     generated_at: datetime | None = None) -> tuple[dict[str, Any], RunWeek, list[RunWeek]]:
    """The comparison document of one run folder with earlier ones (nothing written), and the weeks read.

    Raises
    ------
    InputError
        An earlier folder that is not a run of the same target and interval.
    """
    folder = Path(folder)
    current = read_run_week(folder)
    for earlier in previous:
        check_comparable(folder, Path(earlier))
    weeks = [read_run_week(Path(p), flag="--previous") for p in previous]
    info = read_run_info(folder) or {}
    document = release_comparison(current, weeks, include_rollbacks=include_rollbacks,
                                  service=info.get("service"),
                                  generated_at=format_time(generated_at or datetime.now(timezone.utc)))
    return document, current, weeks


def compare_run(folder: Path, previous: Sequence[Path], *, include_rollbacks: bool = False,
                generated_at: datetime | None = None) -> dict[str, Any]:
    """Compare one run folder with earlier ones and write its ``release_comparison.json`` and ``.md``."""
    folder = Path(folder)
    document, _, _ = build_comparison(folder, previous, include_rollbacks=include_rollbacks,
                                      generated_at=generated_at)
    write_json_atomic(folder / COMPARISON_JSON, document, schema="release_comparison")
    write_text_atomic(folder / COMPARISON_MD, comparison_markdown(document))
    return document


def compare_fleet(folder: Path, previous: Sequence[Path], *, include_rollbacks: bool = False) -> dict[str, Any]:
    """Compare each service of a fleet folder with its own folder in each earlier fleet folder.

    Each service gets its own ``release_comparison.json``; the fleet folder's
    lists the services with the days and metrics that got worse. A service
    missing from an earlier fleet is compared with the others (a warning).

    Raises
    ------
    InputError
        An earlier folder that is not a fleet run, or a service compared with another interval.
    """
    fleet = read_fleet_run(folder) or {}
    earlier = []
    for path in previous:
        recorded = read_fleet_run(Path(path))
        if recorded is None:
            raise InputError(f"--previous {path} is not a fleet run folder (no fleet_run.json), "
                             f"as {folder} is")
        earlier.append((Path(path), {s["service"]: s["folder"] for s in recorded.get("services") or []}))
    now = datetime.now(timezone.utc)
    services, warnings = [], []
    for entry in fleet.get("services") or []:
        name, service_dir = entry["service"], Path(folder) / entry["folder"]
        if not (service_dir / RUN_FILE).is_file():
            continue
        theirs = []
        for path, folders in earlier:
            if name in folders and (path / folders[name] / RUN_FILE).is_file():
                theirs.append(path / folders[name])
            else:
                warnings.append(f"{name}: not in {path}")
        document = compare_run(service_dir, theirs, include_rollbacks=include_rollbacks, generated_at=now)
        services.append({"service": name, "folder": entry["folder"], "verdict": document["current"]["verdict"],
                         "worse": document["worse"], "better": document["better"]})
    for message in warnings:
        log.warning("%s", message)
    summary = {"fleet": True, "generated_at": format_time(now), "include_rollbacks": include_rollbacks,
               "previous": [str(p) for p in previous], "services": services, "warnings": warnings}
    write_json_atomic(Path(folder) / COMPARISON_JSON, summary, schema="release_comparison")
    lines = ["# Release comparison of the fleet", "", "| service | verdict | worse day-metrics | better |",
             "|---|---|---|---|"]
    for s in services:
        worse = ", ".join(f"day {w['day_number']} {w['metric']}" for w in s["worse"]) or "-"
        lines.append(f"| {s['service']} | {(s['verdict'] or '-').upper()} | {worse} | {len(s['better'])} |")
    write_text_atomic(Path(folder) / COMPARISON_MD, "\n".join(lines) + "\n")
    return summary
