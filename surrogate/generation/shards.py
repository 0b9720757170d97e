"""Shards: the unit of parallel work, of files written, and of resuming.

A run of ``n`` events is cut into chunks of ``chunk_size`` events; chunk ``i`` is made
from the ``i``-th child of ``SeedSequence(seed)`` (``SeedSequence(seed,
spawn_key=(i,))``, which is the same thing).  A shard is a run of whole chunks, so the
events depend on the seed and the chunk size only: not on the shard size, the backend or
the number of workers.

A sharded run keeps its work in ``OUTPUT.shards/``:

``plan.json``
    what the shards are of (source, n, seed, chunk and shard size, conditions, spec).
    A rerun with another plan is refused, so shards of two runs are never mixed.
``shard-00003.h5``
    an event file of its own, written under a temporary name and renamed when complete.
``shard-00003.json``
    written after the shard file: its event range and SHA-256.  Only a shard with a
    record whose checksum matches counts as done; a rerun of the same command skips
    those and makes the others again (a shard whose file is corrupt or truncated is made
    again, with a warning naming it).

The output is then joined from the shards in order and the directory removed (``join=
"copy"``), or the output is a file of HDF5 virtual datasets over the shards, which stay
(``join="virtual"``: no copy, but the output is only readable next to its shards).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NonFiniteError, SurrogateError
from ..events import Events
from ..io import EventWriter, open_events
from ..io.atomic import write_text_atomic
from ..memory import peak_rss_mb
from ..seeds import chunk_seed
from ..spec import EventSpec
from .sources import Source, build

log = logging.getLogger("surrogate.generation")

PLAN = "plan.json"
PLAN_FORMAT = "surrogate-shards"
PLAN_VERSION = 1
JOINS = ("copy", "virtual")


def sample_chunk(
    source: Any, task_seed: int, start: int, stop: int, chunk_size: int, conditions: Any
) -> Events:
    """Events ``start:stop`` of a run, one chunk (``start`` a multiple of ``chunk_size``),
    drawn with the chunk's seed; NaN or Inf among them is named by its event number in
    the output, which is then not written."""
    try:
        return source.sample(
            stop - start, conditions, seed=chunk_seed(task_seed, start // chunk_size)
        )
    except NonFiniteError as exc:
        note = f"; counted in the output of seed {task_seed}, which is not written"
        raise exc.noted(note, offset=start) from None


def slice_conditions(
    conditions: Mapping[str, Any] | None, start: int, stop: int
) -> Mapping[str, Any] | None:
    """Per-event conditions cut to events ``[start, stop)``; fixed ones as they are."""
    if conditions is None:
        return None
    return {k: (v if np.ndim(v) == 0 else np.asarray(v)[start:stop]) for k, v in conditions.items()}


def conditions_digest(conditions: Mapping[str, Any] | None) -> str | None:
    """A checksum of the conditions, so a rerun at other conditions is not taken for the
    same run."""
    if conditions is None:
        return None
    h = hashlib.sha256()
    for name in sorted(conditions):
        value = np.ascontiguousarray(conditions[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ShardTask:
    """What a worker needs to make one shard: plain data, no objects from files."""

    index: int
    start: int
    stop: int
    chunk_size: int
    seed: int
    source: Source
    conditions: Mapping[str, Any] | None  # this shard's slice
    path: str
    metadata: Mapping[str, Any]
    align: int | None = None  # the plan's shard size: chunks that join without recompressing
    threads: int | None = None


@dataclass(frozen=True)
class ShardResult:
    index: int
    n: int
    seconds: float
    peak_rss_mb: float


def run_shard(task: ShardTask) -> ShardResult:
    """Make one shard's events into its file, then its record (the worker's function)."""
    t0 = time.perf_counter()
    if task.threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(task.threads)
    source = build(task.source)
    path = Path(task.path)
    assert source.spec is not None  # checked by the coordinator before any task
    with EventWriter(path, source.spec, task.metadata, align=task.align) as writer:
        for a in range(task.start, task.stop, task.chunk_size):
            b = min(a + task.chunk_size, task.stop)
            conds = slice_conditions(task.conditions, a - task.start, b - task.start)
            writer.write(sample_chunk(source, task.seed, a, b, task.chunk_size, conds))
    record: dict[str, Any] = {"index": task.index, "start": task.start, "stop": task.stop}
    record |= {"sha256": file_digest(path)}
    write_text_atomic(_record_path(path), json.dumps(record))
    seconds = time.perf_counter() - t0
    return ShardResult(task.index, task.stop - task.start, seconds, peak_rss_mb())


def _record_path(shard: Path) -> Path:
    return shard.with_suffix(".json")


@dataclass(frozen=True)
class ShardPlan:
    """How ``n`` events are cut: chunk bounds within shard bounds."""

    n: int
    seed: int
    chunk_size: int
    shard_size: int

    @classmethod
    def make(cls, n: int, seed: int, chunk_size: int, shard_size: int) -> ShardPlan:
        """A plan whose shards are whole chunks (the shard size rounded up to them)."""
        chunk_size = max(1, min(int(chunk_size), int(n)))
        shard_size = math.ceil(max(int(shard_size), 1) / chunk_size) * chunk_size
        return cls(int(n), int(seed), chunk_size, shard_size)

    @property
    def bounds(self) -> list[tuple[int, int]]:
        return [(a, min(a + self.shard_size, self.n)) for a in range(0, self.n, self.shard_size)]

    def identity(self, source: Source, spec: EventSpec, conditions: Any) -> dict[str, Any]:
        """``plan.json``: what decides the events of every shard."""
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "source": source.identity(),
            "n": self.n,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "shard_size": self.shard_size,
            "conditions": conditions_digest(conditions),
            "spec": spec.to_dict(),
        }


class ShardDir:
    """``OUTPUT.shards/``: the shards of one run (see the module docstring)."""

    def __init__(self, output: str | os.PathLike[str]) -> None:
        output = Path(output).resolve()
        self.path = output.parent / f"{output.name}.shards"

    def shard(self, index: int) -> Path:
        return self.path / f"shard-{index:05d}.h5"

    def recorded_plan(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / PLAN).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            msg = f"{self.path / PLAN}: unreadable ({exc}); remove {self.path}"
            raise SurrogateError(msg) from None

    def start(self, plan: Mapping[str, Any]) -> None:
        """Take the directory for ``plan``: refuse another run's shards, record the plan,
        and drop the temporary files of an interrupted one (the caller holds the lock)."""
        recorded = self.recorded_plan()
        if recorded is not None and recorded != plan:
            what = [k for k in plan if recorded.get(k) != plan[k]]
            raise SurrogateError(
                f"{self.path} holds shards of another run (its {', '.join(what)} differ): "
                "rerun with the same settings to continue it, or remove the directory"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        if recorded is None:
            write_text_atomic(self.path / PLAN, json.dumps(dict(plan), indent=1))
        for tmp in self.path.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)

    def done(self, bounds: list[tuple[int, int]]) -> set[int]:
        """The shards whose file matches its record; the others are removed."""
        finished = set()
        for i, (a, b) in enumerate(bounds):
            problem = self._check(i, a, b)
            if problem is None:
                finished.add(i)
                continue
            if problem != "missing":
                log.warning("shard %d of %s is %s: making it again", i, self.path, problem)
            self.shard(i).unlink(missing_ok=True)
            _record_path(self.shard(i)).unlink(missing_ok=True)
        return finished

    def _check(self, i: int, start: int, stop: int) -> str | None:
        path, record = self.shard(i), _record_path(self.shard(i))
        if not record.exists():
            return "missing" if not path.exists() else "without a record (interrupted)"
        try:
            saved = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "recorded in a corrupt file"
        if (saved.get("start"), saved.get("stop")) != (start, stop):
            return "of another event range"
        if not path.exists() or file_digest(path) != saved.get("sha256"):
            return "corrupt (its checksum differs from the record)"
        return None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def shard_events(
    paths: Sequence[str | os.PathLike[str]], spec: EventSpec, batch: int
) -> Iterator[Events]:
    """The events of the shards, in order, in batches."""
    for path in paths:
        with open_events(path, spec) as reader:
            yield from reader.batches(batch)
