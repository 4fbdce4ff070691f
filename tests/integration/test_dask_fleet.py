"""A fleet run and its reports on a real Dask cluster: ``dask scheduler`` and ``dask worker`` processes on loopback.

The cluster's workers preload :mod:`support.dask_hooks`, so a test can make
one service's task fail, or every task slow enough to kill a worker or the
scheduler in the middle of a run. Every run is the ``stabmon`` command; the
reference is the same command without a scheduler.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import servers
from support.dask_hooks import HOOKS_ENV
from support.servers import need_binary
from support.synthetic_export import generate_fleet, write_fleet_openmetrics
from stabmon.cli.main import main
from stabmon.store import cluster as cluster_module
from stabmon.store import FLEET_SUMMARY_JSON, TEMP_RE, WEEKLY_JSON, service_folder

pytestmark = pytest.mark.server
distributed = pytest.importorskip("distributed")

FLEET = {"alpha": "healthy", "bravo": "incident", "charlie": "latency_regression", "delta": "healthy"}
HOOKS_FILE = Path(__file__).resolve().parents[1] / "support" / "dask_hooks.py"
STABMON = str(Path(sys.executable).with_name("stabmon"))


# --------------------------------------------------------------------------- the cluster


class DaskCluster:
    """A ``dask scheduler`` and its ``dask worker`` processes on 127.0.0.1, stopped by PID."""

    def __init__(self, folder: Path, hooks: Path) -> None:
        self.folder = folder
        self.port = servers.free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, HOOKS_ENV: str(hooks)}
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([sys.executable, "-m", *command], stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def start(self, workers: int) -> "DaskCluster":
        self.scheduler = self._spawn("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                                   "--port", str(self.port), "--no-dashboard"])
        for _ in range(workers):
            self.add_worker()
        self.wait_for_workers(workers)
        return self

    def add_worker(self) -> subprocess.Popen:
        worker = self._spawn(f"worker-{len(self.workers)}", [
            "distributed.cli.dask_worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
            "--no-dashboard", "--preload", str(HOOKS_FILE)])
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count: int) -> None:
        with distributed.Client(self.address, timeout=60) as client:
            client.wait_for_workers(count, timeout=90)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            servers.stop_process(process)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hooks") / "hooks.json"
    path.write_text("{}")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, hooks):
    started = DaskCluster(tmp_path_factory.mktemp("dask"), hooks)
    try:
        yield started.start(workers=2)
    finally:
        started.stop()


# --------------------------------------------------------------------------- the fleet


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    need_binary("prometheus")
    need_binary("promtool")
    folder = tmp_path_factory.mktemp("dask-prom")
    weeks = generate_fleet(FLEET, scrape_seconds=1800)
    write_fleet_openmetrics(weeks, folder / "fleet.om")
    servers.load_openmetrics_tsdb(folder / "fleet.om", folder / "tsdb")
    baselines = folder / "baselines"
    baselines.mkdir()
    for week in weeks:
        (baselines / f"{service_folder(week.service)}.json").write_text(json.dumps(week.baseline.to_dict()))
    with servers.PrometheusServer(folder / "tsdb") as server:
        yield server, baselines, weeks[0].window.start.strftime("%Y-%m-%dT%H:%M:%SZ")


def command(prometheus, out: Path, *extra: str) -> list[str]:
    server, baselines, start = prometheus
    return [STABMON, "monitor", "--baseline", str(baselines), "--prometheus-url", server.url,
            "--services", ",".join(FLEET), "--start", start, "--duration", "168", "--output", str(out), *extra]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "STABMON_DASK_SCHEDULER": "", **(env or {})})


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, prometheus) -> Path:
    out = tmp_path_factory.mktemp("local") / "fleet"
    done = run(command(prometheus, out, "--jobs", "1"))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _without_generated_at(value):
    if isinstance(value, dict):
        return {k: _without_generated_at(v) for k, v in value.items() if k not in ("generated_at", "checked_at")}
    if isinstance(value, list):
        return [_without_generated_at(v) for v in value]
    return value


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".stabmon.lock"}


def assert_same_run(got: Path, want: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Every file of ``want`` is in ``got``: JSON equal but for generated_at, anything else byte for byte."""
    mine, theirs = _files(got), _files(want)
    assert sorted(mine) == sorted(theirs)
    compared = 0
    for name, path in theirs.items():
        if name.startswith(skip):
            continue
        if name.endswith(".md"):  # the Markdown names its generated_at
            strip = [line for line in path.read_text().splitlines() if "enerated" not in line]
            assert [line for line in mine[name].read_text().splitlines() if "enerated" not in line] == strip, name
        elif name.endswith(".json"):
            assert _without_generated_at(json.loads(mine[name].read_text())) == \
                _without_generated_at(json.loads(path.read_text())), name
        else:
            assert mine[name].read_bytes() == path.read_bytes(), name
        compared += 1
    assert compared > 300 * len(FLEET)  # the raw snapshots were compared too


