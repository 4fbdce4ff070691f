"""Load a run folder into pandas for the notebooks, and slice it.

This is the notebooks' only door to the data: :func:`load_run` reads a run
folder (docs/contract.md §4) into a :class:`RunData` of DataFrames, and the
helpers below slice it by day and metric and compare it with the baseline.
Nothing here draws or prints; :mod:`stabmon.charts` and :mod:`stabmon.views`
turn the tables into pictures and text.

Conventions
-----------
* Every time is a timezone-aware UTC ``pandas.Timestamp``.
* The snapshot table is indexed by the window's snapshot times ``t_k`` (all of
  them, so a snapshot that was never collected is a row of ``NaN`` with
  ``present == False`` and charts show a gap instead of joining across it).
* A snapshot's rate values cover the trailing interval ``(t_k - interval, t_k]``
  (docs/contract.md §1); :func:`interval_spans` turns flagged snapshots into
  those spans for shading.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from stabmon.core import paths
from stabmon import store
from stabmon.core.baseline import baseline_from_run_info
from stabmon.core.daily import aggregate_days
from stabmon.core.errors import InputError, StoreError
from stabmon.core.anomaly import episodes_from_events
from stabmon.core.impact import Breach, UserImpact, slo_breaches, user_impact
from stabmon.core.model import DRIFT_METRICS, METRIC_FIELDS, SEVERITIES, Snapshot, Window, format_time, parse_time
from stabmon.core.settings import NOTEBOOK_THRESHOLDS, Settings
from stabmon.core.weekly import weekly_summary
from stabmon.store.rebuild import infer_window, preflight_findings, rebuild_summaries

log = logging.getLogger(__name__)

#: Unit of each metric, for axis labels and tables.
METRIC_UNITS: dict[str, str] = {
    "availability": "%",
    "error_rate": "%",
    "requests": "requests / interval",
    "errors": "errors / interval",
    "p95_latency_ms": "ms",
    "p99_latency_ms": "ms",
    "cpu_percent": "% of CPU limit",
    "memory_percent": "% of memory limit",
}

#: Columns of the daily table, in display order.
DAILY_COLUMNS: tuple[str, ...] = (
    "day_number", "start_time", "snapshot_count", "expected_snapshots", "data_completeness",
    "avg_availability", "min_availability", "slo_compliance_percent",
    "avg_error_rate", "max_error_rate", "total_requests", "total_errors",
    "avg_p95_latency_ms", "avg_p99_latency_ms", "max_p99_latency_ms", "latency_slo_compliance_percent",
    "avg_cpu_percent", "peak_cpu_percent", "avg_memory_percent", "peak_memory_percent",
    "total_critical_alerts", "total_warning_alerts", "total_info_alerts", "alert_free_hours",
    "avg_drift_percent", "max_drift_percent",
    "availability_degraded", "latency_degraded", "error_rate_degraded", "degraded",
)

EPISODE_COLUMNS: tuple[str, ...] = (
    "alertname", "severity", "labels", "label_text", "start", "end", "span_start", "span_end",
    "snapshots", "duration_minutes", "day_number",
)

ANOMALY_COLUMNS: tuple[str, ...] = (
    "timestamp", "day_number", "metric", "value", "expected", "z_score", "severity", "type", "confidence",
)


# ---------------------------------------------------------------------------
# the loaded run


@dataclass
class RunData:
    """One run folder, loaded for analysis.

    Attributes
    ----------
    run_dir
        The folder it was read from (absolute).
    window
        The run's window (start, duration, interval).
    service
        The monitored service, when known.
    baseline
        The baseline document (``{"timestamp": ..., "availability": ...}``) or ``None``.
    settings
        Thresholds the daily and weekly documents were computed with.
    snapshots
        One row per snapshot time ``t_k`` (UTC index): ``day_number``,
        ``present``, every metric, ``drift_<metric>``, ``drift_mean``,
        alert counts by severity and the firing alert names.
    daily
        One row per day (index ``day_number``), the daily summaries' figures.
    daily_documents
        The daily summary documents themselves (schema of ``day_NN_summary.json``).
    weekly
        The weekly summary document (schema of ``weekly_summary.json``).
    episodes
        Alert episodes of the whole window, one row each (see :func:`episodes_frame`).
    anomalies
        ``anomalies.jsonl`` as a table, or ``None`` when the file does not exist:
        the anomaly lines only (a recovery line is the end of an episode, not
        an anomaly), each with its ``episode``.
    anomaly_episodes
        One row per anomaly episode (an excursion and its return, see
        :func:`anomaly_episodes_frame`), or ``None`` when there is no anomaly file.
    burndown
        ``slo_burndown.json``, or ``None`` when the file does not exist.
    notes
        What a reader should know about how the data was read (recomputed
        thresholds, files skipped, files not available).
    """

    run_dir: Path
    window: Window
    service: str | None
    baseline: dict[str, Any] | None
    settings: Settings
    snapshots: pd.DataFrame
    daily: pd.DataFrame
    daily_documents: list[dict[str, Any]]
    weekly: dict[str, Any]
    episodes: pd.DataFrame
    anomalies: pd.DataFrame | None = None
    burndown: dict[str, Any] | None = None
    source: str | None = None
    anomaly_episodes: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def interval(self) -> pd.Timedelta:
        """The snapshot interval."""
        return pd.Timedelta(minutes=self.window.interval_minutes)

    @property
    def days(self) -> list[int]:
        """Day numbers that hold at least one snapshot."""
        return [int(d) for d in self.daily.index if self.daily.loc[d, "snapshot_count"] > 0]

    def day_document(self, day_number: int) -> dict[str, Any]:
        """The daily summary document of ``day_number``.

        Raises
        ------
        InputError
            When the run has no such day.
        """
        for document in self.daily_documents:
            if document["day_number"] == day_number:
                return document
        raise InputError(
            f"day {day_number} is not in this run (days: {', '.join(map(str, self.all_days)) or 'none'})"
        )

    @property
    def all_days(self) -> list[int]:
        """Every day number of the window, with or without data."""
        return [int(d["day_number"]) for d in self.daily_documents]

    def baseline_value(self, metric: str) -> float | None:
        """The baseline's value of ``metric`` (``drift_<metric>`` gives ``None``), or ``None``."""
        value = (self.baseline or {}).get(metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def day_bounds(self, day_number: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``[start, end)`` of a day, clipped to the window (UTC)."""
        begin, end = self.window.day_bounds(day_number)
        return pd.Timestamp(begin), pd.Timestamp(end)


# ---------------------------------------------------------------------------
# run folders


def resolve_run_dir(run_dir: str | Path | None) -> Path:
    """The run folder a notebook parameter names.

    An empty value means the embedded demo week (created on first use, see
    :func:`ensure_demo_run`). A relative path is taken from the current
    working directory, as on any command line: an installed package has no
    project folder to resolve it against. (``stabmon report`` passes absolute
    paths, so rendered reports do not depend on where the kernel starts.)
    """
    if run_dir is None or not str(run_dir).strip():
        return ensure_demo_run(paths.DEFAULT_DEMO_DIR)
    return Path(str(run_dir).strip()).expanduser().resolve()


def ensure_demo_run(path: str | Path = paths.DEFAULT_DEMO_DIR, *, scenario: str = "incident", seed: int = 42) -> Path:
    """Make sure ``path`` holds a run; write the synthetic demo week there if it is empty.

    A folder that already holds raw snapshots is left as it is (it may be a
    ``stabmon demo`` of another scenario); one whose summaries are missing
    gets them rebuilt from its snapshots.

    Returns
    -------
    Path
        ``path``, absolute.
    """
    path = Path(path).resolve()
    if not store.iter_snapshot_files(path):
        # The synthetic generator (scipy.special) costs 0.3 s to import: only for an empty folder.
        from stabmon.demo.week import run_demo_week

        log.info("writing the demo week into %s", path)
        # fsync is pointless for a regenerable demo and costs seconds on slow disks.
        run_demo_week(path, scenario=scenario, seed=seed, fsync=False)
    elif not (path / store.WEEKLY_JSON).exists():
        rebuild_summaries(path)
    return path


def thresholds_of(settings: Settings) -> dict[str, float]:
    """The notebook thresholds (:data:`NOTEBOOK_THRESHOLDS`) of ``settings``."""
    values = settings.to_dict()
    return {name: values[name] for name in NOTEBOOK_THRESHOLDS}


def load_run(run_dir: str | Path | None = "", **thresholds: float | None) -> RunData:
    """Read a run folder into a :class:`RunData`.

    Parameters
    ----------
    run_dir
        The run folder; empty means the embedded demo week.
    **thresholds
        Notebook threshold parameters (names in :data:`NOTEBOOK_THRESHOLDS`).
        When one differs from the setting the run was analysed with, the
        daily and weekly figures are recomputed in memory with the new value
        (nothing is written) and a note says so; ``None`` keeps the run's value.

    Raises
    ------
    InputError
        When the folder does not exist or a threshold name is unknown.
    StoreError
        When the folder holds no raw snapshot.
    """
    unknown = sorted(set(thresholds) - set(NOTEBOOK_THRESHOLDS))
    if unknown:
        raise InputError(f"unknown threshold(s): {', '.join(unknown)} (known: {', '.join(NOTEBOOK_THRESHOLDS)})")
    folder = resolve_run_dir(run_dir)
    if not folder.is_dir():
        raise InputError(f"run folder not found: {folder}")
    # Validated when written: read back without the schema check (a kernel saves most of a second).
    found = store.read_snapshots(folder, validate=False)
    snapshots_read, notes = found.snapshots, list(found.warnings)
    if not snapshots_read:
        raise StoreError(f"no raw snapshots in {folder} (expected day_NN_raw/snapshot_*.json)")
    info = store.read_run_info(folder)
    weekly_path = folder / store.WEEKLY_JSON
    weekly = store.read_json(weekly_path) if weekly_path.exists() else None

    if info is not None:
        window = store.window_from_run_info(info)
    elif weekly is not None:
        window = Window(
            start=parse_time(weekly["start_time"]),
            duration_hours=float(weekly["total_duration_hours"]),
            interval_minutes=float(weekly["interval_minutes"]),
        )
    else:
        window = infer_window(snapshots_read)
        notes.append("no run.json: window inferred from the snapshot times")
    baseline = baseline_from_run_info(info)
    baseline_doc = baseline.to_dict() if baseline is not None else _read_baseline_file(folder)
    service = (info or {}).get("service") or (weekly or {}).get("service")

    run_settings = _settings_of(weekly)
    overrides = {k: v for k, v in thresholds.items() if v is not None}
    changed = {k: v for k, v in overrides.items() if not math.isclose(float(v), float(getattr(run_settings, k)))}
    settings = replace(run_settings, **{k: type(getattr(run_settings, k))(v) for k, v in overrides.items()})

    snapshots = [s for s in snapshots_read if window.index_of(s.timestamp) is not None]
    if weekly is None or changed:
        # Recompute in memory so the notebook's verdict follows its thresholds;
        # the files on disk stay what the pipeline wrote.
        daily_docs = aggregate_days(snapshots, window, settings, day_latency=store.read_day_latency(folder),
                                    baseline=baseline)
        weekly = weekly_summary(daily_docs, window, baseline, settings, service=service,
                                preflight=preflight_findings(info))
        if changed:
            notes.append(
                "figures recomputed with thresholds that differ from the run's: "
                + ", ".join(f"{k} = {v:g} (run: {getattr(run_settings, k):g})" for k, v in changed.items())
            )
        else:
            notes.append("no weekly_summary.json: summaries computed from the raw snapshots")
    else:
        daily_docs = list(weekly["daily_summaries"])

    every_line = read_anomalies(folder / store.ANOMALIES_FILE, notes)
    anomalies = (every_line[~every_line["recovery"]].reset_index(drop=True)
                 if every_line is not None else None)
    burndown = read_burndown(folder / store.BURNDOWN_FILE, notes)

    return RunData(
        run_dir=folder,
        window=window,
        service=service,
        baseline=baseline_doc,
        settings=settings,
        snapshots=snapshots_frame(snapshots, window),
        daily=daily_frame(daily_docs),
        daily_documents=daily_docs,
        weekly=weekly,
        episodes=episodes_frame(daily_docs, window),
        anomalies=anomalies,
        anomaly_episodes=anomaly_episodes_frame(every_line),
        burndown=burndown,
        source=(info or {}).get("source"),
        notes=notes,
    )


def _settings_of(weekly: Mapping[str, Any] | None) -> Settings:
    # Keys a newer pipeline may add are ignored rather than refused: the
    # notebooks only need the thresholds they know.
    known = {f.name for f in fields(Settings)}
    stored = (weekly or {}).get("settings") or {}
    return Settings.from_mapping({k: v for k, v in stored.items() if k in known})


def _read_baseline_file(folder: Path) -> dict[str, Any] | None:
    path = folder / store.BASELINE_FILE
    if not path.exists():
        return None
    data = store.read_json(path)
    return data if isinstance(data, dict) else None


def read_anomalies(path: Path, notes: list[str] | None = None) -> pd.DataFrame | None:
    """Read ``anomalies.jsonl`` into a table; ``None`` when the file does not exist.

    A line that is not a valid event is skipped with a note (a run being
    written may end in a half line). The pipeline validated every line against
    the anomaly schema when it wrote the file; only the keys used here are
    checked again (schema validation costs a kernel a quarter of a second).
    """
    path = Path(path)
    if not path.exists():
        return None
    records: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not set(ANOMALY_COLUMNS) <= set(record):
                raise ValueError(f"expected the keys {', '.join(ANOMALY_COLUMNS)}")
            parse_time(record["timestamp"])
            records.append(record)
        except ValueError as exc:
            if notes is not None:
                notes.append(f"{path.name} line {number} skipped: {exc}")
    return anomalies_frame(records)


def read_burndown(path: Path, notes: list[str] | None = None) -> dict[str, Any] | None:
    """Read ``slo_burndown.json``; ``None`` when it does not exist or is not usable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = store.read_json(path)
    except StoreError as exc:
        if notes is not None:
            notes.append(f"{path.name} not used: {exc}")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("days"), list):
        if notes is not None:
            notes.append(f"{path.name} not used: expected an object with a 'days' list")
        return None
    return data


# ---------------------------------------------------------------------------
# pure conversions (documents -> DataFrames)


def snapshots_frame(snapshots: Sequence[Snapshot], window: Window) -> pd.DataFrame:
    """One row per snapshot time of the window.

    Columns: ``day_number``, ``present`` (a snapshot exists), every metric of
    :data:`~stabmon.core.model.METRIC_FIELDS` (``NaN`` when missing),
    ``drift_<metric>`` for the drift metrics, ``drift_mean`` (mean over the
    metrics, as the daily ``avg_drift_percent`` uses), ``critical_alerts``,
    ``warning_alerts``, ``info_alerts`` (firing counts, ``NaN`` when the alerts
    query failed), ``alerts_firing`` (names) and ``missing`` (names).
    """
    times = pd.DatetimeIndex([pd.Timestamp(t) for t in window.times()], name="timestamp")
    rows: dict[pd.Timestamp, dict[str, Any]] = {}
    for snapshot in snapshots:
        row: dict[str, Any] = {"present": True}
        row.update({name: snapshot.values.get(name) for name in METRIC_FIELDS})
        for metric in DRIFT_METRICS:
            row[f"drift_{metric}"] = snapshot.drift_percent.get(metric)
        drift = list(snapshot.drift_percent.values())
        row["drift_mean"] = sum(drift) / len(drift) if drift else None
        if snapshot.alerts is None:
            for severity in SEVERITIES:
                row[f"{severity}_alerts"] = None
            row["alerts_firing"] = ""
        else:
            for severity in SEVERITIES:
                row[f"{severity}_alerts"] = sum(1 for a in snapshot.alerts if a.severity.lower() == severity)
            row["alerts_firing"] = ", ".join(sorted({a.alertname for a in snapshot.alerts}))
        row["missing"] = ", ".join(snapshot.missing)
        rows[pd.Timestamp(snapshot.timestamp)] = row
    columns = (
        ["present", *METRIC_FIELDS, *(f"drift_{m}" for m in DRIFT_METRICS), "drift_mean"]
        + [f"{s}_alerts" for s in SEVERITIES]
        + ["alerts_firing", "missing"]
    )
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns).reindex(times)
    numeric = [c for c in columns if c not in ("present", "alerts_firing", "missing")]
    frame[numeric] = frame[numeric].astype("float64")
    frame["present"] = frame["present"].astype("boolean").fillna(False).astype(bool)
    frame["alerts_firing"] = frame["alerts_firing"].fillna("")
    frame["missing"] = frame["missing"].fillna("")
    start = pd.Timestamp(window.start)
    frame.insert(0, "day_number", ((frame.index - start) // pd.Timedelta(days=1)).astype(int) + 1)
    frame.index.name = "timestamp"
    return frame


def daily_frame(daily_documents: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The daily summaries as one row per day (index ``day_number``).

    Columns are :data:`DAILY_COLUMNS` plus ``drift_<metric>`` (the day-average
    drift of each metric) and ``anomalies_low/medium/high`` when the
    documents carry anomaly counts.
    """
    rows = []
    for document in daily_documents:
        meta = document.get("_metadata") or {}
        row = {name: document.get(name) for name in DAILY_COLUMNS}
        row["expected_snapshots"] = meta.get("expected_snapshots")
        row["data_completeness"] = meta.get("data_completeness")
        row["start_time"] = pd.Timestamp(meta.get("day_start") or document.get("start_time"))
        # A day is cut short by the window's end (a 2-hour run has one 2-hour day).
        row["end_time"] = pd.Timestamp(meta["day_end"]) if meta.get("day_end") else row["start_time"] + pd.Timedelta(days=1)
        for metric in DRIFT_METRICS:
            row[f"drift_{metric}"] = (document.get("drift_by_metric") or {}).get(metric)
        counts = document.get("anomaly_counts")
        if isinstance(counts, dict):
            for severity in ("low", "medium", "high"):
                row[f"anomalies_{severity}"] = counts.get(severity, 0)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(DAILY_COLUMNS)).set_index("day_number")
    for column in frame.columns:
        if column.startswith(("avg_", "min_", "max_", "peak_", "drift_")) or column.endswith(("_percent", "_hours")):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame.set_index("day_number").sort_index()


def episodes_frame(daily_documents: Iterable[Mapping[str, Any]], window: Window) -> pd.DataFrame:
    """Alert episodes of every day, one row each, ordered by start.

    ``start`` and ``end`` are the first and last firing snapshot times;
    ``span_start = start - interval`` and ``span_end = end`` is the time the
    alert was seen firing (each snapshot's alert query covers the trailing
    interval). ``label_text`` is the label set without the labels every
    alert shares (alertname, severity, alertstate).
    """
    interval = pd.Timedelta(minutes=window.interval_minutes)
    rows = []
    for document in daily_documents:
        for episode in document.get("alert_episodes") or []:
            start = pd.Timestamp(parse_time(episode["start"]))
            end = pd.Timestamp(parse_time(episode["end"]))
            labels = dict(episode.get("labels") or {})
            shown = {k: v for k, v in labels.items() if k not in ("alertname", "severity", "alertstate")}
            rows.append({
                "alertname": episode["alertname"],
                "severity": str(episode["severity"]).lower(),
                "labels": labels,
                "label_text": ", ".join(f"{k}={v}" for k, v in sorted(shown.items())),
                "start": start,
                "end": end,
                "span_start": start - interval,
                "span_end": end,
                "snapshots": int(episode["snapshots"]),
                "duration_minutes": float(episode["snapshots"]) * window.interval_minutes,
                "day_number": int(episode["day_number"]),
            })
    frame = pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))
    if not frame.empty:
        frame = frame.sort_values(["start", "alertname"], kind="stable").reset_index(drop=True)
    return frame


#: The episode keys of an ``anomalies.jsonl`` line (docs/contract.md §4.7).
ANOMALY_EPISODE_KEYS: tuple[str, ...] = (
    "episode", "recovery", "episode_end", "episode_peak_value", "episode_peak_z", "episode_snapshots",
    "episode_duration_minutes", "episode_open",
)


def _episode_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """A line's episode keys; a line written before episodes existed is an episode of its own."""
    if "episode" in record:
        return {name: record.get(name) for name in ANOMALY_EPISODE_KEYS}
    return {"episode": f"{record['metric']}@{record['timestamp']}", "recovery": False,
            "episode_end": record["timestamp"], "episode_peak_value": record.get("value"),
            "episode_peak_z": record.get("z_score"), "episode_snapshots": 1,
            "episode_duration_minutes": None, "episode_open": False}


def anomalies_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Anomaly lines (``anomalies.jsonl``, recoveries included) as a table ordered by time."""
    rows = []
    for record in records:
        row = {name: record.get(name) for name in ANOMALY_COLUMNS}
        row.update(_episode_keys(record))
        row["timestamp"] = pd.Timestamp(parse_time(record["timestamp"]))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(ANOMALY_COLUMNS) + list(ANOMALY_EPISODE_KEYS))
    for column in ("value", "expected", "z_score", "confidence"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["recovery"] = frame["recovery"].fillna(False).astype(bool)
    if not frame.empty:
        frame["day_number"] = frame["day_number"].astype(int)
        frame = frame.sort_values(["timestamp", "metric"], kind="stable").reset_index(drop=True)
    return frame


def anomaly_episodes_frame(lines: pd.DataFrame | None) -> pd.DataFrame | None:
    """One row per anomaly episode from the lines of :func:`anomalies_frame` (recoveries included).

    Columns of :func:`stabmon.core.anomaly.episodes_from_events`, with
    ``start``, ``end`` and ``recovered_at`` as UTC timestamps; ``None`` when
    ``lines`` is ``None`` (no anomaly file).
    """
    if lines is None:
        return None
    records = []
    for row in lines.to_dict("records"):
        record = dict(row, timestamp=format_time(row["timestamp"].to_pydatetime()))
        records.append(record)
    rows = episodes_from_events(records)
    columns = ["episode", "metric", "type", "start", "end", "recovered_at", "open", "peak_value", "peak_z",
               "expected", "snapshots", "duration_minutes", "severity", "day_number", "events"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("start", "end", "recovered_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def day_anomaly_episodes(run: RunData, day_number: int | None = None) -> pd.DataFrame | None:
    """Anomaly episodes that start in ``day_number`` (all when ``None``); ``None`` without an anomaly file."""
    episodes = run.anomaly_episodes
    if episodes is None or day_number is None:
        return episodes
    return episodes[episodes["day_number"] == day_number].reset_index(drop=True)


def burndown_frame(burndown: Mapping[str, Any] | None) -> pd.DataFrame | None:
    """The ``days`` of ``slo_burndown.json`` as a table indexed by day, or ``None``."""
    if not burndown:
        return None
    frame = pd.DataFrame(list(burndown.get("days") or []))
    if frame.empty:
        return frame
    return frame.set_index("day_number").sort_index()


# ---------------------------------------------------------------------------
# slicing


def day_snapshots(run: RunData, day_number: int) -> pd.DataFrame:
    """The snapshot rows of one day (every ``t_k`` of the day, present or not).

    Raises
    ------
    InputError
        When the run has no such day.
    """
    run.day_document(day_number)  # a clear error for a day outside the run
    return run.snapshots[run.snapshots["day_number"] == day_number]


def day_episodes(run: RunData, day_number: int | None = None) -> pd.DataFrame:
    """Alert episodes that start in ``day_number`` (every episode when ``None``)."""
    if day_number is None:
        return run.episodes
    return run.episodes[run.episodes["day_number"] == day_number].reset_index(drop=True)


def day_anomalies(run: RunData, day_number: int | None = None) -> pd.DataFrame | None:
    """Anomalies of ``day_number`` (all when ``None``); ``None`` when the run has no anomaly file."""
    if run.anomalies is None or day_number is None:
        return run.anomalies
    return run.anomalies[run.anomalies["day_number"] == day_number].reset_index(drop=True)


def metric_series(run: RunData, metric: str, day_number: int | None = None) -> pd.Series:
    """One metric over the window (or one day), ``NaN`` where missing.

    Raises
    ------
    InputError
        When ``metric`` is not a snapshot column.
    """
    frame = run.snapshots if day_number is None else day_snapshots(run, day_number)
    if metric not in frame.columns or metric in ("present", "alerts_firing", "missing", "day_number"):
        known = ", ".join(METRIC_FIELDS)
        raise InputError(f"unknown metric {metric!r} (metrics: {known}; drift_<metric> for drift)")
    series = frame[metric]
    series.name = metric
    return series


def time_slice(run: RunData, start: str = "", end: str = "") -> pd.DataFrame:
    """Snapshot rows with ``start <= t_k < end`` (ISO times; naive means UTC; empty means open).

    Raises
    ------
    InputError
        When a time is not ISO 8601.
    """
    frame = run.snapshots
    try:
        if str(start).strip():
            frame = frame[frame.index >= pd.Timestamp(parse_time(str(start)))]
        if str(end).strip():
            frame = frame[frame.index < pd.Timestamp(parse_time(str(end)))]
    except ValueError as exc:
        raise InputError(f"not an ISO 8601 time: {exc}") from None
    return frame


def metric_statistics(run: RunData, day_number: int | None = None) -> pd.DataFrame:
    """Per-metric statistics (present values, mean, percentiles, min, max) of the window or a day."""
    frame = run.snapshots if day_number is None else day_snapshots(run, day_number)
    rows = []
    for metric in METRIC_FIELDS:
        values = frame[metric].dropna()
        rows.append({
            "metric": metric,
            "unit": METRIC_UNITS[metric],
            "values": int(values.size),
            "missing": int(frame[metric].isna().sum()),
            "mean": values.mean() if values.size else float("nan"),
            "min": values.min() if values.size else float("nan"),
            "p50": values.quantile(0.5) if values.size else float("nan"),
            "p95": values.quantile(0.95) if values.size else float("nan"),
            "max": values.max() if values.size else float("nan"),
        })
    return pd.DataFrame(rows).set_index("metric")


def baseline_comparison(run: RunData, day_number: int | None = None) -> pd.DataFrame:
    """The baseline against what was observed (the week, or one day).

    One row per drift metric the baseline has: ``baseline``, ``observed_mean``
    and ``observed_max`` of the snapshots, ``change`` (observed mean minus
    baseline, in the metric's unit), ``avg_drift_percent`` (mean of the
    snapshots' stored drift, the figure the summaries use),
    ``drift_threshold_percent`` and ``over_threshold``.
    An empty table when the run has no baseline.
    """
    columns = ["unit", "baseline", "observed_mean", "observed_max", "change", "avg_drift_percent",
               "drift_threshold_percent", "over_threshold"]
    if not run.baseline:
        return pd.DataFrame(columns=columns).rename_axis("metric")
    frame = run.snapshots if day_number is None else day_snapshots(run, day_number)
    threshold = run.settings.drift_threshold_percent
    rows = []
    for metric in DRIFT_METRICS:
        base = run.baseline.get(metric)
        if not isinstance(base, (int, float)) or isinstance(base, bool):
            continue
        values = frame[metric].dropna()
        drift = frame[f"drift_{metric}"].dropna()
        mean = float(values.mean()) if values.size else float("nan")
        avg_drift = float(drift.mean()) if drift.size else float("nan")
        rows.append({
            "metric": metric,
            "unit": METRIC_UNITS[metric],
            "baseline": float(base),
            "observed_mean": mean,
            "observed_max": float(values.max()) if values.size else float("nan"),
            "change": mean - float(base),
            "avg_drift_percent": avg_drift,
            "drift_threshold_percent": threshold,
            "over_threshold": bool(avg_drift > threshold) if drift.size else False,
        })
    return pd.DataFrame(rows, columns=["metric", *columns]).set_index("metric")


def drift_matrix(run: RunData) -> pd.DataFrame:
    """Day-average drift of each metric: rows are days, columns are drift metrics (``NaN`` when unknown)."""
    columns = {f"drift_{m}": m for m in DRIFT_METRICS}
    return run.daily[list(columns)].rename(columns=columns)


def interval_spans(
    mask: pd.Series, interval: pd.Timedelta | timedelta
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Merge flagged snapshots into time spans.

    Snapshot ``t_k`` stands for the interval ``(t_k - interval, t_k]``, so
    consecutive flagged snapshots become one span from the first one's
    interval start to the last one's time.

    Parameters
    ----------
    mask
        Boolean series indexed by snapshot time (``NaN``/missing counts as not flagged).
    interval
        The snapshot interval.
    """
    interval = pd.Timedelta(interval)
    spans: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    flagged = mask.fillna(False).astype(bool)
    for ts in flagged.index[flagged.to_numpy()]:
        begin = ts - interval
        if spans and spans[-1][1] >= begin:
            spans[-1] = (spans[-1][0], ts)
        else:
            spans.append((begin, ts))
    return spans


@dataclass
class DayView:
    """Everything a daily notebook shows about one day.

    ``start`` and ``end`` bound the day's timelines: from one interval before
    the first snapshot time (its rate window opens there) to the last
    snapshot time of the day.
    """

    day_number: int
    snapshots: pd.DataFrame
    summary: dict[str, Any]
    episodes: pd.DataFrame
    anomalies: pd.DataFrame | None
    start: pd.Timestamp
    end: pd.Timestamp


def day_view(run: RunData, day_number: int) -> DayView:
    """The snapshots, summary, alert episodes and anomalies of one day.

    Raises
    ------
    InputError
        When the run has no such day.
    """
    summary = run.day_document(day_number)
    snapshots = day_snapshots(run, day_number)
    return DayView(
        day_number=day_number,
        snapshots=snapshots,
        summary=summary,
        episodes=day_episodes(run, day_number),
        anomalies=day_anomalies(run, day_number),
        start=snapshots.index.min() - run.interval,
        end=snapshots.index.max(),
    )


# ---------------------------------------------------------------------------
# derived figures (computed in stabmon.core, one function each)


def run_impact(run: RunData) -> UserImpact:
    """The run's user impact (:func:`stabmon.core.impact.user_impact` of its weekly summary and burn-down)."""
    return user_impact(run.weekly, run.burndown)


def run_breaches(run: RunData) -> list[Breach]:
    """The run's SLO breaches with their time to detect and to mitigate (:func:`stabmon.core.impact.slo_breaches`)."""
    frame = run.snapshots

    def values(column: str) -> list[float | None]:
        return [None if pd.isna(v) else float(v) for v in frame[column]]

    times = [t.to_pydatetime() for t in frame.index]
    episodes = [e for d in run.daily_documents for e in d.get("alert_episodes") or []]
    return slo_breaches(times, {"availability": values("availability"), "latency": values("p99_latency_ms")},
                        episodes, run.window.interval_minutes, run.settings)
