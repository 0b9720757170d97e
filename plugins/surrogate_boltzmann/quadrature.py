"""Exact-to-the-grid sampling and quadrature of ``exp(-U(x)/T)`` in one or two dimensions.

The low-dimensional targets (the double wells, Müller–Brown, the GMM normaliser) need
``ln Z(T)`` to many digits and independent samples at any temperature, and both come from
one table of ``U`` on the centres of a regular grid:

* ``ln Z`` is the midpoint rule, which for a smooth density that has decayed to nothing at
  the box edges converges faster than any power of the spacing (the error of the rule is
  set by the Fourier transform of the integrand at the grid frequency), so a few thousand
  cells per axis give ``ln Z`` to ~1e-12;
* a sample picks a cell with probability ``exp(-U_c/T) / Σ exp(-U/T)`` by inverse CDF and
  is uniform within it, so its distribution is exact up to the cell width.

Events may each carry their own temperature (a conditional generator is trained on
temperatures drawn from the prior).  One CDF per distinct temperature is built when there
are few; otherwise a geometric ladder of temperatures ``T_j`` is built over the range and an
event at ``T <= T_j`` proposes from level ``T_j`` and is accepted with probability
``exp(-(U_c - U_min)(1/T - 1/T_j)) <= 1``, which turns the proposal into the grid
distribution at ``T`` exactly (rejection sampling with the bound attained at ``U_min``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import factorial, logsumexp

Potential = Callable[[np.ndarray], np.ndarray]

#: at most this many cumulative tables per call; more distinct temperatures use the ladder
LADDER = 16
#: energy bins of ``log_z`` are BIN·T_min wide; ORDER terms of the series per bin; cells
#: above CUT·T_max of the minimum are dropped
BIN, ORDER, CUT = 0.05, 8, 60.0


def grid_box(
    u: Potential, lo: Sequence[float], hi: Sequence[float], rise: float, probe: int = 201
) -> tuple[np.ndarray, np.ndarray]:
    """Widen the box ``[lo, hi]`` until ``U`` on every face exceeds its minimum in the box
    by ``rise`` (so ``exp(-U/T)`` outside is below ``e^{-rise/T}`` of the peak), probing ``U``
    on a coarse grid of ``probe`` points per axis.  ``u`` maps ``(m, d)`` points to ``(m,)``.
    """
    lo, hi = np.array(lo, np.float64), np.array(hi, np.float64)
    for _ in range(64):
        axes = [np.linspace(a, b, probe) for a, b in zip(lo, hi, strict=True)]
        values = u(lattice(axes)).reshape([probe] * len(axes))
        low = values.min()
        grow = np.zeros((len(axes), 2), bool)
        for axis in range(len(axes)):
            faces = np.moveaxis(values, axis, 0)
            grow[axis] = [faces[0].min() - low < rise, faces[-1].min() - low < rise]
        if not grow.any():
            return lo, hi
        width = hi - lo
        lo = lo - 0.25 * width * grow[:, 0]
        hi = hi + 0.25 * width * grow[:, 1]
    raise ValueError("grid_box: the potential does not confine the density")


def lattice(axes: Sequence[np.ndarray]) -> np.ndarray:
    """The points of the product of ``axes``, ``(Π len(axis), d)``, first axis slowest."""
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


class GridDensity:
    """``exp(-U(x)/T)`` tabulated on the cell centres of a regular grid (see the module
    docstring): ``log_z`` by the midpoint rule, ``sample`` exact to the cell width."""

    def __init__(
        self, u: Potential, lo: Sequence[float], hi: Sequence[float], cells: Sequence[int]
    ):
        self.lo, self.hi = np.array(lo, np.float64), np.array(hi, np.float64)
        self.cells = tuple(int(c) for c in cells)
        self.width = (self.hi - self.lo) / np.array(self.cells)
        axes = [
            a + w * (np.arange(c) + 0.5)
            for a, w, c in zip(self.lo, self.width, self.cells, strict=True)
        ]
        #: cell centres, ``(cells, d)``, and ``U`` there
        self.points = lattice(axes)
        self.u = np.asarray(u(self.points), np.float64)
        self.u_min = float(self.u.min())
        self.log_cell = float(np.log(self.width).sum())

    def log_z(self, temperature: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """``ln ∫ exp(-U/T) dx`` per temperature, over the cells in ``where`` (a boolean mask
        over :attr:`points`; default all): the normaliser of a named state.

        Events at many distinct temperatures would cost a pass over every cell each, so the
        cells are first binned by energy (width ``BIN·T_min``) and each bin keeps the moments
        ``Σ δ^m`` of its cells' offsets δ from the bin floor: then ``Σ_cells exp(-U/T)`` is
        ``Σ_bins exp(-E_b/T) Σ_m (-1/T)^m/m! Σ δ^m``, a series whose truncation after
        :data:`ORDER` terms errs by below ``BIN^(ORDER+1)/(ORDER+1)!`` (~1e-17).  Cells more
        than ``CUT·T_max`` above the minimum (each below e^-CUT of the peak) are left out.
        """
        t = np.asarray(temperature, np.float64)
        levels, inverse = np.unique(t.ravel(), return_inverse=True)
        u = self.u if where is None else self.u[where]
        low = u.min()
        e = u - low
        e = e[e <= CUT * levels.max()]
        width = BIN * levels.min()
        bins = np.floor(e / width).astype(np.int64)
        delta = e - bins * width
        moments = np.stack([np.bincount(bins, delta**m) for m in range(ORDER + 1)])
        floor = width * np.arange(moments.shape[1])
        m = np.arange(ORDER + 1)
        out = np.empty(len(levels))
        for i in range(0, len(levels), 256):
            beta = 1 / levels[i : i + 256, None]
            series = ((-beta) ** m / factorial(m)) @ moments
            with np.errstate(divide="ignore"):
                out[i : i + 256] = logsumexp(np.log(series) - beta * floor, axis=1)
        return out[inverse].reshape(t.shape) - low / t + self.log_cell

    def sample(self, temperature: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One point per entry of ``temperature`` (``(n,)`` -> ``(n, d)``)."""
        t = np.asarray(temperature, np.float64).ravel()
        levels = np.unique(t)
        if len(levels) > LADDER:
            levels = np.geomspace(t.min(), t.max(), LADDER)
            levels[-1] = t.max()
        level_of = np.searchsorted(levels, t)
        out = np.empty((len(t), len(self.cells)))
        pending = np.arange(len(t))
        while pending.size:
            cell = np.empty(pending.size, np.int64)
            for j in np.unique(level_of[pending]):
                mine = level_of[pending] == j
                cell[mine] = self._draw_cells(levels[j], int(mine.sum()), rng)
            excess = (self.u[cell] - self.u_min) * (1 / t[pending] - 1 / levels[level_of[pending]])
            keep = np.log(rng.random(pending.size)) < -excess
            jitter = rng.random((int(keep.sum()), len(self.cells))) - 0.5
            out[pending[keep]] = self.points[cell[keep]] + jitter * self.width
            pending = pending[~keep]
        return out

    def _draw_cells(self, temperature: float, m: int, rng: np.random.Generator) -> np.ndarray:
        cdf = np.cumsum(np.exp(-(self.u - self.u_min) / temperature))
        return np.minimum(np.searchsorted(cdf, rng.random(m) * cdf[-1], side="right"), len(cdf) - 1)
