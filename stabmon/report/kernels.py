"""A pool of warm kernels for the report notebooks, and the papermill engine that runs a notebook on one.

Starting a kernel and importing pandas and matplotlib in it takes seconds;
a week's report is nine notebooks. :class:`KernelPool` starts ``size``
kernels once, each owned by one worker thread (a kernel client's sockets
belong to the event loop of the thread that made them), warms each up
(:func:`stabmon.report.kernel_state.warm_up`), and runs the submitted work
on them. Before each notebook but a new kernel's first, the worker puts its
kernel back to a clean state (:func:`stabmon.report.kernel_state.restore`:
no user name, the execution counter at 1, matplotlib's and pandas' settings
as after the warm-up), so the last notebook is not followed by a restore
nobody waits for; a kernel that died, that is still busy after a cell timed
out, or that cannot be restored is stopped and replaced by a new one.

Each notebook is still executed by papermill, through the engine
registered here as ``stabmon-warm`` (:class:`WarmEngine`): papermill injects
the parameters cell and records the cells' status and timing as usual; only
the kernel is not started for it.

Closing the pool stops every kernel. On an interrupt (Ctrl-C) the kernels
are killed at once, process group and all, and what their threads await is
cancelled, so a notebook being executed ends at once (reported as
interrupted, no partial notebook kept), the threads close their sockets
(without lingering on a killed kernel) and no kernel outlives ``stabmon``.
An export already under way finishes first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from concurrent.futures import Future
from functools import lru_cache
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)

#: The papermill engine name of :class:`WarmEngine`.
ENGINE_NAME = "stabmon-warm"

#: What a warm kernel runs before its first notebook and after each one.
WARM_UP_CODE = "__import__('stabmon.report.kernel_state', fromlist=['_']).warm_up()"
RESTORE_CODE = "__import__('stabmon.report.kernel_state', fromlist=['_']).restore()"

#: Seconds a kernel may take to start and warm up, and to restore itself.
START_TIMEOUT = 120.0
RESTORE_TIMEOUT = 30.0

T = TypeVar("T")

#: nbclient's logger on warm kernels: what it logs at ERROR ("Kernel died while
#: waiting for execute reply") is what the ReportError of the notebook says.
_CLIENT_LOG = logging.getLogger("stabmon.report.nbclient")
_CLIENT_LOG.setLevel(logging.CRITICAL)


class KernelStateError(RuntimeError):
    """A warm kernel could not be warmed up or restored (it is replaced)."""


@lru_cache(maxsize=None)
def quiet_kernel_manager() -> type:
    """A kernel manager whose kernels do not write to our stderr.

    A kernel's own log lines (start-up notices, "KeyboardInterrupt caught" at
    shutdown) would otherwise interleave with the progress bar; what a cell
    prints still reaches the notebook through the kernel's iopub channel.
    """
    from jupyter_client import AsyncKernelManager  # notebook stack: only when a notebook runs

    class QuietKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw: Any):  # type: ignore[override]
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_pre_start_kernel(**kw)

    return QuietKernelManager


class WarmKernel:
    """One kernel process and its client, used by one thread only.

    Attributes
    ----------
    km, kc
        The kernel manager and its (started) client, for papermill's notebook client.
    notebooks
        How many notebooks it has run.
    spoiled
        Set when it must not run another notebook (a cell timed out while it
        was busy, or it died); the pool replaces it.
    interrupted
        Set when the pool killed it on an interrupt: the notebook it was
        running did not fail, it was stopped.
    """

    def __init__(self, kernel_name: str = "python3") -> None:
        self.kernel_name = kernel_name
        self.km: Any = None
        self.kc: Any = None
        self.notebooks = 0
        self.spoiled = False
        self.interrupted = False
        self.busy = False  # running a notebook
        self.loop: Any = None

    # -- life cycle (each runs the coroutine on the calling thread's event loop)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the kernel, connect to it and warm it up."""
        from jupyter_core.utils import ensure_event_loop, run_sync

        self.loop = ensure_event_loop()  # the one run_sync drives in this thread
        run_sync(self._start)(timeout)

    async def _start(self, timeout: float) -> None:
        self.km = quiet_kernel_manager()(kernel_name=self.kernel_name)
        # As nbclient starts a kernel: history in memory, no sqlite file shared by the kernels.
        await self.km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=timeout)
        self.kc.allow_stdin = False
        await self._run(WARM_UP_CODE, timeout)

    def restore(self, timeout: float = RESTORE_TIMEOUT) -> None:
        """Put the kernel back to its clean state; :class:`KernelStateError` when it cannot."""
        from jupyter_core.utils import run_sync

        run_sync(self._run)(RESTORE_CODE, timeout)

    async def _run(self, code: str, timeout: float) -> None:
        """Execute ``code`` silently and wait for its reply and for the kernel to go idle."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        try:
            while True:
                reply = await self.kc.get_shell_msg(timeout=timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            # Drain iopub up to this request's idle status, so nothing of it
            # reaches the next notebook's cells.
            while True:
                message = await self.kc.get_iopub_msg(timeout=timeout)
                if (message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "status"
                        and message["content"].get("execution_state") == "idle"):
                    break
        except Exception as exc:  # queue.Empty on a timeout, or the channels closed
            raise KernelStateError(f"kernel did not answer within {timeout:g} s ({type(exc).__name__})") from None
        content = reply["content"]
        if content.get("status") != "ok":
            raise KernelStateError(f"{content.get('ename', 'error')}: {content.get('evalue', '')}")

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        if self.km is None:
            return False
        return bool(run_sync(self._alive)())

    async def _alive(self) -> bool:
        return bool(await self.km.is_alive())

    def stop(self) -> None:
        """Stop the kernel (at once: it holds nothing worth a graceful shutdown) and close the client."""
        from jupyter_core.utils import run_sync

        if self.km is None:
            return
        try:
            run_sync(self._stop)()
        except (Exception, asyncio.CancelledError) as exc:  # already dead, sockets closed, interrupted
            log.debug("stopping kernel %s: %s", self.pid, exc)
            self.kill()
        finally:
            self.km = self.kc = None

    async def _stop(self) -> None:
        try:
            if self.kc is not None:
                if self.interrupted:  # nothing to deliver to a killed kernel: do not linger at exit
                    for name in ("_shell_channel", "_iopub_channel", "_stdin_channel", "_control_channel"):
                        socket = getattr(getattr(self.kc, name, None), "socket", None)
                        if socket is not None:
                            socket.linger = 0
                self.kc.stop_channels()
            if await self.km.is_alive():
                await self.km.shutdown_kernel(now=True)
        finally:
            await self.km.cleanup_resources()

    # -- from any thread

    @property
    def pid(self) -> int | None:
        """The kernel's process id (``None`` before it started)."""
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def cancel(self) -> None:
        """Cancel what the owning thread awaits on this kernel (a notebook's cells): safe from any thread.

        The notebook then stops at once instead of when nbclient next checks
        that the kernel is alive (every second), and the owning thread closes
        the client's sockets itself (an open socket would hold up the exit).
        """
        loop = self.loop
        if loop is not None and self.busy and not loop.is_closed():
            loop.call_soon_threadsafe(_cancel_tasks, loop)

    def kill(self) -> None:
        """Kill the kernel's process group now; safe from any thread (used on an interrupt)."""
        pid = self.pid
        if pid is None:
            return
        self.interrupted = True
        try:
            # jupyter_client starts each kernel in a session of its own: its
            # group holds the kernel and anything a cell started.
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        connection_file = getattr(self.km, "connection_file", None)
        if connection_file:
            try:
                os.unlink(connection_file)
            except OSError:
                pass


