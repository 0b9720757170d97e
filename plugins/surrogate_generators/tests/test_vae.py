"""The ``vae`` family: closed-form KL against Monte Carlo, the IWAE bound, KL warm-up,
the physics extras (encode, reconstruction error, interpolation) and conformance."""

from __future__ import annotations

import dataclasses
import functools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import surrogate
from surrogate import EventSpec, Field
from surrogate.events import Events
from surrogate.testing import surrogate_checks
from surrogate_generators.vae import VAE, gaussian_kl

SMALL = {"latent": 2, "hidden": 32, "blocks": 1, "iwae_samples": 16}
QUICK = {"epochs": 3, "batch_size": 128, "lr": 3e-3, "progress": False}


@functools.cache
def trained(conditional: bool = False) -> VAE:
    data = surrogate.simulator("toy.gmm2d", conditional=conditional).sample(2000, seed=0)
    return VAE(**SMALL).fit(data, seed=0, **QUICK)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_vae_conformance(name, conditional):
    dict(surrogate_checks(lambda: trained(conditional)))[name]()


def test_closed_form_kl_equals_monte_carlo():
    """KL(q || N(0, I)) in closed form vs the mean of log q(z) - log p(z) over 400k draws;
    the MC standard error is measured, and the closed form must lie within 5 of them."""
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.3, -1.2, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.7, -2.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    exact = gaussian_kl(mu, logvar)
    n = 400_000
    eps = torch.randn((n, *mu.shape), generator=gen, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * eps**2 - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    terms = log_q - log_p
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(n)
    assert exact[1] == 0
    assert torch.all((exact - mc).abs() < 5 * se + 1e-12), (exact, mc, se)


def test_log_prob_is_a_deterministic_bound_that_tightens_with_k():
    model = trained(False)
    assert model.density == "bound" and "bound" in type(model).__doc__ + VAE._log_density.__doc__
    events = surrogate.simulator("toy.gmm2d").sample(500, seed=3)
    lp16 = model.log_prob(events)
    np.testing.assert_array_equal(lp16, model.log_prob(events))
    trained_settings = model.settings
    model.settings = dataclasses.replace(trained_settings, iwae_samples=1)  # k = 1: the ELBO
    try:
        elbo = model.log_prob(events)
        model.settings = dataclasses.replace(trained_settings, iwae_samples=256)
        lp256 = model.log_prob(events)
    finally:
        model.settings = trained_settings
    assert elbo.mean() < lp16.mean() < lp256.mean()


def test_kl_warmup_ramps_beta():
    model = VAE(beta=0.5, kl_warmup_epochs=4)
    ctx = SimpleNamespace(epoch_progress=1.0, training=True)
    assert model._beta(ctx) == pytest.approx(0.125)
    assert model._beta(SimpleNamespace(epoch_progress=10.0, training=True)) == 0.5
    assert model._beta(SimpleNamespace(epoch_progress=0.0, training=False)) == 0.5


def test_encode_decode_interpolate_and_anomaly_score():
    model = trained(True)
    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    events = sim.sample(300, {"radius": 2.0}, seed=5)
    post = model.encode(events)
    assert post["mean"].shape == (300, 2) and (post["std"] > 0).all()
    decoded = model.decode(post["mean"], {"radius": 2.0})
    assert decoded["x"].shape == (300, 2)
    path = model.interpolate(events[:1], events[1:2], steps=5)
    assert len(path) == 5
    np.testing.assert_allclose(path["x"][0], decoded["x"][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(path["x"][-1], decoded["x"][1], rtol=1e-5, atol=1e-5)


def test_reconstruction_error_flags_events_off_the_data_manifold():
    """Events on a 2D plane in 8D, latent 2: off-plane events reconstruct far worse."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 8))
    spec = EventSpec(fields=(Field("x", (8,)),))

    def on_plane(n):
        return rng.normal(size=(n, 2)) @ basis + 0.01 * rng.normal(size=(n, 8))

    data = Events({"x": on_plane(2000)}, {}, spec)
    model = VAE(latent=2, hidden=32, blocks=1).fit(
        data, seed=0, epochs=5, batch_size=64, lr=3e-3, progress=False
    )
    normal = model.reconstruction_error(Events({"x": on_plane(200)}, {}, spec))
    odd = model.reconstruction_error(Events({"x": 2 * rng.normal(size=(200, 8))}, {}, spec))
    assert np.median(odd) > 5 * np.median(normal), (np.median(odd), np.median(normal))
