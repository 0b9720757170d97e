"""Low-dimensional targets with exact samplers and exact normalisers: the double wells,
ManyWell, the 40-mode Gaussian mixture and the Müller–Brown potential.

Each is a :class:`~.target.Target` with the one field ``x`` and the condition
``temperature`` (kT, k = 1): ``p(x | T) ∝ exp(-U(x)/T)``.  Their ``ln Z(T)`` and their
exact samples come from one grid helper (:mod:`.quadrature`), applied to a 1D marginal
(the double-well coordinate; the other coordinates are Gaussian) or to the plane, so every
benchmark number quoted for them (ln Z, free-energy differences, mode weights) is computed
here to many digits rather than estimated.
"""

from __future__ import annotations

import math
from functools import cached_property, partial
from typing import Any

import numpy as np
from scipy.special import logsumexp

from surrogate import Events
from surrogate.errors import SpecError, SurrogateError

from .quadrature import GridDensity, grid_box, lattice
from .target import Target

#: the three double-well conventions: (a, b, c) of U(x1) = a x1 + b x1² + c x1⁴
CONVENTIONS: dict[str, tuple[float, float, float]] = {
    # Noé et al., Science 365, eaaw1147 (2019): x1⁴ - 6x1² + x1
    "noe": (1.0, -6.0, 1.0),
    # FAB (Midgley et al., ICLR 2023, arXiv:2208.01893), fab-torch double_well.py and the
    # unit of ManyWell: x1⁴ - 6x1² - 0.5x1
    "fab": (-0.5, -6.0, 1.0),
    # bgflow DoubleWellEnergy(a=0, b=-4, c=1): x1⁴ - 4x1², symmetric
    "bgflow": (0.0, -4.0, 1.0),
}
#: cells of the 1D grid of the double-well coordinate (ln Z to ~1e-12, samples to 1e-3)
QUARTIC_CELLS = 16384
#: the grid box reaches where exp(-U/T) has fallen by e^-RISE at the top temperature
RISE = 40.0


