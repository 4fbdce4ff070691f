"""Helpers of the reliability suite: run the real command, check a run folder whole.

:func:`check_folder` is the suite's definition of "a folder a killed or
failed run may leave behind": every file is complete JSON valid against its
packaged schema, no temporary file is left, and no snapshot time is stored
twice or in the wrong day folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

from stabmon.store import schemas
from stabmon import store
from stabmon.core.model import Window, parse_time

STABMON = str(Path(sys.executable).with_name("stabmon"))


#: Schema of each kind of file in a run folder, by name.
SCHEMA_BY_NAME = {
    "run.json": "run",
    "weekly_summary.json": "weekly",
    "slo_burndown.json": "burndown",
}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any ``STABMON_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABMON_")}
    env.update(extra or {})
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
            **kwargs) -> subprocess.CompletedProcess:
    """Run ``stabmon ARGS`` to the end and capture its output."""
    return subprocess.run([STABMON, *args], capture_output=True, text=True, timeout=timeout,
                          env=clean_env(env), **kwargs)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert exit 1 with exactly one ``stabmon: error`` line and no traceback; return the line."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("stabmon: error")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def monitor_args(url: str, baseline: Path, out: Path, start: datetime, duration_hours: float,
                 interval_minutes: float = 30, service: str = "checkout") -> list[str]:
    """The ``stabmon monitor`` arguments of a test run."""
    return ["monitor", "--baseline", str(baseline), "--prometheus-url", url, "--service", service,
            "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--duration", f"{duration_hours:g}",
            "--interval", f"{interval_minutes:g}", "--output", str(out)]


def _default_stop_signals() -> None:
    """In the child before exec: Ctrl-C and SIGTERM unblocked and at their defaults.

    An ignored or blocked signal is inherited through exec, and Python installs
    its KeyboardInterrupt handler only when SIGINT is at its default: a child of
    a test process whose earlier tests left SIGINT ignored or blocked would
    never see the Ctrl-C these tests send (a fresh-clone CI run waited 60 s).
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Running:
    """A ``stabmon`` subprocess in its own process group, stderr to a file.

    Use as a context manager: the whole group is killed on exit, also when
    the test fails.
    """

    def __init__(self, args: Iterable[str], log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([STABMON, *args], stdout=self._log, stderr=subprocess.STDOUT,
                                        preexec_fn=_default_stop_signals,
                                        stdin=subprocess.DEVNULL, env=clean_env(env), start_new_session=True)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Wait until ``text`` appears in the output (fail if the process ends first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode} before {text!r}:\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} after {timeout}s:\n{self.output}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout=timeout)

    def kill_group(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)

    def __enter__(self) -> "Running":
        return self

    def __exit__(self, *exc) -> None:
        self.kill_group()
        self._log.close()


def _strict_json(text: str):
    def reject(token: str):
        raise ValueError(f"{token} in JSON")

    return json.loads(text, parse_constant=reject)


def check_folder(out_dir: Path, window: Window | None = None, *, temp_files: list | None = None) -> dict[datetime, Path]:
    """Assert a run folder is whole; return its snapshot files by time.

    Every ``.json`` file parses (no NaN) and validates against its schema,
    every ``anomalies.jsonl`` line too; each snapshot time is stored once, in
    the day folder of that time, under the name of that time. No ``*.tmp``
    file or folder may be left, unless ``temp_files`` is a list: right after a
    SIGKILL a hidden temporary file (or a new folder being written) of an
    interrupted write may remain (the next run removes it); those are
    appended to the list instead.
    """
    out_dir = Path(out_dir)
    by_time: dict[datetime, Path] = {}
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir)
        if path.is_dir() or rel.parts[0] == "reports" or path.name == ".stabmon.lock":
            continue
        staging = next((part for part in rel.parts[:-1] if store.TEMP_RE.match(part)), None)
        if staging is not None:
            # A new folder is written whole as .NAME.XXXXXXXX.tmp/ and renamed once: a kill before the
            # rename leaves it (the next run removes it); what it holds was never in the run folder.
            assert temp_files is not None, f"temporary folder left behind: {rel}"
            if staging not in temp_files:
                temp_files.append(staging)
            continue
        if path.name.endswith(".tmp"):
            assert temp_files is not None and store.TEMP_RE.match(path.name), f"temporary file left behind: {rel}"
            temp_files.append(rel)
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            for line in text.splitlines():
                schemas.validate(_strict_json(line), "anomaly")
            continue
        if path.suffix == ".md":
            assert text.endswith("\n") and text.strip(), f"{rel} is empty or cut"
            continue
        assert path.suffix == ".json", f"unexpected file {rel}"
        data = _strict_json(text)
        if rel.parts[0] == store.BASELINE_RAW_DIR:
            # The baseline window's snapshots (statistical comparison): own times, own folder.
            schemas.validate(data, "snapshot")
            assert path.name == store.snapshot_filename(parse_time(data["timestamp"])), rel
        elif path.name.startswith("snapshot_"):
            schemas.validate(data, "snapshot")
            ts = parse_time(data["timestamp"])
            assert path.name == store.snapshot_filename(ts), rel
            assert ts not in by_time, f"duplicate snapshot {data['timestamp']}: {rel} and {by_time[ts]}"
            if window is not None:
                assert window.index_of(ts) is not None, f"{rel}: not a snapshot time of the window"
                assert path.parent.name == f"day_{window.day_of(ts):02d}_raw", f"{rel}: wrong day folder"
            by_time[ts] = path
        elif path.name.startswith("day_") and path.name.endswith("_summary.json"):
            schemas.validate(data, "daily")
        elif path.name in SCHEMA_BY_NAME:
            schemas.validate(data, SCHEMA_BY_NAME[path.name])
        else:
            assert isinstance(data, dict), rel
    return by_time


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
