"""Known answers of the diffusion maths (``schedules.py``), with no network in the loop.

On 1-D Gaussian data N(mu, s^2) everything is closed form: x_t ~ N(sqrt(ab) mu, ab s^2 + 1 - ab)
and the optimal noise predictor is E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu) / v_t.
"""

from __future__ import annotations

import math

import pytest
import torch

from surrogate_generators.schedules import NoiseSchedule, make_betas

MU, S = 1.5, 0.5


def exact_eps(schedule: NoiseSchedule, mu: float = MU, s: float = S):
    """The optimal noise predictor for data N(mu, s^2)."""

    def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = schedule.alpha_bar[t].to(x.dtype).unsqueeze(-1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s * s + 1 - ab)

    return eps_fn


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_known_values(kind):
    sch = NoiseSchedule(kind, 1000)
    assert torch.allclose(sch.alpha_bar, torch.cumprod(1 - sch.betas, 0))
    assert (sch.betas > 0).all() and (sch.betas <= 0.999).all()
    assert float(sch.alpha_bar[-1]) < 1e-4  # x_T is pure noise: the sampler's N(0, I) start
    if kind == "linear":
        assert float(sch.betas[0]) == pytest.approx(1e-4)
        assert float(sch.betas[-1]) == pytest.approx(0.02)
        # fewer steps, same total noise: 1000/T scaling
        assert float(make_betas("linear", 100)[-1]) == pytest.approx(0.2)
    else:
        s = 0.008
        f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        for t in (0, 249, 499, 899):
            assert float(sch.alpha_bar[t]) == pytest.approx(f((t + 1) / 1000) / f(0), rel=1e-9)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="unknown noise schedule"):
        make_betas("quadratic", 10)
    with pytest.raises(ValueError, match="at least 2"):
        make_betas("linear", 1)
    with pytest.raises(ValueError, match="reverse variance"):
        NoiseSchedule("linear", 10, variance="learned")
    with pytest.raises(ValueError, match="between 1 and 10"):
        NoiseSchedule("linear", 10).ddim_timesteps(11)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_forward_marginal_matches_closed_form(kind):
    """t single steps x_t = sqrt(a_t) x_{t-1} + sqrt(b_t) eps reach the closed-form
    N(sqrt(ab_t) x0, (1 - ab_t)) for a fixed x0, and the jump q_sample has the same law."""
    sch = NoiseSchedule(kind, 200)
    n, x0 = 40_000, 1.7
    g = gen(0)
    x = torch.full((n, 1), x0, dtype=torch.float64)
    checkpoints = {9, 59, 139, 199}
    for step in range(200):
        t = torch.full((n,), step, dtype=torch.long)
        x = sch.q_step(x, t, torch.randn(x.shape, generator=g, dtype=torch.float64))
        if step in checkpoints:
            mean, std = sch.marginal(torch.full((1, 1), x0, dtype=torch.float64), t[:1])
            se = float(std) / math.sqrt(n)
            assert abs(float(x.mean()) - float(mean)) < 5 * se
            assert float(x.std()) == pytest.approx(float(std), rel=0.02)
            jump = sch.q_sample(
                torch.full((n, 1), x0, dtype=torch.float64),
                t,
                torch.randn(x.shape, generator=g, dtype=torch.float64),
            )
            assert abs(float(jump.mean()) - float(x.mean())) < 8 * se
            assert float(jump.std()) == pytest.approx(float(x.std()), rel=0.03)


