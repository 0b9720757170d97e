"""A sane default for torch's CPU threads, so a user who never set ``OMP_NUM_THREADS``
is not oversubscribed.

Torch starts with one thread per core.  When other processes already keep cores busy
(another training job, a benchmark, the workers of a fan-out), every extra thread
competes for them: on a 2-core machine, two such processes were measured up to ~100x
slower than with one thread each.  The default is therefore the cores nobody else is
using, measured by the one-minute load average when torch work starts, and at least one.
It is applied once per process and only when the user made no choice: ``OMP_NUM_THREADS``
or ``SURROGATE_THREADS`` set, or ``torch.set_num_threads`` called before, win.
"""

from __future__ import annotations

import os
import sys

_APPLIED = False


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Threads for one process: the cores not busy with other work, at least one."""
    cores = available_cores() if cores is None else cores
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, cores - round(load)))


def apply_default_threads() -> int | None:
    """Set torch's threads to :func:`default_threads` unless the user chose; returns the
    number set, or ``None`` when nothing was changed (already applied, or a user choice)."""
    global _APPLIED
    torch = sys.modules.get("torch")
    if _APPLIED or torch is None:
        return None
    _APPLIED = True
    explicit = os.environ.get("SURROGATE_THREADS")
    if explicit:
        torch.set_num_threads(max(1, int(explicit)))
        return torch.get_num_threads()
    if os.environ.get("OMP_NUM_THREADS") or torch.get_num_threads() != available_cores():
        return None  # the user (or a launcher such as torchrun) already decided
    torch.set_num_threads(default_threads())
    return torch.get_num_threads()