def tabulate(target: Target, points: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """``target.potential`` at numpy ``points`` (float64, in chunks), for the grids: the
    quadrature sees exactly the energy that is trained on."""
    import torch

    with torch.no_grad():
        parts = [
            target.potential(torch.as_tensor(points[i : i + chunk], dtype=torch.float64)).numpy()
            for i in range(0, len(points), chunk)
        ]
    return np.concatenate(parts)


def quartic(x: Any, coefficients: tuple[float, float, float]) -> Any:
    """``a x + b x² + c x⁴`` of a double-well coordinate (numpy or torch)."""
    a, b, c = coefficients
    return a * x + b * x**2 + c * x**4


def quartic_grid(coefficients: tuple[float, float, float], t_max: float) -> GridDensity:
    """The grid of the marginal ``exp(-quartic(x1)/T)`` of a double-well coordinate, on a
    box symmetric about 0 (so the states ``x1 < 0`` and ``x1 > 0`` are whole cells)."""

    def u(p: np.ndarray) -> np.ndarray:
        return quartic(p[:, 0], coefficients)

    lo, hi = grid_box(u, [-3.0], [3.0], RISE * t_max)
    half = max(-lo[0], hi[0])
    return GridDensity(u, [-half], [half], [QUARTIC_CELLS])


def _gaussian_log_z(temperature: np.ndarray, dims: int) -> np.ndarray:
    """``ln ∫ exp(-|y|²/2T) dy`` over ``dims`` coordinates."""
    return 0.5 * dims * np.log(2 * np.pi * temperature)


class DoubleWell(Target):
    """The double well ``U = a x1 + b x1² + c x1⁴ + ½ Σ_{i≥2} x_i²`` in one of three
    conventions (:data:`CONVENTIONS`), which differ in tilt and barrier: results quoted from
    Noé et al. (2019), FAB (2023) and bgflow are for different potentials, so the convention
    is an explicit option.  At T = 1 ``noe`` has ΔF(right - left) = 3.380 kT and
    ln Z = 11.0205 (2D); ``fab`` has ln Z = 10.293480 and P(x1 > 0) = 0.8443.

    The exact sampler draws x1 by inverse CDF of its marginal on a fine grid and the other
    coordinates from their Gaussian of variance T.
    """

    n_modes = 2
    reference_method = "mala"

    def __init__(
        self, convention: str = "noe", dim: int = 2, t_min: float = 0.5, t_max: float = 2.0
    ) -> None:
        if convention not in CONVENTIONS:
            raise SpecError(
                f"double_well: unknown convention {convention!r}; "
                f"use one of {', '.join(CONVENTIONS)}"
            )
        dim = int(dim)
        if dim < 1:
            raise SpecError(f"double_well needs dim >= 1, not {dim}")
        super().__init__(convention=convention, dim=dim, t_min=t_min, t_max=t_max)
        self.convention, self.dim = convention, dim
        self.coefficients = CONVENTIONS[convention]
        self.spec = self._target_spec(
            (dim,), t_min, t_max, "configuration; x[0] is the double-well coordinate"
        )

    @cached_property
    def _grid(self) -> GridDensity:
        return quartic_grid(self.coefficients, self.spec.conditions[0].high)

    def potential(self, x: Any) -> Any:
        return quartic(x[:, 0], self.coefficients) + 0.5 * (x[:, 1:] ** 2).sum(-1)

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        x1 = self._grid.sample(temperature, rng)
        rest = rng.standard_normal((n, self.dim - 1)) * np.sqrt(temperature)[:, None]
        return np.concatenate([x1, rest], axis=1)

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        return self._grid.log_z(temperature) + _gaussian_log_z(temperature, self.dim - 1)

    def states(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The two named states (boolean masks), for free-energy differences."""
        x1 = np.asarray(x)[:, 0]
        return {"left": x1 < 0, "right": x1 > 0}

    def state_log_z(self, temperature: np.ndarray) -> dict[str, np.ndarray]:
        """Exact ``ln Z`` restricted to each state: ``ΔF_{A→B} / kT = ln Z_A - ln Z_B``."""
        t = np.asarray(temperature, np.float64)
        points = np.zeros((len(self._grid.points), self.dim))
        points[:, 0] = self._grid.points[:, 0]
        rest = _gaussian_log_z(t, self.dim - 1)
        return {k: self._grid.log_z(t, m) + rest for k, m in self.states(points).items()}

    def mode_labels(self, events: Events) -> np.ndarray:
        """0: left well (x1 < 0), 1: right well."""
        return (np.asarray(events["x"])[:, 0] > 0).astype(np.int64)


class ManyWell(Target):
    """FAB's ManyWell (Midgley et al. 2023): ``dim/2`` independent copies of the ``fab``
    double well on the pairs ``(x_{2k}, x_{2k+1})``, so it has ``2^(dim/2)`` modes (65,536
    at dim 32) and ``ln Z = (dim/2) ln Z_2D`` (164.6957 at dim 32, T = 1)."""

    reference_method = "mala"

    def __init__(self, dim: int = 32, t_min: float = 0.5, t_max: float = 2.0) -> None:
        dim = int(dim)
        if dim < 2 or dim % 2:
            raise SpecError(f"manywell needs an even dim >= 2, not {dim}")
        super().__init__(dim=dim, t_min=t_min, t_max=t_max)
        self.dim, self.pairs = dim, dim // 2
        self.n_modes = 2**self.pairs
        self.spec = self._target_spec(
            (dim,), t_min, t_max, "configuration; pairs (x[2k], x[2k+1]) are FAB double wells"
        )

    @cached_property
    def _grid(self) -> GridDensity:
        return quartic_grid(CONVENTIONS["fab"], self.spec.conditions[0].high)

    def potential(self, x: Any) -> Any:
        return (quartic(x[:, 0::2], CONVENTIONS["fab"]) + 0.5 * x[:, 1::2] ** 2).sum(-1)

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        x = np.empty((n, self.dim))
        x[:, 0::2] = self._grid.sample(np.repeat(temperature, self.pairs), rng).reshape(
            n, self.pairs
        )
        x[:, 1::2] = rng.standard_normal((n, self.pairs)) * np.sqrt(temperature)[:, None]
        return x

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        return self.pairs * (self._grid.log_z(temperature) + _gaussian_log_z(temperature, 1))

    def mode_labels(self, events: Events) -> np.ndarray:
        """The sign pattern of the double-well coordinates as an integer: bit k is set
        where ``x[2k] > 0``."""
        bits = np.asarray(events["x"])[:, 0::2] > 0
        return bits.astype(np.int64) @ (1 << np.arange(self.pairs, dtype=np.int64))


class GMM40(Target):
    """FAB's Gaussian mixture (Midgley et al. 2023; fab-torch ``gmm.py``): ``n_modes``
    equal-weight components with means ``(u - ½)·2·loc_scaling``, ``u ~ U[0,1)^dim`` drawn by
    ``torch.rand`` after ``torch.manual_seed(0)``, and scale softplus(1) = 1.3133 per axis.

    At temperature T the density is ``p_gmm(x)^(1/T)``: ``U = -ln p_gmm`` so ln Z(1) = 0.
    (fab-torch clamps ``ln p`` to -inf below -1e4; that only cuts the far tails, and would
    make forces vanish there, so it is left out.)  The exact sampler at any T is rejection
    from a Gaussian mixture that bounds the tempered density (see :meth:`_propose`), so
    that even at T = 0.5, where MCMC cannot cross between modes 10σ apart, the samples are
    exact and cheap.  ``ln Z(T ≠ 1)`` is by quadrature on a grid, so only in dim ≤ 2.
    """

    reference_method = "mala"

    def __init__(
        self,
        n_modes: int = 40,
        dim: int = 2,
        loc_scaling: float = 40.0,
        t_min: float = 0.5,
        t_max: float = 2.0,
    ) -> None:
        import torch

        n_modes, dim, loc_scaling = int(n_modes), int(dim), float(loc_scaling)
        if n_modes < 1 or dim < 1 or loc_scaling <= 0:
            raise SpecError("gmm40 needs n_modes >= 1, dim >= 1 and loc_scaling > 0")
        super().__init__(
            n_modes=n_modes, dim=dim, loc_scaling=loc_scaling, t_min=t_min, t_max=t_max
        )
        self.n_modes, self.dim = n_modes, dim
        #: the means spread over ±loc_scaling: a generator sees them within ±4
        self.length_scale = loc_scaling / 4
        generator = torch.Generator().manual_seed(0)
        unit = torch.rand((n_modes, dim), generator=generator)
        #: component means, float32 arithmetic as in fab-torch
        self.means = ((unit - 0.5) * 2 * loc_scaling).double().numpy()
        self.sigma = math.log1p(math.e)  # softplus(1)
        self.spec = self._target_spec((dim,), t_min, t_max, "position")

    def potential(self, x: Any) -> Any:
        import torch

        means = torch.as_tensor(self.means, dtype=x.dtype, device=x.device)
        return -torch.logsumexp(self._log_components(x, means), dim=1) + math.log(self.n_modes)

    def _log_components(self, x: Any, means: Any) -> Any:
        """``ln N(x; μ_k, σ²)`` per event and component (torch or numpy)."""
        d2 = ((x[:, None, :] - means[None]) ** 2).sum(-1)
        return -0.5 * d2 / self.sigma**2 - self.dim * math.log(self.sigma * math.sqrt(2 * math.pi))

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        t = np.asarray(temperature, np.float64)
        out = np.empty((n, self.dim))
        pending = np.arange(n)
        while pending.size:
            x, log_accept = self._propose(t[pending], rng)
            keep = np.log(rng.random(pending.size)) < log_accept
            out[pending[keep]] = x[keep]
            pending = pending[~keep]
        return out

    def _propose(self, t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Proposals at temperatures ``t`` and the log of their acceptance probabilities.

        With ``a_k`` the component densities and γ = 1/T the target is ``(Σ a_k / K)^γ``.
        For γ ≤ 1, ``(Σ a_k)^γ ≤ Σ a_k^γ`` (t^γ is subadditive) and ``a_k^γ ∝ N(μ_k, σ²T)``:
        propose from the tempered mixture, accept with ``(Σ a)^γ / Σ a^γ`` (≈ 1 for
        separated modes).  For γ > 1, ``p^γ = p · p^(γ-1) ≤ p · p_max^(γ-1)``: propose from
        the mixture itself, accept with ``(p / p_max)^(γ-1)`` (≈ T^(dim/2) on average).
        """
        k = rng.integers(0, self.n_modes, len(t))
        gamma = 1 / t
        width = self.sigma * np.sqrt(np.maximum(t, 1.0))
        x = self.means[k] + width[:, None] * rng.standard_normal((len(t), self.dim))
        log_a = self._log_components(x, self.means)
        log_sum = logsumexp(log_a, axis=1)
        tempered = gamma * log_sum - logsumexp(gamma[:, None] * log_a, axis=1)
        cold = (gamma - 1) * (log_sum - math.log(self.n_modes) - self._log_p_max)
        return x, np.where(gamma <= 1, tempered, cold)

    @cached_property
    def _log_p_max(self) -> float:
        """An upper bound of ``ln p_gmm``.  Farther than ``R = σ√(2 ln K)`` from every mean,
        ``p < peak / K``, which ``p`` exceeds at a mean; so ``sup p`` is in the balls of
        radius R about the means, which small cells (side σ/4) about each mean cover.  In a
        cell, each component's distance reduced by the half-diagonal bounds ``p`` from
        above.  Without the cells (dim > 2) the bound is one component's peak,
        ``p ≤ (1/K) Σ_k max a_k``."""
        peak = -self.dim * math.log(self.sigma * math.sqrt(2 * math.pi))
        if self.dim > 2:
            return peak
        side = self.sigma / 4
        steps = math.ceil(self.sigma * math.sqrt(2 * math.log(self.n_modes)) / side) + 1
        offsets = np.arange(-steps, steps + 1) * side
        cells = (self.means[:, None, :] + lattice([offsets] * self.dim)[None]).reshape(-1, self.dim)
        d = np.sqrt(((cells[:, None, :] - self.means[None]) ** 2).sum(-1))
        close = np.maximum(d - 0.5 * side * math.sqrt(self.dim), 0.0)
        bound = logsumexp(-0.5 * close**2 / self.sigma**2, axis=1).max()
        return float(bound + peak - math.log(self.n_modes))

    @cached_property
    def _grid(self) -> GridDensity:
        if self.dim > 2:
            raise SurrogateError(
                f"gmm40: ln Z at T != 1 needs dim <= 2 (quadrature), not {self.dim}"
            )
        cond = self.spec.conditions[0]
        u = partial(tabulate, self)
        lo, hi = grid_box(u, self.means.min(0), self.means.max(0), RISE * cond.high)
        spacing = self.sigma * math.sqrt(cond.low) / 4
        return GridDensity(u, lo, hi, np.ceil((hi - lo) / spacing).astype(int))

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        t = np.asarray(temperature, np.float64)
        if np.all(t == 1):
            return np.zeros_like(t)
        return self._grid.log_z(t)

    def mode_labels(self, events: Events) -> np.ndarray:
        """Index of the nearest mean, or -1 beyond 4 tempered widths (4σ√T) of every mean."""
        x = np.asarray(events["x"], np.float64)
        t = np.asarray(events.conditions["temperature"], np.float64)
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        nearest = d2.argmin(1)
        far = d2[np.arange(len(x)), nearest] > 16 * self.sigma**2 * t
        return np.where(far, -1, nearest)


#: Müller & Brown, Theor. Chim. Acta 53, 75 (1979): U = Σ_k A_k exp(a_k dx² + b_k dx dy + c_k dy²)
MB_A = (-200.0, -100.0, -170.0, 15.0)
MB_a = (-1.0, -1.0, -6.5, 0.7)
MB_b = (0.0, 0.0, 11.0, 0.6)
MB_c = (-10.0, -10.0, -6.5, 0.7)
MB_X0 = (1.0, 0.0, -0.5, -1.0)
MB_Y0 = (0.0, 0.5, 1.5, 1.0)
#: its three minima (unscaled U = -146.700, -108.167, -80.768) and the largest curvature
#: there (the Hessian eigenvalue 4068 at A), which sets the grid spacing
MB_MINIMA = {
    "A": (-0.558224, 1.441726),
    "B": (0.623499, 0.028038),
    "C": (-0.050011, 0.466694),
}
MB_STIFFNESS = 4068.2


class MuellerBrown(Target):
    """The Müller–Brown potential (Müller & Brown 1979) times ``scale``.

    Unscaled its wells lie 39 to 106 energy units apart, hundreds of kT at T = 1; with the
    default scale 0.1 the minima are at U = -14.67 (A), -10.82 (B) and -8.08 (C), the barrier
    out of the deep well A is 10.6 kT (saddle A-C at U = -4.07) and out of B 3.6 kT (saddle
    B-C at -7.22): two metastable states and an intermediate, at the ~10 kT barrier height of
    the double wells.  The named states A, B, C are the Voronoi cells of the three minima
    (nearest minimum in the plane), a simple, reproducible rule that puts each minimum's
    basin and its approach to the saddles in its own state.
    """

    n_modes = 3
    reference_method = "mala"

    def __init__(self, scale: float = 0.1, t_min: float = 0.5, t_max: float = 2.0) -> None:
        scale = float(scale)
        if scale <= 0:
            raise SpecError(f"mueller_brown needs scale > 0, not {scale}")
        super().__init__(scale=scale, t_min=t_min, t_max=t_max)
        self.scale = scale
        self.minima = np.array(list(MB_MINIMA.values()))
        self.spec = self._target_spec((2,), t_min, t_max, "position (x, y)")

    def potential(self, x: Any) -> Any:
        total = 0.0
        for amp, a, b, c, x0, y0 in zip(MB_A, MB_a, MB_b, MB_c, MB_X0, MB_Y0, strict=True):
            dx, dy = x[:, 0] - x0, x[:, 1] - y0
            total = total + amp * (a * dx**2 + b * dx * dy + c * dy**2).exp()
        return self.scale * total

    @cached_property
    def _grid(self) -> GridDensity:
        cond = self.spec.conditions[0]
        u = partial(tabulate, self)
        lo, hi = grid_box(u, [-1.5, -0.2], [1.2, 2.0], RISE * cond.high)
        spacing = math.sqrt(cond.low / (self.scale * MB_STIFFNESS)) / 8
        return GridDensity(u, lo, hi, np.ceil((hi - lo) / spacing).astype(int))

    def exact_sample(self, n: int, temperature: np.ndarray, rng: np.random.Generator) -> Any:
        return self._grid.sample(temperature, rng)

    def log_z(self, temperature: np.ndarray) -> np.ndarray:
        return self._grid.log_z(temperature)

    def nearest_minimum(self, x: np.ndarray) -> np.ndarray:
        """0, 1, 2 for A, B, C: the nearest of the three minima."""
        x = np.asarray(x, np.float64)
        return ((x[:, None, :] - self.minima[None]) ** 2).sum(-1).argmin(1)

    def states(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The three named states A, B, C (boolean masks; see the class docstring)."""
        label = self.nearest_minimum(x)
        return {name: label == i for i, name in enumerate(MB_MINIMA)}

    def state_log_z(self, temperature: np.ndarray) -> dict[str, np.ndarray]:
        """``ln Z`` restricted to each state (to the grid: cells are assigned by centre)."""
        t = np.asarray(temperature, np.float64)
        return {k: self._grid.log_z(t, m) for k, m in self.states(self._grid.points).items()}

    def mode_labels(self, events: Events) -> np.ndarray:
        return self.nearest_minimum(events["x"])
