"""The Ising target: Kaufman's exact ln Z against the notes' table and against brute force
over every state of the 4×4 torus; energies by hand; the per-configuration helpers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import surrogate
from surrogate.errors import SpecError

BETA_C = math.log(1 + math.sqrt(2)) / 2

#: (L, β, ln Z) from the notes (Kaufman 1949, cross-checked by brute force at L = 4)
TABLE = [
    (4, 0.2, 11.7714703585),
    (4, BETA_C, 15.5219154588),
    (4, 0.6, 20.0565328843),
    (16, 0.3, 202.3832322625),
    (16, BETA_C, 238.6422566351),
    (16, 0.5, 263.2962104340),
    (32, BETA_C, 952.6480795485),
    (64, BETA_C, 3808.6722834198),
]


@pytest.mark.parametrize(("L", "beta", "log_z"), TABLE)
def test_kaufman_log_z_matches_the_table(L, beta, log_z):
    sim = surrogate.simulator("boltzmann.ising", L=L, t_min=1.0, t_max=6.0)
    got = sim.log_normalizer({"temperature": 1 / beta})[0]
    assert got == pytest.approx(log_z, rel=1e-8)


def all_states(L: int) -> np.ndarray:
    configs = itertools.product((-1, 1), repeat=L * L)
    return np.array(list(configs), np.int8).reshape(-1, L, L)


def test_brute_force_over_every_state_of_the_4x4_torus():
    sim = surrogate.simulator("boltzmann.ising", L=4, J=0.7, t_min=0.5, t_max=10.0)
    spins = all_states(4)
    s = spins.astype(np.float64)
    # each of the 2L² bonds once: right and down neighbours with wrap-around
    hand = -0.7 * (s * np.roll(s, -1, 1) + s * np.roll(s, -1, 2)).sum((1, 2))
    np.testing.assert_allclose(sim.energy({"x": spins}, {"temperature": 1.0}), hand)
    for t in (0.5, 1.0, 0.7 / BETA_C, 3.0, 10.0):
        assert sim.log_z(np.array([t]))[0] == pytest.approx(logsumexp(-hand / t), abs=1e-10)
    log_p = sim.log_prob({"x": spins}, {"temperature": 1.3})
    assert logsumexp(log_p) == pytest.approx(0.0, abs=1e-10)


def test_energies_by_hand_and_the_helpers():
    sim = surrogate.simulator("boltzmann.ising", L=4)
    up = np.ones((1, 4, 4), np.int8)
    checker = np.where(np.indices((4, 4)).sum(0) % 2, 1, -1).astype(np.int8)[None]
    spins = np.concatenate([up, checker, -up])
    np.testing.assert_allclose(sim.energy({"x": spins}, {"temperature": 2.0}), [-16, 16, -16])
    np.testing.assert_allclose(sim.energy_per_site(spins), [-2, 2, -2])
    np.testing.assert_allclose(sim.magnetisation(spins), [1, 0, -1])
    as_tensor = sim.energy({"x": torch.as_tensor(spins)}, {"temperature": 2.0})
    np.testing.assert_allclose(as_tensor.numpy(), [-16, 16, -16])
    start = sim.initial_state(50, np.random.default_rng(0))
    assert start.dtype == np.int8 and start.shape == (50, 4, 4)
    assert set(np.unique(start)) == {-1, 1}
    field = sim.spec.field("x")
    assert (field.dtype, field.low, field.high) == ("int8", -1, 1)
    assert sim.exact_sample(3, np.ones(3), np.random.default_rng(0)) is None
    assert sim.reference_method == "wolff" and sim.has_log_prob


def test_bad_options_are_one_line_errors():
    for options, match in (({"L": 1}, "L >= 2"), ({"J": 0.0}, "J > 0"), ({"t_min": 5.0}, "t_min")):
        with pytest.raises(SpecError, match=match) as err:
            surrogate.simulator("boltzmann.ising", **options)
        assert "\n" not in str(err.value)
