"""Render a fleet folder: the fleet notebook into ``DIR/reports/`` and the flagged services' notebooks.

The services render here on the fleet's kernels, or each as a task on a
Dask cluster (:mod:`stabmon.report.remote`), the fleet notebook as one more
task. A failing service is named and the others still render.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

from stabmon import store
from stabmon.core.errors import ReportError
from stabmon.report.render import (
    fleet_job,
    kernel_pool,
    render_job,
    render_reports,
    start_failure,
)
from stabmon.store.cluster import dask_client
from stabmon.store.fleet import merge_fleet


def flagged_services(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Services that need a look: a rollback or inconclusive verdict, or no data."""
    return [e for e in summary["services"]
            if e["rollback_recommended"] or e.get("verdict") == "inconclusive" or e.get("no_data")]


def render_fleet_reports(folder: str | Path, *, all_services: bool = False, jobs: int = 2,
                         timeout: float = 600.0, progress: bool = False, notebooks: Sequence[str] | None = None,
                         scheduler: str | None = None) -> dict[str, Any]:
    """Render the fleet notebook into ``DIR/reports/`` and the notebooks of the flagged services.

    Parameters
    ----------
    folder
        A fleet folder (or a folder of shard folders: merged first when it
        has no ``fleet_summary.json``).
    all_services
        Render every service's notebooks, not only those with a rollback
        verdict or no data.
    notebooks
        The kinds of each service's notebooks to render (all by default).
    scheduler
        A Dask scheduler's address (or ``local``): each service's notebooks,
        and the fleet notebook, are rendered as tasks on that cluster
        (:mod:`stabmon.report.remote`).

    Returns
    -------
    dict
        ``fleet`` (files of the fleet notebook) and ``services`` (service ->
        :class:`ReportResult`).

    Raises
    ------
    ReportError
        When a notebook fails (named with its service and cell), once every
        other service is rendered.
    ClusterError
        The scheduler cannot be reached or went away.
    """
    folder = Path(folder).expanduser().resolve()
    summary_path = folder / store.FLEET_SUMMARY_JSON
    summary = store.read_json(summary_path) if summary_path.exists() else merge_fleet(folder)
    reports_dir = folder / store.REPORTS_DIR
    reports_dir.mkdir(parents=True, exist_ok=True)
    job = fleet_job(folder)
    chosen = [entry for entry in (summary["services"] if all_services else flagged_services(summary))
              if store.iter_snapshot_files(folder / entry["folder"])]
    rendered: dict[str, Any] = {"services": {}}
    failures: list[str] = []
    with ExitStack() as stack:
        # The scheduler first: when it cannot be reached, no kernel has started.
        client = stack.enter_context(dask_client(scheduler)) if scheduler is not None and chosen else None
        if client is not None:  # the fleet notebook is one more task: this process starts no kernel
            from stabmon.report.remote import render_on_cluster

            summary_bytes = summary_path.read_bytes() if summary_path.exists() else store.dumps(summary).encode()
            rendered["services"], failures, rendered["fleet"] = render_on_cluster(
                client, scheduler, [(entry["service"], folder / entry["folder"]) for entry in chosen], jobs=jobs,
                timeout=timeout, notebooks=notebooks, progress=progress, fleet=(folder, summary_bytes))
        else:
            # One pool for the fleet notebook and every service's: kernels start once.
            pool = stack.enter_context(kernel_pool(jobs if chosen else 1))
            try:
                rendered["fleet"] = pool.submit(lambda kernel: render_job(job, reports_dir, timeout=timeout,
                                                                          kernel=kernel)).result()
            except ReportError:
                raise
            except Exception as exc:  # the kernel did not start
                raise ReportError(start_failure(job, exc)) from None
            for entry in chosen:
                try:
                    rendered["services"][entry["service"]] = render_reports(
                        folder / entry["folder"], jobs=jobs, timeout=timeout, notebooks=notebooks,
                        progress=progress, pool=pool)
                except ReportError as exc:  # the other services still render
                    failures.append(f"service {entry['service']}: {exc}")
    if failures:
        raise ReportError("; ".join(sorted(failures)))
    return rendered
