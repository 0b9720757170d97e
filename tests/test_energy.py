"""The core's energy interface: one torch implementation, numpy and torch callers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from surrogate import EventSpec, Field, Simulator
from surrogate.errors import SpecError, SurrogateError
from surrogate.testing import GaussianEnergy


class NoEnergy(Simulator):
    name = "test.none"
    spec = EventSpec(fields=(Field("x", (2,)),))

    def _sample(self, n, conditions, rng):
        return {"x": rng.standard_normal((n, 2))}


def test_numpy_and_torch_callers_get_the_same_energy():
    sim = GaussianEnergy((3, 2))
    events = sim.sample(50, {"scale": 1.5}, seed=0)
    u_np = sim.energy(events)
    assert isinstance(u_np, np.ndarray) and u_np.dtype == np.float64
    x = torch.as_tensor(events["x"], dtype=torch.float64).requires_grad_(True)
    u_t = sim.energy({"x": x}, {"scale": torch.full((50,), 1.5)})
    np.testing.assert_allclose(u_t.detach().numpy(), u_np, rtol=1e-12)
    (grad,) = torch.autograd.grad(u_t.sum(), x)  # differentiable for reverse-KL training
    np.testing.assert_allclose(grad.numpy(), events["x"] / 1.5, rtol=1e-6)


def test_autograd_force_is_minus_the_gradient():
    sim = GaussianEnergy((3, 2))
    events = sim.sample(20, {"scale": 0.8}, seed=1)
    force = sim.force(events)["x"]
    np.testing.assert_allclose(force, -events["x"].astype(np.float64) / 0.8, rtol=1e-6)


def test_log_prob_is_normalised():
    sim = GaussianEnergy((3, 2))
    assert sim.has_energy and sim.has_log_prob
    events = sim.sample(10, {"scale": 1.2}, seed=2)
    x = events["x"].astype(np.float64).reshape(10, -1)
    expected = (-0.5 * x**2 / 1.2 - 0.5 * np.log(2 * math.pi * 1.2)).sum(1)
    np.testing.assert_allclose(sim.log_prob(events), expected, rtol=1e-6)


def test_bad_input_is_one_line():
    sim = GaussianEnergy((3, 2))
    x = np.zeros((4, 3, 2))
    with pytest.raises(SpecError, match="scale"):
        sim.energy({"x": x}, {"scale": 5.0})
    with pytest.raises(SpecError, match=r"shape \(4, 2, 2\), expected \(n, 3, 2\)"):
        sim.energy({"x": np.zeros((4, 2, 2))}, {"scale": 1.0})
    none = NoEnergy()
    assert not none.has_energy and not none.has_log_prob
    with pytest.raises(SurrogateError, match="has no energy"):
        none.energy({"x": np.zeros((1, 2))})
    with pytest.raises(SurrogateError, match="normaliser"):
        none.log_normalizer()
