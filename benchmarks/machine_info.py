"""What a benchmark ran on, recorded beside its results (timings mean little without it)."""

from __future__ import annotations

import os
import platform
import sys


def machine() -> dict:
    """Python, platform, cores, torch's thread count and the load average right now."""
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }
