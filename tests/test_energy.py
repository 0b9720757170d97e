"""The core's energy interface: one torch implementation, numpy and torch callers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from surrogate import Condition, EventSpec, Field, Simulator
from surrogate.errors import SpecError, SurrogateError


class Harmonic(Simulator):
    """u = |x|^2 / (2 T): a Gaussian of variance T per coordinate, ln Z = (d/2) ln(2 pi T)."""

    name = "test.harmonic"
    spec = EventSpec(
        fields=(Field("x", (3, 2), "float32"),),
        conditions=(Condition("temperature", low=0.5, high=2.0),),
    )

    def _sample(self, n, conditions, rng):
        t = conditions["temperature"][:, None, None]
        return {"x": np.sqrt(t) * rng.standard_normal((n, 3, 2))}

    def _energy(self, fields, conditions):
        x = fields["x"]
        return 0.5 * (x**2).sum((1, 2)) / conditions["temperature"]

    def _log_normalizer(self, conditions):
        return 3.0 * np.log(2 * math.pi * conditions["temperature"])


class NoEnergy(Simulator):
    name = "test.none"
    spec = EventSpec(fields=(Field("x", (2,)),))

    def _sample(self, n, conditions, rng):
        return {"x": rng.standard_normal((n, 2))}


def test_numpy_and_torch_callers_get_the_same_energy():
    sim = Harmonic()
    events = sim.sample(50, {"temperature": 1.5}, seed=0)
    u_np = sim.energy(events)
    assert isinstance(u_np, np.ndarray) and u_np.dtype == np.float64
    x = torch.as_tensor(events["x"], dtype=torch.float64).requires_grad_(True)
    u_t = sim.energy({"x": x}, {"temperature": torch.full((50,), 1.5)})
    np.testing.assert_allclose(u_t.detach().numpy(), u_np, rtol=1e-12)
    (grad,) = torch.autograd.grad(u_t.sum(), x)  # differentiable for reverse-KL training
    np.testing.assert_allclose(grad.numpy(), events["x"] / 1.5, rtol=1e-6)


def test_autograd_force_is_minus_the_gradient():
    sim = Harmonic()
    events = sim.sample(20, {"temperature": 0.8}, seed=1)
    force = sim.force(events)["x"]
    np.testing.assert_allclose(force, -events["x"].astype(np.float64) / 0.8, rtol=1e-6)


def test_log_prob_is_normalised():
    sim = Harmonic()
    assert sim.has_energy and sim.has_log_prob
    events = sim.sample(10, {"temperature": 1.2}, seed=2)
    x = events["x"].astype(np.float64).reshape(10, -1)
    expected = (-0.5 * x**2 / 1.2 - 0.5 * np.log(2 * math.pi * 1.2)).sum(1)
    np.testing.assert_allclose(sim.log_prob(events), expected, rtol=1e-6)


def test_bad_input_is_one_line():
    sim = Harmonic()
    x = np.zeros((4, 3, 2))
    with pytest.raises(SpecError, match="temperature.*above|temperature"):
        sim.energy({"x": x}, {"temperature": 5.0})
    with pytest.raises(SpecError, match=r"shape \(4, 2, 2\), expected \(n, 3, 2\)"):
        sim.energy({"x": np.zeros((4, 2, 2))}, {"temperature": 1.0})
    none = NoEnergy()
    assert not none.has_energy and not none.has_log_prob
    with pytest.raises(SurrogateError, match="has no energy"):
        none.energy({"x": np.zeros((1, 2))})
    with pytest.raises(SurrogateError, match="normaliser"):
        none.log_normalizer()