def assert_no_temp_files(root: Path) -> None:
    assert [p for p in root.rglob("*") if TEMP_RE.match(p.name)] == []


def set_hooks(path: Path, **hooks) -> None:
    path.write_text(json.dumps(hooks))


# --------------------------------------------------------------------------- the tests


def test_a_fleet_through_the_scheduler_equals_the_local_run(tmp_path, prometheus, cluster, local_run):
    out = tmp_path / "fleet"
    done = run(command(prometheus, out), env={"STABMON_DASK_SCHEDULER": cluster.address})
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(out, local_run)


def test_a_failing_task_fails_its_service_not_the_fleet(tmp_path, prometheus, cluster, hooks, local_run):
    out = tmp_path / "fleet"
    set_hooks(hooks, fail=["bravo"])
    try:
        done = run(command(prometheus, out, "--scheduler", cluster.address))
    finally:
        set_hooks(hooks)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / FLEET_SUMMARY_JSON).read_text())
    entry = next(e for e in summary["services"] if e["service"] == "bravo")
    assert entry["verdict"] == "inconclusive" and not entry["no_data"]
    assert entry["inconclusive_reasons"][0].startswith("failed: RuntimeError: poisoned by the test: bravo")
    assert any("'bravo' failed" in w for w in summary["warnings"])
    assert "bravo" in summary["inconclusive"] and "bravo" not in summary["rollback_recommended"]
    assert not (out / "bravo" / WEEKLY_JSON).exists()
    for name in ("alpha", "charlie", "delta"):
        got = json.loads((out / name / WEEKLY_JSON).read_text())
        want = json.loads((local_run / name / WEEKLY_JSON).read_text())
        assert _without_generated_at(got) == _without_generated_at(want), name


def _wait_for(predicate, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended (rc {process.returncode}) before {what}: {err[-1500:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.05)


def test_a_worker_killed_mid_run_has_its_tasks_run_elsewhere(tmp_path, prometheus, cluster, hooks, local_run):
    started = tmp_path / "started"
    started.mkdir()
    victim = cluster.add_worker()
    cluster.wait_for_workers(3)
    out = tmp_path / "fleet"
    set_hooks(hooks, sleep=1.0, started=str(started))
    try:
        process = subprocess.Popen(command(prometheus, out, "--scheduler", cluster.address), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "STABMON_DASK_SCHEDULER": ""})
        _wait_for(lambda: (started / str(victim.pid)).exists(), 120, "task on the worker to kill", process)
        os.kill(victim.pid, signal.SIGKILL)
        _, err = process.communicate(timeout=240)
    finally:
        set_hooks(hooks)
        servers.stop_process(victim)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert process.returncode == 0, err[-2000:]
    assert_no_temp_files(out)
    assert_same_run(out, local_run)


def test_the_scheduler_stopped_mid_run_exits_1_and_the_rerun_completes(tmp_path, prometheus, hooks, local_run):
    own = DaskCluster(tmp_path, hooks)
    started = tmp_path / "started"
    started.mkdir()
    out = tmp_path / "fleet"
    try:
        own.start(workers=1)
        set_hooks(hooks, sleep=1.0, started=str(started))
        process = subprocess.Popen(command(prometheus, out, "--scheduler", own.address), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "STABMON_DASK_SCHEDULER": ""})
        _wait_for(lambda: any(started.iterdir()), 120, "task started", process)
        servers.stop_process(own.scheduler)
        _, err = process.communicate(timeout=120)
    finally:
        set_hooks(hooks)
        own.stop()
    assert process.returncode == 1, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("stabmon: error:")]
    assert len(errors) == 1 and "lost the Dask scheduler" in errors[0], err[-2000:]
    assert "Traceback" not in err
    for path in out.rglob("*.json"):  # what was written is whole
        json.loads(path.read_text())
    rerun = run(command(prometheus, out))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_no_temp_files(out)
    assert_same_run(out, local_run)


