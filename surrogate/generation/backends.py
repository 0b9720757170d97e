"""Where shards run: in this process, in a pool of local processes, or on a Dask cluster.

The toolkit does not schedule work itself; it hands independent tasks to an engine
physicists already run.  Every backend has one call, :meth:`Backend.map`, which runs a
module-level function over a list of small, picklable tasks and yields ``(index,
result)`` as each task completes.  Results must not depend on which backend ran them:
each task carries its own seed (see :mod:`surrogate.generation.shards`), so the order in
which tasks finish is irrelevant.

- ``serial``: the tasks in order, in this process (no pickling; what tests and laptops
  use, and the reference the others must equal).
- ``processes``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers``
  processes started with ``spawn``, so a parent that touched CUDA or holds open HDF5
  files forks no broken state into its workers.
- ``dask``: a ``dask.distributed`` client: a ``LocalCluster`` of ``workers`` one-thread
  processes, a running scheduler (``scheduler="tcp://host:8786"``), or a cluster
  described by a file (``cluster="slurm.yaml"``, a ``dask-jobqueue`` cluster, the way
  coffea runs on batch farms).  Dask is an optional extra: ``pip install 'surrogate[dask]'``.

A cluster file is YAML or JSON: ``type`` (``local``, ``slurm``, ``pbs``, ``sge``,
``lsf``, ``htcondor``, ``moab``, ``oar``), ``jobs`` (how many batch jobs to scale to),
and the cluster class's own keyword arguments (``cores``, ``memory``, ``walltime``,
``queue``, ``account``, ``job_extra_directives``...).  The type is looked up in a fixed
table: no string from a file is ever imported or evaluated.
"""

from __future__ import annotations

import contextlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import SurrogateError, suggest

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("serial", "processes", "dask")
DEFAULT_SHARD_SIZE = 100_000
INSTALL_DASK = "pip install 'surrogate[dask]'"

#: cluster-file ``type`` -> the dask-jobqueue class it names (``local``: a LocalCluster)
JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "moab": "MoabCluster",
    "oar": "OARCluster",
}


class BackendError(SurrogateError):
    """A backend cannot be used: not installed, a scheduler out of reach, a bad cluster file."""


class WorkerError(SurrogateError):
    """A worker died or failed while running a task; the tasks already done are kept."""


@dataclass(frozen=True)
class Execution:
    """How a long job is cut up and where the pieces run (the settings every fan-out
    command takes: ``--backend``, ``--workers``, ``--scheduler``, ``--cluster``,
    ``--shard-size``).

    ``shard_size`` is the number of events per shard: the unit of parallel work, of the
    files written and of resuming.  It never changes the events, only how they are cut.
    """

    backend: str = "serial"
    workers: int = 1
    scheduler: str | None = None
    cluster: str | os.PathLike[str] | None = None
    shard_size: int = DEFAULT_SHARD_SIZE

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise BackendError(
                f"unknown backend {self.backend!r}{suggest(self.backend, BACKENDS)} "
                f"(choose from {', '.join(BACKENDS)})"
            )
        for name in ("workers", "shard_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BackendError(f"{name} must be a positive integer, not {value!r}")
        if self.backend != "dask" and (self.scheduler or self.cluster):
            raise BackendError("--scheduler and --cluster need --backend dask")
        if self.scheduler and self.cluster:
            raise BackendError("give a scheduler address or a cluster file, not both")

    @classmethod
    def resolve(cls, backend: str | None = None, workers: int = 1, **options: Any) -> Execution:
        """The settings for ``backend`` (``None``: ``processes`` when ``workers > 1``, else
        ``serial``, which is what ``--workers N`` alone has always meant)."""
        chosen = backend or ("processes" if int(workers) > 1 else "serial")
        given = {k: v for k, v in options.items() if v is not None}
        return cls(backend=chosen, workers=int(workers), **given)

    @property
    def parallel(self) -> bool:
        return self.backend != "serial"


class Backend(ABC):
    """Runs tasks; see the module docstring."""

    name = ""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution

    @property
    def workers(self) -> int:
        return self.execution.workers

    @abstractmethod
    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        """``(index, fn(tasks[index]))`` for every task, as each completes.

        ``fn`` must be importable by name (a module-level function) and the tasks plain,
        picklable data.  A task that raises a :class:`SurrogateError` re-raises it here; a
        worker that dies raises :class:`WorkerError`.  Closing the iterator early cancels
        the tasks not yet started.
        """

    def close(self) -> None:  # noqa: B027 - the serial backend holds nothing to release
        """Release the workers."""

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class SerialBackend(Backend):
    name = "serial"

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)

    def describe(self) -> str:
        return "serial (this process)"


