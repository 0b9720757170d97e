"""The 2D Ising ferromagnet on a periodic L×L lattice, with its exact finite-size ln Z.

``U(s) = -J Σ_<ij> s_i s_j`` over the 2L² nearest-neighbour bonds of the torus (each bond
once), spins ``s = ±1`` as ``int8``.  The exact partition function of the finite torus is
Kaufman's (Phys. Rev. 76, 1232, 1949): with ``K = J/T``,

    Z = ½ (2 sinh 2K)^(L²/2) [Z1 + Z2 + Z3 + Z4],
    Z1 = Π_r 2cosh(L γ_{2r+1}/2),  Z2 = Π_r 2sinh(L γ_{2r+1}/2),
    Z3 = Π_r 2cosh(L γ_{2r}/2),    Z4 = Π_r 2sinh(L γ_{2r}/2),     r = 0 … L-1,

    cosh γ_k = cosh 2K coth 2K - cos(πk/L)  (k ≥ 1),  γ_0 = 2K + ln tanh K,

where γ_0 changes sign at the critical point K_c = ln(1 + √2)/2, so Z4 < 0 below T_c.
The products are done as sums of logarithms and the four terms combined by a signed
log-sum-exp, which is stable for L = 64 and beyond.  This is the benchmark of VAN (Wu,
Wang & Zhang, PRL 122, 080602, 2019): relative error of F against the exact value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from surrogate.errors import SpecError

from .target import Target


def _log_2cosh(y: np.ndarray) -> np.ndarray:
    a = np.abs(y)
    return a + np.log1p(np.exp(-2 * a))


def _log_abs_2sinh(y: np.ndarray) -> np.ndarray:
    a = np.abs(y)
    with np.errstate(divide="ignore"):
        return a + np.log(-np.expm1(-2 * a))


def kaufman_log_z(L: int, coupling: np.ndarray) -> np.ndarray:
    """Exact ``ln Z`` of the periodic L×L Ising model at ``K = J/T`` (any shape of K > 0)."""
    k_couple = np.asarray(coupling, np.float64)[..., None]
    k = np.arange(1, 2 * L)
    two_k = 2 * k_couple
    # cosh γ - 1 without cancellation near T_c and at small k: cosh 2K coth 2K - 2 is
    # (sinh 2K - 1)² / sinh 2K, and 1 - cos(πk/L) is 2 sin²(πk/2L)
    sinh = np.sinh(two_k)
    delta = (sinh - 1) ** 2 / sinh + 2 * np.sin(np.pi * k / (2 * L)) ** 2
    gamma_k = np.log1p(delta + np.sqrt(delta * (delta + 2)))
    gamma_0 = two_k + np.log(np.tanh(k_couple))
    gamma = np.concatenate([gamma_0, gamma_k], axis=-1)
    half_odd, half_even = 0.5 * L * gamma[..., 1::2], 0.5 * L * gamma[..., 0::2]
    terms = np.stack(
        [
            _log_2cosh(half_odd).sum(-1),
            _log_abs_2sinh(half_odd).sum(-1),
            _log_2cosh(half_even).sum(-1),
            _log_abs_2sinh(half_even).sum(-1),
        ],
        axis=-1,
    )
    signs = np.ones_like(terms)
    signs[..., 3] = np.sign(gamma_0[..., 0])  # only sinh(L γ_0 / 2) can be negative
    total = logsumexp(terms, axis=-1, b=signs)
    prefactor = 0.5 * L * L * np.log(2 * np.sinh(two_k[..., 0]))
    return np.log(0.5) + prefactor + total


class Ising(Target):
    """The periodic L×L Ising ferromagnet (module docstring): field ``x`` ``(L, L)`` of
    int8 spins ±1, ``ln Z`` exact (Kaufman 1949), no exact sampler (the reference is the
    Wolff cluster algorithm, ``reference_method``).  The default temperature range
    [1.5, 4.0] brackets T_c = 2.269 J."""

    dtype = "int8"
    reference_method = "wolff"

    def __init__(self, L: int = 16, J: float = 1.0, t_min: float = 1.5, t_max: float = 4.0):
        L, J = int(L), float(J)
        if L < 2:
            raise SpecError(f"ising needs L >= 2, not {L}")
        if not J > 0:
            raise SpecError(f"ising needs J > 0 (the ferromagnet of Kaufman's ln Z), not {J}")
        super().__init__(L=L, J=J, t_min=t_min, t_max=t_max)
        self.L, self.J = L, J
        self.spec = self._target_spec((L, L), t_min, t_max, "spins ±1", low=-1, high=1)

    def potential(self, x: Any) -> Any:
        import torch

        s = x if x.dtype.is_floating_point else x.to(torch.float64)
        bonds = s * torch.roll(s, 1, dims=1) + s * torch.roll(s, 1, dims=2)
        return -self.J * bonds.sum(dim=(1, 2))

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        return kaufman_log_z(self.L, self.J / np.asarray(temperature, np.float64))

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Independent random spins (the infinite-temperature state)."""
        return rng.choice(np.array([-1, 1], np.int8), (n, self.L, self.L))

    def magnetisation(self, x: Any) -> np.ndarray:
        """The magnetisation per site ``Σ s / L²`` of each configuration."""
        return np.asarray(x, np.float64).reshape(len(x), -1).mean(1)

    def energy_per_site(self, x: Any) -> np.ndarray:
        """The energy per site ``U / L²`` of each configuration (not divided by T)."""
        import torch

        with torch.no_grad():
            u = self.potential(torch.as_tensor(np.asarray(x)))
        return u.numpy() / self.L**2