# --------------------------------------------------------------------------- the reports through --scheduler

#: The one thing of its own a render puts in its HTML: the random id papermill gives the injected cell. (Of a
#: notebook, only its parameters and cells are compared: its metadata hold each cell's timings and the scratch
#: file's random name.)
_RUN_OWN = re.compile(r'id="cell-id=[0-9a-f]{8}"')
#: The retrospective alone (Markdown, charts, the papermill line naming the run folder), of every service.
RENDERED = ("--only", "retrospective", "--all", "--jobs", "1", "--no-progress")


@pytest.fixture(scope="module")
def demo_fleet(tmp_path_factory) -> Path:
    from stabmon.demo.fleet import build_demo_fleet

    folder = tmp_path_factory.mktemp("report-fleet") / "fleet"
    build_demo_fleet(folder, services=3)
    return folder


def fleet_copy(demo_fleet: Path, to: Path) -> Path:
    shutil.copytree(demo_fleet, to)
    return to


@pytest.fixture(scope="module")
def local_reports(tmp_path_factory, demo_fleet) -> tuple[Path, str]:
    """The reference: the fleet rendered here, with svc-02 poisoned; its folder and svc-02's error."""
    folder = fleet_copy(demo_fleet, tmp_path_factory.mktemp("local-reports") / "fleet")
    poison(folder / "svc-02")
    done = run([STABMON, "report", "--input", str(folder), *RENDERED])
    errors = done.stderr.strip().splitlines()
    # Without a cluster too, a failing service fails alone: the others are rendered.
    assert done.returncode == 1 and len(errors) == 1, done.stderr[-2000:]
    assert errors[0].startswith("stabmon: error: service svc-02: notebook retrospective failed at cell ")
    assert (folder / "svc-01" / "reports" / "retrospective.md").exists()
    assert (folder / "svc-03" / "reports" / "retrospective.md").exists()
    return folder, errors[0].removeprefix("stabmon: error: ").replace(str(folder), "FLEET")


def poison(service_folder: Path) -> None:
    """Tear the service's run.json by hand: its notebooks cannot load it."""
    (service_folder / "run.json").write_text('{"window": ')


def notebook_text(path: Path, folder: Path) -> list:
    """A rendered notebook as what it shows and runs: each cell's source and outputs, its parameters."""
    nb = json.loads(path.read_text().replace(str(folder), "FLEET"))
    cells = [(cell["cell_type"], cell["source"], [{k: v for k, v in out.items() if k != "execution_count"}
                                                  for out in cell.get("outputs", [])]) for cell in nb["cells"]]
    return [nb["metadata"]["papermill"]["parameters"], *cells]


