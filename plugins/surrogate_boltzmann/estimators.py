"""The estimators of Boltzmann generators: importance weights and what they estimate.

A Boltzmann generator (Noé et al., Science 365, eaaw1147, 2019) is a model ``q`` with an
exact density, trained towards ``p(x) = exp(-u(x)) / Z`` (``u``: the reduced energy
``U / kT``).  Everything it is judged by comes from the log importance weights

    log w(x) = -u(x) - log q(x)        (so  w = Z p / q),

either on the model's own samples (``x ~ q``: the *reverse* quantities, available for
any target) or on exact samples of the target (``x ~ p``: the *forward* ones, which need
an exact sampler or decorrelated MCMC and, for the ESS, ``ln Z``).  The two directions
tell different stories: a model that covers one mode of two draws samples whose weights
are all alike, so its reverse ESS is near 100 %, while on samples of the missed mode
``q`` is tiny and the forward ESS collapses (Midgley et al., FAB, arXiv:2208.01893).

Names follow the divergence, not the training-loss jargon: ``reverse_kl`` is
``KL(q || p)`` (what energy-based training minimises), ``forward_kl`` is ``KL(p || q)``
(maximum likelihood on target samples); bgflow's ``KLTrainer`` docstring swaps the two.

Everything here is numpy and scipy on float64 arrays, one estimator per function;
:mod:`.evaluate` and :mod:`.metrics` put them together.  Errors are one-sigma
statistical errors (delta method unless a function says otherwise).  A non-finite
energy (overlapping particles) gives a weight of zero (``log w = -inf``), which every
function accepts; a NaN log-weight or a ``+inf`` one (a sample the model gives zero
density) is refused with a :class:`~surrogate.metrics.MetricError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp, softmax

from surrogate.metrics.base import MetricError

Array = np.ndarray


class Estimate(NamedTuple):
    """A value with its one-sigma statistical error."""

    value: float
    error: float


class ESS(NamedTuple):
    """An effective sample size: ``count`` of ``n`` samples, and ``fraction = count / n``."""

    fraction: float
    count: float
    n: int


# -- weights ----------------------------------------------------------------------------
def _log_w(log_w: Array, what: str = "log-weights") -> Array:
    """``log_w`` as a float64 vector, refusing NaN, ``+inf`` and an empty sample."""
    lw = np.asarray(log_w, dtype=np.float64).reshape(-1)
    if lw.size == 0:
        raise MetricError(f"{what}: no samples")
    bad = int(np.isnan(lw).sum() + np.isposinf(lw).sum())
    if bad:
        raise MetricError(f"{what}: {bad} of {lw.size} are NaN or +inf")
    return lw


def log_weights(u: Array, log_q: Array) -> Array:
    """``log w = -u - log q`` per sample: the reduced energy ``u = U / kT`` and the
    model's log-density ``log q`` at the same configurations (float64)."""
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    log_q = np.asarray(log_q, dtype=np.float64).reshape(-1)
    if u.shape != log_q.shape:
        raise MetricError(f"{u.size} energies for {log_q.size} log-densities")
    with np.errstate(invalid="ignore"):
        return -u - log_q


def normalised_weights(log_w: Array) -> Array:
    """``w / sum(w)`` (a softmax of the log-weights, so no weight overflows)."""
    lw = _log_w(log_w)
    if not np.isfinite(lw).any():
        raise MetricError("every weight is zero: no sample has a finite energy")
    return softmax(lw)


