"""The conditions as a network sees them: the encoded condition vector and the batch
that carries it next to the preprocessed event.

Kept apart from the model so the encoding can be read (and tested) on its own: it is
fitted once on the training data, saved with the model and applied unchanged when
sampling, so a condition means the same to the network at every stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from surrogate.errors import SpecError
from surrogate.spec import EventSpec


@dataclass
class Batch:
    """One training batch in model space, on the training device."""

    x: torch.Tensor  # (B, x_dim) preprocessed, flattened fields (x_dim 0: no events)
    c: torch.Tensor  # (B, c_dim) encoded conditions (c_dim may be 0)
    #: (B, n_conditions) raw conditions in spec order, where an energy term needs them
    raw: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.c)

    @property
    def context(self) -> torch.Tensor | None:
        """``c``, or ``None`` for an unconditional model (what nflows expects)."""
        return self.c if self.c.shape[1] else None


class ConditionEncoder:
    """Conditions -> the network's condition vector.

    Log-uniform priors are encoded as ``log c``; a finite range is mapped linearly onto
    [-1, 1]; an open range is standardised with the training data's mean and std.
    """

    def __init__(self, spec: EventSpec) -> None:
        self.spec = spec
        self.shift = np.zeros(len(spec.conditions))
        self.scale = np.ones(len(spec.conditions))
        self.fitted = True
        for i, c in enumerate(spec.conditions):
            if math.isinf(c.low) or math.isinf(c.high):
                self.fitted = False
                continue
            lo, hi = self._raw(c, c.low), self._raw(c, c.high)
            self.shift[i] = 0.5 * (lo + hi)
            self.scale[i] = 0.5 * (hi - lo) if hi > lo else 1.0

    @staticmethod
    def _raw(cond: Any, value: Any) -> Any:
        return np.log(value) if cond.prior == "loguniform" else value

    @property
    def dim(self) -> int:
        return len(self.spec.conditions)

    def fit(self, batches: Any) -> None:
        if self.fitted:
            return
        open_ = [
            i for i, c in enumerate(self.spec.conditions) if math.isinf(c.low) or math.isinf(c.high)
        ]
        n, s1, s2 = 0, np.zeros(len(open_)), np.zeros(len(open_))
        for batch in batches:
            for j, i in enumerate(open_):
                c = self.spec.conditions[i]
                v = self._raw(c, np.asarray(batch.conditions[c.name], dtype=np.float64))
                s1[j] += v.sum()
                s2[j] += (v**2).sum()
            n += len(batch)
        for j, i in enumerate(open_):
            mean = s1[j] / max(n, 1)
            var = max(s2[j] / max(n, 1) - mean**2, 0.0)
            self.shift[i], self.scale[i] = mean, math.sqrt(var) or 1.0
        self.fitted = True

    def encode(self, conditions: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        if not self.dim:
            return np.zeros((n, 0), dtype=np.float32)
        cols = [
            self._raw(c, np.asarray(conditions[c.name], dtype=np.float64)).reshape(-1)
            for c in self.spec.conditions
        ]
        return ((np.stack(cols, axis=1) - self.shift) / self.scale).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"shift": self.shift.copy(), "scale": self.scale.copy()}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.shift = np.asarray(state["shift"], dtype=np.float64).reshape(-1)
        self.scale = np.asarray(state["scale"], dtype=np.float64).reshape(-1)
        if len(self.shift) != self.dim:
            raise SpecError("condition encoding does not fit the spec's conditions")
        self.fitted = True
