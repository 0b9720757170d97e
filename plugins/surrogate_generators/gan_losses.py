"""GAN objectives, independent of any network.

The discriminator outputs a logit ``l(x)``; ``D(x) = sigmoid(l(x))``.

* ``ns`` (Goodfellow et al. 2014, non-saturating): the discriminator minimises
  ``-E_data log D - E_g log(1 - D)``, whose optimum for a fixed generator is
  ``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` (so ``l*(x) = log p_data/p_g``), where its loss
  is ``log 4 - 2 JSD(p_data || p_g)``; the generator minimises ``-E_g log D`` (the
  non-saturating form, strong gradients while the discriminator wins).
* R1 (Mescheder et al. 2018), an option for ``ns``: ``gamma/2 E_data ||grad_x l(x)||^2``
  penalises the discriminator's gradient on real data, which makes the game converge
  locally instead of circling around the equilibrium (so modes are not traded back and
  forth); at the optimum ``p_g = p_data`` the ideal discriminator is flat and the penalty 0.
* ``wgan-gp`` (Gulrajani et al. 2017): the critic ``f`` maximises ``E_data f - E_g f`` minus
  ``lambda E (||grad f(x^)|| - 1)^2`` on random interpolates ``x^``; at the optimum the
  difference estimates the Wasserstein-1 distance; the generator minimises ``-E_g f``.

All losses are means over the batch and written with ``softplus`` (stable for any logit).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("ns", "wgan-gp")


def discriminator_loss_ns(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E_data log D(x) - E_g log(1 - D(x))`` (binary cross-entropy on logits)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_ns(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-E_g log D(G(z))``."""
    return F.softplus(-fake_logits).mean()


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The original (saturating) minimax generator loss ``E_g log(1 - D(G(z)))``; for
    comparison only: its gradient vanishes where the discriminator is confident."""
    return -F.softplus(fake_logits).mean()


def critic_loss_wgan(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E_g f - E_data f`` (the critic minimises the negative Wasserstein estimate)."""
    return fake_scores.mean() - real_scores.mean()


def generator_loss_wgan(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``E (||grad_x f(x^)||_2 - 1)^2`` at ``x^ = u x_real + (1 - u) x_fake``, u ~ U(0, 1) per
    event.  ``critic`` maps a batch to one score per event (bind any conditions in it); the
    penalty is differentiable with respect to the critic's parameters (``create_graph``)."""
    u = torch.rand(
        (real.shape[0],) + (1,) * (real.dim() - 1),
        generator=generator,
        dtype=real.dtype,
        device=real.device,
    )
    x_hat = (u * real.detach() + (1 - u) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E_data ||grad_x l(x)||^2, l(real))``: the R1 penalty (multiply by gamma/2) and the
    logits it was computed from, so the caller reuses them for the loss."""
    x = real.detach().requires_grad_(True)
    logits = discriminator(x)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean(), logits