def kish_ess(log_w: Array) -> ESS:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (Kish, *Survey Sampling*,
    1965), from log-weights: ``exp(2 LSE(log w) - LSE(2 log w))``.

    On the model's samples this is the *reverse* ESS: how many exact samples the
    reweighted ones are worth.  It cannot see a mode the model misses (see the module
    docstring); :func:`forward_ess` can.  All weights zero give 0."""
    lw = _log_w(log_w)
    if not np.isfinite(lw).any():
        return ESS(0.0, 0.0, lw.size)
    count = float(np.exp(2 * logsumexp(lw) - logsumexp(2 * lw)))
    return ESS(count / lw.size, count, lw.size)


def forward_ess(log_w_on_p: Array, log_z: float) -> ESS:
    """The ESS over ``p``: ``n / E_p[p / q]`` from log-weights of *exact target samples*
    and the exact ``ln Z`` (Midgley et al., FAB, arXiv:2208.01893, appendix; there
    ``effective_sample_size_over_p``).

    ``E_p[p / q] = 1 + chi^2(p || q)``, so the fraction is ``1 / (1 + chi^2)``: 1 for a
    perfect model, near 0 for one that misses a mode, which the reverse ESS cannot show.
    ``w = Z p / q`` gives ``E_p[p / q] = mean(w) / Z``.  A finite sample can exceed 1."""
    lw = _log_w(log_w_on_p, "log-weights on target samples")
    log_mean = logsumexp(lw) - math.log(lw.size) - float(log_z)
    fraction = math.exp(-log_mean)
    return ESS(fraction, fraction * lw.size, lw.size)


def log_z_estimate(log_w: Array) -> Estimate:
    """``ln Z`` by importance sampling, ``ln mean(w)`` on the model's samples, with its
    delta-method error.

    ``mean(w)`` is unbiased for ``Z``; its log is biased low by about half its variance.
    The relative variance of ``mean(w)`` is ``var(w) / (n mean(w)^2)``, which in terms of
    Kish's fraction ``f`` is ``(1 / f - 1) / (n - 1)`` (unbiased variance): that is the
    squared error of ``ln Z``.  No finite weight gives ``-inf`` with an infinite error."""
    lw = _log_w(log_w)
    ess = kish_ess(lw)
    if ess.count == 0:
        return Estimate(-math.inf, math.inf)
    value = float(logsumexp(lw) - math.log(lw.size))
    if lw.size < 2:
        return Estimate(value, math.inf)
    return Estimate(value, math.sqrt(max(1.0 / ess.fraction - 1.0, 0.0) / (lw.size - 1)))


def _mean_and_error(values: Array) -> Estimate:
    """The mean and its standard error; a non-finite value makes the error NaN."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2 or not np.isfinite(v).all():
        with np.errstate(invalid="ignore"):
            return Estimate(float(np.mean(v)), math.nan)
    return Estimate(float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)))


def elbo(log_w_on_q: Array) -> Estimate:
    """The evidence lower bound ``E_q[log w] <= ln Z`` (Jensen), on the model's samples."""
    return _mean_and_error(_log_w(log_w_on_q))


def eubo(log_w_on_p: Array) -> Estimate:
    """The evidence upper bound ``E_p[log w] >= ln Z``, on exact target samples."""
    return _mean_and_error(_log_w(log_w_on_p, "log-weights on target samples"))


def reverse_kl(log_w_on_q: Array, log_z: float) -> Estimate:
    """``KL(q || p) = ln Z - E_q[log w]`` on the model's samples: what energy-based
    (reverse-KL) training minimises; mode-seeking."""
    lower = elbo(log_w_on_q)
    return Estimate(float(log_z) - lower.value, lower.error)


def forward_kl(log_w_on_p: Array, log_z: float) -> Estimate:
    """``KL(p || q) = E_p[log w] - ln Z`` on exact target samples: what maximum
    likelihood on target samples minimises; mass-covering."""
    upper = eubo(log_w_on_p)
    return Estimate(upper.value - float(log_z), upper.error)


# -- free energies and observables --------------------------------------------------------
def _masks(n: int, *masks: Array) -> list[Array]:
    out = [np.asarray(m, dtype=bool).reshape(-1) for m in masks]
    if any(m.size != n for m in out):
        raise MetricError(f"a state mask does not have one entry per sample ({n})")
    return out


def _delta_log_ratio_error(w: Array, a: Array, b: Array) -> float:
    """The delta-method error of ``ln mean(w 1_B) - ln mean(w 1_A)``, with the covariance
    of the two means (negative for disjoint states)."""
    wa, wb = w * a, w * b
    ma, mb = wa.mean(), wb.mean()
    if ma == 0 or mb == 0 or w.size < 2:
        return math.inf
    cov = np.cov(np.stack([wa, wb]), ddof=1) / w.size
    var = cov[0, 0] / ma**2 + cov[1, 1] / mb**2 - 2 * cov[0, 1] / (ma * mb)
    return math.sqrt(max(float(var), 0.0))


