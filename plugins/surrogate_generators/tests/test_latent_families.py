"""The latent spaces of the ``flow`` (its base space) and ``vae`` families
(:mod:`surrogate.latent`): exact round trips through a flow and its preprocessing,
the VAE's encoder and decoder, conditional decoding and smooth paths."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import surrogate
from surrogate import Condition, Events, EventSpec, Field, latent
from surrogate_generators.flow import Flow
from surrogate_generators.vae import VAE

SMALL_FLOW = {"hidden": 32, "blocks": 1, "transforms": 3}
SMALL_VAE = {"latent": 2, "hidden": 32, "blocks": 1, "iwae_samples": 4}
QUICK = {"epochs": 3, "batch_size": 128, "lr": 3e-3, "progress": False}
#: the ring's VAE needs more steps before its decoder mean follows the radius
VAE_EPOCHS = 30
#: a field >= 0 with exact zeros, scaled by a condition: a chain with a log (whose
#: inverse lands a hair either side of 0) and the field's bound to clip to
SPEC = EventSpec(
    fields=(Field("e", (4,), low=0.0),),
    conditions=(Condition("scale", "", 1.0, 10.0),),
)
CHAIN = [
    {"type": "normalise_by_condition", "field": "e", "condition": "scale"},
    {"type": "log", "field": "e", "eps": 1e-3},
    {"type": "standardise"},
]


def positive_events(n: int, seed: int) -> Events:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(1.0, 10.0, n)
    e = rng.exponential(1.0, (n, 4)) * scale[:, None]
    e[rng.random((n, 4)) < 0.2] = 0.0
    return Events({"e": e.astype(np.float32)}, {"scale": scale}, SPEC)


@functools.cache
def toy_data() -> Events:
    return surrogate.simulator("toy.gmm2d", conditional=True).sample(2000, seed=0)


@functools.cache
def trained(family: str) -> Flow | VAE:
    if family == "flow":
        return Flow(**SMALL_FLOW).fit(toy_data(), seed=0, **QUICK)
    return VAE(**SMALL_VAE).fit(toy_data(), seed=0, **{**QUICK, "epochs": VAE_EPOCHS})


def test_flow_round_trip_is_exact_through_the_preprocessing():
    """decode(encode(x)) == x to float32 precision, through normalise/log/standardise;
    zeros come back as zeros (the field's bound clips the log's inverse)."""
    model = Flow(preprocessing=CHAIN, **SMALL_FLOW).fit(positive_events(2000, 0), seed=0, **QUICK)
    events = positive_events(300, 1)
    z = latent.encode(model, events)
    assert z.shape == (300, model.latent_dim) == (300, 4)
    back = latent.decode(model, z, events.conditions)
    x, y = events["e"], back["e"]
    assert y.min() >= 0.0
    np.testing.assert_allclose(y[x == 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(y[x > 0], x[x > 0], rtol=2e-5, atol=1e-6)
    np.testing.assert_array_equal(back["scale"], events["scale"])


def test_flow_latent_points_of_its_samples_are_standard_normal():
    """The base space is the prior's: samples mapped back have mean 0 and unit width."""
    model = trained("flow")
    z = model.to_latent(model.sample(4000, {"radius": 2.0}, seed=3))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.1)


def test_vae_latent_is_the_posterior_mean_and_the_decoder():
    model = trained("vae")
    events = toy_data()[:50]
    z = model.to_latent(events)
    np.testing.assert_array_equal(z, model.encode(events)["mean"])
    mean = model.from_latent(z, events.conditions)
    np.testing.assert_array_equal(mean["x"], model.decode(z, events.conditions)["x"])
    noisy = model.from_latent(z, events.conditions, noise=True, seed=1)
    again = model.from_latent(z, events.conditions, noise=True, seed=1)
    np.testing.assert_array_equal(noisy["x"], again["x"])
    assert not np.allclose(noisy["x"], mean["x"])
    # z encodes the event: reconstructions are nearer their own events than others'
    own = np.linalg.norm(mean["x"] - events["x"], axis=1)
    other = np.linalg.norm(mean["x"] - np.roll(events["x"], 1, axis=0), axis=1)
    assert np.median(own) < 0.7 * np.median(other), (np.median(own), np.median(other))


def test_vae_refuses_latent_points_of_the_wrong_size():
    with pytest.raises(surrogate.SpecError, match=r"\(n, 2\)"):
        trained("vae").from_latent(np.zeros((3, 5)), {"radius": 2.0})


@pytest.mark.parametrize("family", ["flow", "vae"])
def test_the_same_latent_point_decodes_differently_at_other_conditions(family):
    """The ring's radius is the condition: the same z lands farther out at radius 3.5
    than at 1.5 (the data's ratio is 2.3)."""
    model = trained(family)
    z = latent.prior_sample(model.latent_dim, 2000, seed=4)
    near = np.linalg.norm(latent.decode(model, z, {"radius": 1.5})["x"], axis=1)
    far = np.linalg.norm(latent.decode(model, z, {"radius": 3.5})["x"], axis=1)
    assert far.mean() > 1.5 * near.mean(), (far.mean(), near.mean())


def _largest_step(model, a, b, steps: int) -> float:
    path = latent.interpolate(model, a, b, steps, path="slerp")["x"]
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).max())


@pytest.mark.parametrize("family", ["flow", "vae"])
def test_interpolation_moves_in_small_steps(family):
    """A continuous path: four times the steps make the largest step at least twice
    smaller, and 64 steps move at most a fifth of the ring's radius each."""
    model = trained(family)
    events = toy_data()
    for i in range(3):
        a, b = events[2 * i : 2 * i + 1], events[2 * i + 1 : 2 * i + 2]
        coarse, fine = _largest_step(model, a, b, 16), _largest_step(model, a, b, 64)
        assert fine < 0.5 * coarse, (i, coarse, fine)
        assert fine < 0.2 * float(min(a["radius"][0], b["radius"][0])), (i, fine)
