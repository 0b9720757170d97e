"""The built-in toy simulator and baseline surrogate pass the plugin conformance suite."""

from __future__ import annotations

import functools

import pytest

import surrogate
from surrogate.testing import simulator_checks, surrogate_checks


def _toy(conditional: bool):
    return surrogate.simulator("toy.gmm2d", conditional=conditional)


@functools.cache
def _trained_gaussian(conditional: bool):
    data = _toy(conditional).sample(2000, seed=0)
    return surrogate.surrogate("gaussian").fit(data, seed=0)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", [n for n, _ in simulator_checks(lambda: None)])
def test_toy_simulator_conformance(name, conditional):
    dict(simulator_checks(lambda: _toy(conditional)))[name]()


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_gaussian_surrogate_conformance(name, conditional):
    dict(surrogate_checks(lambda: _trained_gaussian(conditional)))[name]()


def test_a_simulator_that_forgets_super_init_still_records_its_options():
    import numpy as np

    from surrogate import EventSpec, Field, Simulator

    class Forgetful(Simulator):
        name = "forgetful"
        spec = EventSpec((Field("x"),))

        def __init__(self, scale: float = 1.0):  # no super().__init__(**options)
            self.scale = scale

        def _sample(self, n, conditions, rng):
            return {"x": self.scale * rng.normal(size=n)}

    sim = Forgetful(scale=2.0)
    assert sim.options == {"scale": 2.0} and repr(sim) == "<Simulator forgetful scale=2.0>"
    for _, check in simulator_checks(lambda: Forgetful(scale=2.0)):
        check()
    assert np.isfinite(sim.sample(3, seed=0)["x"]).all()
