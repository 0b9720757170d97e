"""Small targets with known answers for the tests of the reference samplers.

- ``Gaussian``: ``U = xᵀ P x / 2`` in 4-D with covariance eigenvalues 1, 0.5, 0.2, 0.1 along
  a random rotation, so ``x ~ N(0, T Σ)``;
- ``Well``: a 1-D double well ``U = 10 (x² - 1)² + x / 2`` (barrier 10 kT at ``T = 1``),
  its exact right-well weight by quadrature, chains started in the left well;
- ``HalfGaussian``: ``U = x² / 2`` for ``x > 0`` and infinite (zero density) below;
- ``Cluster``: three Lennard-Jones particles in 2-D with a harmonic tether (an energy
  that is infinite where particles overlap);
- ``Lattice``: a periodic ``L × L`` Ising lattice with coupling ``J``, exact at ``L = 4`` by
  enumerating its 2¹⁶ configurations (:func:`enumerate_ising`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.integrate import quad

from surrogate_boltzmann.target import Target
from surrogate_boltzmann.wolff import ising_energy

EIGENVALUES = np.array([1.0, 0.5, 0.2, 0.1])
ROTATION = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 4)))[0]
COVARIANCE = ROTATION @ np.diag(EIGENVALUES) @ ROTATION.T


class Gaussian(Target):
    reference_method = "mala"

    def __init__(self) -> None:
        super().__init__()
        self.precision = torch.as_tensor(np.linalg.inv(COVARIANCE))
        self.spec = self._target_spec((4,), 0.5, 4.0, "position")

    def potential(self, x: Any) -> Any:
        return 0.5 * ((x @ self.precision) * x).sum(dim=-1)

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, 4))


HEIGHT, TILT = 10.0, 0.5


def well_potential(x: np.ndarray) -> np.ndarray:
    return HEIGHT * (x * x - 1.0) ** 2 + TILT * x


def well_right_weight() -> float:
    """``P(x > 0)`` at ``T = 1`` by quadrature."""
    right = quad(lambda x: np.exp(-well_potential(x)), 0.0, 4.0)[0]
    left = quad(lambda x: np.exp(-well_potential(x)), -4.0, 0.0)[0]
    return right / (left + right)


class Well(Target):
    reference_method = "mala"

    def __init__(self) -> None:
        super().__init__()
        self.spec = self._target_spec((1,), 1.0, 1.0, "position")

    def potential(self, x: Any) -> Any:
        return well_potential(x[:, 0])

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full((n, 1), -1.0)


class HalfGaussian(Target):
    reference_method = "mala"

    def __init__(self) -> None:
        super().__init__()
        self.spec = self._target_spec((1,), 1.0, 1.0, "position")

    def potential(self, x: Any) -> Any:
        x = x[:, 0]
        return torch.where(x > 0, 0.5 * x * x, torch.full_like(x, torch.inf))

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full((n, 1), 1.0)


class Cluster(Target):
    reference_method = "mala"

    def __init__(self, overlap: bool = False) -> None:
        super().__init__()
        self.overlap = overlap
        self.spec = self._target_spec((3, 2), 0.5, 2.0, "positions")

    def potential(self, x: Any) -> Any:
        d = (x[:, :, None] - x[:, None]).pow(2).sum(-1)
        i, j = torch.triu_indices(3, 3, 1)
        inv6 = 1.0 / d[:, i, j] ** 3
        centred = x - x.mean(dim=1, keepdim=True)
        return (inv6 * inv6 - 2.0 * inv6).sum(-1) + 0.5 * centred.pow(2).sum((1, 2))

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = np.array([[0.0, 0.0], [1.12, 0.0], [0.56, 0.97]]) + 0.01 * rng.standard_normal(
            (n, 3, 2)
        )
        if self.overlap:
            x[:, 1] = x[:, 0]
        return x


class Lattice(Target):
    dtype = "int8"
    reference_method = "wolff"

    def __init__(self, size: int = 4, coupling: float = 1.0, field: float = 0.0) -> None:
        super().__init__()
        self.coupling, self.field = coupling, field
        self.spec = self._target_spec((size, size), 0.5, 10.0, "spins")

    def potential(self, x: Any) -> Any:
        bonds = x * (torch.roll(x, -1, 1) + torch.roll(x, -1, 2))
        return -self.coupling * bonds.sum((1, 2)) - self.field * x.sum((1, 2))

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        shape = self.spec.fields[0].shape
        return np.where(rng.random((n, *shape)) < 0.5, 1, -1).astype(np.int8)


def enumerate_ising(size: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(U, |m|)`` of every configuration of a periodic ``size × size`` lattice (J = 1)."""
    n = size * size
    codes = np.arange(2**n)[:, None] >> np.arange(n)
    spins = (1 - 2 * (codes & 1)).reshape(-1, size, size).astype(np.int8)
    return ising_energy(spins, 1.0), np.abs(spins.reshape(-1, n).sum(axis=1)) / n


def exact_ising(beta: float, size: int = 4) -> tuple[float, float, float]:
    """``(ln Z, <U>, <|m|>)`` at inverse temperature ``beta`` by enumeration."""
    energy, magnetisation = enumerate_ising(size)
    log_w = -beta * energy
    w = np.exp(log_w - log_w.max())
    log_z = float(np.log(w.sum()) + log_w.max())
    return log_z, float(w @ energy / w.sum()), float(w @ magnetisation / w.sum())
