"""Run the generator's fixed tasks on a Dask cluster (dask.distributed).

Each :class:`~retailsim.generate.shards.Task` depends only on the config and its index and writes only its
own files, so running it as a Dask task — on a ``LocalCluster`` or on a real cluster — writes the same bytes as
the local process pool, and a task that is run again (after a worker died, or as a retry after an error)
simply rewrites the same files with the same bytes. The manifest is still written last by the client, so an
interrupted run never leaves a complete-looking folder.

Workers must see the output folder at the same path as the client (a shared filesystem such as NFS, Lustre,
EFS, or a bucket mounted with a FUSE driver); a worker that cannot see it fails the task with a clear error
instead of writing somewhere else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from retailsim.errors import RetailsimError
from retailsim.generate.shards import Task, TaskResult, run_task

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

T = TypeVar("T")
R = TypeVar("R")
TaskFn = Callable[[Task], TaskResult]

DEFAULT_RETRIES = 3
CONNECT_TIMEOUT_S = 20.0


class DaskExecutorError(RetailsimError):
    """Dask is missing, the scheduler cannot be reached, or a task failed on every retry."""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - the scale extra is part of every install target
        raise DaskExecutorError(
            "--executor dask needs dask.distributed: pip install 'retailsim[scale]'"
        ) from None
    return distributed


def machine_workers() -> int:
    """Worker processes for a LocalCluster sized to this machine: one per usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def limit_arrow_threads() -> None:
    """One task per worker thread: stop pyarrow starting its own thread pools in every worker, which would
    make N workers no faster than one (measured, issue 3)."""
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _worker_plugin() -> Any:
    """A WorkerPlugin (built lazily: distributed is optional) applying :func:`limit_arrow_threads` in every
    worker, including workers a nanny restarts after a crash."""
    distributed = _import_distributed()

    class ArrowThreads(distributed.WorkerPlugin):  # type: ignore[misc, name-defined]
        name = "retailsim-arrow-threads"

        def setup(self, worker: Any) -> None:
            limit_arrow_threads()

    return ArrowThreads()


def _retailsim_version() -> str:
    import retailsim

    return str(retailsim.__version__)


def _check_worker_versions(client: Client) -> None:
    """Workers must run the client's retailsim version: another version may write other bytes."""
    from retailsim import __version__

    try:
        versions = client.run(_retailsim_version, on_error="return")
    except Exception as err:  # pragma: no cover - scheduler went away between connect and now
        raise DaskExecutorError(f"cannot query the Dask workers: {err}") from None
    bad = {w: v for w, v in versions.items() if v != __version__}
    if bad:
        shown = ", ".join(f"{w}: {v!r}" for w, v in list(bad.items())[:3])
        raise DaskExecutorError(
            f"Dask workers must run retailsim {__version__} like this client (install the same version on "
            f"the workers); found {shown}"
        )


def _local_cluster(distributed: Any, workers: int, memory_limit: str | float | None) -> LocalCluster:
    """A LocalCluster of single-threaded worker processes, without distributed's ``MALLOC_TRIM_THRESHOLD_``.

    distributed sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers to hand memory back to the OS sooner; that
    also switches off glibc's adaptive mmap threshold, so every large numpy temporary is mmapped and faulted in
    afresh. Measured on a 10^7-line run: 30-50 % more CPU per line than without it, for ~0.1 GiB less peak RSS
    per worker. Shard tasks are short and free everything when they end, so the setting is left out here.
    """
    import dask

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",  # a free port: never clash with another cluster on 8787
            # task errors reach the client as exceptions; a Ctrl-C that stops workers mid-task would
            # otherwise print their connection errors
            silence_logs=logging.CRITICAL,
        )


class TaskRunner:
    """The function a Dask task runs: checks the worker sees the output folder, then runs the task.

    Parameters
    ----------
    fn
        The task function (:func:`~retailsim.generate.shards.run_task`; tests wrap it to inject failures).
    """

    def __init__(self, fn: TaskFn = run_task) -> None:
        self.fn = fn

    def __call__(self, task: Task) -> TaskResult:
        if not Path(task.out_dir).is_dir():
            raise DaskExecutorError(
                f"worker on {socket.gethostname()} cannot see the output folder {task.out_dir}: Dask workers "
                "must share the client's filesystem (NFS, Lustre, EFS, a mounted bucket) at the same path"
            )
        return self.fn(task)


