"""How a run's seed is cut into the seeds of its chunks.

Chunk ``i`` of a run seeded ``seed`` is drawn from ``SeedSequence(seed, spawn_key=(i,))``,
the ``i``-th child of ``SeedSequence(seed)``: independent streams, and the same events
whichever process, backend or batch makes the chunk.  Generation and scoring both cut
their work this way.
"""

from __future__ import annotations

import numpy as np


def chunk_seed(seed: int, chunk: int) -> np.random.SeedSequence:
    """The seed of chunk ``chunk`` of a run seeded ``seed``."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(chunk),))
