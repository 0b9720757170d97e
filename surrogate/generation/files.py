"""Writing many events to a file, reproducibly, in one process or fanned out.

Events are made in chunks of a fixed size, chunk ``i`` from the ``i``-th child of
``SeedSequence(seed)`` (:mod:`surrogate.generation.shards`).  The output therefore
depends on the seed and the chunk size only: not on the backend, the number of workers
or the shard size, and a file larger than memory is never held in memory at once.
Conditions not given are drawn inside each chunk, from the chunk's generator (a model
draws from its recorded training conditions, see :meth:`Surrogate.resolve_conditions
<surrogate.interfaces.Surrogate.resolve_conditions>`), so they too depend on the seed
and chunk size only.

A run of one shard on the serial backend streams into the output directly.  Any other
run makes shards (in ``OUTPUT.shards/``, each its own file, on the backend chosen),
then joins them; a killed run rerun with the same command skips the shards already
made.  The output appears under its name only when complete, and one run at a time may
write it (:func:`surrogate.io.atomic.output_lock`).

The file's metadata records how its conditions were made (``conditions``): ``null`` when
every condition came from the priors, else per condition its value, where it was read
from, or that it was drawn from the model's training conditions.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SurrogateError
from ..events import Events
from ..interfaces import Simulator, Surrogate, check_n
from ..io import ROOT_SUFFIXES, EventWriter, make_metadata, write_root, write_virtual
from ..io.atomic import output_lock
from ..progress import event_bar
from ..spec import EventSpec
from .backends import Backend, Execution, open_backend
from .shards import (
    JOINS,
    ShardDir,
    ShardPlan,
    ShardResult,
    ShardTask,
    run_shard,
    sample_chunk,
    shard_events,
    slice_conditions,
)
from .sources import Source, build

log = logging.getLogger("surrogate.generation")

CHUNK_SIZE = 10_000


def new_seed() -> int:
    """A fresh seed to record when the user gave none, so every file can be reproduced."""
    return secrets.randbits(63)


def _trained_spec(source: Simulator | Surrogate) -> EventSpec:
    if source.spec is None:
        raise SurrogateError("the model is not trained (no event spec)")
    return source.spec


def generate_chunks(
    source: Simulator | Surrogate,
    n: int,
    *,
    conditions: Mapping[str, Any] | None = None,
    seed: int,
    chunk_size: int = CHUNK_SIZE,
    progress: bool | None = None,
) -> Iterator[Events]:
    """Yield ``n`` events in order, chunk by chunk, in this process (see the module
    docstring): the events every backend reproduces."""
    n = check_n(n)
    spec = _trained_spec(source)
    if conditions is not None:
        spec.check_conditions(conditions, n, partial=True)  # fail before any work
    bar = event_bar(n, progress)
    try:
        for a in range(0, n, chunk_size):
            b = min(a + chunk_size, n)
            events = sample_chunk(
                source, seed, a, b, chunk_size, slice_conditions(conditions, a, b)
            )
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
    source: Simulator | Surrogate | Source,
    n: int,
    path: str | os.PathLike[str],
    *,
    conditions: Mapping[str, Any] | None = None,
    seed: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    execution: Execution | None = None,
    join: str = "copy",
    progress: bool | None = None,
    producer_options: Mapping[str, Any] | None = None,
    conditions_origin: str | None = None,
) -> Path:
    """Generate ``n`` events into an HDF5 (or ``.root``) file, atomically, with provenance.

    ``source``: a simulator or model, or the :class:`Source` that builds one (what a
    worker gets: a model directory is loaded on the worker).  ``execution``: where the
    shards run (default: serial, in this process).  ``join``: ``"copy"`` the shards into
    the output, or ``"virtual"`` (HDF5 only: virtual datasets over ``OUTPUT.shards/``,
    which stays).  ``conditions_origin`` says where per-event ``conditions`` come from
    (``"read from ref.h5 ..."``): the metadata records it instead of the values.
    """
    path = Path(path)
    execution = execution or Execution()
    recipe = source if isinstance(source, Source) else Source.of(source)
    obj = build(recipe)
    if execution.parallel:
        recipe = recipe.portable()
    n = check_n(n)
    spec = _trained_spec(obj)
    if conditions is not None:
        spec.check_conditions(conditions, n, partial=True)  # fail before any work
    _check_join(join, path)
    with output_lock(path):
        shards = ShardDir(path)
        seed = _run_seed(seed, shards)
        is_model = isinstance(obj, Surrogate)
        metadata = make_metadata(
            spec,
            producer=obj.name,
            producer_kind="surrogate" if is_model else "simulator",
            producer_version=obj.version,
            seed=seed,
            conditions=recorded_conditions(obj, conditions, conditions_origin),
            options=producer_options
            if producer_options is not None
            else getattr(obj, "options", {}),
        )
        plan = ShardPlan.make(n, seed, chunk_size, execution.shard_size)
        if len(plan.bounds) == 1 and not execution.parallel and join == "copy":
            chunks = generate_chunks(
                obj,
                n,
                conditions=conditions,
                seed=seed,
                chunk_size=plan.chunk_size,
                progress=progress,
            )
            return _write(path, chunks, spec, metadata)
        run = _ShardedRun(recipe, spec, plan, shards, conditions, metadata, execution)
        run.make_shards(progress)
        return run.join(path, join)


def _check_join(join: str, path: Path) -> None:
    if join not in JOINS:
        raise SurrogateError(f"join must be one of {', '.join(JOINS)}, not {join!r}")
    if join == "virtual" and path.suffix.lower() in ROOT_SUFFIXES:
        raise SurrogateError("virtual datasets are HDF5: a .root output needs join='copy'")


def _run_seed(seed: int | None, shards: ShardDir) -> int:
    """The given seed; without one, an interrupted run's (so rerunning the same command
    continues it), else a fresh one."""
    if seed is not None:
        return int(seed)
    recorded = shards.recorded_plan()
    if recorded is not None:
        log.info("continuing the run in %s (seed %d)", shards.path, recorded["seed"])
        return int(recorded["seed"])
    return new_seed()


def _write(path: Path, chunks: Iterator[Events], spec: Any, metadata: Mapping[str, Any]) -> Path:
    if path.suffix.lower() in ROOT_SUFFIXES:
        return write_root(path, chunks, spec, metadata)
    with EventWriter(path, spec, metadata) as writer:
        for events in chunks:
            writer.write(events)
    return path


class _ShardedRun:
    """One run's shards: which are left, making them on a backend, joining them."""

    def __init__(
        self,
        source: Source,
        spec: EventSpec,
        plan: ShardPlan,
        shards: ShardDir,
        conditions: Mapping[str, Any] | None,
        metadata: Mapping[str, Any],
        execution: Execution,
    ) -> None:
        self.source, self.plan, self.shards = source, plan, shards
        self.conditions, self.metadata, self.execution = conditions, metadata, execution
        self.spec = spec
        shards.start(plan.identity(source, self.spec, conditions))
        self.done = shards.done(plan.bounds)
        self.results: list[ShardResult] = []

    def tasks(self) -> list[ShardTask]:
        threads = (
            worker_threads(self.execution.workers)
            if self.execution.backend == "processes"
            else None
        )
        return [
            ShardTask(
                index=i,
                start=a,
                stop=b,
                chunk_size=self.plan.chunk_size,
                seed=self.plan.seed,
                source=self.source,
                conditions=slice_conditions(self.conditions, a, b),
                path=str(self.shards.shard(i)),
                metadata=self.metadata,
                align=self.plan.shard_size,
                threads=threads,
            )
            for i, (a, b) in enumerate(self.plan.bounds)
            if i not in self.done
        ]

    def make_shards(self, progress: bool | None) -> None:
        """Make the shards not yet done, on the backend; the finished ones stay whatever
        happens, so the same command continues the run."""
        todo = self.tasks()
        bounds = self.plan.bounds
        total = len(bounds)
        if self.done:
            log.warning(
                "%d of %d shards are already in %s: making the other %d",
                len(self.done),
                total,
                self.shards.path,
                len(todo),
            )
        start = sum(b - a for i, (a, b) in enumerate(bounds) if i in self.done)
        bar = event_bar(self.plan.n, progress, initial=start)
        bar.set_postfix_str(f"shards {len(self.done)}/{total}")
        try:
            with open_backend(self.execution) as backend:
                log.info("%d shards on %s", len(todo), backend.describe())
                for _, result in self._results(backend, todo):
                    self.results.append(result)
                    self.done.add(result.index)
                    bar.update(result.n)
                    bar.set_postfix_str(f"shards {len(self.done)}/{total}")
        finally:
            bar.close()

    def _results(self, backend: Backend, todo: list[ShardTask]) -> Iterator[tuple[int, Any]]:
        try:
            yield from backend.map(run_shard, todo)
        except SurrogateError as exc:
            raise exc.noted(
                f"; {len(self.done)} of {len(self.plan.bounds)} shards are complete in "
                f"{self.shards.path}: run the same command again to make the rest"
            ) from None

    def join(self, path: Path, how: str) -> Path:
        """The output from the shards (see :mod:`surrogate.generation.shards`)."""
        parts: list[str | os.PathLike[str]] = [
            self.shards.shard(i) for i in range(len(self.plan.bounds))
        ]
        t0 = time.perf_counter()
        if how == "virtual":
            write_virtual(path, self.spec, self.metadata, parts)
        elif path.suffix.lower() in ROOT_SUFFIXES:
            write_root(
                path, shard_events(parts, self.spec, self.plan.chunk_size), self.spec, self.metadata
            )
        else:
            with EventWriter(path, self.spec, self.metadata, align=self.plan.shard_size) as out:
                for part in parts:
                    out.append_file(part)
        if how == "copy":
            self.shards.remove()
        self._summary(path, how, time.perf_counter() - t0)
        return path

    def _summary(self, path: Path, how: str, join_seconds: float) -> None:
        """One log record of the run; its ``stats`` attribute carries the figures (what
        ``benchmarks/scale.py`` reads)."""
        stats = {
            "shards_made": len(self.results),
            "shard_seconds": [r.seconds for r in self.results],
            "worker_peak_rss_mb": max((r.peak_rss_mb for r in self.results), default=None),
            "join": how,
            "join_seconds": join_seconds,
        }
        log.info(
            "%s: %d shards made, joined (%s) in %.1f s",
            path,
            len(self.results),
            how,
            join_seconds,
            extra={"stats": stats},
        )


def worker_threads(workers: int) -> int:
    """The torch threads each of ``workers`` local processes uses (at least one): each
    gets its share of the cores, since W workers with torch's default of one thread per
    core oversubscribe the machine W-fold (on a 2-core machine with other jobs running,
    oversubscribed steps were measured ~100x slower)."""
    return max(1, (os.cpu_count() or 1) // max(int(workers), 1))
