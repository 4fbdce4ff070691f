"""The run folder layout: every file and folder name of a run, defined once (docs/contract.md §4).

One target's folder::

    DIR/run.json                                   the run's window and target
    DIR/day_01_raw/snapshot_YYYY-MM-DD_HH-MM-SS.json
    DIR/day_01_summary.json ... day_07_summary.json
    DIR/weekly_summary.json, DIR/weekly_summary.md
    DIR/anomalies.jsonl, DIR/slo_burndown.json, DIR/day_latency.json
    DIR/baseline_raw/                              the baseline window's snapshots
    DIR/reports/                                   rendered notebooks

A fleet folder holds ``fleet_run.json``, ``fleet_summary.json`` and ``.md``,
``reports/`` and one such folder per service (:func:`service_folder`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

from stabmon.core.model import Window, utc

DEFAULT_OUTPUT = "outputs/stability/"
RUN_FILE = "run.json"
LOCK_FILE = ".stabmon.lock"
BASELINE_FILE = "baseline.json"
BASELINE_RAW_DIR = "baseline_raw"
ANOMALIES_FILE = "anomalies.jsonl"
BURNDOWN_FILE = "slo_burndown.json"
DAY_LATENCY_FILE = "day_latency.json"
WEEKLY_JSON = "weekly_summary.json"
WEEKLY_MD = "weekly_summary.md"
REPORTS_DIR = "reports"
FLEET_RUN_FILE = "fleet_run.json"
FLEET_SUMMARY_JSON = "fleet_summary.json"
FLEET_SUMMARY_MD = "fleet_summary.md"
#: Names a service folder may not take (the fleet's own files live beside them).
RESERVED_NAMES = frozenset({REPORTS_DIR, FLEET_RUN_FILE, FLEET_SUMMARY_JSON, FLEET_SUMMARY_MD, LOCK_FILE,
                            "baselines"})
SNAPSHOT_RE = re.compile(r"^snapshot_(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2})\.json$")
DAY_RAW_RE = re.compile(r"^day_(\d{2,})_raw$")
#: Names of the temporary files of atomic writes (``.NAME.XXXXXXXX.tmp``).
TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
_SAFE_FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")


def day_raw_dir(out_dir: Path, day_number: int) -> Path:
    return Path(out_dir) / f"day_{day_number:02d}_raw"


def day_summary_path(out_dir: Path, day_number: int) -> Path:
    return Path(out_dir) / f"day_{day_number:02d}_summary.json"


def snapshot_filename(ts: datetime) -> str:
    return "snapshot_" + utc(ts).strftime("%Y-%m-%d_%H-%M-%S") + ".json"


def snapshot_path(out_dir: Path, window: Window, ts: datetime) -> Path:
    """Where the raw snapshot of time ``ts`` lives."""
    return day_raw_dir(out_dir, window.day_of(ts)) / snapshot_filename(ts)


def snapshot_name(window: Window, ts: datetime) -> str:
    """The raw snapshot of time ``ts`` relative to its run folder (``day_NN_raw/snapshot_...json``)."""
    return f"day_{window.day_of(ts):02d}_raw/{snapshot_filename(ts)}"


def baseline_snapshot_name(ts: datetime) -> str:
    """A baseline window's snapshot relative to its run folder (``baseline_raw/snapshot_...json``)."""
    return f"{BASELINE_RAW_DIR}/{snapshot_filename(ts)}"


def service_folder(name: str) -> str:
    """The folder name of a service inside a fleet folder.

    Plain names (letters, digits, ``._-``, up to 200 characters) are used as
    they are. Any other name, or one that would collide with the fleet's own
    files, is percent-encoded starting with its first byte, so the result
    always starts with ``%`` (a plain name never does): every service gets
    its own folder and no name can reach outside ``DIR``.
    """
    if _SAFE_FOLDER.match(name) and name not in RESERVED_NAMES:
        return name
    raw = name.encode("utf-8")
    encoded = "%" + raw[:1].hex().upper() + "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_") else f"%{b:02X}" for b in raw[1:]
    )
    if len(encoded) > 200:
        encoded = encoded[:180] + "~" + hashlib.sha256(raw).hexdigest()[:16]
    return encoded
