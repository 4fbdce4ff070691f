"""Crash safety: SIGKILL at random moments of real runs, then a rerun (issue 6, item 2).

A past 2-day window at 30 minutes (96 snapshots) takes a real ``stabmon
monitor`` about 3 seconds: start-up, range queries, writing the snapshots,
the day and weekly summaries. The test first times one whole run, then
kills runs at random delays between 0 and that time, in three folders, at
least 21 kills in all (per folder one random delay in each seventh of that
time, in rising order, so every phase is hit); each later run in a folder
resumes what the killed ones left. After every kill the folder must be whole (every file complete
JSON valid against its schema, each snapshot once); a final rerun must then
give the complete output, identical in its snapshots to an undisturbed run.

The random seed is printed; set ``STABMON_KILL_SEED`` to replay a failure.
"""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import timedelta

import pytest

from stabmon import store
from stabmon.collect.run import monitor
from stabmon.collect.window import make_window

from support.runs import options
from .reliability_helpers import Running, check_folder, monitor_args, run_cli

pytestmark = [pytest.mark.server, pytest.mark.slow]

FOLDERS = 3
KILLS_PER_FOLDER = 7


def snapshot_documents(out) -> dict[str, dict]:
    return {s.to_dict()["timestamp"]: s.to_dict() for s in store.read_snapshots(out).snapshots}


def test_sigkill_at_random_moments_then_rerun(prometheus, recent_data, tmp_path):
    start = recent_data.midnight - timedelta(days=6)
    window = make_window(start, 48, 30)
    seed = int(os.environ.get("STABMON_KILL_SEED", time.time_ns() % 1_000_000))
    print(f"STABMON_KILL_SEED={seed}")
    rng = random.Random(seed)

    # An undisturbed run: the reference output and the typical run time.
    reference = tmp_path / "reference"
    began = time.monotonic()
    proc = run_cli(*monitor_args(prometheus.url, recent_data.baseline, reference, start, 48))
    typical = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr
    want = snapshot_documents(reference)
    assert len(want) == 96

    states: list[tuple[int, float, int]] = []  # (folder, delay, snapshots on disk after the kill)
    temp_files: list = []  # hidden temporary files of interrupted writes, found right after kills
    for folder in range(FOLDERS):
        out = tmp_path / f"killed-{folder}"
        args = monitor_args(prometheus.url, recent_data.baseline, out, start, 48)
        # One random delay in each seventh of [0, typical], in rising order: the first kill
        # of a folder lands early (before any snapshot), later ones hit resumed runs further on.
        delays = [typical * (i + rng.random()) / KILLS_PER_FOLDER for i in range(KILLS_PER_FOLDER)]
        kills = 0
        attempts = 0
        while kills < KILLS_PER_FOLDER:
            attempts += 1
            assert attempts < 5 * KILLS_PER_FOLDER, f"runs keep finishing before the kill: {states}"
            delay = delays[kills]
            with Running(args, tmp_path / f"run-{folder}-{attempts}.log") as run:
                time.sleep(delay)
                finished = run.process.poll() is not None
                if not finished:
                    os.killpg(run.process.pid, signal.SIGKILL)
                    code = run.wait(timeout=30)
                    # The run may end between poll() and the kill: that is a finished run.
                    finished = code == 0
                    if not finished:
                        assert code == -signal.SIGKILL, run.output
                if finished:
                    assert run.process.returncode == 0, run.output
                    # The run finished first: start the folder over so the next kills find work.
                    for path in sorted(out.rglob("*"), reverse=True):
                        path.rmdir() if path.is_dir() else path.unlink()
                    continue
            kills += 1
            if out.exists():
                files = check_folder(out, window, temp_files=temp_files)
                states.append((folder, round(delay, 2), len(files)))
            else:
                states.append((folder, round(delay, 2), 0))
        # The rerun after the kills: complete, whole, the same snapshots as the undisturbed run.
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        files = check_folder(out, window)
        assert sorted(files) == window.times()
        assert snapshot_documents(out) == want
        for d in (1, 2):
            summary = store.read_json(store.day_summary_path(out, d))
            assert summary["_metadata"]["data_completeness"] == "complete"
        weekly = store.read_json(out / store.WEEKLY_JSON)
        reference_weekly = store.read_json(reference / store.WEEKLY_JSON)
        assert weekly["total_snapshots"] == 96
        assert weekly["stability_score"] == reference_weekly["stability_score"]
        assert not list(out.rglob("*.tmp")), "temporary files of killed runs left behind"

    print("kills (folder, delay s, snapshots on disk):", states)
    print("temporary files found after kills (removed by the reruns):", temp_files)
    assert len(states) >= 21
    # The kills landed in different phases: before any snapshot was written and after all were.
    on_disk = {n for _, _, n in states}
    assert 0 in on_disk and 96 in on_disk, states


def test_rerun_removes_temporary_files_of_a_killed_write(prometheus, recent_data, tmp_path):
    """A kill between writing a temporary file and renaming it leaves ``.NAME.XXXXXXXX.tmp``; the next run deletes it.

    The targets were never touched by the interrupted write, so they stay
    whole; other hidden files are left alone.
    """
    window = make_window(recent_data.midnight - timedelta(days=3), 2, 30)
    out = tmp_path / "run"
    assert monitor(options(prometheus.url, out, window)).exit_code == 0
    leftovers = [out / ".day_01_summary.json.k1ll3d_x.tmp", out / "day_01_raw" / ".snapshot_x.json.a8Zq_01b.tmp"]
    for path in leftovers:
        path.write_text('{"cut in the mid')
    keep = out / ".operator-notes"
    keep.write_text("mine")
    assert monitor(options(prometheus.url, out, window)).exit_code == 0
    assert not any(path.exists() for path in leftovers)
    assert keep.read_text() == "mine"
    keep.unlink()
    assert len(check_folder(out, window)) == 4