def _log_ratio(w: Array, a: Array, b: Array) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log(np.sum(w[b])) - np.log(np.sum(w[a])))


def _bootstrap_log_ratio_error(w: Array, a: Array, b: Array, resamples: int, seed: int) -> float:
    """The standard deviation of the log ratio over ``resamples`` bootstrap resamples
    (seeded), ignoring the resamples where a state is empty."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        i = rng.integers(0, w.size, w.size)
        values.append(_log_ratio(w[i], a[i], b[i]))
    finite = np.asarray(values)[np.isfinite(values)]
    return float(finite.std(ddof=1)) if finite.size > 1 else math.inf


def free_energy_difference(
    log_w: Array,
    in_a: Array,
    in_b: Array,
    kT: float = 1.0,
    *,
    bootstrap: int = 0,
    seed: int = 0,
) -> Estimate:
    """``F_B - F_A = -kT ln(sum_{i in B} w_i / sum_{i in A} w_i)`` on the model's samples,
    the reweighted free-energy difference of two states (masks ``in_a``, ``in_b``).

    Weights ``w = Z p / q`` turn the model's samples into a target expectation, so the
    ratio estimates ``P_p(B) / P_p(A)``.  The error is the delta method's (with the
    covariance of the two sums) or, with ``bootstrap`` resamples, their standard
    deviation (seeded with ``seed``).  An empty state gives an infinite difference."""
    lw = _log_w(log_w)
    a, b = _masks(lw.size, in_a, in_b)
    if not np.isfinite(lw).any():
        return Estimate(math.nan, math.inf)
    w = np.exp(lw - lw.max())
    value = -kT * _log_ratio(w, a, b)
    if bootstrap:
        spread = _bootstrap_log_ratio_error(w, a, b, int(bootstrap), seed)
    else:
        spread = _delta_log_ratio_error(w, a, b)
    return Estimate(value, abs(kT) * spread)


def raw_free_energy_difference(
    in_a: Array, in_b: Array, kT: float = 1.0, tau: float = 1.0
) -> Estimate:
    """``-kT ln(n_B / n_A)`` from the counts alone (the samples taken as they are, no
    weights); its error is ``kT sqrt(tau (1 / n_A + 1 / n_B))`` (multinomial counts),
    which is what the weighted estimator's delta method gives for equal weights.
    ``tau``: the integrated autocorrelation time of the state indicator, for the
    correlated samples of a Markov chain (which are worth ``n / tau`` independent ones);
    ``inf`` (chains that never changed state) gives an infinite error."""
    a = np.asarray(in_a, dtype=bool).reshape(-1)
    value, error = free_energy_difference(np.zeros(a.size), a, in_b, kT)
    return Estimate(value, error * float(np.sqrt(tau)))


def reweighted_mean(values: Array, log_w: Array) -> Estimate:
    """The self-normalised importance-sampling mean ``sum w_i v_i / sum w_i`` of an
    observable, with the delta-method error ``sqrt(sum wbar_i^2 (v_i - mean)^2)``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    wbar = normalised_weights(log_w)
    if v.size != wbar.size:
        raise MetricError(f"{v.size} values for {wbar.size} weights")
    on = wbar > 0
    mean = float(np.sum(wbar[on] * v[on]))
    return Estimate(mean, float(np.sqrt(np.sum(wbar[on] ** 2 * (v[on] - mean) ** 2))))


def top_weights(log_w: Array, k: int = 10) -> Array:
    """The ``k`` largest normalised weights, largest first: a single weight near 1 says
    one sample carries the whole estimate, whatever the ESS is rounded to."""
    return np.sort(normalised_weights(log_w))[::-1][: int(k)]


def clip_log_weights(log_w: Array, n_top: int) -> Array:
    """The log-weights with the ``n_top`` largest lowered to the next largest: truncated
    importance sampling (Ionides, J. Comput. Graph. Stat. 17, 295, 2008), which trades a
    small bias for a bounded variance; several Boltzmann-generator papers report
    reweighted observables so."""
    lw = _log_w(log_w).copy()
    n_top = int(n_top)
    if not 0 <= n_top < lw.size:
        raise MetricError(f"cannot clip the {n_top} largest of {lw.size} weights")
    if n_top:
        order = np.argsort(lw)[::-1]
        lw[order[:n_top]] = lw[order[n_top]]
    return lw


