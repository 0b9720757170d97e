"""Gaussian and lognormal random fields with a given power spectrum, in 2D and 3D.

Convention (the estimator's, :mod:`surrogate_cosmo.statistics`): ``delta(k) = (V/N^d)
DFT(delta_x)`` and ``<|delta(k)|^2> = V P(k)``.  White noise ``w`` gives
``DFT(w) sqrt(P N^d / V)`` as the field's DFT.  Options (Angulo & Pontzen 2016):
``fixed`` sets every mode's amplitude to its expectation, ``paired`` flips the phases
(``delta -> -delta``); together they cancel most cosmic variance of a pair of runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from surrogate.errors import SpecError

from .mesh import check_grid, irfft, wavevectors

Array = np.ndarray
Power = Callable[[Array], Array] | Array


def _power_on_grid(power: Power, n: int, box: float, dim: int) -> Array:
    """``P`` on the ``rfftn`` grid: a callable of |k|, or already an array of that shape."""
    kvec = wavevectors(n, box, dim)
    if callable(power):
        k = np.sqrt(sum(k**2 for k in kvec))
        p = np.asarray(power(k), float)
    else:
        p = np.asarray(power, float)
    shape = (n,) * (dim - 1) + (n // 2 + 1,)
    if p.shape != shape:
        raise SpecError(f"power on the grid has shape {p.shape}, expected {shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise SpecError("power spectrum must be finite and >= 0 on every mode")
    return p


def _check_field(shape: tuple[int, ...], box: float) -> int:
    """The side of a square 2D or cubic 3D grid of even size in a box of side > 0."""
    if len(shape) not in (2, 3) or len(set(shape)) != 1:
        raise SpecError(f"fields are square 2D or cubic 3D grids, not {shape}")
    if not box > 0:
        raise SpecError(f"box must be > 0 Mpc/h, not {box}")
    return check_grid(shape[0], "grid size")


def gaussian_modes(
    shape: tuple[int, ...],
    box: float,
    power: Power,
    rng: np.random.Generator,
    *,
    fixed: bool = False,
    paired: bool = False,
) -> Array:
    """The ``rfftn`` of a Gaussian random field (zero mean mode) with spectrum ``power``."""
    dim, n = len(shape), _check_field(shape, box)
    white = np.fft.rfftn(rng.standard_normal(shape))
    if fixed:
        white *= np.sqrt(n**dim) / np.maximum(np.abs(white), 1e-300)
    modes = white * np.sqrt(_power_on_grid(power, n, box, dim) * n**dim / box**dim)
    modes.flat[0] = 0.0
    return -modes if paired else modes


def gaussian_field(
    shape: tuple[int, ...],
    box: float,
    power: Power,
    rng: np.random.Generator,
    *,
    fixed: bool = False,
    paired: bool = False,
) -> Array:
    """A real Gaussian random field on ``shape`` cells with spectrum ``power``."""
    modes = gaussian_modes(shape, box, power, rng, fixed=fixed, paired=paired)
    return irfft(modes, shape)


def lognormal_field(
    shape: tuple[int, ...],
    box: float,
    power: Power,
    rng: np.random.Generator,
    *,
    fixed: bool = False,
    paired: bool = False,
) -> Array:
    """A lognormal field ``1 + delta = exp(g - sigma_g^2 / 2)`` whose spectrum is
    ``power`` (powerbox's ``LogNormalPowerBox``): the Gaussian ``g`` has correlation
    ``xi_G = ln(1 + xi)``, so ``delta`` has the target ``xi`` and is >= -1 everywhere.
    Modes where ``xi_G``'s spectrum comes out negative (a target too non-Gaussian for a
    lognormal) are clipped to zero."""
    dim, n = len(shape), _check_field(shape, box)
    p = _power_on_grid(power, n, box, dim)
    xi = irfft(p, shape) * n**dim / box**dim
    if (xi <= -1).any():
        raise SpecError("the target correlation function reaches -1: no lognormal field has it")
    p_g = np.clip(np.fft.rfftn(np.log1p(xi)).real * box**dim / n**dim, 0.0, None)
    var_g = irfft(p_g, shape).flat[0] * n**dim / box**dim  # xi_G(0) after clipping
    g = gaussian_field(shape, box, p_g, rng, fixed=fixed, paired=paired)
    return np.exp(g - 0.5 * var_g) - 1.0
