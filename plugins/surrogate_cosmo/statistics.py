"""Summary statistics of periodic density fields: the estimators cosmologists trust.

Fields are 2-D maps ``(..., N, N)`` or 3-D cubes ``(..., N, N, N)`` on a periodic grid of
side ``box`` (Mpc/h); leading axes are a batch of fields and every estimator returns one
result per field in a single vectorised pass.  ``ndim`` says how many trailing axes make a
field; left out, a field is 3-D when the last three axes are equal and 2-D otherwise (a
batch of ``N`` maps of ``N x N`` pixels therefore needs ``ndim=2``).

- :func:`power_spectrum`, :func:`binned_theory`, :func:`cross_correlation`: the Pylians
  (``Pk_library.pyx``) convention ``P = |rfftn delta|^2 V / N^(2d) / W(k)^2``, integer bins
  of width ``k_F = 2 pi / box`` placed at the mean ``k`` of their modes, rfft half-space
  modes with ``0 < k_last < k_Nyq`` counted twice (so ``n_modes`` counts the full grid and
  the Gaussian error is ``P sqrt(2 / n_modes)``).
- :func:`log_density_pdf`: the one-point PDF of ``log10(1 + delta)``.
- :func:`peak_counts`: local maxima over the periodic ``3^d`` neighbourhood against
  ``nu = height / sigma`` (Perraudin et al. 2019 count peaks the same way).
- :func:`minkowski_2d`, :func:`minkowski_gaussian`: the three 2-D Minkowski functionals
  of excursion sets by Crofton-formula lattice counting (Schmalzing & Buchert 1997) and
  their Gaussian-random-field closed forms.
- :func:`bispectrum_equilateral`: Scoccimarro's (2015) FFT shell estimator.

Bad input (NaN, a non-square grid, an odd grid for the Fourier estimators, ``box <= 0``,
``kmax`` beyond Nyquist) raises :class:`surrogate.errors.SpecError` naming the problem.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import erfc, pi, sqrt

import numpy as np
import scipy.fft

from surrogate.errors import SpecError

Array = np.ndarray

#: Mass-assignment window exponents ``p`` of ``W = prod_i sinc(pi k_i / 2 k_N)^p``.
WINDOWS = {"ngp": 1, "cic": 2, "tsc": 3, "pcs": 4}
#: Grid cells per FFT chunk of a batch: bounds the memory of the complex transforms.
CHUNK_CELLS = 1 << 23


# -- input checks --------------------------------------------------------------------------
def _field_ndim(shape: tuple[int, ...], ndim: int | None) -> int:
    """The number of trailing axes that make one field (see the module docstring)."""
    if ndim is None:
        return 3 if len(shape) >= 3 and len(set(shape[-3:])) == 1 else 2
    if ndim not in (2, 3):
        raise SpecError(f"fields must be 2-D or 3-D, got ndim={ndim}")
    return ndim


def _check_fields(
    field: Array, ndim: int | None, *, even: bool = False, what: str = "field"
) -> tuple[Array, int, int]:
    """``(fields as a float array (n_fields, N, ..., N), d, N)``, or ``SpecError``."""
    x = np.asarray(field)
    if x.ndim < 2:
        raise SpecError(f"{what}: need a 2-D map or 3-D cube, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    d = _field_ndim(x.shape, ndim)
    if x.ndim < d:
        raise SpecError(f"{what}: shape {x.shape} has fewer than {d} axes")
    grid = x.shape[x.ndim - d :]
    if len(set(grid)) != 1:
        raise SpecError(f"{what}: grid {grid} is not square (every axis must have N cells)")
    n = grid[0]
    if n < 4 or (even and n % 2):
        raise SpecError(f"{what}: grid size N={n} must be even and >= 4 for Fourier estimators")
    if not np.isfinite(x).all():
        raise SpecError(f"{what}: contains NaN or Inf")
    return x.reshape((-1, *grid)), d, n


def _lead(field: Array, d: int) -> tuple[int, ...]:
    """The batch shape of ``field`` (its axes before the last ``d``)."""
    return np.shape(field)[: np.ndim(field) - d]


def _check_box(box: float) -> float:
    box = float(box)
    if not np.isfinite(box) or box <= 0:
        raise SpecError(f"box must be a positive length in Mpc/h, got {box}")
    return box


def _window_power(window: str | None) -> int:
    if window is None:
        return 0
    if window not in WINDOWS:
        raise SpecError(f"unknown window {window!r} (known: {', '.join(WINDOWS)} or None)")
    return WINDOWS[window]


# -- Fourier grid -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Modes:
    """The rfft half-space of an ``N^d`` grid, flattened: integer frequencies, ``|n|^2``,
    the weight that counts the other half-space (2 for ``0 < n_last < N/2``) and the
    unique ``|n|^2`` values (theory is evaluated once per distinct ``|k|``)."""

    freqs: tuple[Array, ...]
    n2: Array
    weight: Array
    unique_n2: Array
    inverse: Array


@lru_cache(maxsize=8)
def _modes(n: int, d: int) -> _Modes:
    full = np.fft.fftfreq(n, 1.0 / n).astype(np.int64)
    half = np.arange(n // 2 + 1, dtype=np.int64)
    axes = [full] * (d - 1) + [half]
    mesh = np.meshgrid(*axes, indexing="ij")
    freqs = tuple(m.reshape(-1) for m in mesh)
    n2 = sum(f * f for f in freqs)
    weight = np.where((freqs[-1] > 0) & (freqs[-1] < n / 2), 2.0, 1.0)
    unique_n2, inverse = np.unique(n2, return_inverse=True)
    for a in (*freqs, n2, weight, unique_n2, inverse):
        a.setflags(write=False)
    return _Modes(freqs, n2, weight, unique_n2, inverse)


@lru_cache(maxsize=8)
def _window2(n: int, d: int, p: int) -> Array:
    """``W(k)^2`` per mode: ``prod_i sinc(pi k_i / 2 k_N)^(2p)``, ``k_i / 2 k_N = n_i / N``."""
    w = np.ones(len(_modes(n, d).n2))
    for f in _modes(n, d).freqs:
        w *= np.sinc(f / n) ** (2 * p)
    w.setflags(write=False)
    return w


def _n_bins(n: int, box: float, kmax: float | None) -> int:
    """Bins ``[i, i+1) k_F`` for ``i = 1 .. n_bins`` whose upper edge is at most ``kmax``
    (default and largest allowed: ``k_Nyq = pi N / box``)."""
    k_f, k_nyq = 2 * pi / box, pi * n / box
    if kmax is None:
        kmax = k_nyq
    if not np.isfinite(kmax) or kmax > k_nyq * (1 + 1e-9):
        raise SpecError(f"kmax={kmax} is beyond the Nyquist frequency {k_nyq:.6g} h/Mpc")
    nb = int(np.floor(kmax / k_f + 1e-9)) - 1
    if nb < 1:
        raise SpecError(f"kmax={kmax} leaves no bin: it must be at least 2 k_F = {2 * k_f:.6g}")
    return nb


def _bin_index(n: int, d: int, nb: int) -> Array:
    """Per mode its bin ``floor(|n|) - 1`` (Pylians' integer bins; the DC mode and modes
    beyond the last bin go to the overflow slot ``nb``)."""
    b = np.floor(np.sqrt(_modes(n, d).n2)).astype(np.int64) - 1
    return np.where((b >= 0) & (b < nb), b, nb)


def _bin_sum(values: Array, bins: Array, nb: int) -> Array:
    """Per row of ``values`` (n_rows, n_modes) the sum over each bin, one ``bincount``."""
    rows = values.shape[0]
    idx = (np.arange(rows)[:, None] * (nb + 1) + bins[None, :]).reshape(-1)
    out = np.bincount(idx, weights=values.reshape(-1), minlength=rows * (nb + 1))
    return out.reshape(rows, nb + 1)[:, :nb]


def mode_bins(n: int, d: int, n_bins: int) -> tuple[Array, Array]:
    """Per mode of the flattened rfft half-space of an ``N^d`` grid (the order of
    ``scipy.fft.rfftn(field).reshape(-1)``): its bin as :func:`power_spectrum` bins
    (``floor(|n|) - 1``; the DC mode and modes past the first ``n_bins`` bins get
    ``n_bins``) and the weight that counts the other half-space.  For code that works on
    the modes of a bin directly, as the ``cosmo.bands`` split rescales them."""
    return _bin_index(n, d, n_bins), _modes(n, d).weight


def _chunks(x: Array) -> list[Array]:
    """The fields of a batch in chunks of at most :data:`CHUNK_CELLS` cells (at least one
    field each): bounds the memory of the complex transforms of large batches."""
    step = max(1, CHUNK_CELLS // int(np.prod(x.shape[1:])))
    return [x[s : s + step] for s in range(0, len(x), step)]


def _transform(x: Array, d: int) -> Array:
    """rfftn of each field of a chunk, flattened to ``(n_fields, n_modes)``."""
    return scipy.fft.rfftn(x, axes=tuple(range(1, d + 1)), workers=1).reshape(len(x), -1)


# -- power spectrum -----------------------------------------------------------------------
@dataclass(frozen=True)
class PowerSpectrum:
    """A binned power spectrum.  ``k`` (h/Mpc): the mean ``|k|`` of each bin's modes;
    ``power`` ((Mpc/h)^d): per field, shape ``(*batch, n_bins)``; ``n_modes``: modes per
    bin on the full grid; ``error = power sqrt(2 / n_modes)``, the Gaussian one-sigma
    error of one field; ``k_nyquist = pi N / box``."""

    k: Array
    power: Array
    n_modes: Array
    error: Array
    k_nyquist: float


def _bin_geometry(n: int, d: int, box: float, kmax: float | None) -> tuple[Array, Array, Array]:
    """(bin of each mode, mean k per bin, modes per bin)."""
    nb = _n_bins(n, box, kmax)
    bins = _bin_index(n, d, nb)
    m = _modes(n, d)
    n_modes = _bin_sum(m.weight[None, :], bins, nb)[0]
    k_sum = _bin_sum((m.weight * np.sqrt(m.n2))[None, :], bins, nb)[0]
    return bins, k_sum / n_modes * (2 * pi / box), n_modes


def power_spectrum(
    delta: Array,
    box: float,
    *,
    window: str | None = "cic",
    kmax: float | None = None,
    ndim: int | None = None,
) -> PowerSpectrum:
    """The power spectrum of each field, in the Pylians ``Pk_library`` convention.

    ``P = |rfftn delta|^2 V / N^(2d) / W(k)^2`` with ``W = prod_i sinc(pi k_i / 2 k_N)^p``
    the mass-assignment window (``window``: ``"ngp"``, ``"cic"``, ``"tsc"``, ``"pcs"`` or
    ``None`` for fields not painted from particles, such as a Gaussian random field).
    Bins ``[i, i+1) k_F`` for ``i >= 1`` up to ``kmax`` (default ``k_Nyq``; bins reaching
    past it are incomplete shells, so ``kmax > k_Nyq`` is refused), each at the mean ``k``
    of its modes, as Pylians places them: compare theory with :func:`binned_theory`, not
    with ``P(k_bin)`` (``<P>_bin != P(<k>)``).  Windows are deconvolved exactly as Pylians
    does; aliasing (Jing 2005) is not corrected, so compare fields made by one estimator.
    """
    box = _check_box(box)
    x, d, n = _check_fields(delta, ndim, even=True, what="delta")
    p = _window_power(window)
    bins, k, n_modes = _bin_geometry(n, d, box, kmax)
    weight = _modes(n, d).weight / (_window2(n, d, p) if p else 1.0)
    sums = []
    for chunk in _chunks(x):
        fk = _transform(chunk, d)
        sums.append(_bin_sum((fk.real**2 + fk.imag**2) * weight, bins, len(k)))
    power = np.concatenate(sums) / n_modes * (box**d / float(n) ** (2 * d))
    power = power.reshape((*_lead(delta, d), len(k)))
    return PowerSpectrum(k, power, n_modes, power * np.sqrt(2.0 / n_modes), pi * n / box)


def binned_theory(
    pk: Callable[[Array], Array],
    shape: Sequence[int],
    box: float,
    *,
    kmax: float | None = None,
) -> Array:
    """A theory spectrum averaged over the modes of each :func:`power_spectrum` bin with
    the same weights, ``sum_modes w P(|k|) / sum_modes w``: the expectation of the
    measurement, which differs from ``P(k_bin)`` where ``P`` curves within a bin (the
    lowest bins of a fixed-amplitude field read 5% high against ``P(<k>)``).  ``shape`` is
    one field's grid, ``(N, N)`` or ``(N, N, N)``; ``pk`` takes an array of ``k`` in h/Mpc.
    """
    box = _check_box(box)
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or len(set(shape)) != 1 or shape[0] < 4 or shape[0] % 2:
        raise SpecError(f"binned_theory: shape {shape} must be an even square grid (N, N[, N])")
    n, d = shape[0], len(shape)
    bins, k, n_modes = _bin_geometry(n, d, box, kmax)
    m = _modes(n, d)
    k_unique = np.sqrt(m.unique_n2.astype(np.float64)) * (2 * pi / box)
    p_unique = np.zeros(len(k_unique))
    p_unique[1:] = np.asarray(pk(k_unique[1:]), dtype=np.float64)  # the DC mode is in no bin
    values = (m.weight * p_unique[m.inverse])[None, :]
    return _bin_sum(values, bins, len(k))[0] / n_modes


@dataclass(frozen=True)
class CrossCorrelation:
    """``r = P_ab / sqrt(P_aa P_bb)`` per bin (shape ``(*batch, n_bins)``), with the bins'
    mean ``k`` and full-grid mode counts as in :class:`PowerSpectrum`."""

    k: Array
    r: Array
    n_modes: Array


def cross_correlation(
    a: Array, b: Array, box: float, *, kmax: float | None = None, ndim: int | None = None
) -> CrossCorrelation:
    """The cross-correlation coefficient ``r(k) = P_ab / sqrt(P_aa P_bb)`` of two fields
    (or batches of fields of one shape), in the bins of :func:`power_spectrum`; ``P_ab``
    is the real part of ``a_k b_k^*``.  A shared mass-assignment window cancels in ``r``,
    so none is deconvolved; ``r = 1`` for fields equal up to a transfer function, and
    ``1 - r^2`` is the fraction of power not explained by ``a`` (the stochasticity a
    surrogate conditioned on the initial conditions adds).
    """
    box = _check_box(box)
    if np.shape(a) != np.shape(b):
        raise SpecError(f"cross_correlation: shapes differ: {np.shape(a)} vs {np.shape(b)}")
    xa, d, n = _check_fields(a, ndim, even=True, what="a")
    xb, _, _ = _check_fields(b, d, even=True, what="b")
    bins, k, n_modes = _bin_geometry(n, d, box, kmax)
    w = _modes(n, d).weight
    nb = len(k)
    parts = []
    for ca, cb in zip(_chunks(xa), _chunks(xb), strict=True):
        fa, fb = _transform(ca, d), _transform(cb, d)
        parts.append(
            [
                _bin_sum((fa.real * fb.real + fa.imag * fb.imag) * w, bins, nb),
                _bin_sum((fa.real**2 + fa.imag**2) * w, bins, nb),
                _bin_sum((fb.real**2 + fb.imag**2) * w, bins, nb),
            ]
        )
    p_ab, p_aa, p_bb = (np.concatenate(c) for c in zip(*parts, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = p_ab / np.sqrt(p_aa * p_bb)
    return CrossCorrelation(k, r.reshape((*_lead(a, d), nb)), n_modes)


# -- one-point PDF -------------------------------------------------------------------------
@dataclass(frozen=True)
class DensityPDF:
    """Histogram of ``log10(1 + delta)``: ``edges`` (n_bins + 1), ``density`` per field
    ``(*batch, n_bins)`` as counts / (cells x bin width), so it integrates to the fraction
    of cells in range; ``nonpositive``: per field, the fraction of cells with
    ``1 + delta <= 0`` (no logarithm; counted in no bin unless ``floor`` is given)."""

    edges: Array
    density: Array
    nonpositive: Array

    @property
    def centres(self) -> Array:
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def _edges(values: Array, bins: int | Sequence[float]) -> Array:
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise SpecError(f"bins must be a positive number of bins, got {bins}")
        finite = values[np.isfinite(values)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        return np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise SpecError("bins must be an int or increasing bin edges")
    return edges


def _row_histograms(values: Array, edges: Array) -> Array:
    """Per row of ``values`` (n_rows, n) the counts in ``edges`` (the last edge inclusive,
    as ``np.histogram``), one ``bincount`` for all rows; non-finite values count nowhere."""
    rows = values.shape[0]
    nb = len(edges) - 1
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = nb - 1
    idx = np.where((idx >= 0) & (idx < nb) & np.isfinite(values), idx, nb)
    flat = (np.arange(rows)[:, None] * (nb + 1) + idx).reshape(-1)
    return np.bincount(flat, minlength=rows * (nb + 1)).reshape(rows, nb + 1)[:, :nb]


def log_density_pdf(
    delta: Array,
    bins: int | Sequence[float],
    *,
    floor: float | None = None,
    ndim: int | None = None,
) -> DensityPDF:
    """The one-point PDF of ``log10(1 + delta)`` per field (CAMELS, Perraudin et al. 2019).

    ``bins``: edges in ``log10(1 + delta)``, or a number of equal bins over the batch's
    range (give edges when comparing samples).  Cells with ``1 + delta <= 0`` (empty cells
    of a painted field; the negative tail of a Gaussian field) have no logarithm: they are
    counted in no bin and reported as ``nonpositive``, so a sample that empties cells the
    reference fills loses density instead of being silently clipped; ``floor`` instead
    sets ``1 + delta = max(1 + delta, floor)`` first (``floor > 0``), putting them in the
    bin of ``log10(floor)``.
    """
    x, d, _ = _check_fields(delta, ndim, what="delta")
    rho = 1.0 + x.reshape(len(x), -1).astype(np.float64)
    if floor is not None:
        if not floor > 0:
            raise SpecError(f"floor must be positive, got {floor}")
        rho = np.maximum(rho, floor)
    bad = rho <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(bad, -np.inf, np.log10(np.where(bad, 1.0, rho)))
    edges = _edges(logs, bins)
    counts = _row_histograms(logs, edges)
    density = counts / (rho.shape[1] * np.diff(edges))
    lead = _lead(delta, d)
    return DensityPDF(
        edges, density.reshape((*lead, len(edges) - 1)), bad.mean(axis=1).reshape(lead)
    )


# -- peaks ---------------------------------------------------------------------------------
def gaussian_smooth(field: Array, sigma: float, *, ndim: int | None = None) -> Array:
    """Each field convolved with a periodic Gaussian of standard deviation ``sigma`` grid
    cells (``exp(-k^2 sigma^2 / 2)`` in Fourier space, so the periodicity is exact)."""
    x, d, n = _check_fields(field, ndim, what="field")
    if not sigma >= 0:
        raise SpecError(f"smoothing must be a non-negative number of cells, got {sigma}")
    axes = tuple(range(1, d + 1))
    k = 2 * pi * np.fft.fftfreq(n)
    kh = 2 * pi * np.fft.rfftfreq(n)
    mesh = np.meshgrid(*([k] * (d - 1) + [kh]), indexing="ij")
    kernel = np.exp(-0.5 * sigma**2 * sum(m * m for m in mesh))
    out = scipy.fft.irfftn(scipy.fft.rfftn(x, axes=axes) * kernel, s=x.shape[1:], axes=axes)
    return out.reshape(np.shape(field))


def _local_maxima(x: Array, d: int) -> Array:
    """Cells strictly above all ``3^d - 1`` periodic neighbours (plateaus are no peaks)."""
    padded = np.pad(x, [(0, 0)] + [(1, 1)] * d, mode="wrap")
    n = x.shape[1]
    centre = padded[(slice(None), *[slice(1, n + 1)] * d)]
    peak = np.ones(x.shape, dtype=bool)
    for offset in itertools.product((0, 1, 2), repeat=d):
        if offset == (1,) * d:
            continue
        peak &= centre > padded[(slice(None), *[slice(o, o + n) for o in offset])]
    return peak


def _peak_nu(field: Array, smoothing: float | None, ndim: int | None) -> tuple[Array, int]:
    """(``nu`` of every cell that is a peak, NaN elsewhere, as ``(n_fields, cells)``; d)."""
    x, d, _ = _check_fields(field, ndim, what="field")
    if smoothing:
        x = gaussian_smooth(x, smoothing, ndim=d)
    flat = x.reshape(len(x), -1)
    sigma = flat.std(axis=1)
    if np.any(sigma == 0):
        raise SpecError("field: a constant field has no peak heights (sigma = 0)")
    nu = (flat - flat.mean(axis=1, keepdims=True)) / sigma[:, None]
    return np.where(_local_maxima(x, d).reshape(len(x), -1), nu, np.nan), d


def peak_heights(
    field: Array, smoothing: float | None = None, *, ndim: int | None = None
) -> list[Array]:
    """The heights ``nu`` of the peaks of each field (flattened batch), as one array per
    field: what :func:`peak_counts` histograms (to choose its bins from a reference)."""
    nu, _ = _peak_nu(field, smoothing, ndim)
    return [row[np.isfinite(row)] for row in nu]


def peak_counts(
    field: Array,
    nu_bins: Sequence[float],
    smoothing: float | None = None,
    *,
    ndim: int | None = None,
) -> Array:
    """The number of peaks per ``nu`` bin of each field, shape ``(*batch, n_bins)``.

    A peak is a cell strictly higher than its ``3^d - 1`` periodic neighbours (plateaus,
    such as runs of empty cells, hold none); its height is ``nu = (x - mean) / sigma``
    with the field's own mean and standard deviation (after the optional Gaussian
    ``smoothing``, in grid cells), ``height / sigma`` for a density contrast, so counts
    do not change when a field is scaled or shifted.  ``nu_bins`` are edges; peaks
    outside them are not counted.  For a smooth Gaussian field the total approaches the
    continuum density (Longuet-Higgins 1957; Bardeen et al. 1986 in 3-D).
    """
    if isinstance(nu_bins, (int, np.integer)):
        raise SpecError("nu_bins must be increasing bin edges in nu, not a number of bins")
    edges = _edges(np.zeros(1), nu_bins)
    nu, d = _peak_nu(field, smoothing, ndim)
    return _row_histograms(nu, edges).reshape((*_lead(field, d), len(edges) - 1))


# -- Minkowski functionals -------------------------------------------------------------------
@dataclass(frozen=True)
class Minkowski:
    """The 2-D Minkowski functionals at each threshold ``nu`` (in units of the map's
    standard deviation), per pixel area: ``v0`` area fraction, ``v1`` boundary length /
    (4 area), ``v2`` Euler characteristic / area; arrays ``(*batch, n_thresholds)``."""

    thresholds: Array
    v0: Array
    v1: Array
    v2: Array


def minkowski_gaussian(thresholds: Sequence[float], lam: float) -> Minkowski:
    """The Gaussian-random-field expectations (Tomita 1986; Schmalzing & Buchert 1997) for
    a unit-variance map with ``lam = <(d_x u)^2>``, one gradient component (papers using
    ``sigma_1^2 = <|grad u|^2> = 2 lam`` write the same with other constants)::

        V0 = erfc(nu / sqrt 2) / 2,  V1 = sqrt(lam) / 8 exp(-nu^2 / 2),
        V2 = lam nu exp(-nu^2 / 2) / (2 pi)^(3/2)
    """
    nu = np.asarray(thresholds, dtype=np.float64)
    g = np.exp(-0.5 * nu**2)
    v0 = np.array([0.5 * erfc(t / sqrt(2)) for t in nu.reshape(-1)]).reshape(nu.shape)
    return Minkowski(nu, v0, sqrt(lam) / 8 * g, lam * nu * g / (2 * pi) ** 1.5)


def derivative_variance(u: Array) -> Array:
    """``lam = <(d_x u)^2>`` of each standardised 2-D map (spectral derivative, averaged
    over both axes, in 1/pixel^2): the parameter of :func:`minkowski_gaussian`."""
    x, _, n = _check_fields(u, 2, what="u")
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
    p = np.abs(np.fft.fft2(x)) ** 2
    k2 = (2 * pi * np.fft.fftfreq(n)) ** 2
    lam = 0.5 * ((p * k2[:, None]).sum(axis=(1, 2)) + (p * k2[None, :]).sum(axis=(1, 2)))
    return (lam / p.sum(axis=(1, 2))).reshape(_lead(u, 2))


def _count_below(values: Array, thresholds: Array) -> Array:
    """Per row the number of ``values <= t`` for each threshold, ``(n_rows, n_t)``."""
    s = np.sort(values, axis=1)
    return np.stack([np.searchsorted(row, thresholds, side="right") for row in s])


def _intervals(lo: Array, hi: Array, thresholds: Array) -> Array:
    """Per row the number of intervals ``lo <= t < hi`` holding each threshold."""
    return _count_below(lo, thresholds) - _count_below(np.maximum(hi, lo), thresholds)


def _lattice_counts(u: Array, nu: Array) -> tuple[Array, Array, Array]:
    """(pixels above, boundary crossings of rows and columns, Euler characteristic) of
    ``{u > nu}`` on the periodic pixel-centre lattice, for every threshold at once: each
    count is a number of intervals of ``nu`` (a pair of neighbours is crossed for
    ``min <= nu < max``), so one sort per quantity serves all thresholds."""
    rows = len(u)
    x = u.reshape(rows, -1)
    right, down = np.roll(u, -1, axis=2), np.roll(u, -1, axis=1)
    diag = np.roll(down, -1, axis=2)
    lo_r, hi_r = np.minimum(u, right), np.maximum(u, right)
    lo_d, hi_d = np.minimum(u, down), np.maximum(u, down)
    above = x.shape[1] - _count_below(x, nu)
    flat = (lo_r, hi_r, lo_d, hi_d)
    lo_r, hi_r, lo_d, hi_d = (a.reshape(rows, -1) for a in flat)
    crossings = _intervals(lo_r, hi_r, nu) + _intervals(lo_d, hi_d, nu)
    edges = 2 * x.shape[1] - _count_below(lo_r, nu) - _count_below(lo_d, nu)
    block = np.minimum(np.minimum(u, right), np.minimum(down, diag)).reshape(rows, -1)
    faces = x.shape[1] - _count_below(block, nu)
    euler = above - edges + faces - _saddles(u, right, down, diag, nu)
    return above, crossings, euler


def _saddles(u: Array, right: Array, down: Array, diag: Array, nu: Array) -> Array:
    """Per threshold the 2x2 cells whose excursion set is one diagonal pair joined through
    the cell: the pair above ``nu``, the other pair not, and the cell's mean (the
    marching-squares centre decider) above ``nu``; each such join is one more edge."""
    rows = len(u)
    centre = 0.25 * (u + right + down + diag)
    total = 0
    for a, b, c, e in ((u, diag, right, down), (right, down, u, diag)):
        lo = np.maximum(c, e).reshape(rows, -1)
        hi = np.minimum(np.minimum(a, b), centre).reshape(rows, -1)
        total = total + _intervals(lo, hi, nu)
    return total


def minkowski_2d(u: Array, thresholds: Sequence[float]) -> Minkowski:
    """The Minkowski functionals of the excursion sets ``{u > nu sigma}`` of each periodic
    2-D map ``(..., N, N)``, standardised to zero mean and unit variance first.

    Crofton-formula counting on the pixel lattice (Schmalzing & Buchert 1997, sec. 3):

    - ``V0``: the fraction of pixels above the threshold;
    - ``V1``: the boundary length from its crossings of the lattice rows and columns,
      ``L = (pi/4)(n_rows + n_cols)`` (Crofton's formula with the two lattice directions,
      unbiased for isotropic fields: a segment at angle ``theta`` crosses ``|cos| + |sin|``
      lines per unit length, ``4/pi`` on average), ``V1 = L / (4 area)``;
    - ``V2``: the Euler characteristic of the pixel-centre cell complex, vertices - edges
      + faces (pixels, above-threshold neighbour pairs, fully-above 2x2 cells), with the
      ambiguous diagonal 2x2 cells joined when the cell's mean is above the threshold
      (marching squares' centre decider: the set and its complement then get
      complementary connectivities, so ``V2(nu)`` stays odd for a symmetric field).

    Units are per pixel (area 1), so for a Gaussian random field the measurement matches
    :func:`minkowski_gaussian` with ``lam`` in 1/pixel^2 (:func:`derivative_variance`)
    up to discreteness, small when the map is smooth on the pixel scale.
    """
    x, _, _ = _check_fields(u, 2, what="u")
    x = x.astype(np.float64)
    sigma = x.std(axis=(1, 2), keepdims=True)
    if np.any(sigma == 0):
        raise SpecError("u: a constant map has no excursion sets (sigma = 0)")
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / sigma
    nu = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    above, crossings, euler = _lattice_counts(x, nu)
    area = float(x.shape[1] * x.shape[2])
    shape = (*_lead(u, 2), len(nu))
    return Minkowski(
        nu,
        (above / area).reshape(shape),
        (pi / 16 * crossings / area).reshape(shape),
        (euler / area).reshape(shape),
    )


# -- bispectrum ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bispectrum:
    """Equilateral bispectrum per shell ``k`` (h/Mpc): ``bispectrum`` ((Mpc/h)^(2d)) and
    ``q = B / (3 P^2)`` per field ``(*batch, n_k)``, ``power`` the shell's mean power, and
    ``n_triangles`` the closed triangles in each shell (full grid, ``N^(2d) sum_x I^3``)."""

    k: Array
    bispectrum: Array
    q: Array
    power: Array
    n_triangles: Array


def _shell_mask(n: int, d: int, box: float, k: float, dk: float) -> Array:
    m = _modes(n, d)
    kk = np.sqrt(m.n2) * (2 * pi / box)
    return (np.abs(kk - k) < dk / 2).reshape((n,) * (d - 1) + (n // 2 + 1,))


def _shell_sums(x: Array, d: int, p: int, masks: list[Array]) -> tuple[Array, Array]:
    """Per field of a chunk and per shell: ``sum_x d(x)^3`` and the mean ``|delta_k|^2``
    of the shell's modes (DFT units), each ``(n_fields, n_shells)``."""
    n = x.shape[1]
    grid = masks[0].shape
    axes = tuple(range(1, d + 1))
    fk = _transform(x, d).reshape((len(x), *grid))
    if p:
        fk = fk / np.sqrt(_window2(n, d, p)).reshape(grid)
    weight = _modes(n, d).weight.reshape(grid)
    power = fk.real**2 + fk.imag**2
    cubes, means = [], []
    for mask in masks:
        shell = scipy.fft.irfftn(fk * mask, s=(n,) * d, axes=axes)
        cubes.append((shell**3).sum(axis=axes))
        means.append((power * (mask * weight)).sum(axis=axes) / (mask * weight).sum())
    return np.stack(cubes, axis=-1), np.stack(means, axis=-1)


