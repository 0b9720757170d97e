"""How much memory this process has used at most (reports and benchmarks quote it)."""

from __future__ import annotations

import resource
import sys


def peak_rss_mb() -> float:
    """The peak resident memory of this process, in MiB.

    On Linux this is ``VmHWM``, the high-water mark of the process's own address space.
    ``getrusage``'s ``ru_maxrss`` is not: it survives ``exec``, so a process started by
    fork-and-exec (a worker of a pool, a benchmark's subprocess) reports at least the
    memory its parent had when it forked (a 1.2 GB parent made every child read 1.2 GB).
    Elsewhere ``ru_maxrss`` is all there is (bytes on macOS, KiB on Linux).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024
