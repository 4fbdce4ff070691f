"""A fleet's service notebooks rendered as tasks on a Dask cluster (``stabmon report --scheduler``).

No filesystem is shared. For each service the client reads what its
notebooks read (the run folder but for ``reports/`` and ``baseline_raw/``)
and ships it as bytes with the task (:class:`RenderTask`). The worker
unpacks it into a temporary folder of its own, renders the notebooks there
with :func:`stabmon.report.render.render_reports` on warm kernels kept for
the life of the worker process, and hands back every file it made in
``reports/`` as bytes (:class:`RenderedService`); the client writes them
under the service's ``reports/`` through the store, atomically.

The copy lives at the real run folder's path below the temporary root
(``/tmp/stabmon-render-XXXX/srv/fleet/alpha`` for ``/srv/fleet/alpha``),
so removing the root from every text the notebooks made (the injected
``run_dir`` parameter, the papermill line naming the run folder, a
failure's message) leaves the real folder's path: the reports are those a
local render makes but for their timings.

A notebook that fails fails its service, named with the notebook and the
cell; the other services still render. Losing the scheduler ends the run
with one line (:class:`stabmon.store.cluster.ClusterError`).
"""

from __future__ import annotations

import atexit
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from stabmon import store
from stabmon.core.errors import ReportError
from stabmon.report.render import ReportResult, fleet_job, kernel_pool, main_report, render_job, render_reports
from stabmon.store.schemas import keep_out_iri_grammar

#: What no notebook reads, left out of what a worker gets: earlier reports and the baseline window's snapshots.
NOT_READ = frozenset({store.REPORTS_DIR, store.BASELINE_RAW_DIR})
#: Files whose text may name the worker's folder: the root is removed from them.
TEXT_SUFFIXES = frozenset({".ipynb", ".html", ".md"})
#: The task name of a fleet's own notebook.
FLEET_NOTEBOOK = "fleet_overview"
#: Characters of a temporary root that every text (JSON, HTML, shell quoting, Markdown) keeps as they are.
_PLAIN = re.compile(r"^[A-Za-z0-9/_.+-]+$")


@dataclass
class RenderTask:
    """What a worker needs to render one service (or a fleet's notebook): the folder's path on the client and
    its files."""

    service: str
    run_dir: str
    inputs: dict[str, bytes]
    notebooks: list[str] | None = None
    jobs: int = 2
    timeout: float = 600.0
    #: ``run_dir`` is a fleet folder: render its fleet notebook (the inputs: its ``fleet_summary.json``).
    fleet: bool = False


@dataclass
class RenderedService:
    """What a worker made: ``reports/`` files as bytes by relative path, and the failure message if any."""

    files: dict[str, bytes] = field(default_factory=dict)
    notebooks: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


# --------------------------------------------------------------------------- on the worker

_POOLS: dict[int, Any] = {}
_POOLS_LOCK = threading.Lock()


def worker_pool(size: int) -> Any:
    """The worker process's ``size`` warm kernels (made at its first such task, stopped when the process exits)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(size)
        if pool is None:
            pool = _POOLS[size] = kernel_pool(size)
            atexit.register(pool.close, now=True)
        return pool


def local_copy(root: Path, run_dir: str) -> Path:
    """Where a worker unpacks the run folder ``run_dir``: at the same path below ``root``."""
    real = Path(run_dir)
    if not real.is_absolute():
        raise ReportError(f"cannot render {run_dir} on the cluster: not an absolute path")
    return root / real.relative_to(real.anchor)


def as_named(data: bytes, root: str) -> bytes:
    """``data`` with the temporary ``root`` removed: paths of the copy become the real folder's."""
    return data.replace(root.encode(), b"")


def render_service_files(task: RenderTask) -> RenderedService:
    """Render one service's notebooks from the shipped files; return what they made (a Dask task).

    A failing notebook does not raise: its message (notebook and cell) is in
    ``error`` and the files rendered, the failed partial notebook included,
    are handed back.
    """
    started = time.perf_counter()
    keep_out_iri_grammar()  # the worker process imports the notebook stack
    with tempfile.TemporaryDirectory(prefix="stabmon-render-") as tmp:
        root = str(Path(tmp).resolve())
        if not _PLAIN.match(root):
            raise ReportError(f"the worker's temporary folder {root!r} has characters a report would escape; "
                              "set TMPDIR to a plain path")
        folder = local_copy(Path(root), task.run_dir)
        store.unpack_folder(folder, task.inputs)
        rendered = RenderedService()
        try:
            if task.fleet:
                job = fleet_job(folder)
                (folder / store.REPORTS_DIR).mkdir(exist_ok=True)
                worker_pool(task.jobs).submit(lambda kernel: render_job(
                    job, folder / store.REPORTS_DIR, timeout=task.timeout, kernel=kernel)).result()
                rendered.notebooks = [job.name]
            else:
                result = render_reports(folder, jobs=task.jobs, timeout=task.timeout, notebooks=task.notebooks,
                                        progress=False, pool=worker_pool(task.jobs))
                rendered.notebooks = result.notebooks
        except ReportError as exc:
            rendered.error = as_named(str(exc).encode(), root).decode()
        made = store.pack_folder(folder / store.REPORTS_DIR)
        rendered.files = {name: as_named(data, root) if Path(name).suffix in TEXT_SUFFIXES else data
                          for name, data in made.items()}
    rendered.seconds = time.perf_counter() - started
    return rendered