def test_forward_process_preserves_unit_variance():
    """Variance preserving: data N(0, 1) stays N(0, 1) at every t (exactly, per formula)."""
    sch = NoiseSchedule("cosine", 50)
    t = torch.arange(50)
    x0 = torch.zeros(50, 1, dtype=torch.float64)
    mean, std = sch.marginal(x0, t)
    var_total = sch.alpha_bar.unsqueeze(1) * 1.0 + std**2  # ab Var(x0) + (1 - ab)
    assert torch.allclose(var_total, torch.ones_like(var_total))
    assert torch.equal(mean, x0)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_exact_predictor_is_conditional_mean_and_gives_the_score(kind):
    """E[eps | x_t] from samples (a regression slope) matches the closed-form predictor, and
    -eps/sqrt(1 - ab) is the gradient of log N(x_t; sqrt(ab) mu, v_t) (autograd)."""
    sch = NoiseSchedule(kind, 1000)
    eps_fn = exact_eps(sch)
    g = gen(1)
    for step in (10, 300, 800):
        n = 100_000
        t = torch.full((n,), step, dtype=torch.long)
        x0 = MU + S * torch.randn(n, 1, generator=g, dtype=torch.float64)
        noise = torch.randn(n, 1, generator=g, dtype=torch.float64)
        xt = sch.q_sample(x0, t, noise)
        xc, nc = xt - xt.mean(), noise - noise.mean()
        slope = float((xc * nc).sum() / (xc * xc).sum())
        resid = nc - slope * xc
        se = float(resid.std() / (xc.std() * math.sqrt(n)))
        pred = eps_fn(xt, t)
        pslope = float(((pred - pred.mean()) * xc).sum() / (xc * xc).sum())
        assert abs(slope - pslope) < 4 * se
        # L_simple is minimal at the exact predictor
        base = float((pred - noise).pow(2).mean())
        worse = float((1.1 * pred - noise).pow(2).mean())
        assert base < worse

        ab = float(sch.alpha_bar[step])
        x = torch.linspace(-3, 3, 13, dtype=torch.float64).unsqueeze(1).requires_grad_(True)
        marg = torch.distributions.Normal(
            torch.tensor(math.sqrt(ab) * MU, dtype=torch.float64),
            torch.tensor(math.sqrt(ab * S * S + 1 - ab), dtype=torch.float64),
        )
        (grad,) = torch.autograd.grad(marg.log_prob(x).sum(), x)
        tt = torch.full((13,), step, dtype=torch.long)
        score = sch.score(tt, eps_fn(x.detach(), tt))
        assert torch.allclose(score, grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddim_with_exact_predictor_maps_noise_to_data(kind):
    """With the exact predictor, deterministic DDIM is an affine map of x_T for Gaussian data;
    pushing x_T = 0 and 1 through it gives the output mean and std exactly.  They approach
    (mu, s) as the step count (chosen at sampling time) grows."""
    sch = NoiseSchedule(kind, 1000)
    eps_fn = exact_eps(sch)
    probe = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    errors = []
    for steps in (10, 50, 200, 1000):
        out = sch.ddim(eps_fn, probe, steps)
        mean, std = float(out[0]), float(out[1] - out[0])
        assert mean == pytest.approx(MU, abs=0.01)
        errors.append(abs(std - S))
    assert errors == sorted(errors, reverse=True)  # monotone in the step count
    assert errors[-1] < 0.01 * S  # all 1000 steps: std within 1%
    assert errors[1] < 0.07 * S  # 50 steps: within 7% (the deterministic sampler shrinks)
    # and with random x_T, the sample mean and std follow
    x = sch.ddim(eps_fn, torch.randn(20_000, 1, generator=gen(2), dtype=torch.float64), 200)
    assert float(x.mean()) == pytest.approx(MU, abs=0.02)
    assert float(x.std()) == pytest.approx(S, rel=0.03)


def test_ddim_is_deterministic_and_eta_one_on_all_steps_is_ancestral():
    sch = NoiseSchedule("linear", 100)
    eps_fn = exact_eps(sch)
    xT = torch.randn(500, 1, generator=gen(3), dtype=torch.float64)
    assert torch.equal(sch.ddim(eps_fn, xT, 20), sch.ddim(eps_fn, xT, 20))
    assert sch.ddim_timesteps(4) == [99, 66, 33, 0]
    a = sch.ancestral(eps_fn, xT, generator=gen(4))
    d = sch.ddim(eps_fn, xT, 100, eta=1.0, generator=gen(4))
    assert torch.allclose(a, d, atol=1e-10)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ancestral_with_exact_predictor_samples_the_data(kind):
    sch = NoiseSchedule(kind, 1000)
    x = sch.ancestral(
        exact_eps(sch), torch.randn(10_000, 1, generator=gen(5), dtype=torch.float64), gen(6)
    )
    # standard errors: 0.005 on the mean, 0.7 % on the std
    assert float(x.mean()) == pytest.approx(MU, abs=0.02)
    assert float(x.std()) == pytest.approx(S, rel=0.03)


def test_clipping_bounds_the_predicted_data():
    """A wild predictor cannot push samples outside the clip range of x0."""
    sch = NoiseSchedule("cosine", 50)
    wild = lambda x, t: 100 * torch.ones_like(x)  # noqa: E731
    lo, hi = torch.tensor([-2.0], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    x_T = torch.randn(100, 1, generator=gen(7), dtype=torch.float64)
    x = sch.ddim(wild, x_T, 10, clip=(lo, hi))
    assert x.abs().max() <= 2.0 + 1e-9
    y = sch.ancestral(wild, torch.randn(100, 1, dtype=torch.float64), gen(8), clip=(lo, hi))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_variational_bound_is_tight_for_the_exact_model(kind):
    """Data N(0, 1) with reverse variance beta_t: the exact predictor makes the reverse chain
    the true time reversal, so the bound equals -log p(x0) in expectation (the ELBO gap is
    KL(q(x_1:T|x0) || p(x_1:T|x0)) = 0).  With beta~_t it is a strict bound."""
    n = 4000
    x0 = torch.randn(n, 1, generator=gen(9), dtype=torch.float64)
    exact = 0.5 * x0[:, 0] ** 2 + 0.5 * math.log(2 * math.pi)
    sch = NoiseSchedule(kind, 200, variance="beta")
    gap = sch.nll_bound(exact_eps(sch, 0.0, 1.0), x0, generator=gen(10)) - exact
    se = float(gap.std()) / math.sqrt(n)
    assert abs(float(gap.mean())) < 4 * se + 1e-3
    loose = NoiseSchedule(kind, 200, variance="posterior")
    gap2 = loose.nll_bound(exact_eps(loose, 0.0, 1.0), x0, generator=gen(10)) - exact
    assert float(gap2.mean()) > 0.05
