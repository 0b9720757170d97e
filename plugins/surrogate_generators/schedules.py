"""Diffusion maths (DDPM, DDIM), independent of any network.

Notation of Ho et al. (2020): ``beta_t`` the noise added at step t, ``alpha_t = 1 - beta_t``,
``alpha_bar_t = prod_{s<=t} alpha_s``.  Steps are indexed ``t = 0 .. T-1`` here (the paper's
1 .. T), so ``alpha_bar[0] = 1 - beta[0]`` is the first noised level and "t = -1" is the data.

* forward marginal, closed form: ``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)``;
* noise prediction ``eps(x_t, t)`` and ``L_simple = E ||eps - eps_theta(x_t, t)||^2``;
* score of the noised marginal: ``grad log q_t(x_t) = -E[eps | x_t] / sqrt(1 - alpha_bar_t)``,
  so an exact noise predictor gives the exact score;
* ancestral sampler: ``x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)
  + sigma_t z`` with ``sigma_t^2`` the posterior variance ``beta~_t``;
* DDIM (Song et al. 2021): a sub-sequence of the T steps chosen at sampling time,
  deterministic for ``eta = 0``; ``eta = 1`` on all T steps is the ancestral sampler;
* the variational bound ``-log p(x_0) <= L_T + sum_t L_{t-1} + L_0`` of the ancestral model.

Everything is computed in float64 and cast to the dtype of the data it meets.  A noise
predictor is any callable ``eps_fn(x_t, t) -> eps`` where ``t`` is a long tensor of step
indices (one per row), so the tests can plug in the exact predictor of a known density.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

SCHEDULES = ("linear", "cosine")
VARIANCES = ("posterior", "beta")
EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_betas(kind: str, steps: int) -> torch.Tensor:
    """The ``beta_t`` of a named schedule with ``steps`` steps (float64).

    ``linear``: Ho et al.'s 1e-4 .. 0.02 for T = 1000, scaled by 1000/T for other T (as in
    Nichol & Dhariwal's code) so the total noise is the same.  ``cosine``: Nichol & Dhariwal's
    ``alpha_bar(t) = cos^2((t/T + s)/(1 + s) pi/2)`` with s = 0.008, betas capped at 0.999.
    """
    steps = int(steps)
    if steps < 2:
        raise ValueError(f"a diffusion schedule needs at least 2 steps, not {steps}")
    if kind == "linear":
        scale = 1000.0 / steps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)
    elif kind == "cosine":
        s = 0.008
        u = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
        betas = 1 - f[1:] / f[:-1]
    else:
        raise ValueError(f"unknown noise schedule {kind!r} (choose from {', '.join(SCHEDULES)})")
    return betas.clamp(1e-8, 0.999)


def _gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped to broadcast against ``like`` (batch first) in its dtype."""
    out = values.to(like.device)[t].to(like.dtype)
    return out.reshape(-1, *([1] * (like.dim() - 1)))


