"""The autocorrelation-time estimator against processes of known ``τ_int``: AR(1) chains
``x_t = φ x_{t-1} + ε_t`` have ``ρ(t) = φ^t`` and ``τ_int = (1 + φ) / (1 - φ)``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from surrogate_boltzmann.autocorr import (
    AutocorrelationError,
    autocorrelation,
    effective_sample_size,
    integrated_time,
    standard_error,
)


def ar1(phi: float, n_steps: int, n_chains: int, seed: int = 0) -> np.ndarray:
    """Stationary AR(1) chains ``(n_steps, n_chains)`` of unit innovation variance."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_steps, n_chains))
    start = rng.standard_normal(n_chains) / np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], noise, axis=0, zi=phi * start[None])[0]


@pytest.mark.parametrize("phi", [0.9, 0.5, 0.0])
def test_integrated_time_of_ar1_within_a_few_percent(phi: float) -> None:
    # 2^20 steps in all: the estimator's relative error is ~sqrt(2 (2M + 1) / N) ~ 2%
    x = ar1(phi, 2**16, 16)
    exact = (1 + phi) / (1 - phi)
    assert integrated_time(x) == pytest.approx(exact, rel=0.05)
    per_chain = integrated_time(x, per_chain=True)
    assert per_chain.shape == (16,)
    assert np.median(per_chain) == pytest.approx(exact, rel=0.1)
    assert effective_sample_size(x) == pytest.approx(x.size / integrated_time(x))


def test_autocorrelation_of_ar1_decays_as_phi_to_the_lag() -> None:
    rho = autocorrelation(ar1(0.8, 2**15, 8))
    assert rho[0] == pytest.approx(1.0)
    np.testing.assert_allclose(rho[1:6], 0.8 ** np.arange(1, 6), atol=0.02)


def test_standard_error_of_the_mean_uses_tau() -> None:
    # the means of many independent AR(1) chains scatter by the predicted error
    chains = ar1(0.9, 4000, 200, seed=3)
    predicted = np.array([standard_error(chains[:, i]) for i in range(200)])
    observed = chains.mean(axis=0).std()
    assert np.median(predicted) == pytest.approx(observed, rel=0.2)
    naive = chains.std() / np.sqrt(4000)
    assert observed > 3 * naive


def test_a_chain_too_short_to_measure_tau_raises_one_line() -> None:
    x = ar1(0.99, 2000, 1)[:, 0]  # τ = 199: 2000 steps is 10 τ
    with pytest.raises(AutocorrelationError, match="too few") as err:
        integrated_time(x)
    assert "\n" not in str(err.value)
    assert np.isfinite(integrated_time(x, strict=False))
    with pytest.raises(AutocorrelationError, match="chain 0"):
        effective_sample_size(x[:, None], per_chain=True)


def test_constant_chain_and_bad_shapes() -> None:
    with pytest.raises(AutocorrelationError, match="constant"):
        integrated_time(np.ones(100))
    assert integrated_time(np.ones(100), strict=False) == np.inf
    with pytest.raises(AutocorrelationError, match="expected"):
        integrated_time(np.ones((3, 4, 5)))
    with pytest.raises(AutocorrelationError, match="expected"):
        integrated_time(np.ones(1))