class DaskExecutor:
    """Run generator tasks as Dask tasks; usable as ``executor=`` of :func:`retailsim.generate.runner.generate`.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``). When None a ``LocalCluster`` is started on first
        use — ``workers`` processes with one thread each — and closed by :meth:`close`.
    workers
        LocalCluster size (default: one worker per usable core). Ignored with ``scheduler``.
    retries
        How often a task that raised is run again (``Client.map(retries=)``). A worker that dies is handled by
        the scheduler: its tasks are rescheduled on other workers (``distributed.scheduler.allowed-failures``,
        3 by default) while the nanny restarts it.
    memory_limit
        LocalCluster memory limit per worker (``"auto"``: the machine's memory split between the workers).
    connect_timeout
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT_S`).
    fn
        The task function (tests wrap :func:`~retailsim.generate.shards.run_task`).

    Examples
    --------
    >>> with DaskExecutor(workers=2) as ex:  # doctest: +SKIP
    ...     generate(config, "data/big", executor=ex)
    """

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        workers: int | None = None,
        retries: int = DEFAULT_RETRIES,
        memory_limit: str | float | None = "auto",
        connect_timeout: float | None = None,
        fn: TaskFn = run_task,
    ) -> None:
        _import_distributed()
        if workers is not None and workers < 1:
            raise ValueError("workers must be >= 1")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.scheduler = scheduler
        self.workers = workers or machine_workers()
        self.retries = retries
        self.memory_limit = memory_limit
        self.connect_timeout = CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout
        self.runner = TaskRunner(fn)
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None

    def __repr__(self) -> str:
        where = self.scheduler or f"LocalCluster({self.workers} workers)"
        return f"DaskExecutor({where}, retries={self.retries})"

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The connected client (starting the LocalCluster when there is no scheduler address)."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Client:
        distributed = _import_distributed()
        try:
            if self.scheduler:
                client = distributed.Client(self.scheduler, timeout=self.connect_timeout)
            else:
                self._cluster = _local_cluster(distributed, self.workers, self.memory_limit)
                client = distributed.Client(self._cluster, timeout=self.connect_timeout)
        except (OSError, TimeoutError) as err:
            self.close()
            where = self.scheduler or "a LocalCluster"
            raise DaskExecutorError(f"cannot connect to the Dask scheduler at {where}: {err}") from None
        try:
            client.register_plugin(_worker_plugin(), name="retailsim-arrow-threads")
            _check_worker_versions(client)
        except BaseException:
            client.close()
            self.close()
            raise
        return client

    def close(self) -> None:
        """Disconnect; stop the LocalCluster this executor started (a remote cluster keeps running)."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def using(self, fn: TaskFn) -> DaskExecutor:
        """An executor on the same cluster and client that runs ``fn`` for each task instead (a wrapper for
        instrumentation or fault injection); closing it is left to this one."""
        view = DaskExecutor.__new__(DaskExecutor)
        view.__dict__.update(self.__dict__)
        view.runner = TaskRunner(fn)
        view._client = self.client
        view._cluster = None  # never shut down the owner's cluster
        return view

    # -- work ----------------------------------------------------------------------------------------------
    def map_unordered(self, tasks: list[Task]) -> Iterator[TaskResult]:
        """Submit every task, yield results as they complete (the generator's :class:`Executor` protocol)."""
        keys = [f"retailsim-task-{t.task:+06d}-{uuid.uuid4().hex[:8]}" for t in tasks]
        yield from self.map(self.runner, tasks, keys=keys)

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, keys: list[str] | None = None) -> Iterator[R]:
        """Run ``fn`` on every item as retried Dask tasks; yield results in completion order.

        Any partition-parallel step can use this (``fn`` must be importable on the workers and idempotent).
        When the consumer stops early or is interrupted, pending tasks are cancelled and a LocalCluster this
        executor started is shut down, so that no running task keeps writing after the caller has cleaned up
        (a remote cluster cannot interrupt running tasks: they finish and their files land in a folder the
        caller has already removed, which may reappear without a manifest).
        """
        distributed = _import_distributed()
        client = self.client
        items = list(items)
        futures = client.map(fn, items, retries=self.retries, pure=False, key=keys)
        finished = False
        try:
            for fut in distributed.as_completed(futures):
                try:
                    yield fut.result()
                except distributed.KilledWorker as err:
                    raise DaskExecutorError(
                        f"a task killed its worker {err.args[1] if len(err.args) > 1 else ''} on every "
                        f"attempt ({err.args[0] if err.args else ''}); see the worker logs"
                    ) from None
            finished = True
        finally:
            if not finished:
                client.cancel(futures, force=True)
                if self._cluster is not None:  # stop running tasks too: they may still be writing files
                    self.close()


@contextlib.contextmanager
def open_executor(
    kind: str, *, scheduler: str | None = None, workers: int = 1
) -> Iterator[DaskExecutor | None]:
    """The executor named on the command line (``--executor local|dask [--scheduler …]``).

    Yields None for ``local`` (the generator then uses its process pool of ``workers``) and a connected
    :class:`DaskExecutor` for ``dask``, closed on exit. For a LocalCluster, ``workers`` > 1 sets its size;
    the default of 1 means one worker per usable core.
    """
    if kind not in ("local", "dask"):
        raise DaskExecutorError(f"--executor must be local or dask (got {kind!r})")
    if kind == "local":
        if scheduler:
            raise DaskExecutorError("--scheduler needs --executor dask")
        yield None
        return
    with DaskExecutor(scheduler, workers=workers if workers > 1 else None) as ex:
        ex.client  # connect now: a bad address fails before any output folder is made  # noqa: B018
        yield ex