def _cancel_tasks(loop: Any) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


class KernelPool:
    """``size`` warm kernels, each driven by a worker thread of its own.

    Use it as a context manager; :meth:`submit` ``fn`` to be called as
    ``fn(kernel)`` on the next free kernel. Kernels start (and warm up) as
    soon as the pool is made, in parallel.
    """

    def __init__(self, size: int, kernel_name: str = "python3", *, start_timeout: float = START_TIMEOUT) -> None:
        if size < 1:
            raise ValueError(f"a kernel pool needs at least one kernel, got {size}")
        self.size = size
        self.kernel_name = kernel_name
        self.start_timeout = start_timeout
        self.started = 0  # kernels started so far, replacements included
        self._queue: queue.Queue[tuple[Future[Any], Callable[[WarmKernel], Any]] | None] = queue.Queue()
        self._kernels: dict[int, WarmKernel] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._threads = [threading.Thread(target=self._work, args=(slot,), name=f"stabmon-kernel-{slot}", daemon=True)
                         for slot in range(size)]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> "KernelPool":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(now=exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, SystemExit)))

    def submit(self, fn: Callable[[WarmKernel], T]) -> "Future[T]":
        """Run ``fn(kernel)`` on a free warm kernel; the future holds its result or exception."""
        if self._closing:
            raise RuntimeError("the kernel pool is closed")
        future: Future[T] = Future()
        self._queue.put((future, fn))
        return future

    def pids(self) -> list[int]:
        """Process ids of the kernels running now."""
        with self._lock:
            return [pid for kernel in self._kernels.values() if (pid := kernel.pid) is not None]

    # -- the workers

    def _fresh_kernel(self, slot: int) -> WarmKernel:
        kernel = WarmKernel(self.kernel_name)
        with self._lock:
            self._kernels[slot] = kernel
            self.started += 1
        try:
            kernel.start(self.start_timeout)
        except BaseException:
            kernel.stop()
            raise
        return kernel

    def _work(self, slot: int) -> None:
        kernel: WarmKernel | None = None
        start_error: BaseException | None = None
        try:
            while not self._closing:
                if kernel is None and start_error is None:
                    try:
                        kernel = self._fresh_kernel(slot)
                    except Exception as exc:  # no kernelspec, a broken environment, a start timeout
                        start_error = exc
                item = self._queue.get()
                if item is None or self._closing:
                    if item is not None:
                        item[0].cancel()
                    break
                future, fn = item
                if not future.set_running_or_notify_cancel():
                    continue
                if kernel is not None and kernel.notebooks:
                    # Cleaned before a notebook, not after one: the last notebook's
                    # kernel is stopped as it is, with no restore to wait for.
                    kernel = self._restored(kernel)
                elif kernel is not None and not kernel.alive():
                    log.warning("kernel %s died while idle; starting another", kernel.pid)
                    kernel.stop()
                    kernel = None
                if kernel is None:
                    # Try again for each notebook: a start may fail once (a port taken).
                    try:
                        kernel = self._fresh_kernel(slot)
                        start_error = None
                    except Exception as exc:
                        future.set_exception(start_error or exc)
                        start_error = None
                        continue
                kernel.busy = True
                try:
                    future.set_result(fn(kernel))
                except BaseException as exc:
                    future.set_exception(exc)
                finally:
                    kernel.busy = False
                kernel.notebooks += 1
        finally:
            if kernel is not None:
                kernel.stop()
            with self._lock:
                self._kernels.pop(slot, None)

    def _restored(self, kernel: WarmKernel) -> WarmKernel | None:
        """The kernel that ran a notebook, clean again; ``None`` (and the kernel stopped) when it has to be replaced."""
        if not kernel.spoiled:
            try:
                if kernel.alive():
                    kernel.restore()
                    return kernel
                log.warning("kernel %s died; starting another", kernel.pid)
            except KernelStateError as exc:
                log.warning("kernel %s could not be restored (%s); starting another", kernel.pid, exc)
        kernel.stop()
        return None

    # -- closing

    def close(self, *, now: bool = False, wait: float = 10.0) -> None:
        """Stop every kernel and the workers.

        ``now`` (an interrupt): kill the kernels at once and wait at most a
        second for the workers; otherwise let the workers finish what was
        submitted and stop their kernels.
        """
        if now:
            self._closing = True
            with self._lock:
                kernels = list(self._kernels.values())
            for kernel in kernels:
                kernel.kill()
                kernel.cancel()
            wait = min(wait, 1.5)
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._closing = True
        # Workers stuck past the wait (they are daemon threads): their kernels go anyway.
        with self._lock:
            left = list(self._kernels.values())
        for kernel in left:
            kernel.kill()


