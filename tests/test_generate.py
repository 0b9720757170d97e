"""Chunked generation with worker processes shares the cores instead of oversubscribing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from surrogate import EventSpec, Field, Simulator
from surrogate.generate import generate_chunks, worker_threads


class ThreadCounter(Simulator):
    """Records, in every event, how many torch threads the process generating it had."""

    name = "test.threads"
    version = "0"

    def __init__(self) -> None:
        super().__init__()
        self.spec = EventSpec(fields=(Field("threads", (), "float32"),))

    def _sample(self, n, conditions, rng):
        import torch

        return {"threads": np.full(n, torch.get_num_threads(), dtype=np.float32)}


def test_worker_threads_divide_the_cores():
    cores = os.cpu_count() or 1
    assert worker_threads(1) == cores
    assert worker_threads(cores) == 1
    assert worker_threads(4 * cores) == 1


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_each_worker_gets_its_share_of_the_cores():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(worker_threads(2) + 2)  # what the workers must not inherit
    try:
        chunks = list(generate_chunks(ThreadCounter(), 40, seed=0, chunk_size=10, workers=2))
    finally:
        torch.set_num_threads(before)
    threads = np.concatenate([np.asarray(c["threads"]) for c in chunks])
    assert len(threads) == 40
    assert np.all(threads == worker_threads(2))