def bispectrum_equilateral(
    delta: Array,
    box: float,
    k: float | Sequence[float],
    dk: float | None = None,
    *,
    window: str | None = "cic",
    ndim: int | None = None,
) -> Bispectrum:
    """The equilateral bispectrum ``B(k, k, k)`` and reduced ``Q = B / (3 P^2)`` of each
    field, by Scoccimarro's (2015) FFT estimator (as Pylians' ``PKL.Bk``):
    ``d(x) = IFFT[delta_k 1_shell]``, ``I(x) = IFFT[1_shell]``,
    ``B = (V / N^d)^3 / V sum_x d^3 / sum_x I^3`` (the ratio is the mean of
    ``delta_k1 delta_k2 delta_k3`` over the closed triangles of the shell), with ``P`` the
    mean power of the same shell.  Shells ``|k - k_i| < dk / 2`` (default ``dk = k_F``);
    ``k`` must lie in ``(dk/2, k_Nyq]``.  For a Gaussian field ``Q ~ 0``; tree-level
    gravity gives ``Q = 4/7`` for equilateral triangles, a local quadratic field
    ``g + f (g^2 - <g^2>)`` gives ``Q = 2 f``.
    """
    box = _check_box(box)
    x, d, n = _check_fields(delta, ndim, even=True, what="delta")
    p = _window_power(window)
    ks = np.atleast_1d(np.asarray(k, dtype=np.float64))
    dk = 2 * pi / box if dk is None else float(dk)
    k_nyq = pi * n / box
    if not dk > 0 or np.any(ks - dk / 2 <= 0) or np.any(ks > k_nyq * (1 + 1e-9)):
        raise SpecError(f"bispectrum: need dk > 0 and dk/2 < k <= k_Nyq = {k_nyq:.6g}")
    masks = [_shell_mask(n, d, box, kc, dk) for kc in ks]
    i3 = np.array([(scipy.fft.irfftn(m.astype(np.float64), s=(n,) * d) ** 3).sum() for m in masks])
    sums = [_shell_sums(chunk, d, p, masks) for chunk in _chunks(x)]
    bk = np.concatenate([c[0] for c in sums]) / i3
    pk = np.concatenate([c[1] for c in sums])
    ntri = i3 * float(n) ** (2 * d)
    vol = box**d
    b = bk * (vol / n**d) ** 3 / vol
    power = pk * vol / float(n) ** (2 * d)
    lead = _lead(delta, d)
    shape = (*lead, len(ks))
    return Bispectrum(
        ks,
        b.reshape(shape),
        (b / (3 * power**2)).reshape(shape),
        power.reshape(shape),
        ntri,
    )
