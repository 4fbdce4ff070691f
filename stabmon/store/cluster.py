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
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

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
                connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> Iterator["Client"]:
    """A distributed Client of the scheduler at ``address`` (``local``: of a new LocalCluster), closed on exit.

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
            client = distributed.Client(address, timeout=connect_timeout)
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
        distributed = _import_distributed()
        results: list[TargetResult | None] = [None] * len(works)
        pending = iter(enumerate(works))
        index_of: dict[Any, int] = {}
        running = distributed.as_completed()
        try:
            limit = self._in_flight()
            for _ in range(limit):
                if not self._submit(pending, index_of, running):
                    break
            for future in running:
                i = index_of.pop(future.key)
                results[i] = self._collect(future, works[i])
                future.release()
                self._submit(pending, index_of, running)
        except ClusterError:
            raise
        except (OSError, TimeoutError, distributed.comm.CommClosedError) as exc:
            raise self._lost(exc) from None
        return [r if r is not None else TargetResult(failure="not run") for r in results]

    def _submit(self, pending: Iterator[tuple[int, TargetWork]], index_of: dict[Any, int], running: Any) -> bool:
        item = next(pending, None)
        if item is None:
            return False
        i, work = item
        if self.client.status != "running":
            raise self._lost(None)
        # The folder is read here, where it is; the worker gets what it holds.
        future = self.client.submit(make_target_files, read_target_contents(work), pure=False,
                                    key=f"stabmon-service-{self.tasks}-{work.service}")
        self.tasks += 1
        index_of[future.key] = i
        running.add(future)
        return True

    def _collect(self, future: Any, work: TargetWork) -> TargetResult:
        if future.status == "finished":
            try:
                made = future.result()
            except Exception as exc:  # noqa: BLE001 - the scheduler dropped the result under us
                raise self._lost(exc) from None
            return write_target_files(work, made)
        if future.status == "error":
            exc = future.exception()
            log.error("service %r failed on the cluster: %s: %s", work.service, type(exc).__name__, exc)
            return TargetResult(failure=f"{type(exc).__name__}: {exc}")
        raise self._lost(None)

    def _lost(self, exc: BaseException | None) -> ClusterError:
        why = f": {exc}" if exc is not None and str(exc) else ""
        return ClusterError(f"lost the Dask scheduler at {self.address} during the run{why}; "
                            "the files written so far are whole: run the same command again to resume")


@contextlib.contextmanager
def cluster_engine(address: str, *, workers: int | None = None) -> Iterator[Engine]:
    """A :class:`DaskEngine` on the scheduler at ``address`` (see :func:`dask_client`)."""
    with dask_client(address, workers=workers) as client:
        yield DaskEngine(client, address)
