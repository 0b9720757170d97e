"""Seeding torch from the toolkit's numpy seeds.

``sample(seed=...)`` and ``fit(seed=...)`` take one numpy seed; these helpers derive the
torch seed from it and confine torch's global RNG to the call, so a seeded call gives the
same events whatever the caller did with torch's RNG before, and leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def torch_seed(rng: np.random.Generator) -> int:
    """A torch seed drawn from a numpy generator (so one numpy seed drives everything)."""
    return int(rng.integers(0, 2**63 - 1))


@contextmanager
def seeded_torch(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run with torch's global RNG seeded, restoring the caller's RNG state afterwards."""
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