# ---------------------------------------------------------------------------
# the papermill engine


def _engine_class() -> type:
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import Engine, papermill_engines
    from papermill.iorw import write_ipynb
    from papermill.utils import merge_kwargs, remove_args

    class WarmEngine(Engine):
        """papermill engine ``stabmon-warm``: execute the notebook on the given :class:`WarmKernel`.

        ``papermill.execute_notebook(..., engine_name="stabmon-warm", warm_kernel=kernel)``;
        ``partial_path=`` where to write the notebook as far as it ran when
        execution stops on an exception (a cell timeout, a dead kernel).
        """

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: float = 60,
                                     execution_timeout: float | None = None, **kwargs: Any) -> Any:
            kernel: WarmKernel | None = kwargs.pop("warm_kernel", None)
            partial_path: str | None = kwargs.pop("partial_path", None)
            if kernel is None or kernel.km is None or kernel.kc is None:
                raise ValueError(f"the {ENGINE_NAME} papermill engine needs warm_kernel=<a started WarmKernel>")
            if kernel_name != kernel.kernel_name:
                raise ValueError(f"the notebook asks for kernel {kernel_name!r}; the warm kernel is "
                                 f"{kernel.kernel_name!r}")
            kwargs = remove_args(["input_path", "timeout", "startup_timeout", "kernel_manager_class"], **kwargs)
            final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                                 kernel_name=kernel_name, log=_CLIENT_LOG, log_output=log_output,
                                 stdout_file=stdout_file, stderr_file=stderr_file)
            client = PapermillNotebookClient(nb_man, km=kernel.km, **final)
            # A client of our own: nbclient neither starts nor stops the kernel
            # (it does not own the manager) and uses this started client.
            client.kc = kernel.kc
            try:
                return client.execute()
            except BaseException:
                # Without a save after every cell (request_save_on_cell_execute=False,
                # most of the parent's time), the notebook as far as it ran is
                # written here, so a timeout or a dead kernel still names its cell.
                if partial_path:
                    write_ipynb(nb_man.nb, partial_path)
                raise

    papermill_engines.register(ENGINE_NAME, WarmEngine)
    return WarmEngine


@lru_cache(maxsize=None)
def warm_engine() -> type:
    """The :class:`WarmEngine` class, registered with papermill as ``stabmon-warm`` (once)."""
    return _engine_class()
