"""Integrated autocorrelation times and effective sample sizes of Markov chains.

A chain of ``N`` correlated states carries the information of about ``N / τ_int``
independent ones, with ``τ_int = 1 + 2 Σ_{t≥1} ρ(t)`` the integrated autocorrelation time
of the observable (here usually the energy).  The sum over the noisy tail of ``ρ`` has a
variance that grows with the number of lags summed, so it is cut at a window ``M``: the
smallest ``M`` with ``M ≥ c · τ(M)`` (Sokal 1997, "Monte Carlo methods in statistical
mechanics", §3), where ``c ≈ 5`` keeps the truncation bias below ``exp(-c)`` for a
roughly exponential decay and the variance at ``2 (2M + 1) / N · τ²``.

The estimate needs a chain much longer than ``τ``: where no window is found, or the chain
is shorter than ``min_length · τ`` (50, as emcee uses), :func:`integrated_time` raises a
one-line :class:`AutocorrelationError` instead of returning a number nobody should trust.

Series are time-major: ``(n_steps,)`` for one chain, ``(n_steps, n_chains)`` for many.
Several chains are combined by averaging their autocovariances about each chain's own
mean (so the estimate sees the within-chain decorrelation only: chains stuck in different
modes look decorrelated; check that with the acceptance of tempering swaps or a known
mode weight, not with ``τ``).
"""

from __future__ import annotations

import numpy as np

from surrogate.errors import SurrogateError

#: Sokal's window constant: the sum is cut at the first lag ``M ≥ c τ(M)``
WINDOW = 5.0
#: a chain shorter than this many ``τ`` gives no trustworthy ``τ`` (nor samples)
MIN_LENGTH = 50.0


class AutocorrelationError(SurrogateError):
    """The chain is too short (or constant) to measure its autocorrelation time."""


def _as_chains(x: np.ndarray) -> np.ndarray:
    """A series as ``(n_steps, n_chains)`` float64."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise AutocorrelationError(
            f"a series of shape {arr.shape}: expected (n_steps,) or (n_steps, n_chains) "
            "with n_steps >= 2"
        )
    return arr


def autocovariance(x: np.ndarray) -> np.ndarray:
    """The autocovariance of every chain at lags ``0 .. n_steps - 1`` (``(n_steps,
    n_chains)``), by FFT with zero padding (so the product is not circular).

    The biased ``1/N`` normalisation is used: its sum over lags stays positive definite,
    which the windowed sum relies on.
    """
    arr = _as_chains(x)
    n = arr.shape[0]
    centred = arr - arr.mean(axis=0)
    size = 1 << int(2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    return np.fft.irfft(spectrum * spectrum.conj(), n=size, axis=0)[:n].real / n


def autocorrelation(x: np.ndarray, *, per_chain: bool = False) -> np.ndarray:
    """The normalised autocorrelation ``ρ(t)``: ``(n_steps,)`` pooled over chains, or
    ``(n_steps, n_chains)`` with ``per_chain`` (a constant chain gives NaN)."""
    acov = autocovariance(x)
    if not per_chain:
        acov = acov.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = acov / acov[:1]
    return rho if per_chain else rho[:, 0]


def _windowed(rho: np.ndarray, c: float) -> tuple[float, int | None]:
    """``(τ, M)`` with Sokal's window on one autocorrelation function; ``M`` is ``None``
    where no lag satisfies ``M ≥ c τ(M)`` (the chain is too short)."""
    taus = 2.0 * np.cumsum(rho) - 1.0
    below = np.arange(len(rho)) < c * taus
    if below.all():
        return float(taus[-1]), None
    window = int(np.argmin(below))
    return float(taus[window]), window


def _checked(tau: float, window: int | None, n: int, min_length: float, what: str) -> float:
    if not np.isfinite(tau):
        raise AutocorrelationError(f"{what}: the series is constant, no autocorrelation time")
    if window is None or n < min_length * tau:
        raise AutocorrelationError(
            f"{what}: {n} steps are too few to measure the autocorrelation time "
            f"(estimate {tau:.1f} steps; needs at least {min_length:g} τ)"
        )
    return tau


def integrated_time(
    x: np.ndarray,
    *,
    c: float = WINDOW,
    min_length: float = MIN_LENGTH,
    per_chain: bool = False,
    strict: bool = True,
) -> float | np.ndarray:
    """The integrated autocorrelation time ``τ_int`` in steps, with Sokal's window.

    ``x``: ``(n_steps,)`` or ``(n_steps, n_chains)``.  Pooled over chains by default (the
    chains' autocovariances averaged), one value per chain with ``per_chain``.  ``strict``
    (default) raises :class:`AutocorrelationError` where the chain is too short (no window
    found, or fewer than ``min_length · τ`` steps) or constant; otherwise the estimate is
    returned as it is (``inf`` for a constant chain).
    """
    arr = _as_chains(x)
    rho = autocorrelation(arr, per_chain=per_chain)
    columns = rho if per_chain else rho[:, None]
    n = columns.shape[0]
    taus = []
    for j in range(columns.shape[1]):
        what = f"chain {j}" if per_chain else f"{arr.shape[1]} chain(s)"
        tau, window = _windowed(columns[:, j], c) if np.isfinite(columns[0, j]) else (np.inf, None)
        taus.append(_checked(tau, window, n, min_length, what) if strict else tau)
    return np.asarray(taus) if per_chain else taus[0]


def effective_sample_size(
    x: np.ndarray,
    *,
    c: float = WINDOW,
    min_length: float = MIN_LENGTH,
    per_chain: bool = False,
    strict: bool = True,
) -> float | np.ndarray:
    """``n_steps · n_chains / τ_int`` (pooled), or ``n_steps / τ_int`` per chain: the
    number of independent samples the chain(s) are worth for the mean of ``x``."""
    arr = _as_chains(x)
    tau = integrated_time(arr, c=c, min_length=min_length, per_chain=per_chain, strict=strict)
    if per_chain:
        return arr.shape[0] / np.asarray(tau)
    return arr.size / float(tau)


def standard_error(
    x: np.ndarray, *, c: float = WINDOW, min_length: float = MIN_LENGTH, strict: bool = True
) -> float:
    """The standard error of the mean of ``x`` over all steps and chains,
    ``sqrt(var / ESS)`` with the pooled ``τ_int``."""
    arr = _as_chains(x)
    ess = effective_sample_size(arr, c=c, min_length=min_length, strict=strict)
    return float(np.sqrt(arr.var() / ess))
