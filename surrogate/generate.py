"""Writing many events to a file in chunks, reproducibly.

Events are produced in chunks of a fixed size; chunk ``i`` is generated from the ``i``-th
child of ``SeedSequence(seed)``.  The output therefore depends on the seed and the chunk
size only, not on the number of worker processes, and a file larger than memory is never
held in memory at once.  Conditions not given are drawn inside each chunk, from the
chunk's generator (a model draws from its recorded training conditions, see
:meth:`Surrogate.resolve_conditions <surrogate.interfaces.Surrogate.resolve_conditions>`),
so they too depend on the seed and chunk size only.

The file's metadata records how its conditions were made (``conditions``): ``null`` when
every condition came from the priors, else per condition its value, where it was read
from, or that it was drawn from the model's training conditions.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SurrogateError
from .events import Events
from .interfaces import Simulator, Surrogate, check_n
from .io import ROOT_SUFFIXES, EventWriter, make_metadata, write_root

CHUNK_SIZE = 10_000


def new_seed() -> int:
    """A fresh seed to record when the user gave none, so every file can be reproduced."""
    return secrets.randbits(63)


def _chunk_conditions(
    conditions: Mapping[str, Any] | None, start: int, stop: int
) -> Mapping[str, Any] | None:
    if conditions is None:
        return None
    return {k: (v if np.ndim(v) == 0 else np.asarray(v)[start:stop]) for k, v in conditions.items()}


def _generate(
    source: Simulator | Surrogate, start: int, stop: int, conditions, seed: np.random.SeedSequence
) -> Events:
    return source.sample(stop - start, _chunk_conditions(conditions, start, stop), seed=seed)


def _share_cores(threads: int) -> None:
    """Worker initialiser: each of W workers gets ``cpu_count // W`` torch threads.

    A worker process otherwise starts with torch's default of one thread per core, and W
    workers oversubscribe the machine W-fold; on a 2-core machine with other jobs running,
    oversubscribed training steps were measured ~100x slower.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def worker_threads(workers: int) -> int:
    """The torch threads each of ``workers`` processes uses (at least one)."""
    return max(1, (os.cpu_count() or 1) // max(int(workers), 1))


def generate_chunks(
    source: Simulator | Surrogate,
    n: int,
    *,
    conditions: Mapping[str, Any] | None = None,
    seed: int,
    chunk_size: int = CHUNK_SIZE,
    workers: int = 1,
    progress: bool | None = None,
) -> Iterator[Events]:
    """Yield ``n`` events in order, chunk by chunk (see the module docstring)."""
    from tqdm.auto import tqdm

    n = check_n(n)
    spec = source.spec
    if spec is None:
        raise SurrogateError("the model is not trained (no event spec)")
    if conditions is not None:
        spec.check_conditions(conditions, n, partial=True)  # fail before any work
    bounds = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    seeds = np.random.SeedSequence(seed).spawn(len(bounds))
    jobs = [(source, a, b, conditions, s) for (a, b), s in zip(bounds, seeds, strict=True)]
    bar = tqdm(
        total=n, unit="ev", disable=not sys.stderr.isatty() if progress is None else not progress
    )
    try:
        if workers <= 1:
            results: Iterator[Events] = (_generate(*job) for job in jobs)
            for events in results:
                bar.update(len(events))
                yield events
        else:
            with ProcessPoolExecutor(
                max_workers=workers,
                initializer=_share_cores,
                initargs=(worker_threads(workers),),
            ) as pool:
                futures = [pool.submit(_generate, *job) for job in jobs]
                for future in futures:
                    events = future.result()
                    bar.update(len(events))
                    yield events
    finally:
        bar.close()


def recorded_conditions(
    source: Simulator | Surrogate, conditions: Mapping[str, Any] | None, origin: str | None
) -> Mapping[str, Any] | None:
    """The file metadata's ``conditions`` (see the module docstring)."""
    given = dict(conditions or {})
    out: dict[str, Any] = {
        k: origin if origin is not None and np.ndim(v) else v for k, v in given.items()
    }
    trained = source.trained_conditions if isinstance(source, Surrogate) else None
    if trained is not None:
        rows, events = len(trained.rows), trained.n_events
        kind = f"{rows} distinct values" if trained.exact else f"a random subsample of {rows}"
        drawn = f"drawn from the model's training conditions ({kind} of {events} events)"
        if given and trained.exact:
            drawn += ", given the others"
        out |= {name: drawn for name in trained.names if name not in given}
    return out or conditions


def generate_to_file(
    source: Simulator | Surrogate,
    n: int,
    path: str | os.PathLike[str],
    *,
    conditions: Mapping[str, Any] | None = None,
    seed: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    workers: int = 1,
    progress: bool | None = None,
    producer_options: Mapping[str, Any] | None = None,
    conditions_origin: str | None = None,
) -> Path:
    """Generate ``n`` events into an HDF5 (or ``.root``) file, atomically, with provenance.

    ``conditions_origin`` says where per-event ``conditions`` come from (``"read from
    ref.h5 ..."``): the metadata records it instead of the values.
    """
    path = Path(path)
    seed = new_seed() if seed is None else int(seed)
    is_model = isinstance(source, Surrogate)
    spec = source.spec
    if spec is None:
        raise SurrogateError("the model is not trained (no event spec)")
    metadata = make_metadata(
        spec,
        producer=source.name,
        producer_kind="surrogate" if is_model else "simulator",
        producer_version=source.version,
        seed=seed,
        conditions=recorded_conditions(source, conditions, conditions_origin),
        options=producer_options
        if producer_options is not None
        else getattr(source, "options", {}),
    )
    chunks = generate_chunks(
        source,
        n,
        conditions=conditions,
        seed=seed,
        chunk_size=chunk_size,
        workers=workers,
        progress=progress,
    )
    if path.suffix.lower() in ROOT_SUFFIXES:
        return write_root(path, chunks, spec, metadata)
    with EventWriter(path, spec, metadata) as writer:
        for events in chunks:
            writer.write(events)
    return path
