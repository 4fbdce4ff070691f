"""Ctrl-C during ``stabmon report``: exit 130 within 2 s, one line, no kernel left behind.

The real command renders a short demo run in a subprocess of its own
session (as a terminal's foreground job); once its first kernel is up and a
second has passed, the whole group gets SIGINT (what Ctrl-C sends), or the
command gets SIGTERM (what a scheduler sends). The kernels run in sessions of
their own, so nothing but stabmon itself can stop them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stabmon.demo.week import run_demo_week

STABMON = [sys.executable, "-m", "stabmon.cli.main"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt") / "run"
    run_demo_week(folder, fsync=False, duration_hours=0.25, interval_minutes=1, scrape_seconds=15)
    return folder


def _kernels(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def _connection_file(kernel: psutil.Process) -> Path:
    command = kernel.cmdline()
    return Path(command[command.index("-f") + 1])


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_report_exits_130_within_2_s_and_leaves_no_kernel(short_run: Path, signum: int):
    proc = subprocess.Popen([*STABMON, "report", "--input", str(short_run), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        watched = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        kernels: list[psutil.Process] = []
        while not kernels and time.monotonic() < deadline and proc.poll() is None:
            kernels = _kernels(watched)
            time.sleep(0.05)
        assert kernels, "no kernel started"
        connections = [_connection_file(k) for k in kernels]
        assert all(path.exists() for path in connections)
        time.sleep(1.0)
        kernels = _kernels(watched) or kernels  # a second one may have started meanwhile
        connections = sorted({*connections, *(_connection_file(k) for k in kernels)})
        sent = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the foreground process group
        else:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - sent
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130
    assert took < 2.0, f"took {took:.2f} s"
    assert err.decode() == "stabmon: interrupted\n"  # one line, no traceback, no kernel noise
    time.sleep(0.2)
    assert all(_gone(k) for k in kernels), "a kernel outlived stabmon"
    assert not any(path.exists() for path in connections), "a kernel connection file was left"
    reports = short_run / "reports"
    assert not [p.name for p in reports.iterdir() if p.name.startswith(".")], "scratch files were left"