# -- distances between samples ---------------------------------------------------------
def _quantile_steps(x: Array, weights: Array | None, what: str) -> tuple[Array, Array]:
    """Sorted values and the cumulative probability at each: the quantile function as a
    step function."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    w = np.ones(x.size) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if x.size == 0 or w.size != x.size:
        raise MetricError(f"{what}: {x.size} values for {w.size} weights")
    if np.isnan(x).any() or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise MetricError(f"{what}: NaN values or weights that are not finite and >= 0")
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order])
    cum /= cum[-1]
    cum[-1] = 1.0
    return x[order], cum


def wasserstein(
    a: Array,
    b: Array,
    p: float = 1,
    *,
    weights_a: Array | None = None,
    weights_b: Array | None = None,
) -> float:
    """The exact ``W_p`` of two (weighted) 1-D samples, energies say:
    ``(int_0^1 |F_a^-1(t) - F_b^-1(t)|^p dt)^(1/p)``.

    Both quantile functions are step functions, constant between the union of their
    cumulative weights, so the integral is a finite sum.  ``weights_b = w`` compares the
    target with the *reweighted* model sample.  Mass at an infinite value (an energy of
    overlapping particles) makes the distance infinite."""
    if p < 1:
        raise MetricError(f"W_p needs p >= 1, not {p}")
    xa, ca = _quantile_steps(a, weights_a, "wasserstein: first sample")
    xb, cb = _quantile_steps(b, weights_b, "wasserstein: second sample")
    if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
        return math.inf
    levels = np.union1d(ca, cb)
    dt = np.diff(levels, prepend=0.0)
    mid = levels - dt / 2
    qa = xa[np.minimum(np.searchsorted(ca, mid), xa.size - 1)]
    qb = xb[np.minimum(np.searchsorted(cb, mid), xb.size - 1)]
    return float(np.sum(dt * np.abs(qa - qb) ** p) ** (1.0 / p))


def _configurations(x: Array, what: str) -> Array:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 2:
        raise MetricError(f"{what}: expected (n, particles >= 2, dimension), got {x.shape}")
    return x


def interatomic_distances(x: Array) -> Array:
    """``(n, P (P - 1) / 2)`` distances ``|x_i - x_j|``, ``i < j``, of configurations
    ``(n, P, d)``: invariant under rotations, reflections, translations and (as a set)
    permutations, so what a particle system's model must get right whatever its frame."""
    x = _configurations(x, "interatomic distances")
    i, j = np.triu_indices(x.shape[1], k=1)
    return np.linalg.norm(x[:, i] - x[:, j], axis=-1)


def distance_w2(
    x: Array, y: Array, *, weights_x: Array | None = None, weights_y: Array | None = None
) -> float:
    """``W_2`` between the pooled interatomic distances of two sets of configurations
    (each configuration's weight shared by its pairs): with the energy ``W_2``, the
    statistic that tells particle-system samplers apart where a ``W_2`` in coordinates
    cannot (Klein et al., arXiv:2306.15030)."""
    dx, dy = interatomic_distances(x), interatomic_distances(y)
    wx = None if weights_x is None else np.repeat(np.asarray(weights_x), dx.shape[1])
    wy = None if weights_y is None else np.repeat(np.asarray(weights_y), dy.shape[1])
    return wasserstein(dx.ravel(), dy.ravel(), 2, weights_a=wx, weights_b=wy)


def _descriptors(x: Array) -> Array:
    """Per particle, its sorted distances to the others ``(n, P, P - 1)``: invariant under
    rotations and reflections, permuted with the particles."""
    d = np.linalg.norm(x[:, :, None] - x[:, None, :], axis=-1)
    return np.sort(d, axis=-1)[:, :, 1:]


def _assignments(cost: Array) -> Array:
    """Per pair, the optimal permutation (Hungarian algorithm, ``scipy.optimize.
    linear_sum_assignment``) of a batch of ``(m, P, P)`` costs: ``perm[j, a]`` is the
    particle of the second configuration matched to particle ``a`` of the first."""
    return np.stack([linear_sum_assignment(c)[1] for c in cost])