class ProcessBackend(Backend):
    """A local pool of ``spawn``-started processes."""

    name = "processes"

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=execution.workers, mp_context=multiprocessing.get_context("spawn")
        )

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        futures = {self._pool.submit(fn, task): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except BrokenProcessPool:
                    raise WorkerError(
                        f"a worker process died while running task {futures[future]} "
                        "(killed, or out of memory?)"
                    ) from None
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend(Backend):
    """A ``dask.distributed`` client on a local, remote or batch-system cluster."""

    name = "dask"

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        distributed = _import_distributed()
        self._cluster: Any = None
        self._config: Any = None
        if execution.scheduler:
            self.where = execution.scheduler
            self._client = _connect(distributed, execution.scheduler)
        else:
            self._config = _plain_malloc()
            try:
                self._cluster = _make_cluster(distributed, execution)
            except BaseException:
                self._config.__exit__(None, None, None)
                raise
            self.where = "a local cluster" if execution.cluster is None else str(execution.cluster)
            self._client = distributed.Client(self._cluster)

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        futures = self._client.map(fn, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in as_completed(futures):
                try:
                    yield index[future.key], future.result()
                except KilledWorker:
                    raise WorkerError(
                        f"Dask workers died running task {index[future.key]} again and again "
                        "(killed, or out of memory?)"
                    ) from None
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        if self._config is not None:
            self._config.__exit__(None, None, None)

    def describe(self) -> str:
        return f"dask on {self.where}"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BackendError(f"the dask backend needs Dask: {INSTALL_DASK}") from None
    return distributed


def _connect(distributed: Any, address: str) -> Any:
    try:
        return distributed.Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise BackendError(
            f"cannot reach the Dask scheduler at {address} ({exc}); is it running, and is "
            "the address (tcp://HOST:PORT) right?"
        ) from None


def _make_cluster(distributed: Any, execution: Execution) -> Any:
    """A LocalCluster of one-thread workers, or the cluster the file describes."""
    if execution.cluster is None:
        return distributed.LocalCluster(
            n_workers=execution.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    kind, jobs, options = read_cluster_file(execution.cluster)
    if kind == "local":
        return distributed.LocalCluster(dashboard_address=None, **options)
    try:
        import dask_jobqueue
    except ImportError:
        raise BackendError(f"a {kind} cluster needs dask-jobqueue: {INSTALL_DASK}") from None
    try:
        cluster = getattr(dask_jobqueue, JOBQUEUE_CLUSTERS[kind])(**options)
    except (TypeError, ValueError) as exc:
        raise BackendError(f"{execution.cluster}: bad {kind} cluster options ({exc})") from None
    cluster.scale(jobs=jobs)
    return cluster


def _plain_malloc() -> Any:
    """Start Dask's local workers with the allocator plain processes have, for as long as
    the returned config setting is not closed (a restarted worker reads it again).

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which returns freed
    memory to the system eagerly; simulators that make and drop large numpy temporaries
    then fault their pages in again on every call (``calo.gflash`` was measured about
    twice as slow).  Its other pre-spawn settings (one BLAS/OpenMP thread) are kept.  A
    batch cluster's workers read their own node's Dask configuration: set it there (see
    the README).
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return dask.config.set({"distributed.nanny.pre-spawn-environ": environ})


def read_cluster_file(path: str | os.PathLike[str]) -> tuple[str, int, dict[str, Any]]:
    """``(type, jobs, options)`` of a cluster file (see the module docstring)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise BackendError(f"{path}: cannot read the cluster file ({exc.strerror})") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise BackendError(f"{path}: not valid YAML/JSON ({exc})".splitlines()[0]) from None
    if not isinstance(data, Mapping):
        raise BackendError(f"{path}: a cluster file is a mapping with a 'type'")
    options = dict(data)
    kind = options.pop("type", None)
    known = ("local", *JOBQUEUE_CLUSTERS)
    if kind not in known:
        raise BackendError(
            f"{path}: cluster type {kind!r}{suggest(str(kind), known)} is not one of "
            f"{', '.join(known)}"
        )
    jobs = options.pop("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BackendError(f"{path}: jobs must be a positive integer, not {jobs!r}")
    return kind, jobs, options


_CLASSES: dict[str, type[Backend]] = {
    "serial": SerialBackend,
    "processes": ProcessBackend,
    "dask": DaskBackend,
}


@contextlib.contextmanager
def open_backend(execution: Execution) -> Iterator[Backend]:
    """The backend ``execution`` names, started, and released when the block ends."""
    backend = _CLASSES[execution.backend](execution)
    try:
        yield backend
    finally:
        backend.close()
