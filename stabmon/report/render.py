"""Render a run folder's notebooks into ``reports/``: executed ``.ipynb``, single-file HTML, Markdown.

``stabmon report --input DIR`` (and ``stabmon demo`` unless ``--no-report``)
runs, with papermill, one daily notebook per day that has snapshots, the
weekly summary and the retrospective, and exports them with nbconvert::

    DIR/reports/day_01_analysis.ipynb, day_01_analysis.html, ...
    DIR/reports/weekly_summary.ipynb, weekly_summary.html
    DIR/reports/retrospective.ipynb, retrospective.html, retrospective.md
    DIR/reports/retrospective_files/*.png          (the Markdown's images)

The HTML files hide the code and embed their images, so one file can be
attached to a ticket. Notebooks run in parallel on ``jobs`` warm kernels
(:class:`stabmon.report.kernels.KernelPool`): each kernel is started and
has pandas, matplotlib and the report modules imported once, and runs one
notebook after another with its namespace cleaned in between; papermill
still executes each notebook (engine ``stabmon-warm``). ``warm=False`` starts
a kernel per notebook, as papermill does by default. The exports are made
in a thread of their own while the kernels run the next notebooks. Every
file is written atomically.

Only the run folder and the thresholds are passed as parameters: papermill
records parameters in the executed notebook (the injected cell and
``metadata.papermill.parameters``), so credentials are never passed; the
notebooks read files, not Prometheus.

A notebook that fails (a cell error or a cell timeout) is kept as
``reports/<name>.failed.ipynb`` and reported in a :class:`ReportError`
naming the notebook and the cell.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from stabmon.core import paths
from stabmon import store
from stabmon.core.errors import InputError, ReportError, StabmonError
from stabmon.core.settings import NOTEBOOK_THRESHOLDS, Settings
from stabmon.report import html_export

log = logging.getLogger(__name__)

#: The kernel papermill starts (the project environment's ipykernel).
KERNEL_NAME = "python3"

#: Report kinds, in the order they are listed.
KINDS: tuple[str, ...] = ("daily", "weekly", "retrospective")

NOTEBOOK_FILES = {
    "daily": "daily_analysis.ipynb",
    "weekly": "weekly_summary.ipynb",
    "retrospective": "retrospective.ipynb",
    "fleet": "fleet_overview.ipynb",
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: nbconvert's logger for our exports: its one warning ("alternative text is
#: missing" on every chart, for which it then adds a generic alt) is noise here.
_EXPORT_LOG = logging.getLogger("stabmon.report.nbconvert")
_EXPORT_LOG.setLevel(logging.ERROR)


@dataclass
class NotebookJob:
    """One notebook to execute and export."""

    name: str
    kind: str
    template: Path
    parameters: dict[str, Any]
    title: str
    markdown: bool = False


@dataclass
class ReportResult:
    """What :func:`render_reports` wrote.

    Attributes
    ----------
    reports_dir
        ``<run>/reports``.
    index
        The main report to open first (the weekly HTML when rendered).
    files
        Every file written, in job order.
    notebooks
        Names of the executed notebooks (``day_01_analysis``, ...).
    seconds
        Wall time of the rendering.
    """

    reports_dir: Path
    index: Path
    files: list[Path] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class NotebookFailure:
    """Why one notebook failed: its name, the failing cell and the kept partial notebook."""

    name: str
    cell_index: int | None
    cell_source: str
    error: str
    kept: Path | None

    def summary(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "before any cell ran"
        source = f" ({self.cell_source})" if self.cell_source else ""
        kept = f"; partial notebook kept in {self.kept}" if self.kept else ""
        return f"notebook {self.name} failed at {where}{source}: {self.error}{kept}"


# ---------------------------------------------------------------------------
# planning


def report_days(run_dir: Path) -> list[int]:
    """Days of a run folder that hold at least one raw snapshot."""
    days = set()
    for path in store.iter_snapshot_files(run_dir):
        match = store.DAY_RAW_RE.match(path.parent.name)
        if match:
            days.add(int(match.group(1)))
    return sorted(days)


def run_thresholds(run_dir: Path) -> dict[str, float]:
    """The notebook thresholds the run was analysed with (its weekly summary's settings)."""
    weekly_path = run_dir / store.WEEKLY_JSON
    settings = Settings()
    if weekly_path.exists():
        stored = (store.read_json(weekly_path) or {}).get("settings") or {}
        known = set(Settings().to_dict())
        try:
            settings = Settings.from_mapping({k: v for k, v in stored.items() if k in known})
        except InputError as exc:
            log.warning("%s: %s; using the default thresholds", weekly_path, exc)
    values = settings.to_dict()
    return {name: float(values[name]) for name in NOTEBOOK_THRESHOLDS}


def _wanted_days(run_dir: Path, days: Iterable[int] | None) -> list[int]:
    """The days with snapshots, only those of ``days`` when given."""
    chosen = None if days is None else set(days)
    return [d for d in report_days(run_dir) if chosen is None or d in chosen]


def _job_count(run_dir: Path, kinds: Sequence[str], days: Iterable[int] | None) -> int:
    """How many notebooks :func:`plan_jobs` plans (without reading the thresholds, which imports pandas)."""
    week = len({"weekly", "retrospective"} & set(kinds))
    return (len(_wanted_days(run_dir, days)) if "daily" in kinds else 0) + week


def plan_jobs(run_dir: Path, kinds: Iterable[str] = KINDS, notebooks_dir: Path | None = None, *,
              days: Iterable[int] | None = None, previous_runs: Sequence[str] | None = None) -> list[NotebookJob]:
    """The notebooks to render for a run folder (pure but for reading the folder's listing).

    ``days`` keeps the daily notebooks of those days only (all days with
    snapshots by default); ``previous_runs`` (earlier runs' folders) goes to
    the weekly and retrospective notebooks' ``previous_runs`` parameter.
    """
    notebooks_dir = notebooks_dir or paths.NOTEBOOKS_DIR
    wanted = list(kinds)
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise InputError(f"unknown report kind(s): {', '.join(unknown)} (known: {', '.join(KINDS)})")
    common: dict[str, Any] = {"run_dir": str(run_dir)}
    common.update(run_thresholds(run_dir))
    week = {**common, "previous_runs": [str(p) for p in previous_runs]} if previous_runs else common
    jobs: list[NotebookJob] = []
    if "daily" in wanted:
        for day in _wanted_days(run_dir, days):
            jobs.append(NotebookJob(
                name=f"day_{day:02d}_analysis", kind="daily", template=notebooks_dir / NOTEBOOK_FILES["daily"],
                parameters={**common, "day_number": day}, title=f"Day {day} stability analysis",
            ))
    if "weekly" in wanted:
        jobs.append(NotebookJob(name="weekly_summary", kind="weekly", template=notebooks_dir / NOTEBOOK_FILES["weekly"],
                                parameters=dict(week), title="Stability summary"))
    if "retrospective" in wanted:
        jobs.append(NotebookJob(name="retrospective", kind="retrospective",
                                template=notebooks_dir / NOTEBOOK_FILES["retrospective"],
                                parameters=dict(week), title="Post-release retrospective", markdown=True))
    return jobs


# ---------------------------------------------------------------------------
# executing one notebook


def _first_line(text: str) -> str:
    for line in _ANSI.sub("", str(text)).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _failed_cell(nb: Any) -> tuple[int | None, str]:
    """The cell papermill was running when execution stopped: the last one that started."""
    index = None
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("papermill", {})
        if meta.get("exception") or meta.get("status") == "failed":
            return i, _first_line(cell.get("source", ""))
        if meta.get("start_time"):
            index = i
    if index is None:
        return None, ""
    return index, _first_line(nb.cells[index].get("source", ""))


def execute_notebook(job: NotebookJob, reports_dir: Path, *, timeout: float, kernel: Any = None) -> Any:
    """Run one notebook with papermill and write ``reports/<name>.ipynb`` atomically.

    ``kernel``: a :class:`stabmon.report.kernels.WarmKernel` to run it on
    (papermill engine ``stabmon-warm``); ``None`` starts a kernel for it.

    Returns
    -------
    nbformat.NotebookNode
        The executed notebook.

    Raises
    ------
    ReportError
        When a cell fails or times out (the partial notebook is kept as
        ``<name>.failed.ipynb``) or the kernel cannot be started.
    """
    # The notebook stack takes seconds to import; every `stabmon` command imports this module.
    import nbformat
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from stabmon.report.kernels import ENGINE_NAME, quiet_kernel_manager, warm_engine

    final = reports_dir / f"{job.name}.ipynb"
    failed = reports_dir / f"{job.name}.failed.ipynb"
    fd, scratch_name = tempfile.mkstemp(prefix=f".{job.name}.", suffix=".running.ipynb", dir=reports_dir)
    os.close(fd)
    scratch = Path(scratch_name)
    if kernel is not None:
        warm_engine()  # registered with papermill
        # No save of the whole notebook after every cell (most of the
        # parent's time): the engine writes the partial notebook on a failure.
        engine: dict[str, Any] = {"engine_name": ENGINE_NAME, "warm_kernel": kernel, "partial_path": str(scratch),
                                  "request_save_on_cell_execute": False}
    else:
        engine = {"kernel_manager_class": quiet_kernel_manager()}
    try:
        try:
            nb = pm.execute_notebook(
                str(job.template), str(scratch), parameters=job.parameters, kernel_name=KERNEL_NAME,
                progress_bar=False, log_output=False, execution_timeout=timeout, report_mode=False, **engine,
            )
        except PapermillExecutionError as exc:
            partial = _keep_partial(scratch, failed)
            raise ReportError(NotebookFailure(
                job.name, exc.cell_index, _first_line(exc.source),
                f"{exc.ename}: {_first_line(exc.evalue)}", partial).summary()) from None
        except asyncio.CancelledError:  # KernelPool.close(now=True): stopped by Ctrl-C
            raise ReportError(f"notebook {job.name} interrupted") from None
        except (CellTimeoutError, DeadKernelError) as exc:
            if kernel is not None:
                kernel.spoiled = True  # still busy with the cell, or gone: the pool replaces it
                if kernel.interrupted:  # stopped by Ctrl-C, not failed: nothing to keep
                    raise ReportError(f"notebook {job.name} interrupted") from None
            partial = _keep_partial(scratch, failed)
            index, source = _failed_cell(nbformat.read(partial, as_version=4)) if partial else (None, "")
            kind = "cell timed out" if isinstance(exc, CellTimeoutError) else "kernel died"
            raise ReportError(NotebookFailure(
                job.name, index, source, f"{kind} ({_first_line(str(exc)) or type(exc).__name__}"
                + (f", limit {timeout:g} s)" if isinstance(exc, CellTimeoutError) else ")"), partial).summary()) from None
        except StabmonError:
            raise
        except Exception as exc:  # kernel start failures, missing template, ...
            if kernel is not None:
                kernel.spoiled = True  # in an unknown state
            partial = _keep_partial(scratch, failed)
            raise ReportError(NotebookFailure(job.name, None, "", f"{type(exc).__name__}: {_first_line(str(exc))}",
                                              partial).summary()) from None
        store.write_text_atomic(final, nbformat.writes(nb), fsync=False)
        if failed.exists():
            failed.unlink()  # an earlier failure of this notebook is no longer true
        return nb
    finally:
        scratch.unlink(missing_ok=True)


def _keep_partial(scratch: Path, failed: Path) -> Path | None:
    if not scratch.exists() or scratch.stat().st_size == 0:
        return None
    store.write_bytes_atomic(failed, scratch.read_bytes(), fsync=False)
    return failed


# ---------------------------------------------------------------------------
# exporting


#: One exporter of each kind per thread: making one compiles its templates (a third of a second).
_EXPORTERS = threading.local()


def _exporter(kind: str, make: Callable[[], Any]) -> Any:
    exporter = getattr(_EXPORTERS, kind, None)
    if exporter is None:
        exporter = make()
        setattr(_EXPORTERS, kind, exporter)
    return exporter


def export_html(nb: Any, title: str) -> str:
    """Single-file HTML that opens offline (:mod:`stabmon.report.html_export`)."""
    exporter = _exporter("html", lambda: html_export.html_exporter(_EXPORT_LOG))
    return html_export.export_html(nb, title, exporter=exporter)


def _markdown_exporter() -> Any:
    # notebook stack: only when a report is exported
    from nbconvert import MarkdownExporter
    from traitlets.config import Config

    # Prefer each output's own Markdown over its HTML (nbconvert's default is
    # HTML first), so the .md reads as Markdown; PNG before HTML for charts.
    config = Config({"NbConvertBase": {"display_data_priority": [
        "text/markdown", "image/png", "image/jpeg", "image/svg+xml", "text/html", "text/latex", "text/plain",
    ]}})
    return MarkdownExporter(config=config, exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, log=_EXPORT_LOG, optimistic_validation=True)


def export_markdown(nb: Any, files_dir_name: str) -> tuple[str, dict[str, bytes]]:
    """Markdown with the code hidden; images as files in ``files_dir_name`` beside the ``.md``.

    Returns
    -------
    (text, images)
        The Markdown and a mapping of relative image path to PNG bytes.
    """
    exporter = _exporter("markdown", _markdown_exporter)
    stem = files_dir_name[: -len("_files")] if files_dir_name.endswith("_files") else files_dir_name
    body, resources = exporter.from_notebook_node(
        nb, resources={"output_files_dir": files_dir_name, "unique_key": stem}
    )
    images = {name: data for name, data in (resources.get("outputs") or {}).items()}
    # nbconvert leaves runs of blank and indented-blank lines around hidden
    # inputs; a retrospective is read as plain text too.
    lines = [line.rstrip() for line in body.splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return name_images(body), images


_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
_BARE_IMAGE = re.compile(r"!\[(?:png|svg|jpeg|image/png)?\]\(")


def name_images(markdown: str) -> str:
    """Give each image nbconvert left as ``![png](...)`` the alt text "Chart: <its section>".

    A retrospective pasted as plain text then says what each picture is, and a
    renderer that cannot show it prints a name, not "png".
    """
    section = "report"
    out = []
    for line in markdown.split("\n"):
        heading = _HEADING.match(line)
        if heading:
            section = re.sub(r"^\d+\.\s*", "", heading.group(1)).replace("]", "")
        out.append(_BARE_IMAGE.sub(lambda _: f"![Chart: {section}](", line))
    return "\n".join(out)


def write_exports(job: NotebookJob, nb: Any, reports_dir: Path) -> list[Path]:
    """Write the HTML (and for the retrospective the Markdown and its images) of an executed notebook."""
    written: list[Path] = []
    html_path = reports_dir / f"{job.name}.html"
    store.write_text_atomic(html_path, export_html(nb, job.title), fsync=False)
    written.append(html_path)
    if job.markdown:
        files_dir = f"{job.name}_files"
        text, images = export_markdown(nb, files_dir)
        old = reports_dir / files_dir
        if old.is_dir():
            for stale in old.iterdir():
                if stale.is_file():
                    stale.unlink()
        for name, data in images.items():
            path = reports_dir / name
            store.write_bytes_atomic(path, data, fsync=False)
            written.append(path)
        md_path = reports_dir / f"{job.name}.md"
        store.write_text_atomic(md_path, text, fsync=False)
        written.append(md_path)
    return written


def render_job(job: NotebookJob, reports_dir: Path, *, timeout: float, kernel: Any = None) -> list[Path]:
    """Execute one notebook (on ``kernel`` when given) and write all its files; return them."""
    nb = execute_notebook(job, reports_dir, timeout=timeout, kernel=kernel)
    return [reports_dir / f"{job.name}.ipynb", *write_exports(job, nb, reports_dir)]


class ColdKernels:
    """The :class:`~stabmon.report.kernels.KernelPool` interface without warm kernels: papermill starts
    a kernel for each notebook (``render_reports(warm=False)``, the way papermill runs by default)."""

    def __init__(self, size: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="stabmon-report")

    def __enter__(self) -> "ColdKernels":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(now=exc[0] is not None)

    def submit(self, fn: Callable[[Any], Any]) -> Future:
        return self._executor.submit(fn, None)

    def close(self, *, now: bool = False) -> None:
        self._executor.shutdown(wait=not now, cancel_futures=now)


def kernel_pool(size: int, *, warm: bool = True) -> Any:
    """``size`` kernels to render on: warm ones (:class:`~stabmon.report.kernels.KernelPool`) or cold ones."""
    if not warm:
        return ColdKernels(size)
    from stabmon.report.kernels import KernelPool  # notebook stack: only when rendering

    return KernelPool(size, KERNEL_NAME)


def start_failure(job: NotebookJob, exc: BaseException) -> str:
    return NotebookFailure(job.name, None, "", f"kernel did not start: {type(exc).__name__}: "
                           f"{_first_line(str(exc))}", None).summary()


def run_jobs(planned: Sequence[NotebookJob], reports_dir: Path, pool: Any, *, timeout: float,
             on_done: Callable[[NotebookJob], None] = lambda job: None) -> tuple[dict[str, list[Path]], list[str]]:
    """Execute ``planned`` on ``pool``'s kernels and export each as it finishes (in a thread of its own).

    Returns the files written per notebook name and the failure messages.
    Longest first (weekly, retrospective), so the short daily notebooks fill
    the gaps at the end instead of a long one running alone.
    """
    done: dict[str, list[Path]] = {}
    failures: list[str] = []
    ordered = sorted(planned, key=lambda job: job.kind == "daily")
    exporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stabmon-export")
    try:
        pending: dict[Future, tuple[str, NotebookJob]] = {
            pool.submit(lambda kernel, job=job: execute_notebook(job, reports_dir, timeout=timeout, kernel=kernel)):
            ("run", job) for job in ordered
        }
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in finished:
                step, job = pending.pop(future)
                try:
                    result = future.result()
                except ReportError as exc:
                    failures.append(str(exc))
                except Exception as exc:  # the kernel did not start
                    failures.append(start_failure(job, exc))
                else:
                    if step == "run":
                        pending[exporter.submit(write_exports, job, result, reports_dir)] = ("export", job)
                        continue
                    done[job.name] = [reports_dir / f"{job.name}.ipynb", *result]
                on_done(job)
    except BaseException:
        exporter.shutdown(wait=False, cancel_futures=True)
        raise
    exporter.shutdown(wait=True)
    return done, failures


# ---------------------------------------------------------------------------
# the whole folder


def render_reports(
    out_dir: str | Path,
    *,
    jobs: int = 2,
    timeout: float = 600,
    notebooks: Sequence[str] | None = None,
    progress: bool = True,
    days: Iterable[int] | None = None,
    previous_runs: Sequence[str] | None = None,
    warm: bool = True,
    pool: Any = None,
) -> ReportResult:
    """Render every report of a run folder into ``out_dir/reports``.

    Parameters
    ----------
    out_dir
        The run folder (raw snapshots and summaries, docs/contract.md §4).
    jobs
        How many notebooks run at once (each on a kernel of its own).
    timeout
        Seconds one cell may run before the notebook is failed.
    notebooks
        Kinds to render (``daily``, ``weekly``, ``retrospective``); all by default.
    progress
        Show a progress bar on stderr.
    days, previous_runs
        As :func:`plan_jobs`: only these days' daily notebooks; earlier runs to compare with.
    warm
        Run the notebooks on warm kernels (the default) rather than a kernel started per notebook.
    pool
        Kernels to use (:func:`kernel_pool`), e.g. shared by a fleet's services;
        by default ``jobs`` kernels started for this call and stopped at its end.

    Returns
    -------
    ReportResult
        The files written and the main report (``index``).

    Raises
    ------
    ReportError
        When the folder has no raw snapshot (one line), or a notebook fails;
        every other notebook is still rendered, the message names each
        failing notebook and cell.
    """
    from tqdm.auto import tqdm  # 0.15 s to import: only when reports are rendered

    started = time.perf_counter()
    run_dir = Path(out_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise ReportError(f"cannot render reports: {run_dir} is not a folder")
    if not store.iter_snapshot_files(run_dir):
        raise ReportError(f"cannot render reports: no raw snapshots in {run_dir} "
                          "(expected day_NN_raw/snapshot_*.json; run 'stabmon monitor' or 'stabmon demo' first)")
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, got {jobs}")
    kinds = list(notebooks or KINDS)
    days = None if days is None else list(days)  # read twice
    with ExitStack() as stack:
        # The kernels start first: they warm up while this process plans and
        # imports the notebook stack.
        count = _job_count(run_dir, kinds, days)
        if pool is None and count:
            pool = stack.enter_context(kernel_pool(min(jobs, count), warm=warm))
        planned = plan_jobs(run_dir, kinds, days=days, previous_runs=previous_runs)
        if not planned:
            raise ReportError(f"nothing to render in {run_dir}")
        if pool is None:
            pool = stack.enter_context(kernel_pool(min(jobs, len(planned)), warm=warm))
        reports_dir = run_dir / store.REPORTS_DIR
        reports_dir.mkdir(parents=True, exist_ok=True)
        with tqdm(total=len(planned), desc="rendering reports", unit="notebook", disable=not progress,
                  leave=True) as bar:

            def advance(job: NotebookJob) -> None:
                bar.set_postfix_str(job.name, refresh=False)
                bar.update(1)

            # Threads are enough: the work happens in the kernels (separate
            # processes); the threads only wait on them and export the results.
            done, failures = run_jobs(planned, reports_dir, pool, timeout=timeout, on_done=advance)
    files = [path for job in planned for path in done.get(job.name, [])]
    if failures:
        count = f"{len(failures)} of {len(planned)} notebooks failed: " if len(failures) > 1 else ""
        raise ReportError(count + "; ".join(sorted(failures)))
    return ReportResult(reports_dir=reports_dir, index=main_report(reports_dir, files), files=files,
                        notebooks=[job.name for job in planned], seconds=time.perf_counter() - started)


def fleet_job(fleet_dir: Path) -> NotebookJob:
    """The fleet notebook of the fleet folder ``fleet_dir`` (it reads ``fleet_summary.json`` there)."""
    return NotebookJob(name="fleet_overview", kind="fleet", template=paths.NOTEBOOKS_DIR / NOTEBOOK_FILES["fleet"],
                       parameters={"fleet_dir": str(fleet_dir)}, title="Fleet overview")


def main_report(reports_dir: Path, files: Sequence[Path]) -> Path:
    """The report to open first among ``files``: the weekly HTML, else the first HTML, else the folder."""
    weekly = reports_dir / "weekly_summary.html"
    return weekly if weekly in files else next((p for p in files if p.suffix == ".html"), reports_dir)
