"""A run's per-service work as tasks on a Dask cluster (``--scheduler``), with no shared filesystem.

The client (the ``stabmon`` process) makes the queries, reads what each
service's folder already holds, and submits one task per service: the task
analyses the service and returns the bytes of its files (raw snapshots,
summaries, anomalies, the Markdown report). The client writes every file
through the store, atomically, so a worker never touches the run folder: a
worker killed mid-task has its task run again elsewhere and nothing is
written twice or torn. A task that fails fails its service, named in the
fleet summary; losing the scheduler ends the run with one line
(:class:`ClusterError`), and the rerun resumes from what was written.

Dask is optional (``pip install 'stabmon[dask]'``): it is imported only when
a scheduler is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from stabmon.core.errors import InputError, StabmonError
from stabmon.store.work import (
    Engine,
    TargetResult,
    TargetWork,
    default_jobs,
    make_target_files,
    read_target_contents,
    write_target_files,
)

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

log = logging.getLogger(__name__)

#: The environment variable read when ``--scheduler`` is not given.
SCHEDULER_ENV = "STABMON_DASK_SCHEDULER"
#: ``--scheduler local``: start a LocalCluster of worker processes on this machine.
LOCAL = "local"
#: How long the client waits for the scheduler when it connects.
CONNECT_TIMEOUT_SECONDS = 10.0
#: Tasks in flight per worker thread: enough to keep workers busy, few enough to bound the client's memory.
TASKS_PER_THREAD = 8

_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$")


class ClusterError(StabmonError):
    """The Dask scheduler cannot be reached, or went away during the run."""


def resolve_scheduler(flag: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The scheduler to run on: ``--scheduler``, else ``$STABMON_DASK_SCHEDULER``, else ``None`` (no cluster).

    An address is ``[PROTOCOL://]HOST:PORT`` (``tcp://`` when no protocol is
    given); ``local`` starts a LocalCluster.

    Raises
    ------
    InputError
        A value that is not ``local`` nor a scheduler address (the flag or the
        variable is named).
    """
    env = os.environ if env is None else env
    source, value = ("--scheduler", flag) if flag is not None else (SCHEDULER_ENV, env.get(SCHEDULER_ENV))
    if value is None or (source == SCHEDULER_ENV and not value.strip()):
        return None
    value = value.strip()
    if value == LOCAL:
        return LOCAL
    match = _ADDRESS.match(value)
    if not match or not 0 < int(match.group(3)) < 65536:
        raise InputError(f"{source} {value!r} is not a Dask scheduler address: give tcp://HOST:PORT, HOST:PORT "
                         f"or {LOCAL!r}")
    return value if match.group(1) else f"tcp://{value}"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("--scheduler needs Dask distributed, which is not installed: "
                         "pip install 'stabmon[dask]'") from None
    return distributed


@contextlib.contextmanager
def dask_client(address: str, *, workers: int | None = None,
                connect_timeout: float | None = None) -> Iterator["Client"]:
    """A distributed Client of the scheduler at ``address`` (``local``: of a new LocalCluster), closed on exit.

    ``connect_timeout`` defaults to :data:`CONNECT_TIMEOUT_SECONDS`.

    Raises
    ------
    InputError
        Dask distributed is not installed.
    ClusterError
        The scheduler cannot be reached within ``connect_timeout`` seconds.
    """
    distributed = _import_distributed()
    _quiet_dask_logs()
    cluster = None
    try:
        if address == LOCAL:
            cluster = distributed.LocalCluster(n_workers=workers or default_jobs(), threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(address, timeout=connect_timeout or CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=2)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=5)


def _quiet_dask_logs() -> None:
    """Silence the cluster's own chatter (reconnecting, workers lost): the run reports what it means."""
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in ("distributed", "tornado")]
    for name in ["distributed", *names]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


class DaskEngine:
    """Runs a step's works as tasks on a cluster; the results come back as files the client writes.

    Parameters
    ----------
    client
        A connected distributed Client.
    address
        The scheduler's address, for messages.
    """

    def __init__(self, client: "Client", address: str) -> None:
        self.client = client
        self.address = address
        self.tasks = 0

    def _in_flight(self) -> int:
        threads = sum(self.client.nthreads().values()) if self.client.status == "running" else 1
        return max(4, TASKS_PER_THREAD * max(1, threads))

    def __call__(self, works: Sequence[TargetWork]) -> list[TargetResult]:
        """Run the works on the cluster; results in order. A task's error fails its work only.

        Raises
        ------
        ClusterError
            The scheduler went away (the files already written stay whole).
        """
        results: list[TargetResult | None] = [None] * len(works)

        def submit(i: int) -> Any:
            work = works[i]
            # The folder is read here, where it is; the worker gets what it holds.
            return self.client.submit(make_target_files, read_target_contents(work), pure=False,
                                      key=f"stabmon-service-{self.tasks}-{work.service}")

        def collect(i: int, made: Any, error: BaseException | None) -> None:
            if error is not None:
                log.error("service %r failed on the cluster: %s: %s", works[i].service, type(error).__name__, error)
                results[i] = TargetResult(failure=f"{type(error).__name__}: {error}")
            else:
                results[i] = write_target_files(works[i], made)

        self.run(len(works), submit, collect)
        return [r if r is not None else TargetResult(failure="not run") for r in results]

    def run(self, count: int, submit: Callable[[int], Any], collect: Callable[[int, Any, BaseException | None], None]
            ) -> None:
        """Run tasks ``0 .. count-1`` with a bounded number in flight; hand each one's outcome to ``collect``.

        ``submit(i)`` submits task ``i`` (``self.client.submit(...)``) and
        returns its future; ``collect(i, result, None)`` gets a finished
        task's result, ``collect(i, None, error)`` a failed task's exception
        (that task's failure only), in the order they complete.

        Raises
        ------
        ClusterError
            The scheduler went away (what ``collect`` wrote stays whole).
        """
        distributed = _import_distributed()
        pending = iter(range(count))
        index_of: dict[Any, int] = {}
        running = distributed.as_completed()

        def submit_next() -> bool:
            i = next(pending, None)
            if i is None:
                return False
            if self.client.status != "running":
                raise self._lost(None)
            future = submit(i)
            self.tasks += 1
            index_of[future.key] = i
            running.add(future)
            return True

        try:
            for _ in range(self._in_flight()):
                if not submit_next():
                    break
            for future in running:
                i = index_of.pop(future.key)
                if future.status == "finished":
                    try:
                        result = future.result()
                    except Exception as exc:  # noqa: BLE001 - the scheduler dropped the result under us
                        raise self._lost(exc) from None
                    collect(i, result, None)
                elif future.status == "error":
                    collect(i, None, future.exception())
                else:
                    raise self._lost(None)
                future.release()
                submit_next()
        except ClusterError:
            raise
        except (OSError, TimeoutError, distributed.comm.CommClosedError) as exc:
            raise self._lost(exc) from None

    def _lost(self, exc: BaseException | None) -> ClusterError:
        why = f": {exc}" if exc is not None and str(exc) else ""
        return ClusterError(f"lost the Dask scheduler at {self.address} during the run{why}; "
                            "the files written so far are whole: run the same command again to resume")


@contextlib.contextmanager
def cluster_engine(address: str, *, workers: int | None = None) -> Iterator[Engine]:
    """A :class:`DaskEngine` on the scheduler at ``address`` (see :func:`dask_client`)."""
    with dask_client(address, workers=workers) as client:
        yield DaskEngine(client, address)
