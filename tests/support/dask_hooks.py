"""A Dask worker preload for the tests: slow or failing per-service tasks, steered by a file.

``dask worker --preload tests/support/dask_hooks.py`` wraps
:func:`stabmon.store.work.make_target_files` and
:func:`stabmon.report.remote.render_service_files` in the worker process (the
client sends the functions by name, so the worker runs the wrappers). Before
each task the wrapper reads the JSON file named by ``$STABMON_TEST_DASK_HOOKS``
(absent: no effect): ``{"fail": [service, ...], "sleep": seconds,
"started": folder}``. A task of a listed service raises; every task sleeps
``sleep`` seconds; ``started`` gets a file ``<pid>`` when a task begins, so a
test knows which worker process to kill. Nothing of this is in stabmon itself.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from stabmon.report import remote
from stabmon.store import work

HOOKS_ENV = "STABMON_TEST_DASK_HOOKS"
# Dask may run a preload file more than once in one process: always wrap the real function.
_real = getattr(work.make_target_files, "__wrapped__", work.make_target_files)
_real_render = getattr(remote.render_service_files, "__wrapped__", remote.render_service_files)


def _hooks() -> dict:
    path = os.environ.get(HOOKS_ENV)
    if not path or not Path(path).exists():
        return {}
    return json.loads(Path(path).read_text() or "{}")


def _before_task(service: str) -> None:
    hooks = _hooks()
    if hooks.get("started"):
        (Path(hooks["started"]) / str(os.getpid())).touch()
    if service in hooks.get("fail", []):
        # A built-in type: the client cannot import this preloaded module to unpickle one of its own.
        raise RuntimeError(f"poisoned by the test: {service}")
    time.sleep(float(hooks.get("sleep", 0)))


def make_target_files(target: work.TargetWork) -> work.TargetFiles:
    _before_task(target.service)
    return _real(target)


def render_service_files(task: remote.RenderTask) -> remote.RenderedService:
    _before_task(task.service)
    return _real_render(task)


make_target_files.__wrapped__ = _real  # type: ignore[attr-defined]
work.make_target_files = make_target_files
render_service_files.__wrapped__ = _real_render  # type: ignore[attr-defined]
remote.render_service_files = render_service_files


def dask_setup(worker) -> None:  # noqa: D103 - the preload entry point Dask calls
    pass
