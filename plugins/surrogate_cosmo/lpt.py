"""Lagrangian perturbation theory: Zel'dovich (1LPT) and second-order (2LPT)
displacements of a lattice, and the momenta that go with them.

Signs as JaxPM's ``pm.lpt`` (and Scoccimarro 1998): ``psi1(k) = i k / k^2 delta(k)``, so
``div psi1 = -delta``; ``phi_ij = k_i k_j / k^2 delta``, ``delta2 = sum_{i<j} (phi_ii phi_jj
- phi_ij^2)``, ``psi2(k) = i k / k^2 delta2(k)``; positions ``x = q + D psi1 + (3/7) D^2
psi2`` and momenta ``p = a^2 dx/dt`` (time in 1/H0): ``p = G_D psi1 + G_D2 psi2`` with the
factors of :class:`surrogate_cosmo.linear.Growth`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear import Growth
from .mesh import irfft, k_squared, lattice, wavevectors, without_nyquist

Array = np.ndarray


@dataclass(frozen=True)
class Displacements:
    """Per-particle displacement fields of a lattice, each ``(P, d)`` in Mpc/h at D = 1."""

    psi1: Array
    psi2: Array | None


def _grad_inverse_laplacian(modes: Array, kvec: list[Array], n: int, box: float) -> Array:
    """``i k / k^2 modes`` back in real space, one column per axis: ``(n^d, d)``."""
    k2 = k_squared(kvec)
    shape = (n,) * len(kvec)
    cols = []
    for k in kvec:
        f = 1j * without_nyquist(k, n, box) / k2 * modes
        f.flat[0] = 0.0
        cols.append(irfft(f, shape).reshape(-1))
    return np.stack(cols, axis=1)


def second_order_source(modes: Array, kvec: list[Array], n: int) -> Array:
    """``delta2 = sum_{i<j} (phi_ii phi_jj - phi_ij^2)`` in real space, from the linear
    field's ``rfftn`` modes."""
    k2 = k_squared(kvec)
    shape = (n,) * len(kvec)
    dim = len(kvec)

    def phi(i: int, j: int) -> Array:
        f = kvec[i] * kvec[j] / k2 * modes
        f.flat[0] = 0.0
        return irfft(f, shape)

    diag = [phi(i, i) for i in range(dim)]
    out = np.zeros(shape)
    for i in range(dim):
        for j in range(i + 1, dim):
            out += diag[i] * diag[j] - phi(i, j) ** 2
    return out


def displacements(modes: Array, n: int, box: float, order: int = 2) -> Displacements:
    """The LPT displacements of the ``n^d`` lattice for the linear field with ``rfftn``
    ``modes`` (normalised to D = 1)."""
    dim = modes.ndim
    kvec = wavevectors(n, box, dim)
    psi1 = _grad_inverse_laplacian(modes, kvec, n, box)
    if order < 2:
        return Displacements(psi1, None)
    source = np.fft.rfftn(second_order_source(modes, kvec, n))
    return Displacements(psi1, _grad_inverse_laplacian(source, kvec, n, box))


def lpt_state(
    disp: Displacements, n: int, box: float, growth: Growth, a: float, offset: float = 0.0
) -> tuple[Array, Array]:
    """Positions (wrapped into the box) and momenta of the lattice at scale factor ``a``;
    ``offset`` shifts the lattice by that fraction of a cell along every axis."""
    d = float(growth.d(a))
    x = lattice(n, box, disp.psi1.shape[1]) + offset * box / n + d * disp.psi1
    p = float(growth.g_d(a)) * disp.psi1
    if disp.psi2 is not None:
        x = x + 3 / 7 * d**2 * disp.psi2
        p = p + float(growth.g_d2(a)) * disp.psi2
    return np.mod(x, box), p