# --------------------------------------------------------------------------- on the client


def write_rendered(reports_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write a worker's files under ``reports_dir`` atomically, as a local render would leave the folder.

    A chart folder (``<name>_files/``) holds only the new charts, and a
    notebook rendered now has no ``<name>.failed.ipynb`` left from before.
    """
    for folder in {name.split("/")[0] for name in files if "/" in name}:
        old = reports_dir / folder
        if old.is_dir():
            for stale in old.iterdir():
                if stale.is_file() and f"{folder}/{stale.name}" not in files:
                    stale.unlink()
    for name in files:
        if name.endswith(".ipynb") and not name.endswith(".failed.ipynb") and "/" not in name:
            failed = f"{name[:-len('.ipynb')]}.failed.ipynb"
            if failed not in files:
                (reports_dir / failed).unlink(missing_ok=True)
    store.write_files_atomic(reports_dir, files, fsync=False)
    return [reports_dir / name for name in files]


def render_on_cluster(client: Any, address: str, services: Sequence[tuple[str, Path]], *, jobs: int,
                      timeout: float, notebooks: Sequence[str] | None = None, progress: bool = False,
                      fleet: tuple[Path, bytes] | None = None
                      ) -> tuple[dict[str, ReportResult], list[str], list[Path]]:
    """Render each ``(service, run folder)`` as one task through ``client``, connected to the scheduler ``address``
    (:func:`stabmon.store.cluster.dask_client`); ``fleet``, a fleet folder and its summary's bytes, as one more.

    Returns
    -------
    (results, failures, fleet_files)
        Each rendered service's :class:`ReportResult`, one message per
        failing service naming it (and its notebook and cell), and the files
        of the fleet notebook.

    Raises
    ------
    ClusterError
        The scheduler went away (what was written stays whole).
    """
    from tqdm.auto import tqdm

    from stabmon.store.cluster import DaskEngine

    results: dict[str, ReportResult] = {}
    failures: list[str] = []
    fleet_files: list[Path] = []
    # The fleet notebook first: it is short and the services' tasks fill the gaps after it.
    tasks: list[tuple[str, Path, bool]] = ([(FLEET_NOTEBOOK, fleet[0], True)] if fleet else []) + \
        [(service, folder, False) for service, folder in services]
    with tqdm(total=len(tasks), desc="rendering on the cluster", unit="task", disable=not progress,
              leave=True) as bar:
        engine = DaskEngine(client, address)

        def submit(i: int) -> Any:
            service, folder, is_fleet = tasks[i]
            inputs = {store.FLEET_SUMMARY_JSON: fleet[1]} if is_fleet and fleet else \
                store.pack_folder(folder, skip=NOT_READ)
            task = RenderTask(service, str(folder), inputs, list(notebooks) if notebooks else None, jobs, timeout,
                              fleet=is_fleet)
            return client.submit(render_service_files, task, pure=False,
                                 key=f"stabmon-report-{engine.tasks}-{service}")

        def collect(i: int, rendered: RenderedService | None, error: BaseException | None) -> None:
            service, folder, is_fleet = tasks[i]
            bar.update(1)
            name = "the fleet notebook" if is_fleet else f"service {service}"
            if rendered is None:
                failures.append(f"{name}: {type(error).__name__}: {error}")
                return
            reports_dir = folder / store.REPORTS_DIR
            written = write_rendered(reports_dir, rendered.files)
            if rendered.error:
                failures.append(f"{name}: {rendered.error}")
            elif is_fleet:
                fleet_files.extend(sorted(written))
            else:
                results[service] = ReportResult(reports_dir=reports_dir, index=main_report(reports_dir, written),
                                                files=sorted(written), notebooks=rendered.notebooks,
                                                seconds=rendered.seconds)

        engine.run(len(tasks), submit, collect)
    return {service: results[service] for service, _ in services if service in results}, failures, fleet_files
