"""Inside a warm report kernel: import the notebook stack once, and put the kernel back to a clean state.

A kernel of :class:`stabmon.report.kernels.KernelPool` runs many notebooks
one after the other. Before the first, :func:`warm_up` imports what every
report notebook imports (pandas, matplotlib, the ``stabmon.report`` modules)
and draws one small chart, so fonts and matplotlib's caches are loaded once,
then records the state a fresh kernel starts from. After each notebook,
:func:`restore` puts that state back, so a notebook sees what it would see in
a kernel of its own:

* no user name (everything a notebook defined, ``In``/``Out``/``_`` included)
  and the execution counter back at 1 (IPython's ``reset``);
* no pyplot figure left open;
* matplotlib's ``rcParams``, pandas' options, the warning filters, the working
  folder, ``sys.path``, the environment and IPython's display formatters as
  they were after the warm-up.

Imported modules stay imported: that is the point of a warm kernel. And
``rundata.load_run`` keeps the last runs it read (:func:`cache_run_loading`):
the nine notebooks of a week read the same folder, so a kernel reads it once.
The cache is keyed by the folder, the thresholds and the size and
modification time of every file in the folder (``reports/`` aside), so a
changed file is read again, and each notebook gets a copy of its own.

Both functions run in the kernel (the pool sends
``__import__('stabmon.report.kernel_state', fromlist=['_']).restore()``),
never in the ``stabmon`` process.
"""

from __future__ import annotations

import copy
import gc
import os
import sys
import warnings
from collections import OrderedDict
from typing import Any

#: What :func:`warm_up` recorded; :func:`restore` puts it back.
_BASELINE: dict[str, Any] = {}


def warm_up() -> None:
    """Import the report notebooks' modules, draw one chart, and record the clean state."""
    import matplotlib
    import pandas  # noqa: F401  (imported for its import time)

    from stabmon.report import charts, release_views, rundata, views  # noqa: F401

    cache_run_loading()
    # One chart through the PNG formatter: loads the font cache, FreeType and
    # the Agg canvas, which the first chart of a cold kernel pays for.
    figure = charts.not_available(None, "warm-up", title="warm-up")
    charts.figure_png(figure)
    del figure
    _BASELINE.clear()
    _BASELINE.update(
        rc=dict(matplotlib.rcParams),
        pandas=_pandas_options(),
        warnings=list(warnings.filters),
        cwd=os.getcwd(),
        path=list(sys.path),
        environ=dict(os.environ),
        formatters=_formatter_printers(),
    )
    gc.collect()
    # What the warm-up made lives as long as the kernel: out of every later
    # collection. A full collection then walks only what notebooks made
    # (0.02 s, not 0.15 s), and restore() runs two (IPython's reset is one).
    gc.freeze()


def restore() -> None:
    """Put the kernel back to the state :func:`warm_up` recorded (see the module's docstring)."""
    if not _BASELINE:
        raise RuntimeError("kernel_state.restore() before warm_up()")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    shell = _shell()
    if shell is not None:
        shell.reset(new_session=True)
    _restore_rc(_BASELINE["rc"])
    _restore_pandas(_BASELINE["pandas"])
    warnings.filters[:] = _BASELINE["warnings"]
    warnings._filters_mutated()  # type: ignore[attr-defined]  # drop the per-module "already warned" caches
    os.chdir(_BASELINE["cwd"])
    sys.path[:] = _BASELINE["path"]
    if dict(os.environ) != _BASELINE["environ"]:
        os.environ.clear()
        os.environ.update(_BASELINE["environ"])
    _restore_formatters(_BASELINE["formatters"])
    gc.collect()


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - a kernel has IPython
        return None
    return get_ipython()


def _restore_rc(saved: dict[str, Any]) -> None:
    import matplotlib

    changed = {key: value for key, value in saved.items() if _differs(matplotlib.rcParams.get(key), value)}
    if changed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.rcParams.update(changed)


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except (TypeError, ValueError):  # arrays compare element-wise
        return True


def _pandas_options() -> dict[str, Any]:
    import pandas

    options = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated options warn when read
        for key in list(pandas._config.config._registered_options):  # type: ignore[attr-defined]
            try:
                options[key] = pandas.get_option(key)
            except Exception:  # an option that cannot be read cannot be changed either
                continue
    return options


def _restore_pandas(saved: dict[str, Any]) -> None:
    import pandas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in saved.items():
            if _differs(pandas.get_option(key), value):
                pandas.set_option(key, value)


def _formatter_printers() -> dict[str, tuple[dict[Any, Any], dict[Any, Any]]]:
    shell = _shell()
    if shell is None:
        return {}
    return {mime: (dict(f.type_printers), dict(f.deferred_printers))
            for mime, f in shell.display_formatter.formatters.items()}


def _restore_formatters(saved: dict[str, tuple[dict[Any, Any], dict[Any, Any]]]) -> None:
    shell = _shell()
    if shell is None:
        return
    for mime, formatter in shell.display_formatter.formatters.items():
        types, deferred = saved.get(mime, ({}, {}))
        formatter.type_printers.clear()
        formatter.type_printers.update(types)
        formatter.deferred_printers.clear()
        formatter.deferred_printers.update(deferred)


#: How many loaded runs a warm kernel keeps (a week and the earlier weeks it is compared with).
RUN_CACHE_SIZE = 4


def cache_run_loading() -> None:
    """Make ``rundata.load_run`` keep its last :data:`RUN_CACHE_SIZE` runs, keyed by the files' mtimes and sizes."""
    from stabmon.report import rundata

    original = rundata.load_run
    if getattr(original, "warm_cache", None) is not None:
        return
    cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def load_run(run_dir: Any = "", **thresholds: Any) -> Any:
        if not run_dir:  # the embedded demo week: may be written on first use
            return original(run_dir, **thresholds)
        folder = rundata.resolve_run_dir(run_dir)
        key = (str(folder), tuple(sorted(thresholds.items())), _file_stamps(folder))
        if key not in cache:
            cache[key] = original(run_dir, **thresholds)
            while len(cache) > RUN_CACHE_SIZE:
                cache.popitem(last=False)
        cache.move_to_end(key)
        # A copy: what one notebook does to its run never reaches the next.
        return copy.deepcopy(cache[key])

    load_run.__doc__ = original.__doc__
    load_run.warm_cache = cache  # type: ignore[attr-defined]
    rundata.load_run = load_run


def _file_stamps(folder: Any) -> tuple[tuple[str, int, int], ...]:
    """``(path, size, mtime_ns)`` of every file under ``folder`` but its ``reports/``, sorted."""
    from stabmon import store

    stamps = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not (root == str(folder) and d == store.REPORTS_DIR))
        for name in files:
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:  # removed while we walk: the key differs either way
                continue
            stamps.append((path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(stamps))
