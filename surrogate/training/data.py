"""Batches for training, streamed from events in memory or an event file larger than memory.

The events are cut into contiguous blocks.  A seeded draw picks whole blocks for the
validation split (so a file sorted by energy still gives a representative split).  Each
epoch visits the training blocks in a seeded random order, loads a window of blocks at a
time (``window_events``), shuffles the events inside the window and yields batches; the
events left over at the end of a window are carried into the next one, so every epoch has
``ceil(n_train / batch_size)`` batches.  The order depends only on ``(seed, epoch)``, which
is what makes a resumed run see the same batches as an uninterrupted one.

When the prepared training data fit in ``memory_limit`` bytes (``in_memory="auto"``) they
are prepared once and shuffled globally every epoch instead.  A process that may use less
(:func:`surrogate.memory.memory_budget`: an rlimit, a cgroup, little free memory) takes a
quarter of what it has left instead, for that choice and the window; the batches then
differ from those of a roomier run, as any other ``memory_limit`` makes them differ.  A
resumed run is given the choice and window of the run it resumes (``exact_window``), so
it sees the same batches on a machine with more or less memory.

Under several processes (:mod:`.distributed`) every process makes these same global
batches and the loop keeps its slice of each, so the batches, and with them the
trajectory, do not depend on the number of processes; the price is that every process
reads and prepares every window (and, in memory, holds all the prepared events).

Pure numpy: ``prepare`` turns a block of :class:`~surrogate.events.Events` into the arrays
a model trains on (preprocessed fields, condition vector...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import TrainingError
from ..events import Events
from ..memory import memory_budget

Arrays = tuple[np.ndarray, ...]
Prepare = Callable[[Events], Arrays]


def _rng(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) % (2**63), *tags])


def _batch_size(value: Any) -> int:
    size = int(value)
    if size < 1:
        raise TrainingError(f"batch_size must be >= 1, not {value}")
    return size


class EventStream:
    """Training and validation batches from ``data`` (``Events`` or an event-file reader)."""

    def __init__(
        self,
        data: Any,
        prepare: Prepare,
        *,
        batch_size: int,
        seed: int,
        val_fraction: float = 0.1,
        block_events: int | None = None,
        window_events: int = 262_144,
        in_memory: bool | str = "auto",
        memory_limit: float = 2e9,
        exact_window: bool = False,
    ) -> None:
        self.data, self.prepare, self.seed = data, prepare, int(seed)
        self.batch_size = _batch_size(batch_size)
        if not 0 <= float(val_fraction) < 1:
            raise TrainingError(f"val_fraction must be in [0, 1), not {val_fraction}")
        n = len(data)
        if n < 2:
            raise TrainingError(f"need at least 2 training events, got {n}")
        self.n = n
        if block_events is None:
            block_events = int(min(4096, max(16, n // 128)))
        self.block_events = max(1, int(block_events))
        starts = np.arange(0, n, self.block_events)
        self.blocks = [(int(a), min(int(a) + self.block_events, n)) for a in starts]
        n_val = round(float(val_fraction) * len(self.blocks))
        if float(val_fraction) > 0 and n_val == 0 and len(self.blocks) > 1:
            n_val = 1
        if n_val >= len(self.blocks):
            n_val = len(self.blocks) - 1
        perm = _rng(self.seed, 0).permutation(len(self.blocks))
        self.val_blocks = sorted(int(i) for i in perm[:n_val])
        self.train_blocks = sorted(int(i) for i in perm[n_val:])
        self.n_val = sum(self.blocks[i][1] - self.blocks[i][0] for i in self.val_blocks)
        self.n_train = n - self.n_val
        probe = data[0:1]
        # raw bytes per event, doubled for the float64 working copy of the preprocessing
        per_event = 2 * (
            sum(v.nbytes for v in probe.fields.values()) + 8 * (len(probe.conditions) + 1)
        )
        # the option, or less where the process may not use that much (an rlimit, a
        # cgroup, a busy machine): what decides in memory or streamed, and the window
        budget = memory_budget(memory_limit, what="training data")
        # a window of blocks takes at most a quarter of the memory budget
        fit = max(int(budget / 4 / max(per_event, 1)), 1)
        # ``exact_window``: a resumed run's, which must see the batches it saw before
        window = int(window_events) if exact_window else min(int(window_events), fit)
        self.window_events = max(window, self.batch_size)
        self._cache: dict[str, Arrays] = {}
        if in_memory == "auto":
            in_memory = per_event * n <= budget
        self.in_memory = bool(in_memory)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    def _load(self, block_ids: list[int]) -> Events:
        return Events.concatenate([self.data[a:b] for a, b in (self.blocks[i] for i in block_ids)])

    def raw_batches(self, which: str = "all", max_events: int | None = None) -> Iterator[Events]:
        """Raw event blocks (for fitting preprocessing).  With ``max_events`` the blocks
        come in a seeded random order, so a sorted file still gives a fair subset."""
        ids = {
            "all": list(range(len(self.blocks))),
            "train": self.train_blocks,
            "val": self.val_blocks,
        }[which]
        if max_events is not None and max_events < self.n:
            ids = [ids[i] for i in _rng(self.seed, 2).permutation(len(ids))]
        seen = 0
        for i in ids:
            a, b = self.blocks[i]
            yield self.data[a:b]
            seen += b - a
            if max_events is not None and seen >= max_events:
                return

    def _prepared(self, which: str) -> Arrays:
        if which not in self._cache:
            ids = self.train_blocks if which == "train" else self.val_blocks
            parts = [self.prepare(self._load([i])) for i in ids]
            self._cache[which] = tuple(np.concatenate(p) for p in zip(*parts, strict=True))
        return self._cache[which]

    def train_batches(self, epoch: int) -> Iterator[Arrays]:
        """The batches of one epoch; the order depends only on ``(seed, epoch)``."""
        rng = _rng(self.seed, 1, int(epoch))
        bs = self.batch_size
        if self.in_memory:
            arrays = self._prepared("train")
            perm = rng.permutation(len(arrays[0]))
            for start in range(0, len(perm), bs):
                idx = perm[start : start + bs]
                yield tuple(a[idx] for a in arrays)
            return
        order = [self.train_blocks[i] for i in rng.permutation(len(self.train_blocks))]
        carry: Arrays | None = None
        window: list[int] = []
        size = 0
        for pos, block in enumerate(order):
            window.append(block)
            size += self.blocks[block][1] - self.blocks[block][0]
            if size < self.window_events and pos < len(order) - 1:
                continue
            arrays = self.prepare(self._load(window))
            window, size = [], 0
            perm = rng.permutation(len(arrays[0]))
            arrays = tuple(a[perm] for a in arrays)
            if carry is not None:
                arrays = tuple(np.concatenate([c, a]) for c, a in zip(carry, arrays, strict=True))
            full = (len(arrays[0]) // bs) * bs
            for start in range(0, full, bs):
                yield tuple(a[start : start + bs] for a in arrays)
            carry = tuple(a[full:] for a in arrays)
        if carry is not None and len(carry[0]):
            yield carry

    def val_batches(self, batch_size: int | None = None) -> Iterator[Arrays]:
        """The validation events in a fixed order."""
        bs = int(batch_size or max(self.batch_size, 1024))
        if not self.val_blocks:
            return
        if self.in_memory:
            arrays = self._prepared("val")
            for start in range(0, len(arrays[0]), bs):
                yield tuple(a[start : start + bs] for a in arrays)
            return
        for i in self.val_blocks:
            arrays = self.prepare(self._load([i]))
            for start in range(0, len(arrays[0]), bs):
                yield tuple(a[start : start + bs] for a in arrays)


class ConditionStream:
    """Batches of conditions alone, for an objective that draws its events from the model
    (training on a target's energy, with no data).

    Each step's conditions are drawn from ``fixed`` (given values, broadcast) and the
    spec's priors for the rest, from a stream that depends only on ``(seed, epoch, step)``
    (so a resumed run sees the same conditions); the validation batches are the same every
    epoch, so the validation estimate compares epochs on equal terms.  ``prepare`` turns a
    dict of condition arrays into the arrays a model's ``make_batch`` takes.
    """

    def __init__(
        self,
        spec: Any,
        prepare: Callable[[dict[str, np.ndarray]], Arrays],
        *,
        batch_size: int,
        steps_per_epoch: int,
        val_samples: int,
        seed: int,
        fixed: dict[str, Any] | None = None,
    ) -> None:
        self.spec, self.prepare, self.seed = spec, prepare, int(seed)
        self.batch_size, self.fixed = _batch_size(batch_size), dict(fixed or {})
        self.steps_per_epoch = int(steps_per_epoch)
        self.n_train = self.steps_per_epoch * self.batch_size
        self.n_val = max(int(val_samples), 0)
        # checked once here, so a condition outside its range fails before training
        spec.check_conditions(self.fixed, 1, what="training conditions", partial=True)

    def draw(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` condition rows: the fixed values, the others from their priors."""
        return self.spec.resolve_conditions(n, self.fixed, rng)

    def train_batches(self, epoch: int) -> Iterator[Arrays]:
        for step in range(self.steps_per_epoch):
            yield self.prepare(self.draw(self.batch_size, _rng(self.seed, 3, int(epoch), step)))

    def val_batches(self) -> Iterator[Arrays]:
        for i, start in enumerate(range(0, self.n_val, self.batch_size)):
            n = min(self.batch_size, self.n_val - start)
            yield self.prepare(self.draw(n, _rng(self.seed, 4, i)))