def _kabsch(x: Array, y: Array) -> Array:
    """The orthogonal ``R`` (reflections allowed: ``O(d)``) minimising ``|y R - x|`` for
    one configuration ``x (P, d)`` against a batch ``y (m, P, d)``: ``U V^T`` of the SVD
    of ``y^T x`` (Kabsch 1976, without the determinant fix that keeps ``SO(d)``)."""
    u, _, vt = np.linalg.svd(np.einsum("mpd,pe->mde", y, x))
    return u @ vt


def _aligned_sq_distances(x: Array, y: Array, desc_x: Array, desc_y: Array, rounds: int) -> Array:
    """``min_{R, P} |x - (R (x) P) y|^2`` of one centred configuration against a batch, by
    alternating the optimal permutation (Hungarian) and rotation (Kabsch).  The first
    permutation matches the particles' distance descriptors, exact for a noise-free
    rotated and permuted copy; each later step can only lower the distance."""
    perm = _assignments(((desc_x[None, :, None] - desc_y[:, None]) ** 2).sum(-1))
    rotated = y
    for _ in range(rounds):
        matched = np.take_along_axis(y, perm[..., None], axis=1)
        rotated = y @ _kabsch(x, matched)
        perm = _assignments(((x[None, :, None] - rotated[:, None]) ** 2).sum(-1))
    matched = np.take_along_axis(rotated, perm[..., None], axis=1)
    return ((x[None] - matched) ** 2).sum(axis=(1, 2))


def symmetry_w2(
    x: Array, y: Array, *, rounds: int = 3, max_samples: int | None = None, seed: int = 0
) -> float:
    """The symmetry-aware ``W_2`` of two sets of particle configurations ``(n, P, d)``
    (Klein et al., arXiv:2306.15030; Liu et al., ASBS, 2025): the optimal-assignment
    ``W_2`` between the sets, where two configurations are as far apart as
    ``min_{R in O(d), P in S(P)} |x - (R (x) P) y|`` after centring both.

    The inner minimum alternates permutations and rotations ``rounds`` times (see
    :func:`_aligned_sq_distances`; a local minimum, as in the papers).  The outer one is
    the exact optimal transport between equal-size uniform samples, a linear assignment;
    unequal sets are cut to the smaller size, and both to ``max_samples``, by a seeded
    random subsample.  The cost is ``n^2 (rounds + 1)`` small assignments: seconds for a
    few hundred configurations, minutes for 2,000."""
    x, y = _configurations(x, "symmetry_w2"), _configurations(y, "symmetry_w2")
    if x.shape[1:] != y.shape[1:]:
        raise MetricError(f"symmetry_w2: configurations {x.shape[1:]} and {y.shape[1:]}")
    n = min(len(x), len(y), max_samples or len(x))
    rng = np.random.default_rng(seed)
    x, y = (s if len(s) == n else s[np.sort(rng.choice(len(s), n, replace=False))] for s in (x, y))
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    dx, dy = _descriptors(x), _descriptors(y)
    cost = np.stack([_aligned_sq_distances(x[i], y, dx[i], dy, rounds) for i in range(n)])
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


# -- modes ---------------------------------------------------------------------------------
#: a mode is covered when it holds at least this share of what it should
DEFAULT_TOLERANCE = 0.2


@dataclass(frozen=True)
class ModeCoverage:
    """How a sample spreads over labelled modes.

    ``shares``: each mode's share of the on-mode samples; ``off_mode``: the fraction of
    samples in no mode; ``covered``: the modes holding at least ``tolerance`` times their
    expected share (and at least one sample); ``total_variation``: half the summed
    ``|share - expected|`` (0: the expected spread, 1: none of it)."""

    n_modes: int
    covered: int
    shares: tuple[float, ...]
    expected: tuple[float, ...]
    off_mode: float
    total_variation: float
    tolerance: float

    @property
    def fraction(self) -> float:
        return self.covered / self.n_modes