def assert_same_reports(got: Path, want: Path, services: tuple[str, ...]) -> None:
    """Each service's reports: the same files, Markdown and charts byte for byte, notebooks' cells and HTML
    equal once the fleet folder's path and the render's own timings are put aside."""
    for service in services:
        mine, theirs = _files(got / service / "reports"), _files(want / service / "reports")
        assert sorted(mine) == sorted(theirs), service
        assert {"retrospective.ipynb", "retrospective.md", "retrospective.html"} <= set(theirs)
        for name, path in theirs.items():
            if name.endswith(".ipynb"):
                assert notebook_text(mine[name], got) == notebook_text(path, want), (service, name)
            elif name.endswith((".md", ".html")):
                lines = [_RUN_OWN.sub("", line) for line in path.read_text().replace(str(want), "FLEET").splitlines()]
                assert [_RUN_OWN.sub("", line) for line in
                        mine[name].read_text().replace(str(got), "FLEET").splitlines()] == lines, (service, name)
            else:
                assert mine[name].read_bytes() == path.read_bytes(), (service, name)


def test_reports_rendered_through_the_scheduler_equal_a_local_render(tmp_path, demo_fleet, local_reports, cluster):
    folder = fleet_copy(demo_fleet, tmp_path / "fleet")
    done = run([STABMON, "report", "--input", str(folder), *RENDERED], env={"STABMON_DASK_SCHEDULER": cluster.address})
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "fleet report", "  svc-03", "  svc-01", "  svc-02"]
    local, _ = local_reports
    assert_same_reports(folder, local, ("svc-01", "svc-03"))  # svc-02 is poisoned in the reference
    retrospective = (folder / "svc-03" / "reports" / "retrospective.md").read_text()
    assert f"-p run_dir {folder / 'svc-03'}" in retrospective  # the papermill line names the real folder
    assert "stabmon-render" not in "".join(p.read_text() for p in folder.rglob("*.ipynb"))
    fleet_notebook = Path("reports") / "fleet_overview.ipynb"  # rendered on the cluster too
    assert notebook_text(folder / fleet_notebook, folder) == notebook_text(local / fleet_notebook, local)
    assert (folder / "reports" / "fleet_overview.html").exists()
    assert_no_temp_files(folder)


def test_poisoned_services_fail_alone_each_named(tmp_path, demo_fleet, local_reports, cluster, hooks):
    folder = fleet_copy(demo_fleet, tmp_path / "fleet")
    poison(folder / "svc-02")
    set_hooks(hooks, fail=["svc-01"])  # its task raises on the worker
    try:
        done = run([STABMON, "report", "--input", str(folder), "--scheduler", cluster.address, *RENDERED])
    finally:
        set_hooks(hooks)
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1, done.stderr[-2000:]
    first, second = errors[0].split("; service ")
    assert first == "stabmon: error: service svc-01: RuntimeError: poisoned by the test: svc-01"
    local, local_error = local_reports
    # named as a local render names it: notebook, cell, error and the partial notebook kept in the real folder
    assert "service " + second.replace(str(folder), "FLEET") == local_error
    kept = folder / "svc-02" / "reports" / "retrospective.failed.ipynb"
    assert f"partial notebook kept in {kept}" in second
    assert notebook_text(kept, folder) == notebook_text(local / "svc-02" / "reports" / kept.name, local)
    assert not (folder / "svc-01" / "reports" / "retrospective.ipynb").exists()
    assert_same_reports(folder, local, ("svc-03",))
    assert (folder / "reports" / "fleet_overview.html").exists()


def test_an_unreachable_scheduler_is_one_line_and_exit_1_and_renders_nothing(demo_fleet, capsys, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_SECONDS", 1.0)
    port = servers.free_port()  # nobody listens there
    code = main(["report", "--input", str(demo_fleet), "--scheduler", f"127.0.0.1:{port}", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"stabmon: error: cannot reach the Dask scheduler at "
                                               f"tcp://127.0.0.1:{port}: "), err
    assert [p for p in demo_fleet.rglob("*") if p.parent.name == "reports"] == []
