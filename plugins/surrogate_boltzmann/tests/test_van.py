"""The ``van`` family: an exactly normalised autoregressive model over spins, trained on a
lattice's energy (VAN, Wu et al., PRL 122, 080602, 2019), checked against enumeration on
lattices small enough to list every configuration."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import surrogate
from surrogate.api import hyperparameters_for
from surrogate.errors import SpecError, TrainingError
from surrogate.events import Events
from surrogate.testing import surrogate_checks
from surrogate_boltzmann.ising import Ising
from surrogate_boltzmann.van import VAN

BETA_C = 0.5 * math.log(1 + math.sqrt(2))


@functools.cache
def all_spins(L: int) -> np.ndarray:
    grid = itertools.product((-1, 1), repeat=L * L)
    return np.array(list(grid), dtype=np.int8).reshape(-1, L, L)


def ising(L: int) -> Ising:
    return Ising(L, t_min=1.0, t_max=4.0)


def at(spins: np.ndarray, temperature: float) -> Events:
    return Events({"x": spins}, {"temperature": np.full(len(spins), temperature)})


def exact_log_p(L: int, temperature: float) -> np.ndarray:
    """``ln p`` of every configuration, normalised by enumeration (not by Kaufman)."""
    log_w = -ising(L).energy(at(all_spins(L), temperature))
    return log_w - logsumexp(log_w)


def enumerate_log_q(model: VAN, L: int, temperature: float) -> np.ndarray:
    return model.log_prob(at(all_spins(L), temperature))


def fit(z2: bool, L: int = 3, steps: int = 30, **options) -> VAN:
    sim = ising(L)
    model = VAN(hidden=16, layers=2, z2_symmetric=z2)
    opts = {"epochs": 1, "steps_per_epoch": steps, "batch_size": 256, "val_samples": 256}
    return model.fit(target=sim, conditions={"temperature": 1 / BETA_C}, seed=0, **(opts | options))


@functools.cache
def briefly_trained(z2: bool) -> VAN:
    """A few steps: far from the target, but a density that is neither uniform nor
    (without symmetrisation) even in the spins, so the checks below mean something."""
    return fit(z2)


@pytest.mark.parametrize("z2", [True, False])
def test_log_prob_is_normalised_by_enumeration(z2):
    log_q = enumerate_log_q(briefly_trained(z2), 3, 2.0)
    assert math.exp(logsumexp(log_q)) == pytest.approx(1.0, abs=1e-6)
    assert np.ptp(log_q) > 0.1  # not the uniform density of an untrained model
    flipped = enumerate_log_q(briefly_trained(z2), 3, 2.0)[::-1]  # -s is the mirror index
    assert np.allclose(log_q, flipped, atol=1e-6) is z2


def test_sample_frequencies_follow_q():
    model = briefly_trained(False)
    n = 60_000
    events = model.sample(n, {"temperature": 2.0}, seed=3)
    index = ((events["x"].reshape(n, -1) > 0) * (1 << np.arange(8, -1, -1))).sum(1)
    observed = np.bincount(index, minlength=512)
    expected = n * np.exp(enumerate_log_q(model, 3, 2.0))
    assert expected.min() > 5  # what the chi-square approximation needs
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_save_and_load_give_the_same_density_and_draws(tmp_path):
    model = briefly_trained(True)
    model.save(tmp_path / "van")
    for loaded in (surrogate.load(tmp_path / "van"), VAN.load(tmp_path / "van")):
        a = model.sample(200, {"temperature": 1.5}, seed=4)
        b = loaded.sample(200, {"temperature": 1.5}, seed=4)
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(loaded.log_prob(a), model.log_prob(a))


@pytest.mark.parametrize("check", [n for n, _ in surrogate_checks(lambda: None)])
def test_conformance(check):
    dict(surrogate_checks(lambda: briefly_trained(True)))[check]()


def test_training_on_the_energy_reaches_ln_z():
    """L = 4 at beta_c: a few hundred REINFORCE steps bring the exact bound and the
    importance-sampled ln Z-hat to ln Z by enumeration (which is the reference table's
    15.5219154588 and the target's Kaufman ln Z)."""
    sim, t = ising(4), 1 / BETA_C
    log_w = -sim.energy(at(all_spins(4), t))
    ln_z = float(logsumexp(log_w))
    assert ln_z == pytest.approx(15.5219154588, abs=1e-9)
    model = fit(True, L=4, steps=300)
    events, log_q = model.sample_and_log_prob(20_000, {"temperature": t}, seed=5)
    ln_z_hat = logsumexp(-sim.energy(events) - log_q) - math.log(len(log_q))
    log_q_all = enumerate_log_q(model, 4, t)
    elbo = float(np.exp(log_q_all) @ (log_w - log_q_all))  # E_q[-u - ln q], exactly
    assert elbo <= ln_z < elbo + 0.1  # KL(q || p) = ln Z - ELBO, small but positive
    assert abs(ln_z_hat - ln_z) < 0.01


def test_fitting_on_events_is_maximum_likelihood():
    sim, log_p = ising(3), exact_log_p(3, 2.0)
    draw = np.random.default_rng(6).choice(512, size=4000, p=np.exp(log_p))
    data = Events({"x": all_spins(3)[draw]}, {"temperature": np.full(4000, 2.0)}, sim.spec)
    model = VAN(hidden=16, layers=1).fit(data, seed=0, epochs=20, batch_size=200)
    p = np.exp(log_p)
    kl = float(p @ (log_p - enumerate_log_q(model, 3, 2.0)))  # KL(p || q), exactly
    assert kl < 0.02 < float(p @ log_p) + 9 * math.log(2)  # far below the uniform model's
    bad = Events({"x": np.zeros((10, 3, 3), np.int8)}, {"temperature": np.full(10, 2.0)}, sim.spec)
    with pytest.raises(TrainingError, match="spins of ±1"):
        VAN().fit(bad, seed=0, epochs=1)
    with pytest.raises(SpecError, match="spins of ±1"):
        model.log_prob(bad)


def test_spins_are_modelled_as_they_are():
    """Whatever chain a target recommends, VAN has no preprocessing to take it."""
    assert "preprocessing" not in hyperparameters_for(VAN, {}, ising(3))
    with pytest.raises(SpecError, match="preprocessing"):
        VAN(preprocessing=[{"type": "standardise"}])
    assert briefly_trained(True).preprocessing.to_config() == []
    assert isinstance(surrogate.surrogate("van"), VAN)