def mode_coverage(
    labels: Array,
    n_modes: int,
    tolerance: float = DEFAULT_TOLERANCE,
    expected: Sequence[float] | None = None,
) -> ModeCoverage:
    """The :class:`ModeCoverage` of mode labels (``0 .. n_modes - 1``, ``-1``: none).

    ``expected``: each mode's share under the target (a reference sample's shares, say);
    default equal shares.  With the default ``tolerance`` 0.2, of 40 equal modes each must
    hold at least 0.5 % of the on-mode samples to count: a mode seen by a stray sample is
    not covered, one drawn at a fifth of its weight is."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    k = int(n_modes)
    if k < 1 or labels.size == 0 or (labels >= k).any():
        raise MetricError(f"mode labels must lie in -1 .. {k - 1} (and there must be some)")
    on = labels >= 0
    counts = np.bincount(labels[on], minlength=k).astype(np.float64)
    shares = counts / max(counts.sum(), 1.0)
    want = np.full(k, 1.0 / k) if expected is None else np.asarray(expected, np.float64)
    if want.shape != (k,):
        raise MetricError(f"{want.size} expected shares for {k} modes")
    covered = int(np.sum((counts > 0) & (shares >= tolerance * want)))
    return ModeCoverage(
        n_modes=k,
        covered=covered,
        shares=tuple(shares.tolist()),
        expected=tuple(want.tolist()),
        off_mode=float(1.0 - on.mean()),
        total_variation=float(0.5 * np.abs(shares - want).sum()),
        tolerance=float(tolerance),
    )


# -- lattice models ---------------------------------------------------------------------------
def lattice_energy(spins: Array) -> Array:
    """``H = -sum_<ij> s_i s_j`` per configuration of a periodic square lattice
    ``(n, L, L)`` (``J = 1``, no field): each bond counted once."""
    s = np.asarray(spins, dtype=np.float64)
    return -np.sum(s * np.roll(s, 1, axis=1) + s * np.roll(s, 1, axis=2), axis=(1, 2))


@dataclass(frozen=True)
class LatticeObservables:
    """The thermodynamics of a spin sample: ``abs_magnetisation`` ``<|m|>``,
    ``energy_per_site`` ``<E> / N``, ``specific_heat`` per site ``beta^2 var(E) / N`` and
    the Binder cumulant ``1 - <m^4> / (3 <m^2>^2)`` (Binder, Z. Phys. B 43, 119, 1981):
    2/3 deep in the ordered phase, 0 in the disordered phase of a large lattice."""

    abs_magnetisation: float
    energy_per_site: float
    specific_heat: float
    binder: float


def _moment(values: Array, wbar: Array, power: int = 1) -> float:
    return float(np.sum(wbar * values**power))


def ising_observables(
    spins: Array, beta: float | Array, *, energy: Array | None = None, log_w: Array | None = None
) -> LatticeObservables:
    """The :class:`LatticeObservables` of configurations ``(n, L, L)`` of +-1 spins at
    inverse temperature ``beta`` (per sample or one value), each sample weighted by
    ``softmax(log_w)`` (the reweighted model sample) or equally.

    ``energy``: ``H`` per configuration where the target's couplings differ from
    :func:`lattice_energy`'s.  The specific heat is the variance of ``beta H``, the
    reduced energy, per site, which is ``beta^2 var(H) / N`` at one temperature."""
    s = np.asarray(spins, dtype=np.float64)
    n, sites = s.shape[0], int(np.prod(s.shape[1:]))
    h = lattice_energy(s) if energy is None else np.asarray(energy, np.float64).reshape(-1)
    wbar = np.full(n, 1.0 / n) if log_w is None else normalised_weights(log_w)
    if h.size != n or wbar.size != n:
        raise MetricError(f"{n} configurations for {h.size} energies and {wbar.size} weights")
    m = s.reshape(n, -1).mean(axis=1)
    u = np.broadcast_to(np.asarray(beta, np.float64), (n,)) * h
    m2 = _moment(m, wbar, 2)
    return LatticeObservables(
        abs_magnetisation=_moment(np.abs(m), wbar),
        energy_per_site=_moment(h, wbar) / sites,
        specific_heat=(_moment(u, wbar, 2) - _moment(u, wbar) ** 2) / sites,
        binder=1.0 - _moment(m, wbar, 4) / (3.0 * m2**2) if m2 > 0 else math.nan,
    )


def free_energy_per_site(log_z: float, beta: float, n_sites: int) -> float:
    """``F / N = -ln Z / (beta N)``: from the exact ``ln Z`` or :func:`log_z_estimate`."""
    return -float(log_z) / (float(beta) * int(n_sites))
