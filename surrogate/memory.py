"""How much memory this process has used at most, and how much more it may use.

Reports and benchmarks quote :func:`peak_rss_mb`.  Training and validation size what
they hold at once (in memory or streamed, the shuffle window, the validation shards)
with :func:`memory_budget`: the lesser of their own setting and a share of what this
process may still allocate (:func:`memory_available`), so a job given less memory than
the toolkit's defaults assume (``ulimit -d``/``-v``, a container's or a batch system's
cgroup, a busy machine) streams instead of being killed.  :func:`out_of_memory` turns
what still does not fit into one line.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
from pathlib import Path

from .errors import SurrogateError

log = logging.getLogger("surrogate.memory")

#: share of what this process may still allocate that one holder (the training data, a
#: validation's samples) takes; the rest is for the working copies made of it (each step
#: of a preprocessing chain makes a float64 copy of a window: 8-10x its raw size in all),
#: the model and its activations, and the libraries' own buffers
SHARE = 0.25
#: cgroup v1 writes "no limit" as a page-rounded 2**63 - 1
_NO_LIMIT = 2**60


class OutOfMemoryError(SurrogateError, MemoryError):
    """An allocation failed: the message says how much this process may use and where
    that limit comes from (a one-line error instead of a MemoryError traceback)."""


def _status_kib(key: str) -> int | None:
    """A ``/proc/self/status`` entry in KiB (``VmHWM``, ``VmData``...); ``None`` where
    there is no such file (not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """The peak resident memory of this process, in MiB.

    On Linux this is ``VmHWM``, the high-water mark of the process's own address space.
    ``getrusage``'s ``ru_maxrss`` is not: it survives ``exec``, so a process started by
    fork-and-exec (a worker of a pool, a benchmark's subprocess) reports at least the
    memory its parent had when it forked (a 1.2 GB parent made every child read 1.2 GB).
    Elsewhere ``ru_maxrss`` is all there is (bytes on macOS, KiB on Linux).
    """
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm / 1024
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024


def _rlimit_left(which: int, used_key: str) -> float:
    """The soft rlimit ``which`` less what this process already counts against it."""
    soft = resource.getrlimit(which)[0]
    if soft == resource.RLIM_INFINITY:
        return math.inf
    used = _status_kib(used_key)
    return max(soft - 1024 * (used or 0), 0)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_dirs() -> list[tuple[Path, tuple[str, str, str]]]:
    """This process's memory cgroup directories with the names of their limit, usage and
    reclaimable page-cache entries (v2's unified hierarchy and v1's memory controller)."""
    dirs = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":
            dirs.append((Path("/sys/fs/cgroup" + rel), ("memory.max", "memory.current", "")))
        elif "memory" in controllers.split(","):
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_")
            dirs.append((Path("/sys/fs/cgroup/memory" + rel), names))
    return dirs


def _cgroup_left() -> float:
    """What the process's memory cgroup (a container's, a batch job's) has left; its
    inactive page cache counts as free, since the kernel reclaims that first."""
    left = math.inf
    for folder, (limit_name, usage_name, prefix) in _cgroup_dirs():
        limit, usage = _read_int(folder / limit_name), _read_int(folder / usage_name)
        if limit is None or usage is None or limit >= _NO_LIMIT:
            continue
        cache = 0
        try:
            for line in (folder / "memory.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == f"{prefix}inactive_file":
                    cache = int(value)
        except (OSError, ValueError):
            pass
        left = min(left, max(limit - usage + cache, 0))
    return left


def _meminfo_available() -> float:
    """The machine's ``MemAvailable`` (free memory and reclaimable caches)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


def memory_limits() -> dict[str, float]:
    """Bytes this process may still allocate, by what limits it (``inf``: no limit known).

    ``RLIMIT_DATA`` (``ulimit -d``) counts the private writable memory, where the data
    go, against ``VmData``; ``RLIMIT_AS`` (``ulimit -v``) counts the whole address space,
    shared libraries included, against ``VmSize``; the cgroup is a container's or a batch
    job's; ``MemAvailable`` is the machine's.
    """
    return {
        "RLIMIT_DATA": _rlimit_left(resource.RLIMIT_DATA, "VmData"),
        "RLIMIT_AS": _rlimit_left(resource.RLIMIT_AS, "VmSize"),
        "cgroup": _cgroup_left(),
        "MemAvailable": _meminfo_available(),
    }


def memory_available() -> tuple[float, str]:
    """The least of :func:`memory_limits` and the limit it comes from."""
    limits = memory_limits()
    source = min(limits, key=lambda k: limits[k])
    return limits[source], source


def memory_budget(limit: float, *, what: str = "", share: float = SHARE) -> float:
    """``limit`` bytes, or ``share`` of what the process may still allocate if less.

    Where the process's own limit wins, that is worth a line in the log (``what``
    names the holder), since it changes how the work is cut (streamed, sharded).
    """
    left, source = memory_available()
    budget = min(float(limit), share * left)
    if budget < float(limit) and what:
        log.info(
            "%s: %.0f MB of memory (%s leaves this process %.0f MB), not %.0f MB",
            what,
            budget / 2**20,
            source,
            left / 2**20,
            float(limit) / 2**20,
        )
    return budget


#: what an allocation failure says where it is no MemoryError: torch's CPU allocator and
#: CUDA (RuntimeError), HDF5 (OSError: "memory allocation failed for chunk")
_ALLOCATION_FAILED = (
    "can't allocate memory",
    "not enough memory",
    "out of memory",
    "memory allocation failed",
)


def _is_allocation_failure(exc: BaseException) -> bool:
    """A ``MemoryError``, or a library's allocator failing (:data:`_ALLOCATION_FAILED`)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, OSError)) and any(s in text for s in _ALLOCATION_FAILED)


def out_of_memory(exc: BaseException) -> OutOfMemoryError | None:
    """The one-line error for an allocation that failed (``None``: ``exc`` is not one)."""
    if isinstance(exc, OutOfMemoryError):
        return exc
    if not _is_allocation_failure(exc):
        return None
    left, source = memory_available()
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    room = "" if math.isinf(left) else f"; {source} leaves this process {left / 2**20:.0f} MB"
    return OutOfMemoryError(
        f"out of memory ({detail}{room}): give the process more memory, or make the pieces "
        "smaller (--batch-size, --chunk-size, --shard-size)"
    )
