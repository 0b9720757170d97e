"""DW-4 and LJ-13 against hand-computed energies, the Lennard-Jones conventions, the LJ-13
global minimum (Wales & Doye 1997) and the centre-of-mass restraint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

import surrogate
from surrogate.errors import SpecError

T1 = {"temperature": 1.0}


def test_dw4_square_of_side_four_by_hand():
    sim = surrogate.simulator("boltzmann.dw4")
    square = np.array([[[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]]])
    # the four sides sit at d0 = 4 (zero); the two diagonals at 4√2
    delta = 4 * math.sqrt(2) - 4
    hand = 2 * (-4 * delta**2 + 0.9 * delta**4)
    assert sim.energy({"x": square}, T1) == pytest.approx([hand], abs=1e-12)
    assert sim.energy({"x": square}, {"temperature": 2.0}) == pytest.approx([hand / 2])
    # moved by s, the physical energy stays and the restraint adds (4/2)|s|²
    shifted = square + np.array([0.3, -1.2])
    assert sim.physical_energy(shifted) == pytest.approx([hand], abs=1e-12)
    assert sim.energy({"x": shifted}, T1) == pytest.approx([hand + 2 * (0.09 + 1.44)])


def test_dw4_forces_are_finite_even_at_an_overlap():
    sim = surrogate.simulator("boltzmann.dw4")
    x = sim.initial_state(64, np.random.default_rng(0))
    assert x.shape == (64, 4, 2) and np.abs(x).max() <= 2
    x[0, 1] = x[0, 0]
    force = sim.force({"x": x}, T1)["x"]
    assert np.isfinite(force).all() and np.isfinite(sim.energy({"x": x}, T1)).all()
    assert sim.exact_sample(4, np.ones(4), np.random.default_rng(0)) is None
    assert sim.reference_method == "mala"


def far_apart(n: int = 13) -> np.ndarray:
    """A pair at distance 1 and the rest 1000 apart on a line (their LJ terms ~1e-18)."""
    x = np.zeros((1, n, 3))
    x[0, :, 0] = 1000.0 * np.arange(n)
    x[0, 1] = [1.0, 0.0, 0.0]
    return x


def test_lj_pair_at_r_m_and_the_factor_two():
    klein = surrogate.simulator("boltzmann.lj13", oscillator_scale=0.0, epsilon=1.5)
    half = surrogate.simulator(
        "boltzmann.lj13", convention="half", oscillator_scale=0.0, epsilon=1.5
    )
    assert klein.physical_energy(far_apart()) == pytest.approx([-3.0], abs=1e-12)
    assert half.physical_energy(far_apart()) == pytest.approx([-1.5], abs=1e-12)
    with_tether = [surrogate.simulator("boltzmann.lj13", convention=c) for c in ("klein", "half")]
    x = with_tether[0].initial_state(20, np.random.default_rng(1))
    e_klein, e_half = (s.physical_energy(x) for s in with_tether)
    lj_half = half.physical_energy(x) / 1.5
    np.testing.assert_allclose(e_klein - e_half, lj_half, rtol=1e-12)
    # the tether is bgflow's 0.5·Σ|x_i - x̄|²
    tether = 0.5 * ((x - x.mean(1, keepdims=True)) ** 2).sum((1, 2))
    np.testing.assert_allclose(e_half - lj_half, tether, rtol=1e-12)
    with pytest.raises(SpecError, match="klein, half"):
        surrogate.simulator("boltzmann.lj13", convention="bgflow")


def icosahedron() -> np.ndarray:
    phi = (1 + math.sqrt(5)) / 2
    v = [(0, s1, s2 * phi) for s1 in (-1, 1) for s2 in (-1, 1)]
    vertices = np.array([np.roll(p, k) for p in v for k in range(3)], np.float64)
    vertices *= 1.0 / np.linalg.norm(vertices[0])
    return np.concatenate([np.zeros((1, 3)), vertices])


def test_relaxing_an_icosahedron_reaches_the_lj13_global_minimum():
    sim = surrogate.simulator("boltzmann.lj13", convention="half", oscillator_scale=0.0)

    def energy_and_gradient(flat):
        x = {"x": flat.reshape(1, 13, 3)}
        return sim.energy(x, T1)[0], -sim.force(x, T1)["x"].ravel()

    start = icosahedron() + 0.02 * np.random.default_rng(2).standard_normal((13, 3))
    result = minimize(energy_and_gradient, start.ravel(), jac=True, method="L-BFGS-B")
    minimum = result.x.reshape(1, 13, 3)
    assert sim.physical_energy(minimum)[0] == pytest.approx(-44.326801, abs=1e-6)
    # the restraint pulls the centre of mass to the origin, off the physical energy
    assert np.abs(minimum.mean(1)).max() < 1e-4


def test_overlap_is_plus_infinity_and_forces_are_finite_elsewhere():
    sim = surrogate.simulator("boltzmann.lj13")
    x = sim.initial_state(32, np.random.default_rng(3))
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)[:, *np.triu_indices(13, 1)]
    assert x.shape == (32, 13, 3) and d.min() > 0.7
    assert np.abs(x.mean(1)).max() < 1e-12
    force = sim.force({"x": x}, T1)["x"]
    assert np.isfinite(force).all() and np.isfinite(sim.energy({"x": x}, T1)).all()
    x[0, 5] = x[0, 4]
    u = sim.energy({"x": x}, T1)
    assert u[0] == math.inf and np.isfinite(u[1:]).all()
    assert sim.physical_energy(torch.as_tensor(x[:1]))[0].item() == math.inf
    assert sim.reference_method == "hmc"


def test_physical_energy_is_translation_invariant_and_the_restraint_is_not():
    sim = surrogate.simulator("boltzmann.lj13", com_scale=0.5)
    x = sim.initial_state(8, np.random.default_rng(4))
    shift = np.array([0.7, -0.2, 1.1])
    np.testing.assert_allclose(sim.physical_energy(x + shift), sim.physical_energy(x), atol=1e-10)
    restraint = 13 / 2 * (shift**2).sum() / 0.5**2
    np.testing.assert_allclose(
        sim.energy({"x": x + shift}, T1), sim.physical_energy(x) + restraint, rtol=1e-12
    )
    xt = torch.as_tensor(x, dtype=torch.float32)
    assert sim.energy({"x": xt}, T1).dtype == torch.float32
    np.testing.assert_allclose(sim.energy({"x": xt}, T1).numpy(), sim.energy({"x": x}, T1), 1e-5)


def test_symmetry_copies_keep_the_energy_and_the_centre_of_mass():
    for name in ("boltzmann.dw4", "boltzmann.lj13"):
        sim = surrogate.simulator(name)
        rng = np.random.default_rng(0)
        x = sim.initial_state(20, rng)
        y = sim.symmetry_copies(x, rng)
        np.testing.assert_allclose(sim.physical_energy(y), sim.physical_energy(x), rtol=1e-9)
        np.testing.assert_allclose(y.mean(1), x.mean(1), atol=1e-12)
        assert not np.allclose(y, x)  # turned and relabelled
