"""The store: a run folder's layout, its files written atomically and read back safely.

The package face: what the rest of stabmon uses, from the modules that
define it (:mod:`~stabmon.store.layout` names every file, :mod:`~stabmon.store.files`
writes atomically, :mod:`~stabmon.store.folder` reads and writes a run
folder, :mod:`~stabmon.store.lock` guards it, :mod:`~stabmon.store.fleet`
handles fleet folders, :mod:`~stabmon.store.rebuild` rewrites summaries).
"""

from stabmon.store.files import (
    append_text,
    dumps,
    dumps_line,
    json_bytes,
    jsonl_bytes,
    pack_folder,
    read_json,
    read_jsonl,
    remove_stale_temp_files,
    set_sync_each_write,
    unpack_folder,
    write_bytes_atomic,
    write_files_atomic,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from stabmon.store.folder import (
    SnapshotFolder,
    existing_snapshot_indexes,
    iter_snapshot_files,
    read_day_latency,
    read_run_info,
    read_snapshots,
    window_from_run_info,
    write_baseline_snapshot,
    write_day_latency,
    write_run_info,
    write_snapshot,
)
from stabmon.store.layout import (
    ANOMALIES_FILE,
    BASELINE_FILE,
    BASELINE_RAW_DIR,
    BURNDOWN_FILE,
    DAY_LATENCY_FILE,
    DAY_RAW_RE,
    DEFAULT_OUTPUT,
    FLEET_RUN_FILE,
    FLEET_SUMMARY_JSON,
    FLEET_SUMMARY_MD,
    LOCK_FILE,
    REPORTS_DIR,
    RUN_FILE,
    SNAPSHOT_RE,
    TEMP_RE,
    WEEKLY_JSON,
    WEEKLY_MD,
    day_raw_dir,
    day_summary_path,
    service_folder,
    snapshot_filename,
    snapshot_path,
)

__all__ = [name for name in dir() if not name.startswith("_")]
