"""Small closed-form targets and "models" for the tests of the estimators' users.

- ``Mixture``: 1-D, ``p(x) = 0.3 N(-4, 1) + 0.7 N(4, 1)`` at ``T = 1`` (the only
  temperature), two named states (``x < 0``, ``x > 0``) with exact ``ln Z`` each, and
  two labelled modes;
- ``Harmonic``: 3 particles in 2-D, ``U = |x|^2 / 2``, independent ``N(0, T)`` coordinates;
- ``Spins``: a periodic 3 x 3 Ising lattice, exact by enumerating its 512 configurations.

``Exact(target)`` is a "model" whose samples and density are the target's own, so every
estimator must read ideal; ``OneMode`` draws the right mode of ``Mixture`` only.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from scipy.stats import norm

from surrogate import Events
from surrogate_boltzmann.estimators import lattice_energy
from surrogate_boltzmann.target import Target

WEIGHTS, CENTRES = (0.3, 0.7), (-4.0, 4.0)


class Mixture(Target):
    n_modes = 2

    def __init__(self) -> None:
        super().__init__()
        self.spec = self._target_spec((1,), 1.0, 1.0, "a two-state mixture")

    def potential(self, x: Any) -> Any:
        parts = [
            math.log(w) - 0.5 * (x[:, 0] - c) ** 2 for w, c in zip(WEIGHTS, CENTRES, strict=True)
        ]
        return -torch.logaddexp(*parts)

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        centre = np.where(rng.random(n) < WEIGHTS[0], *CENTRES)
        return (centre + rng.standard_normal(n))[:, None]

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        return np.full(np.shape(temperature), 0.5 * math.log(2 * math.pi))

    def states(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"left": x[:, 0] < 0, "right": x[:, 0] > 0}

    def state_log_z(self, temperature: np.ndarray) -> dict[str, np.ndarray]:
        left = sum(w * norm.cdf(-c) for w, c in zip(WEIGHTS, CENTRES, strict=True))
        base = self.log_z(temperature)
        return {"left": base + math.log(left), "right": base + math.log(1 - left)}

    def mode_labels(self, events: Events) -> np.ndarray:
        return (np.asarray(events["x"])[:, 0] > 0).astype(np.int64)


class Harmonic(Target):
    def __init__(self) -> None:
        super().__init__()
        self.spec = self._target_spec((3, 2), 0.5, 2.0, "3 particles in a harmonic trap")

    def potential(self, x: Any) -> Any:
        return 0.5 * (x**2).sum(dim=(1, 2))

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        return rng.standard_normal((n, 3, 2)) * np.sqrt(temperature)[:, None, None]

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        return 3.0 * np.log(2 * math.pi * np.asarray(temperature, np.float64))


class Spins(Target):
    dtype = "int8"
    L = 3

    def __init__(self) -> None:
        super().__init__()
        self.spec = self._target_spec((self.L, self.L), 1.0, 5.0, "spins")
        configs = itertools.product((-1, 1), repeat=self.L**2)
        self.configs = np.array(list(configs), np.int8).reshape(-1, self.L, self.L)
        self.h = lattice_energy(self.configs)

    def potential(self, x: Any) -> Any:
        s = x.double()
        return -(s * torch.roll(s, 1, 1) + s * torch.roll(s, 1, 2)).sum(dim=(1, 2))

    def magnetisation(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64).reshape(len(x), -1).mean(1)

    def _log_p(self, t: float) -> np.ndarray:
        lp = -self.h / t
        return lp - np.logaddexp.reduce(lp)

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        return self.configs[rng.choice(len(self.configs), n, p=np.exp(self._log_p(temperature[0])))]

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        t = np.asarray(temperature, np.float64).reshape(-1)
        return np.array([np.logaddexp.reduce(-self.h / ti) for ti in t])


class Exact:
    """The target as its own model: exact samples and exact log-density."""

    name = "exact"

    def __init__(self, target: Target) -> None:
        self.target = target

    def sample_and_log_prob(self, n: int, conditions: Any, *, seed: int) -> tuple[Events, Any]:
        events = self.target.sample(n, conditions, seed=seed)
        return events, self.target.log_prob(events)

    def log_prob(self, events: Events) -> np.ndarray:
        return self.target.log_prob(events)


class OneMode:
    """``N(4, 1)``: the right mode of ``Mixture`` only (a collapsed model)."""

    name = "one_mode"

    def __init__(self, target: Target) -> None:
        self.spec = target.spec

    def sample_and_log_prob(self, n: int, conditions: Any, *, seed: int) -> tuple[Events, Any]:
        x = np.random.default_rng(seed).normal(4.0, 1.0, (n, 1))
        events = Events({"x": x}, {"temperature": np.ones(n)}, self.spec)
        return events, self.log_prob(events)

    def log_prob(self, events: Events) -> np.ndarray:
        x = np.asarray(events["x"], np.float64)[:, 0]
        return -0.5 * (x - 4.0) ** 2 - 0.5 * math.log(2 * math.pi)
