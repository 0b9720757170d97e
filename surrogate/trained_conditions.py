"""The conditions a model was trained on, recorded so that it draws from them by default.

A model trained on 15 discrete energies that drew log-uniform energies when given none
would make a physicist comparing its output with the training data by hand compare two
different spectra.  :meth:`Surrogate.fit <surrogate.interfaces.Surrogate.fit>` therefore
records the training data's conditions, whatever the family, with :func:`record`:

- **exactly**, when the condition rows take at most :data:`MAX_DISTINCT` distinct values
  (a dataset of fixed energies): the distinct rows and how many events each has;
- otherwise as a **uniform random subsample** of :data:`SUBSAMPLE` rows (without
  replacement), the training sample's empirical distribution.  Its random stream is a
  fixed one: the record is a property of the data alone, so a resumed fit (which knows no
  seed until the loop reads its checkpoint) and any fit seed record the same rows.

The training source is read batch by batch (at most :data:`READ_BYTES` of events at a
time), so a file larger than memory is never held at once; the subsample keeps the rows
with the smallest of one random key per event, so it does not depend on the batch size.

:meth:`TrainedConditions.draw` draws condition rows for events with some, all or none of
the conditions given.  Conditions given are kept; the others are drawn

- from the rows that match the given values, weighted by their counts, when the record is
  exact (conditionally: fixing the energy of a dataset of (energy, angle) pairs draws the
  angles recorded at that energy); values are compared in float32, the precision files
  usually store conditions in.  Events whose given values match no row get the others'
  marginal (all rows, weighted by their counts);
- from the subsample's marginal otherwise (rows drawn uniformly, the given columns
  ignored), since continuous values seldom match a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import CheckpointError
from .spec import EventSpec

#: Condition rows with at most this many distinct values are recorded exactly.
MAX_DISTINCT = 1000
#: Otherwise, a uniform random subsample of this many rows is kept.
SUBSAMPLE = 10_000
#: Bytes of events, and events, read from the training source at once.
READ_BYTES = 64 * 2**20
READ_EVENTS = 2**20
#: Distinct values a model card lists (the most common, in order of value); the rest are
#: counted.
CARD_VALUES = 50
#: Entropy of the subsample's fixed random stream.
_STREAM = 0x636F6E64


@dataclass(frozen=True, eq=False)
class TrainedConditions:
    """Condition rows of the training data, in the spec's condition order.

    ``rows`` is ``(k, d)`` float64; ``counts`` the events per row when the record is exact
    (``None``: ``rows`` is a uniform subsample, every row weighing alike); ``n_events``
    how many training events the rows describe.
    """

    names: tuple[str, ...]
    rows: np.ndarray
    counts: np.ndarray | None
    n_events: int

    @property
    def exact(self) -> bool:
        return self.counts is not None

    # -- drawing --------------------------------------------------------------------------
    def draw(
        self, n: int, given: Mapping[str, np.ndarray], rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Every condition for ``n`` events: the ``given`` ones (checked arrays of length
        ``n``) as they are, the others drawn as the module docstring says."""
        missing = [name for name in self.names if name not in given]
        if not missing:
            return {name: given[name] for name in self.names}
        if n == 0 or len(missing) == len(self.names) or not self.exact:
            idx = self._pick(n, np.arange(len(self.rows)), rng)
        else:
            idx = self._conditional(n, given, rng)
        drawn = self.rows[idx]
        return {
            name: given[name] if name in given else np.ascontiguousarray(drawn[:, i])
            for i, name in enumerate(self.names)
        }

    def _pick(self, m: int, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``m`` row indices drawn from ``candidates`` with replacement, by their counts."""
        weights = np.ones(len(candidates)) if self.counts is None else self.counts[candidates]
        cumulative = np.cumsum(weights, dtype=np.float64)
        u = rng.random(m) * cumulative[-1]
        return candidates[np.searchsorted(cumulative, u, side="right")]

    def _conditional(
        self, n: int, given: Mapping[str, np.ndarray], rng: np.random.Generator
    ) -> np.ndarray:
        """Row indices matching each event's given values (float32), else any row."""
        cols = [i for i, name in enumerate(self.names) if name in given]
        keys = self.rows[:, cols].astype(np.float32)
        groups, row_group = np.unique(keys, axis=0, return_inverse=True)
        lookup = {tuple(g): j for j, g in enumerate(groups.tolist())}
        wanted = np.stack([given[self.names[i]] for i in cols], axis=1).astype(np.float32)
        values, event_value = np.unique(wanted, axis=0, return_inverse=True)
        value_group = np.array([lookup.get(tuple(v), -1) for v in values.tolist()], np.int64)
        event_group = value_group[event_value.reshape(-1)]
        row_group = row_group.reshape(-1)
        idx = np.empty(n, dtype=np.int64)
        for j in np.unique(event_group):
            events = np.flatnonzero(event_group == j)
            rows = np.arange(len(self.rows)) if j < 0 else np.flatnonzero(row_group == j)
            idx[events] = self._pick(len(events), rows, rng)
        return idx

    # -- persistence ----------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """The record as named arrays (stored beside the model's weights)."""
        out = {"rows": self.rows, "n_events": np.asarray(self.n_events, dtype=np.int64)}
        if self.counts is not None:
            out["counts"] = self.counts
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], spec: EventSpec) -> TrainedConditions:
        """The record :meth:`state` wrote, checked against the model's conditions."""
        names = spec.condition_names
        try:
            rows = np.asarray(state["rows"], dtype=np.float64)
            n_events = int(state["n_events"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"training conditions: malformed record ({exc})") from None
        counts = state.get("counts")
        if rows.ndim != 2 or rows.shape[1] != len(names) or not len(rows):
            raise CheckpointError(
                f"training conditions: rows of shape {rows.shape} for the conditions {names}"
            )
        if counts is not None and np.shape(counts) != (len(rows),):
            raise CheckpointError("training conditions: one count per row expected")
        return cls(names, rows, None if counts is None else np.asarray(counts, np.int64), n_events)

    def summary(self) -> dict[str, Any]:
        """What ``config.json`` records and the model card shows: the kind of record, the
        observed range and, when exact, the most common values with their shares."""
        out: dict[str, Any] = {
            "kind": "exact" if self.exact else "subsample",
            "conditions": list(self.names),
            "n_events": self.n_events,
            "rows": len(self.rows),
            "range": {
                name: [float(self.rows[:, i].min()), float(self.rows[:, i].max())]
                for i, name in enumerate(self.names)
            },
        }
        if self.counts is not None:
            top = np.argsort(-self.counts, kind="stable")[:CARD_VALUES]
            out["values"] = [
                {
                    "values": [float(v) for v in self.rows[i]],
                    "events": int(self.counts[i]),
                    "share": float(self.counts[i]) / self.n_events,
                }
                for i in sorted(top.tolist(), key=lambda i: tuple(self.rows[i]))
            ]
        return out


# -- recording --------------------------------------------------------------------------
def record(source: Any, spec: EventSpec) -> TrainedConditions | None:
    """The condition record of ``source`` (``Events`` or an event-file reader: ``len`` and
    slices), ``None`` for an unconditional spec."""
    if not spec.conditions:
        return None
    recorder = _Recorder(len(spec.conditions), np.random.default_rng(_STREAM))
    for rows in condition_batches(source, spec):
        recorder.add(rows)
    return recorder.result(spec.condition_names)


def condition_batches(
    source: Any, spec: EventSpec, stop: int | None = None
) -> Iterator[np.ndarray]:
    """``(m, n_conditions)`` float64 matrices of the first ``stop`` events of ``source``
    (``None``: all), in order, at most :data:`READ_BYTES` of events (and
    :data:`READ_EVENTS` events) at a time.  A file reader's ``read_conditions`` reads the
    condition datasets alone: a pass over the conditions of a training file does not read
    its showers again."""
    per_event = sum(f.size * np.dtype(f.dtype).itemsize for f in spec.fields) or 1
    step = max(1, min(READ_EVENTS, READ_BYTES // per_event))
    total = len(source) if stop is None else min(int(stop), len(source))
    read = getattr(source, "read_conditions", None)
    for start in range(0, total, step):
        key = slice(start, min(start + step, total))
        if read is None or not spec.conditions:
            yield source[key].condition_matrix()
        else:
            conds = read(key)
            yield np.stack([conds[name] for name in spec.condition_names], axis=1)


class _Recorder:
    """Distinct rows with their counts while there are few, and the subsample."""

    def __init__(self, width: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.n = 0
        self.counts: dict[tuple[float, ...], int] | None = {}
        self.keys = np.empty(0)
        self.sample = np.empty((0, width))

    def add(self, rows: np.ndarray) -> None:
        self.n += len(rows)
        if self.counts is not None:
            distinct, counts = np.unique(rows, axis=0, return_counts=True)
            if len(distinct) > MAX_DISTINCT:
                self.counts = None
            else:
                for row, count in zip(map(tuple, distinct.tolist()), counts.tolist(), strict=True):
                    self.counts[row] = self.counts.get(row, 0) + count
                if len(self.counts) > MAX_DISTINCT:
                    self.counts = None
        keys = np.concatenate([self.keys, self.rng.random(len(rows))])
        sample = np.concatenate([self.sample, rows])
        if len(keys) > SUBSAMPLE:
            keep = np.argpartition(keys, SUBSAMPLE - 1)[:SUBSAMPLE]
            keys, sample = keys[keep], sample[keep]
        self.keys, self.sample = keys, sample

    def result(self, names: tuple[str, ...]) -> TrainedConditions | None:
        if self.n == 0:
            return None
        if self.counts is not None:
            rows = sorted(self.counts)
            counts = np.array([self.counts[r] for r in rows], dtype=np.int64)
            return TrainedConditions(names, np.array(rows, dtype=np.float64), counts, self.n)
        order = np.argsort(self.keys, kind="stable")
        return TrainedConditions(names, self.sample[order], None, self.n)
