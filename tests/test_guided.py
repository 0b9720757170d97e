"""Property-guided generation (:mod:`surrogate.guided`) on the toy ring, where the
answer is known: the observable is the event's radius, and the model's own draws say
how often it lands in the range."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import surrogate
from surrogate.guided import AdaptiveOptions, Proposal, distance, ess, guided_sample

AT = {"radius": 2.0}


def radius(events) -> np.ndarray:
    return np.linalg.norm(events["x"], axis=1)


@functools.cache
def flow():
    data = surrogate.simulator("toy.gmm2d", conditional=True).sample(2000, seed=0)
    model = surrogate.surrogate("flow", hidden=32, blocks=1, transforms=3)
    return model.fit(data, seed=0, epochs=3, batch_size=128, lr=3e-3, progress=False)


@functools.cache
def model_draws() -> np.ndarray:
    return radius(flow().sample(100_000, AT, seed=11))


@functools.cache
def tail() -> tuple[float, float]:
    """The outer 2% of the model's radii at radius 2, short of the last 0.1%."""
    low, high = np.quantile(model_draws(), [0.98, 0.999])
    return float(low), float(high)


@functools.cache
def run(method: str, n: int = 1500, seed: int = 1):
    return guided_sample(flow(), n, AT, radius, *tail(), method=method, seed=seed)


def test_rejection_accepts_the_share_of_model_draws_in_range():
    res, r = run("rejection"), model_draws()
    low, high = tail()
    share = float(np.mean((r >= low) & (r <= high)))
    a = res.acceptance
    error = np.sqrt(a * (1 - a) / res.draws + share * (1 - share) / len(r))
    assert abs(a - share) < 4 * error, (a, share, error)
    assert res.probability == res.acceptance and res.probability_error > 0
    assert res.accepted == 1500 and res.complete and np.all(res.weights == 1.0)
    assert res.ess == 1500 and res.search_draws == 0
    assert np.all((res.values >= low) & (res.values <= high))
    np.testing.assert_array_equal(res.values, radius(res.events))
    assert res.seen[0] < low and res.seen[1] > high


def test_adaptive_search_raises_the_acceptance():
    rej, ada = run("rejection"), run("adaptive")
    assert ada.proposal_acceptance > 3 * rej.acceptance, (ada.proposal_acceptance, rej.acceptance)
    assert ada.acceptance > 2 * rej.acceptance  # the search's draws counted too
    assert ada.draws < rej.draws and ada.search_draws > 0 and ada.search
    assert ada.search[-1]["level"] == 0.0
    assert 0.3 * ada.accepted < ada.ess < ada.accepted
    assert np.all(ada.weights <= 1 / AdaptiveOptions().defensive + 1e-9)


def test_adaptive_weights_give_the_conditional_mean_and_the_probability():
    """The weighted mean of the radius inside the range is rejection's (the model's
    conditional), and mean(w * inside) is P(in range), both within errors."""
    rej, ada = run("rejection"), run("adaptive")
    (m_r, e_r), (m_a, e_a) = rej.weighted_mean(), ada.weighted_mean()
    assert abs(m_a - m_r) < 4 * np.hypot(e_r, e_a), (m_a, m_r, e_a, e_r)
    unweighted = float(ada.values.mean())
    assert abs(unweighted - m_r) > abs(m_a - m_r)  # the weights matter
    assert abs(ada.probability - rej.probability) < 4 * np.hypot(
        ada.probability_error, rej.probability_error
    )


def test_the_same_seed_gives_the_same_events():
    again = guided_sample(flow(), 1500, AT, radius, *tail(), method="adaptive", seed=1)
    np.testing.assert_array_equal(again.events["x"], run("adaptive").events["x"])
    np.testing.assert_array_equal(again.weights, run("adaptive").weights)


@pytest.mark.parametrize("method", ["rejection", "adaptive"])
def test_a_range_beyond_reach_is_a_one_line_error(method):
    with pytest.raises(surrogate.SurrogateError) as info:
        guided_sample(flow(), 10, AT, radius, 50.0, 60.0, method=method, budget=20_000, seed=0)
    message = str(info.value)
    assert "\n" not in message
    assert "20000 latent draws" in message and "ranged over [" in message


def test_a_budget_too_small_returns_what_it_found():
    res = guided_sample(flow(), 10_000, AT, radius, *tail(), budget=9000, batch=4000, seed=2)
    assert not res.complete and 0 < res.accepted < 10_000 and res.draws == 9000


def test_the_time_allowed_ends_the_search_between_batches():
    res = guided_sample(flow(), 10**6, AT, radius, *tail(), max_time=0.0, batch=1000, seed=2)
    assert not res.complete and res.draws == 1000  # the first batch, then the clock
    with pytest.raises(surrogate.SurrogateError, match=r"in 1000 latent draws \(\d"):
        guided_sample(flow(), 10, AT, radius, 50.0, 60.0, max_time=0.0, batch=1000)


def test_an_observable_by_name_from_the_registered_sets():
    res = guided_sample(flow(), 200, AT, "x[0]", 1.0, 3.0, seed=3)
    np.testing.assert_array_equal(res.values, res.events["x"][:, 0])
    assert res.values.min() >= 1.0 and res.values.max() <= 3.0
    with pytest.raises(surrogate.SurrogateError, match=r"did you mean 'x\[1\]'"):
        guided_sample(flow(), 10, AT, "x[7]", 1.0, 3.0, seed=3)


def test_conditions_fixed_or_drawn():
    assert np.all(run("rejection").events["radius"] == 2.0)
    drawn = guided_sample(flow(), 200, None, "x[0]", 1.0, 3.0, seed=4)
    assert drawn.events["radius"].std() > 0.1
    with pytest.raises(surrogate.SpecError, match="one value per condition"):
        guided_sample(flow(), 10, {"radius": [1.5, 2.5]}, radius, 1.0, 3.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"low": 3.0, "high": 1.0}, "low <= high"),
        ({"n": 0}, "n must be a positive integer"),
        ({"budget": 0}, "budget must be"),
        ({"method": "gradient"}, "unknown method 'gradient'"),
    ],
)
def test_bad_requests_are_refused(kwargs, match):
    args = {"n": 10, "conditions": AT, "observable": radius, "low": 1.0, "high": 3.0}
    with pytest.raises(surrogate.SpecError, match=match):
        guided_sample(flow(), **{**args, **kwargs})


def test_a_model_without_a_latent_space_is_refused():
    data = surrogate.simulator("toy.gmm2d").sample(500, seed=0)
    model = surrogate.surrogate("gaussian").fit(data)
    with pytest.raises(surrogate.SurrogateError, match="no latent space"):
        guided_sample(model, 10, None, radius, 1.0, 3.0)


def test_the_proposal_density_is_the_defensive_mixture():
    from scipy.stats import multivariate_normal

    mean, cov = np.array([1.0, -0.5]), np.array([[0.5, 0.1], [0.1, 0.3]])
    q = Proposal(mean, cov, defensive=0.2)
    z = q.draw(np.random.default_rng(0), 5)
    expected = np.log(
        0.2 * multivariate_normal(np.zeros(2)).pdf(z) + 0.8 * multivariate_normal(mean, cov).pdf(z)
    )
    np.testing.assert_allclose(q.log_prob(z), expected, rtol=1e-10)
    assert ess(np.ones(7)) == 7 and ess(np.array([1.0, 0.0, 0.0])) == 1
    np.testing.assert_array_equal(
        distance(np.array([0.0, 1.5, 4.0, np.nan]), 1.0, 3.0), [1.0, 0.0, 1.0, np.inf]
    )
