"""Known answers of the GAN objectives (``gan_losses.py``), with tiny closed-form players.

p_data = N(0, 1) and p_g = N(1, 1): log p_data/p_g = 1/2 - x, so a linear logit can reach the
optimal discriminator D*(x) = p_data/(p_data + p_g) exactly, and W1(p_data, p_g) = 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from surrogate_generators.gan_losses import (
    critic_loss_wgan,
    discriminator_loss_ns,
    generator_loss_minimax,
    generator_loss_ns,
    generator_loss_wgan,
    gradient_penalty,
)


def samples(shift: float, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return shift + torch.randn(n, 1, generator=g, dtype=torch.float64)


def fit_linear(loss_fn, real, fake, steps=400, lr=0.05):
    """A linear logit/critic trained by full-batch Adam; returns (w, b, final loss)."""
    lin = torch.nn.Linear(1, 1, dtype=torch.float64)
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.Adam(lin.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(lin, real, fake)
        loss.backward()
        opt.step()
    final = float(loss_fn(lin, real, fake).detach())
    lin.requires_grad_(False)
    return float(lin.weight.detach()), float(lin.bias.detach()), final, lin


def ns_loss(lin, real, fake):
    return discriminator_loss_ns(lin(real)[:, 0], lin(fake)[:, 0])


def jsd_unit_gaussians(shift: float) -> float:
    p, q = stats.norm(0, 1), stats.norm(shift, 1)

    def kl_to_mix(a, b):
        f = lambda x: a.pdf(x) * math.log(a.pdf(x) / (0.5 * a.pdf(x) + 0.5 * b.pdf(x)))  # noqa: E731
        return integrate.quad(f, -12, 13)[0]

    return 0.5 * kl_to_mix(p, q) + 0.5 * kl_to_mix(q, p)


def test_optimal_discriminator_is_the_density_ratio():
    """Minimising the NS discriminator loss gives l*(x) = log p_data/p_g = 1/2 - x, and the
    minimum is log 4 - 2 JSD (Goodfellow et al.'s derivation)."""
    real, fake = samples(0.0, 20_000, 0), samples(1.0, 20_000, 1)
    w, b, loss, _ = fit_linear(ns_loss, real, fake, steps=300)
    assert w == pytest.approx(-1.0, abs=0.04)
    assert b == pytest.approx(0.5, abs=0.04)
    assert loss == pytest.approx(math.log(4) - 2 * jsd_unit_gaussians(1.0), abs=0.01)


def test_discriminator_outputs_one_half_when_generator_matches_data():
    """p_g = p_data: D* = 1/2 everywhere, mean D on real and fake -> 1/2, loss -> log 4."""
    real, fake = samples(0.0, 20_000, 2), samples(0.0, 20_000, 3)
    _, _, loss, lin = fit_linear(ns_loss, real, fake, steps=150)
    d_real = float(torch.sigmoid(lin(real)).mean())
    d_fake = float(torch.sigmoid(lin(fake)).mean())
    assert d_real == pytest.approx(0.5, abs=0.01)
    assert d_fake == pytest.approx(0.5, abs=0.01)
    assert loss == pytest.approx(math.log(4), abs=0.002)


def test_non_saturating_generator_gradient_survives_a_confident_discriminator():
    """d/dl of -log D = -sigmoid(-l); of log(1 - D) = -sigmoid(l): at l = -10 the first is ~-1,
    the minimax one ~-4.5e-5 (the reason for the non-saturating form)."""
    logit = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    (g_ns,) = torch.autograd.grad(generator_loss_ns(logit), logit)
    (g_mm,) = torch.autograd.grad(generator_loss_minimax(logit), logit)
    assert float(g_ns) == pytest.approx(-1 / (1 + math.exp(-10)), rel=1e-12)
    assert float(g_mm) == pytest.approx(-1 / (1 + math.exp(10)), rel=1e-9)
    # huge logits stay finite (softplus form)
    big = torch.tensor([1e4, -1e4], dtype=torch.float64)
    assert torch.isfinite(discriminator_loss_ns(big, big)) and torch.isfinite(
        generator_loss_ns(big)
    )


def test_gradient_penalty_known_values():
    """Linear critic f = w.x: grad = w everywhere, penalty (|w| - 1)^2 exactly; quadratic
    critic f = |x|^2/2: grad = x^, penalty = mean (|x^| - 1)^2 at the same interpolates."""
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    real = torch.randn(64, 2, dtype=torch.float64)
    fake = torch.randn(64, 2, dtype=torch.float64)
    gp = gradient_penalty(lambda x: x @ w, real, fake)
    assert float(gp.detach()) == pytest.approx((5 - 1) ** 2)

    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    gp = gradient_penalty(lambda x: 0.5 * x.pow(2).sum(1), real, fake, generator=g1)
    u = torch.rand(64, 1, generator=g2, dtype=torch.float64)
    x_hat = u * real + (1 - u) * fake
    expected = float((x_hat.norm(dim=1) - 1).pow(2).mean())
    assert float(gp.detach()) == pytest.approx(expected, rel=1e-12)

    # differentiable in the critic's parameters (second-order graph)
    lin = torch.nn.Linear(2, 1, dtype=torch.float64)
    gp = gradient_penalty(lambda x: lin(x)[:, 0], real, fake)
    gp.backward()
    expected = 2 * (lin.weight.norm() - 1) * lin.weight / lin.weight.norm()
    assert torch.allclose(lin.weight.grad, expected.detach())


def test_wgan_gp_critic_estimates_wasserstein_distance():
    """Linear critic f = w x + b between N(0,1) and N(1,1): maximising -w - lambda (|w| - 1)^2
    gives w = -(1 + 1/(2 lambda)), so E_data f - E_g f = 1 + 1/(2 lambda) ~ W1 = 1."""
    lam = 10.0
    real, fake = samples(0.0, 20_000, 6), samples(1.0, 20_000, 7)

    def loss(lin, r, f):
        gp = gradient_penalty(lambda x: lin(x)[:, 0], r, f)
        return critic_loss_wgan(lin(r)[:, 0], lin(f)[:, 0]) + lam * gp

    w, _, _, lin = fit_linear(loss, real, fake, steps=300, lr=0.02)
    assert w == pytest.approx(-(1 + 1 / (2 * lam)), abs=0.02)
    estimate = -float(critic_loss_wgan(lin(real)[:, 0], lin(fake)[:, 0]))
    w1 = stats.wasserstein_distance(real[:, 0].numpy(), fake[:, 0].numpy())
    assert estimate == pytest.approx(w1 * (1 + 1 / (2 * lam)), rel=0.02)
    assert float(generator_loss_wgan(lin(fake)[:, 0])) == pytest.approx(
        -float(lin(fake).mean()), rel=1e-12
    )
    assert np.isfinite(w1)
