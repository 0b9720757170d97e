"""Fan-out of simulation and generation: shards, seeds and backends.

:func:`generate_to_file` is what ``surrogate simulate`` and ``surrogate sample`` run;
:mod:`.shards` says how a run is cut and resumed, :mod:`.backends` where the pieces run,
:mod:`.sources` how a worker gets its simulator or model.
"""

from .backends import Backend, BackendError, Execution, WorkerError, open_backend
from .files import CHUNK_SIZE, generate_chunks, generate_to_file, new_seed, recorded_conditions
from .sources import Source

__all__ = [
    "CHUNK_SIZE",
    "Backend",
    "BackendError",
    "Execution",
    "Source",
    "WorkerError",
    "generate_chunks",
    "generate_to_file",
    "new_seed",
    "open_backend",
    "recorded_conditions",
]
