"""MALA, HMC and parallel tempering against known answers: the moments of an anisotropic
Gaussian within their standard errors (with the measured ``τ``), a hard wall never
crossed, the left/right weight of a high-barrier double well; the reference pipeline's
thinning and diagnostics; seeded, split-independent chains; the bad-start error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sampler_targets import (
    COVARIANCE,
    EIGENVALUES,
    ROTATION,
    Cluster,
    Gaussian,
    HalfGaussian,
    Well,
    well_right_weight,
)

from surrogate.errors import SpecError
from surrogate_boltzmann.autocorr import AutocorrelationError, standard_error
from surrogate_boltzmann.mcmc import Chains, ChainStreams
from surrogate_boltzmann.particles import DW4, LJ13
from surrogate_boltzmann.reference import (
    ReferenceSettings,
    batches,
    reference_sample,
    run_chains,
    run_reference,
    tau_pools,
)


def check_gaussian_moments(chains: Chains, temperature: float, columns: slice) -> None:
    """Mean zero and variance ``T λ_k`` along every eigenvector, within 4 standard errors."""
    x = chains.samples[:, columns] / math.sqrt(temperature)
    projected = x @ ROTATION  # (steps, chains, 4): independent N(0, λ_k)
    for k, var in enumerate(EIGENVALUES):
        y = projected[..., k]
        assert abs(y.mean()) < 4 * standard_error(y), (k, y.mean())
        assert abs((y * y).mean() - var) < 4 * standard_error(y * y), (k, (y * y).mean(), var)


@pytest.mark.parametrize(
    ("method", "steps", "options"),
    [("mala", 1200, {}), ("hmc", 300, {"leapfrog_steps": 10})],
)
def test_gaussian_moments_at_two_temperatures(method: str, steps: int, options: dict) -> None:
    temperature = np.repeat([1.0, 2.5], 24)
    chains = run_chains(
        Gaussian(),
        temperature,
        n_chains=48,
        n_steps=steps,
        rng=np.random.default_rng(0),
        method=method,
        burn_in=200,
        **options,
    )
    assert chains.samples.shape == (steps, 48, 4)
    check_gaussian_moments(chains, 1.0, slice(0, 24))
    check_gaussian_moments(chains, 2.5, slice(24, 48))
    target = 0.574 if method == "mala" else 0.65
    assert abs(chains.acceptance.mean() - target) < 0.05
    # the step size scales with the width, sqrt(T)
    ratio = np.median(chains.step_size[24:]) / np.median(chains.step_size[:24])
    assert ratio == pytest.approx(math.sqrt(2.5), rel=0.15)
    per_move = 1 if method == "mala" else options["leapfrog_steps"]
    assert chains.energy_evaluations == 48 * (1 + per_move * (200 + steps))
    assert chains.gradient_evaluations == chains.energy_evaluations


def test_seeded_and_independent_of_the_number_of_chains() -> None:
    def run(n_chains: int, seed: int, method: str = "mala") -> Chains:
        return run_chains(
            Gaussian(), 1.0, n_chains=n_chains, n_steps=30, rng=np.random.default_rng(seed),
            method=method, burn_in=20, leapfrog_steps=3,
        )  # fmt: skip

    for method in ("mala", "hmc"):
        a, b, c = run(3, 7, method), run(3, 7, method), run(8, 7, method)
        np.testing.assert_array_equal(a.samples, b.samples)
        np.testing.assert_allclose(c.samples[:, :3], a.samples, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.step_size[:3], a.step_size, rtol=1e-12)
    assert not np.allclose(run(3, 8).samples, run(3, 7).samples)
    # tempering: chain c of its ladders likewise
    small, big = (
        run_chains(Well(), 1.0, n_chains=k, n_steps=20, rng=np.random.default_rng(1),
                   burn_in=10, replicas=4, t_ratio=8.0)
        for k in (2, 5)
    )  # fmt: skip
    np.testing.assert_allclose(big.samples[:, :2], small.samples, rtol=0, atol=1e-12)


def test_streams_depend_on_the_chain_alone() -> None:
    def draws(n_chains: int, block_scalars: int) -> np.ndarray:
        streams = ChainStreams([1, 2, 3, 4], [(i,) for i in range(n_chains)])
        streams.block_scalars = block_scalars  # other refill times, same numbers
        rows = [np.c_[streams.normal((3,))[:2], streams.uniform()[:2]] for _ in range(50)]
        return np.stack(rows)

    np.testing.assert_array_equal(draws(2, 2**22), draws(9, 40))
    assert not np.array_equal(draws(2, 2**22)[:, 0], draws(2, 2**22)[:, 1])


def test_overlapping_particles_at_the_start_are_refused() -> None:
    with pytest.raises(SpecError, match="initial state of chain 0 has energy nan") as err:
        run_chains(Cluster(overlap=True), 1.0, n_chains=2, n_steps=5, rng=np.random.default_rng())
    assert "overlapping" in str(err.value) and "\n" not in str(err.value)
    start = Cluster().initial_state(3, np.random.default_rng(0))
    start[2, 1] = start[2, 0]
    with pytest.raises(SpecError, match="chain 2"):
        run_chains(
            Cluster(), 1.0, n_chains=3, n_steps=5, rng=np.random.default_rng(), initial=start
        )


def test_infinite_energies_are_never_accepted() -> None:
    # a start far too bold proposes into the wall and into overlaps often
    for target in (HalfGaussian(), Cluster()):
        chains = run_chains(
            target, 1.0, n_chains=16, n_steps=400, rng=np.random.default_rng(2),
            burn_in=50, step_size=3.0,
        )  # fmt: skip
        assert np.isfinite(chains.energies).all() and np.isfinite(chains.samples).all()
    x = chains.samples  # the cluster's particles never overlap
    pairs = np.linalg.norm(x[:, :, :, None] - x[:, :, None], axis=-1)[..., [0, 0, 1], [1, 2, 2]]
    assert pairs.min() > 0.5
    half = run_chains(
        HalfGaussian(), 1.0, n_chains=32, n_steps=1000, rng=np.random.default_rng(3), burn_in=200
    )
    y = half.samples[..., 0]
    assert y.min() > 0
    assert abs(y.mean() - math.sqrt(2 / math.pi)) < 4 * standard_error(y)


def test_tempering_recovers_the_weights_a_single_chain_misses() -> None:
    exact = well_right_weight()  # 0.273; the barrier is 10 kT
    options = {"n_chains": 16, "n_steps": 1000, "burn_in": 200}
    single = run_chains(Well(), 1.0, rng=np.random.default_rng(4), **options)
    # the chains stay in the left well they start in (one may cross while its step size
    # is still large in burn-in)
    assert exact - (single.samples[..., 0] > 0).mean() > 0.15
    tempered = run_chains(
        Well(), 1.0, rng=np.random.default_rng(4), replicas=6, t_ratio=20.0, **options
    )
    right = (tempered.samples[..., 0] > 0).astype(float)
    assert abs(right.mean() - exact) < 4 * standard_error(right)
    assert abs(right.mean() - exact) < 0.05
    assert tempered.swap_acceptance.shape == (5,)
    assert (tempered.swap_acceptance > 0.3).all()
    assert tempered.energy_evaluations == 16 * 6 * (1 + 200 + 1000)


def test_reference_sample_thins_by_tau_and_reports_its_cost() -> None:
    target = Gaussian()
    settings = ReferenceSettings(n_chains=32, burn_in=200, pilot_steps=500)
    x, diag = run_reference(target, 600, 1.5, np.random.default_rng(5), settings)
    assert x.shape == (600, 4)
    assert diag.n_chains == 32 and diag.temperatures.tolist() == [1.5]
    assert 1 < diag.tau[0] < 20
    assert diag.thinning == math.ceil(2 * diag.tau[0])
    assert diag.production_steps == math.ceil(600 / 32) * diag.thinning
    assert abs(diag.acceptance[0] - 0.574) < 0.05
    per_chain = 1 + diag.burn_in + diag.pilot_steps + diag.production_steps
    assert diag.energy_evaluations == 32 * per_chain
    assert diag.samples_per_evaluation == pytest.approx(600 / diag.energy_evaluations)
    # decorrelated draws: the variance along each eigenvector within 4 errors of
    # independent samples, sqrt(2 / n) relative
    variance = (x @ ROTATION).var(axis=0) / (1.5 * EIGENVALUES)
    assert np.abs(variance - 1).max() < 4 * math.sqrt(2 / 600)


def test_reference_sample_with_a_temperature_per_event() -> None:
    target = Gaussian()
    temperature = np.random.default_rng(0).uniform(0.5, 4.0, 48)
    # in batches of at most 20 chains
    settings = ReferenceSettings(n_chains=16, burn_in=300, pilot_steps=500, max_chains=20)
    x = reference_sample(target, 48, temperature, np.random.default_rng(6), settings)
    diag = target.last_diagnostics
    assert diag.n_chains == 48 and len(diag.tau) == 48  # one chain per event
    assert diag.n_samples == 48 and diag.temperatures.tolist() == sorted(temperature)
    # (the batches' thinning differs; the largest is reported)
    most = 48 * (1 + 300 + diag.pilot_steps + diag.thinning)
    assert 48 * (1 + 300 + 500) < diag.energy_evaluations <= most
    # chi-square of x / sqrt(T) has 4 degrees of freedom per event
    chi2 = np.einsum("ni,ij,nj->n", x, np.linalg.inv(COVARIANCE), x) / temperature
    assert abs(chi2.mean() - 4) < 4 * math.sqrt(8 / 48)
    # the whole path from Target.sample, seeded, with the target's own settings
    target.reference_settings = ReferenceSettings(burn_in=200, pilot_steps=300)
    events = target.sample(20, {"temperature": 1.0}, seed=3)
    again = target.sample(20, {"temperature": 1.0}, seed=3)
    np.testing.assert_array_equal(events["x"], again["x"])
    assert target.last_diagnostics.burn_in == 200


def test_a_pilot_too_short_for_tau_is_refused() -> None:
    settings = ReferenceSettings(n_chains=8, burn_in=50, pilot_steps=60, max_pilot_steps=100)
    with pytest.raises(AutocorrelationError, match="max_pilot_steps") as err:
        reference_sample(Gaussian(), 10, 1.0, np.random.default_rng(), settings)
    assert "\n" not in str(err.value) and "T = 1" in str(err.value)


def test_tau_pools_and_settings() -> None:
    pools = tau_pools(np.array([64, 1, 1, 1, 1, 1]), 4)
    assert [p.tolist() for p in pools] == [[0], [1, 2, 3, 4, 5]]
    assert [p.tolist() for p in tau_pools(np.ones(9, int), 4)] == [[0, 1, 2, 3], [4, 5, 6, 7, 8]]
    temps = np.array([3.0, 1.0, 2.0, 1.0, 1.0, 5.0, 4.0])
    assert [b.tolist() for b in batches(temps, 2, 3)] == [[1, 2, 3, 4], [0, 5, 6]]
    assert [b.tolist() for b in batches(temps, 64, 4096)] == [list(range(7))]
    with pytest.raises(SpecError, match="n_chains <= max_chains"):
        ReferenceSettings(n_chains=10, max_chains=5)
    with pytest.raises(SpecError, match="unknown reference method"):
        ReferenceSettings(method="gibbs")
    with pytest.raises(SpecError, match="thinning"):
        ReferenceSettings(thinning=0)
    with pytest.raises(SpecError, match="unknown reference method 'x'"):
        run_chains(Gaussian(), 1.0, n_chains=2, n_steps=2, rng=np.random.default_rng(), method="x")


def test_an_lj13_start_with_overlapping_particles_is_refused() -> None:
    start = LJ13().initial_state(2, np.random.default_rng(0))
    start[1, 5] = start[1, 4]
    with pytest.raises(SpecError, match="initial state of chain 1 has energy inf"):
        run_chains(LJ13(), 1.0, n_chains=2, n_steps=2, rng=np.random.default_rng(), initial=start)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "mean", "std"),
    # the energies of the Klein et al. test splits (shared/reference/boltzmann.md)
    [(DW4(), -22.45, 1.90), (LJ13(), -43.1, 7.0)],
    ids=["dw4", "lj13"],
)
def test_reference_energies_match_the_published_test_splits(target, mean, std) -> None:
    x = reference_sample(target, 1000, 1.0, np.random.default_rng(8))
    energy = target.physical_energy(x)
    diag = target.last_diagnostics
    assert abs(energy.mean() - mean) < 4 * std / math.sqrt(1000) + 0.2, (energy.mean(), diag)
    assert energy.std() == pytest.approx(std, rel=0.1)
