"""The estimators against closed forms: log-normal weights, two Gaussians, a two-state
mixture, shifted normals, a rotated and permuted copy, spin configurations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from surrogate.metrics import MetricError
from surrogate.metrics.functional import wasserstein1
from surrogate_boltzmann import estimators as est

N = 200_000


def gaussian_pair(n: int, seed: int = 0):
    """q = N(0, s^2) in 1-D and an unnormalised p~ = exp(-(x - mu)^2 / 2) with
    ln Z = ln sqrt(2 pi); the log-weights on q's and on p's samples, and the closed-form
    KLs."""
    s, mu = 1.3, 0.4
    rng = np.random.default_rng(seed)
    log_z = 0.5 * math.log(2 * math.pi)

    def log_w(x):
        u = 0.5 * (x - mu) ** 2
        log_q = -0.5 * (x / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))
        return est.log_weights(u, log_q)

    kl_qp = math.log(1 / s) + (s**2 + mu**2) / 2 - 0.5
    kl_pq = math.log(s) + (1 + mu**2) / (2 * s**2) - 0.5
    return log_w(rng.normal(0, s, n)), log_w(rng.normal(mu, 1, n)), log_z, kl_qp, kl_pq


def test_kish_ess_of_log_normal_weights():
    """log w ~ N(0, sigma^2): (E w)^2 / E w^2 = exp(-sigma^2)."""
    rng = np.random.default_rng(1)
    for sigma in (0.3, 0.8):
        ess = est.kish_ess(rng.normal(0, sigma, N))
        assert ess.n == N and ess.count == pytest.approx(ess.fraction * N)
        assert ess.fraction == pytest.approx(math.exp(-(sigma**2)), rel=0.02)
    assert est.kish_ess(np.full(10, 3.0)).fraction == pytest.approx(1.0)
    assert est.kish_ess(np.array([0.0, -np.inf, -np.inf, -np.inf])).count == pytest.approx(1)
    assert est.kish_ess(np.full(3, -np.inf)).count == 0


def test_bad_weights_are_refused_in_one_line():
    with pytest.raises(MetricError, match="1 of 3 are NaN or"):
        est.kish_ess(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(MetricError, match="no samples"):
        est.log_z_estimate(np.array([]))
    with pytest.raises(MetricError, match="3 energies for 2 log-densities"):
        est.log_weights(np.zeros(3), np.zeros(2))


def test_log_z_bounds_and_kls_of_two_gaussians():
    on_q, on_p, log_z, kl_qp, kl_pq = gaussian_pair(N)
    lz = est.log_z_estimate(on_q)
    assert abs(lz.value - log_z) < 4 * lz.error and 0 < lz.error < 0.01
    lower, upper = est.elbo(on_q), est.eubo(on_p)
    assert lower.value < log_z < upper.value
    assert est.reverse_kl(on_q, log_z).value == pytest.approx(kl_qp, abs=0.01)
    assert est.forward_kl(on_p, log_z).value == pytest.approx(kl_pq, abs=0.01)
    assert est.reverse_kl(on_q, log_z).error == pytest.approx(lower.error)


def test_forward_ess_is_one_over_one_plus_chi_squared():
    """For q = N(0, s^2), p = N(0, 1): E_p[p / q] = s / sqrt(2 - 1 / s^2)."""
    s, rng = 1.5, np.random.default_rng(2)
    x = rng.normal(0, 1, N)
    log_w = est.log_weights(0.5 * x**2, -0.5 * (x / s) ** 2 - math.log(s * math.sqrt(2 * math.pi)))
    ess = est.forward_ess(log_w, 0.5 * math.log(2 * math.pi))
    assert ess.fraction == pytest.approx(math.sqrt(2 - 1 / s**2) / s, rel=0.01)
    # a perfect model: constant weights Z, forward and reverse ESS 1
    perfect = np.full(100, 0.5 * math.log(2 * math.pi))
    assert est.forward_ess(perfect, 0.5 * math.log(2 * math.pi)).fraction == pytest.approx(1.0)


def test_a_collapsed_model_fools_the_reverse_ess_not_the_forward_one():
    """p: two equal wells at +-6 (unit variance), q: the right one only."""
    rng = np.random.default_rng(3)
    log_z = math.log(2 * math.sqrt(2 * math.pi))

    def log_w(x):
        u = -np.logaddexp(-0.5 * (x - 6) ** 2, -0.5 * (x + 6) ** 2)
        return est.log_weights(u, -0.5 * (x - 6) ** 2 - 0.5 * math.log(2 * math.pi))

    on_q = log_w(rng.normal(6, 1, 20_000))
    on_p = log_w(np.concatenate([rng.normal(6, 1, 10_000), rng.normal(-6, 1, 10_000)]))
    assert est.kish_ess(on_q).fraction > 0.99
    assert est.forward_ess(on_p, log_z).fraction < 1e-6


def test_free_energy_difference_of_a_two_state_mixture():
    """p = 0.2 N(-2, 0.5^2) + 0.8 N(2, 0.5^2), q = N(0, 2^2): Delta F = -ln 4 (kT = 1),
    -2 ln 4 at kT = 2; the raw estimate of p's own samples agrees, q's does not."""
    rng = np.random.default_rng(4)

    def u(x):
        return -np.logaddexp(math.log(0.2) - 2 * (x + 2) ** 2, math.log(0.8) - 2 * (x - 2) ** 2)

    x = rng.normal(0, 2, 100_000)
    log_w = est.log_weights(u(x), -0.125 * x**2)
    exact = -math.log(4)
    for kT in (1.0, 2.0):
        df = est.free_energy_difference(log_w, x < 0, x >= 0, kT)
        assert abs(df.value - kT * exact) < 4 * df.error and df.error < 0.05 * kT
    boot = est.free_energy_difference(log_w, x < 0, x >= 0, bootstrap=50, seed=1)
    delta = est.free_energy_difference(log_w, x < 0, x >= 0)
    assert boot.value == delta.value and boot.error == pytest.approx(delta.error, rel=0.4)
    raw = est.raw_free_energy_difference(x < 0, x >= 0)
    assert abs(raw.value) < 0.05  # q is symmetric: the raw counts miss the answer
    xp = np.where(rng.random(50_000) < 0.2, -2.0, 2.0) + rng.normal(0, 0.5, 50_000)
    raw_p = est.raw_free_energy_difference(xp < 0, xp >= 0)
    n_a, n_b = (xp < 0).sum(), (xp >= 0).sum()
    assert raw_p.error == pytest.approx(math.sqrt(1 / n_a + 1 / n_b), rel=1e-3)
    assert abs(raw_p.value - exact) < 4 * raw_p.error
    assert est.raw_free_energy_difference(x > 99, x < 99).value == -math.inf


def test_reweighted_mean_and_weight_reports():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1.3, N)
    log_w = est.log_weights(0.5 * (x - 0.4) ** 2, -0.5 * (x / 1.3) ** 2)
    mean = est.reweighted_mean(x, log_w)
    assert abs(mean.value - 0.4) < 4 * mean.error and mean.error < 0.01
    top = est.top_weights(log_w, 5)
    assert len(top) == 5 and np.all(np.diff(top) <= 0) and top[0] < 1e-3
    clipped = est.clip_log_weights(np.array([0.0, 5.0, 1.0, 9.0]), 2)
    assert clipped.tolist() == [0.0, 1.0, 1.0, 1.0]
    with pytest.raises(MetricError, match="cannot clip"):
        est.clip_log_weights(np.zeros(3), 3)


def test_wasserstein_of_shifted_normals_is_the_shift():
    rng = np.random.default_rng(6)
    a, b = rng.normal(0, 1, 50_000), rng.normal(0.7, 1, 40_000)
    for p in (1, 2):
        assert est.wasserstein(a, b, p) == pytest.approx(0.7, abs=0.02)
    assert est.wasserstein(a, b, 1) == pytest.approx(wasserstein1(a, b), rel=1e-9)
    # weights: reweighting N(0, 1) to N(0.7, 1) removes the shift
    w = np.exp(0.7 * a)
    assert est.wasserstein(b, a, 2, weights_b=w) < 0.05
    assert est.wasserstein([0.0, 1.0], [0.0, np.inf]) == math.inf
    assert est.wasserstein([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 2) == 0.0


def test_distance_w2_sees_a_stretched_system():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4, 2))
    assert est.distance_w2(x, x @ special_ortho_group.rvs(2, random_state=1)) < 1e-12
    assert est.interatomic_distances(x).shape == (300, 6)
    assert est.distance_w2(x, 1.5 * x) == pytest.approx(
        0.5 * np.sqrt(np.mean(est.interatomic_distances(x) ** 2)), rel=1e-9
    )


def test_symmetry_w2_of_a_rotated_permuted_reflected_copy_is_zero():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 13, 3))
    rot = special_ortho_group.rvs(3, size=40, random_state=2)
    rot[::2, :, 0] *= -1  # reflections too: the minimum is over O(3)
    y = np.einsum("npd,nde->npe", x, rot) + rng.normal(size=(40, 1, 3))
    y = np.stack([c[rng.permutation(13)] for c in y])[rng.permutation(40)]
    assert est.symmetry_w2(x, y) < 1e-8
    noisy = est.symmetry_w2(x, y + rng.normal(0, 0.05, y.shape))
    assert noisy < 0.05 * math.sqrt(13 * 3) * 1.2
    other = est.symmetry_w2(x, rng.normal(size=(60, 13, 3)), max_samples=30)
    assert other > 5 * noisy
    with pytest.raises(MetricError, match="configurations"):
        est.symmetry_w2(x, rng.normal(size=(5, 4, 3)))


def test_mode_coverage():
    labels = np.r_[np.zeros(50), np.ones(45), np.full(4, 2), -np.ones(1)]
    cov = est.mode_coverage(labels, 4)
    assert cov.covered == 2 and cov.fraction == 0.5 and cov.off_mode == pytest.approx(0.01)
    assert cov.shares[3] == 0 and sum(cov.shares) == pytest.approx(1)
    assert cov.total_variation == pytest.approx(0.5 * sum(abs(s - 0.25) for s in cov.shares))
    assert est.mode_coverage(labels, 4, tolerance=0.1).covered == 3
    assert est.mode_coverage(labels, 4, tolerance=0.0).covered == 3  # a sample is needed
    skewed = est.mode_coverage(labels, 4, expected=[0.5, 0.45, 0.04, 0.01])
    assert skewed.covered == 3 and skewed.total_variation < 0.02
    with pytest.raises(MetricError, match="-1 .. 3"):
        est.mode_coverage(np.array([4]), 4)


def test_ising_observables_of_ordered_and_random_lattices():
    up = np.ones((10, 8, 8), dtype=np.int8)
    ordered = est.ising_observables(up, 0.5)
    assert ordered.abs_magnetisation == 1.0 and ordered.energy_per_site == -2.0
    assert ordered.specific_heat == pytest.approx(0.0, abs=1e-12)
    assert ordered.binder == pytest.approx(2 / 3)
    rng = np.random.default_rng(9)
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(4000, 16, 16))
    random = est.ising_observables(spins, 0.1)
    # independent spins: m ~ N(0, 1/N), E has mean 0 and variance 2N
    assert random.abs_magnetisation == pytest.approx(math.sqrt(2 / math.pi) / 16, rel=0.05)
    assert random.energy_per_site == pytest.approx(0.0, abs=0.01)
    assert random.specific_heat == pytest.approx(0.1**2 * 2, rel=0.1)
    assert random.binder == pytest.approx(0.0, abs=0.1)
    # weights: all the weight on the ordered configurations
    mixed = np.concatenate([np.ones((5, 16, 16), np.int8), spins[:5]])
    w = np.r_[np.zeros(5), np.full(5, -np.inf)]
    assert est.ising_observables(mixed, 0.5, log_w=w).abs_magnetisation == 1.0
    assert est.free_energy_per_site(20.0, 0.5, 16) == -2.5


def test_raw_free_energy_error_counts_correlated_samples_as_n_over_tau():
    in_b = np.arange(1000) % 4 == 0  # n_A = 750, n_B = 250
    plain = est.raw_free_energy_difference(~in_b, in_b)
    chain = est.raw_free_energy_difference(~in_b, in_b, tau=9.0)
    assert plain.value == pytest.approx(np.log(3.0)) and chain.value == plain.value
    assert plain.error == pytest.approx(np.sqrt(1 / 750 + 1 / 250), rel=1e-3)
    assert chain.error == pytest.approx(3 * plain.error)
