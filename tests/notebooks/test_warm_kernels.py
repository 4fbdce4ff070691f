"""Warm kernels: each notebook sees a clean kernel, a broken kernel is replaced, failures name their cell.

One real pool of one kernel for the module (so every notebook here runs on
the same kernel unless it had to be replaced); each test reads what the
notebooks printed, and the kernel's process id tells whether the kernel was
reused or replaced.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from stabmon.core.errors import ReportError
from stabmon.report import render
from stabmon.report.kernels import KernelPool

from test_report_errors import job_for, tiny_notebook

PID_CELL = "import os\nprint('pid', os.getpid())"


@pytest.fixture(scope="module")
def pool():
    with KernelPool(1) as kernels:
        yield kernels


def run(pool: KernelPool, tmp_path: Path, name: str, *cells: str, timeout: float = 60) -> nbformat.NotebookNode:
    """Execute a notebook of ``cells`` (after a parameters cell) on the pool, as ``render`` does."""
    template = tiny_notebook(tmp_path / f"{name}.ipynb", *cells)
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    job = job_for(template, name)
    return pool.submit(lambda kernel: render.execute_notebook(job, reports, timeout=timeout, kernel=kernel)).result()


def printed(nb: nbformat.NotebookNode) -> list[str]:
    # A cell's stdout may arrive in several stream outputs ("rows", " 336\n" under load): joined per cell.
    return [line for cell in nb.cells
            for line in "".join(output["text"] for output in cell.get("outputs", [])
                                if output.get("name") == "stdout").splitlines()]


def pid_of(nb: nbformat.NotebookNode) -> int:
    return int(next(line for line in printed(nb) if line.startswith("pid "))[4:])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped is a zombie: gone for our purpose.
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_a_name_defined_in_one_notebook_is_undefined_in_the_next(pool, tmp_path):
    first = run(pool, tmp_path, "first", PID_CELL, "leaked = 42\nprint('leaked', leaked)")
    second = run(pool, tmp_path, "second", PID_CELL,
                 "try:\n    leaked\nexcept NameError:\n    print('leaked is undefined')\nprint('Out', len(Out))")
    assert pid_of(first) == pid_of(second)  # the same kernel ran both
    assert "leaked 42" in printed(first)
    assert "leaked is undefined" in printed(second)
    assert "Out 0" in printed(second)  # no output history from the first notebook either
    # The second notebook's cells count from 1 like in a fresh kernel: the
    # injected parameters cell is its second code cell.
    counts = [cell.execution_count for cell in second.cells if cell.cell_type == "code"]
    assert counts == [1, 2, 3, 4]
    # papermill executed it: the injected parameters cell and the recorded parameters.
    assert "injected-parameters" in second.cells[1].metadata["tags"]
    assert second.metadata["papermill"]["parameters"] == {"run_dir": "/nowhere"}


def test_matplotlib_and_pandas_settings_do_not_leak(pool, tmp_path):
    change = ("import matplotlib, pandas, warnings\n"
              "matplotlib.rcParams['lines.linewidth'] = 7.5\n"
              "pandas.set_option('display.max_rows', 3)\n"
              "os.chdir('/')\n"
              "os.environ['STABMON_LEAK'] = 'yes'\n"
              "warnings.simplefilter('error')")
    show = ("import matplotlib, pandas, warnings\n"
            "print('linewidth', matplotlib.rcParams['lines.linewidth'])\n"
            "print('max_rows', pandas.get_option('display.max_rows'))\n"
            "print('leak', os.environ.get('STABMON_LEAK'))\n"
            "print('cwd', os.getcwd())\n"
            "print('first filter', warnings.filters[0][0])")
    before = run(pool, tmp_path, "before", PID_CELL, show)
    run(pool, tmp_path, "change", PID_CELL, change, "print('changed')")
    after = run(pool, tmp_path, "after", PID_CELL, show)
    assert pid_of(before) == pid_of(after)
    # matplotlib's default line width is 1.5, pandas shows 60 rows by default.
    assert "linewidth 1.5" in printed(after) and "max_rows 60" in printed(after)
    assert "leak None" in printed(after)
    assert printed(after)[1:] == printed(before)[1:]  # cwd and warning filters too


def test_a_failing_notebook_names_its_cell_and_the_kernel_is_reused(pool, tmp_path):
    reports = tmp_path / "reports"
    first = run(pool, tmp_path, "ok", PID_CELL)
    with pytest.raises(ReportError) as caught:
        run(pool, tmp_path, "broken", "x = 1", "raise ValueError('the checkout exploded')\n# more")
    message = str(caught.value)
    # Cell 0 is the parameters cell, 1 the injected parameters, 2 "x = 1", 3 the failing one.
    assert "notebook broken failed at cell 3 (raise ValueError('the checkout exploded'))" in message
    assert "ValueError: the checkout exploded" in message
    assert (reports / "broken.failed.ipynb").is_file() and not (reports / "broken.ipynb").exists()
    assert not list(reports.glob(".*"))  # no scratch file left
    again = run(pool, tmp_path, "again", PID_CELL, "try:\n    x\nexcept NameError:\n    print('x is undefined')")
    assert pid_of(again) == pid_of(first)  # a cell error does not cost a kernel
    assert "x is undefined" in printed(again)


def test_a_kernel_that_dies_is_replaced(pool, tmp_path):
    first = run(pool, tmp_path, "before", PID_CELL)
    started = pool.started
    with pytest.raises(ReportError) as caught:
        run(pool, tmp_path, "killer", PID_CELL, "import signal\nos.kill(os.getpid(), signal.SIGKILL)")
    message = str(caught.value)
    assert "notebook killer failed at cell 3" in message and "kernel died" in message
    assert (tmp_path / "reports" / "killer.failed.ipynb").is_file()
    after = run(pool, tmp_path, "after", PID_CELL)
    assert pid_of(after) != pid_of(first)
    assert pool.started == started + 1
    assert not alive(pid_of(first))


def test_a_cell_timeout_names_the_cell_and_the_busy_kernel_is_replaced(pool, tmp_path):
    first = run(pool, tmp_path, "before", PID_CELL)
    with pytest.raises(ReportError) as caught:
        run(pool, tmp_path, "slow", "import time", "time.sleep(30)", timeout=2)
    message = str(caught.value)
    assert "notebook slow failed at cell 3 (time.sleep(30))" in message and "timed out" in message
    assert (tmp_path / "reports" / "slow.failed.ipynb").is_file()
    after = run(pool, tmp_path, "after", PID_CELL)
    assert pid_of(after) != pid_of(first)
    assert not alive(pid_of(first))


def test_closing_the_pool_stops_every_kernel(tmp_path):
    with KernelPool(2) as kernels:
        nbs = [run(kernels, tmp_path, f"nb{i}", PID_CELL, "import time\ntime.sleep(0.5)") for i in range(2)]
        pids = set(kernels.pids())
    assert len(pids) == 2 and {pid_of(nb) for nb in nbs} <= pids
    assert not any(alive(pid) for pid in pids)


def test_an_interrupt_kills_the_kernels_within_two_seconds(tmp_path):
    template = tiny_notebook(tmp_path / "long.ipynb", "import time\ntime.sleep(60)")
    reports = tmp_path / "reports"
    reports.mkdir()
    kernels = KernelPool(1)
    future = kernels.submit(lambda kernel: render.execute_notebook(job_for(template, "long"), reports, timeout=120,
                                                                    kernel=kernel))
    deadline = time.monotonic() + 60
    while not (kernels.pids() and future.running()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the cell is running
    pids = kernels.pids()
    started = time.perf_counter()
    kernels.close(now=True)  # what a Ctrl-C in render_reports does
    assert time.perf_counter() - started < 2.0
    assert pids and not any(alive(pid) for pid in pids)
    with pytest.raises(ReportError, match="notebook long interrupted"):
        future.result(timeout=5)
    assert not list(reports.iterdir())  # stopped, not failed: no partial notebook kept, no scratch file


def test_a_run_is_read_once_per_kernel_and_again_when_a_file_changes(pool, tmp_path, demo_run):
    load = (f"from stabmon.report import rundata\nrun = rundata.load_run({str(demo_run)!r})\n"
            "print('rows', len(run.snapshots))\nprint('cached', len(rundata.load_run.warm_cache))")
    spoil = "run.snapshots.drop(run.snapshots.index, inplace=True)\nprint('left', len(run.snapshots))"
    first = run(pool, tmp_path, "reads", PID_CELL, load, spoil)
    second = run(pool, tmp_path, "cached", PID_CELL, load)
    assert pid_of(first) == pid_of(second)
    # The demo week: 7 days of 30-minute snapshots, 7 x 48 = 336 rows.
    assert "rows 336" in printed(first) and "left 0" in printed(first)
    # Read from the cache (still one run in it), and a copy: the first notebook's drop did not reach it.
    assert "rows 336" in printed(second) and printed(second)[-1] == printed(first)[2]
    summary = demo_run / "weekly_summary.json"
    stat = summary.stat()
    os.utime(summary, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    third = run(pool, tmp_path, "changed", PID_CELL, load)
    assert "rows 336" in printed(third)
    cached = [int(line.split()[1]) for nb in (second, third) for line in printed(nb) if line.startswith("cached")]
    assert cached[1] == cached[0] + 1  # a changed file: read again