class NoiseSchedule:
    """A discrete DDPM noise schedule and the samplers and bounds built on it."""

    def __init__(
        self, kind: str = "linear", steps: int = 1000, variance: str = "posterior"
    ) -> None:
        if variance not in VARIANCES:
            raise ValueError(
                f"unknown reverse variance {variance!r} (choose from {', '.join(VARIANCES)})"
            )
        self.kind, self.steps, self.variance = kind, int(steps), variance
        self.betas = make_betas(kind, steps)
        self.alphas = 1 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        # posterior q(x_{t-1} | x_t, x_0) = N(c0 x_0 + ct x_t, beta~_t)
        self.posterior_var = self.betas * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)
        self.posterior_c0 = self.betas * self.alpha_bar_prev.sqrt() / (1 - self.alpha_bar)
        self.posterior_ct = (1 - self.alpha_bar_prev) * self.alphas.sqrt() / (1 - self.alpha_bar)
        # the reverse model p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2): Ho et al.'s two choices,
        # beta~_t (optimal for a point mass x_0) or beta_t (optimal for x_0 ~ N(0, I))
        self.sigma2 = self.posterior_var if variance == "posterior" else self.betas

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.kind!r}, steps={self.steps}, variance={self.variance!r})"

    # -- forward process ---------------------------------------------------------------
    def marginal(self, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of ``q(x_t | x_0)`` (closed form)."""
        ab = _gather(self.alpha_bar, t, x0)
        return ab.sqrt() * x0, (1 - ab).sqrt().expand_as(x0)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` in one jump."""
        mean, std = self.marginal(x0, t)
        return mean + std * noise

    def q_step(self, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One forward step ``x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) eps`` (for tests)."""
        a = _gather(self.alphas, t, x_prev)
        return a.sqrt() * x_prev + (1 - a).sqrt() * noise

    def l_simple(
        self,
        eps_fn: EpsFn,
        x0: torch.Tensor,
        generator: torch.Generator | None = None,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Ho et al.'s ``L_simple``: mean squared error of the noise prediction at a
        uniformly drawn step (``weight``: optional per-event weights)."""
        n = x0.shape[0]
        t = torch.randint(0, self.steps, (n,), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        err = (eps_fn(self.q_sample(x0, t, noise), t) - noise).pow(2).flatten(1).mean(1)
        return err.mean() if weight is None else (weight * err).sum() / weight.sum()

    # -- from a noise prediction -------------------------------------------------------
    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        ab = _gather(self.alpha_bar, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        ab = _gather(self.alpha_bar, t, x_t)
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    def score(self, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``grad_x log q_t(x)`` from the noise prediction: ``-eps / sqrt(1 - alpha_bar_t)``."""
        ab = _gather(self.alpha_bar, t, eps)
        return -eps / (1 - ab).sqrt()

    def posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)``."""
        mean = _gather(self.posterior_c0, t, x_t) * x0 + _gather(self.posterior_ct, t, x_t) * x_t
        return mean, _gather(self.posterior_var, t, x_t).expand_as(x_t)

    def _reverse_mean(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        eps: torch.Tensor,
        clip: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        if clip is not None:
            x0 = torch.maximum(torch.minimum(self.predict_x0(x_t, t, eps), clip[1]), clip[0])
            return self.posterior(x0, x_t, t)[0]
        # the same mean without dividing by sqrt(alpha_bar_t) (stable at alpha_bar_T ~ 0)
        a = _gather(self.alphas, t, x_t)
        ab = _gather(self.alpha_bar, t, x_t)
        return (x_t - (1 - a) / (1 - ab).sqrt() * eps) / a.sqrt()

    # -- samplers ----------------------------------------------------------------------
    def ancestral(
        self,
        eps_fn: EpsFn,
        x_T: torch.Tensor,
        generator: torch.Generator | None = None,
        clip: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """DDPM ancestral sampling over all T steps from ``x_T ~ N(0, I)``; the reverse
        variance is ``sigma2`` (``variance`` option) and the last step returns the mean.

        ``clip``: optional ``(low, high)`` bounds applied to the predicted ``x_0`` (a data
        range), which keeps an imperfect predictor from throwing samples far off."""
        x = x_T
        n = x.shape[0]
        for step in range(self.steps - 1, -1, -1):
            t = torch.full((n,), step, dtype=torch.long, device=x.device)
            mean = self._reverse_mean(x, t, eps_fn(x, t), clip)
            if step > 0:
                z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                x = mean + self.sigma2[step].sqrt().to(x.dtype) * z
            else:
                x = mean
        return x

    def ddim_timesteps(self, steps: int) -> list[int]:
        """``steps`` step indices from T-1 down to 0, evenly spaced (always both ends)."""
        steps = int(steps)
        if not 1 <= steps <= self.steps:
            raise ValueError(f"DDIM needs between 1 and {self.steps} steps, not {steps}")
        if steps == 1:
            return [self.steps - 1]
        grid = torch.linspace(self.steps - 1, 0, steps, dtype=torch.float64).round().long()
        return sorted({int(s) for s in grid}, reverse=True)

    def ddim(
        self,
        eps_fn: EpsFn,
        x_T: torch.Tensor,
        steps: int,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        clip: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """DDIM sampling on ``steps`` of the T steps (``eta = 0``: deterministic).

        From step t to the next chosen step t' (``alpha_bar`` of "t' = -1" is 1):
        ``x_t' = sqrt(ab') x0^ + sqrt(1 - ab' - s^2) eps^ + s z`` with
        ``s = eta sqrt((1 - ab')/(1 - ab) (1 - ab/ab'))``."""
        x = x_T
        n = x.shape[0]
        ts = self.ddim_timesteps(steps)
        for i, step in enumerate(ts):
            t = torch.full((n,), step, dtype=torch.long, device=x.device)
            eps = eps_fn(x, t)
            x0 = self.predict_x0(x, t, eps)
            if clip is not None:
                x0 = torch.maximum(torch.minimum(x0, clip[1]), clip[0])
                eps = self.eps_from_x0(x, t, x0)
            ab = float(self.alpha_bar[step])
            ab_next = float(self.alpha_bar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            sigma = eta * math.sqrt(max((1 - ab_next) / (1 - ab) * (1 - ab / ab_next), 0.0))
            x = math.sqrt(ab_next) * x0 + math.sqrt(max(1 - ab_next - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(
                    x.shape, generator=generator, dtype=x.dtype, device=x.device
                )
        return x

    # -- likelihood bound --------------------------------------------------------------
    def prior_kl(self, x0: torch.Tensor) -> torch.Tensor:
        """``L_T = KL(q(x_T | x_0) || N(0, I))`` per event (nats)."""
        ab = float(self.alpha_bar[-1])
        mean2 = ab * x0.pow(2).flatten(1).sum(1)
        d = x0[0].numel()
        var = 1 - ab
        return 0.5 * (mean2 + d * (var - 1 - math.log(var)))

    def nll_bound(
        self,
        eps_fn: EpsFn,
        x0: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Per-event upper bound on ``-log p(x_0)`` (nats) of the ancestral model whose
        reverse steps are ``N(mu_theta, sigma_t^2)`` and whose decoder at the last step is
        ``N(mu_theta, beta_0)`` (Ho et al.'s bound for continuous data; the sampler returns
        that decoder's mean); one ``x_t`` draw per step and event, summed over all T steps
        (T network calls)."""
        n = x0.shape[0]
        total = self.prior_kl(x0).to(torch.float64)
        for step in range(self.steps):
            t = torch.full((n,), step, dtype=torch.long, device=x0.device)
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
            x_t = self.q_sample(x0, t, noise)
            mean_theta = self._reverse_mean(x_t, t, eps_fn(x_t, t), None)
            if step == 0:
                var = float(self.betas[0])
                nll = 0.5 * ((x0 - mean_theta).pow(2) / var + math.log(2 * math.pi * var))
                total = total + nll.flatten(1).sum(1).to(torch.float64)
            else:
                mean_q, _ = self.posterior(x0, x_t, t)
                var_q, var_p = float(self.posterior_var[step]), float(self.sigma2[step])
                ratio = var_q / var_p
                kl = 0.5 * (mean_q - mean_theta).pow(2).flatten(1).sum(1) / var_p
                kl = kl + 0.5 * x0[0].numel() * (ratio - 1 - math.log(ratio))
                total = total + kl.to(torch.float64)
        return total
