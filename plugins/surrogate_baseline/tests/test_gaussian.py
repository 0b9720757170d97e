"""The Gaussian baseline recovers known parameters and its density is the closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import surrogate
from surrogate import Condition, Events, EventSpec, Field

SPEC = EventSpec((Field("y", (3,), "float64"),), (Condition("c", "", 0.0, 2.0),))
A = np.array([[1.0, -2.0, 0.5], [0.3, 0.0, 2.0]])  # rows: intercept, slope in c
COV = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 0.5]])


def linear_gaussian(n: int, seed: int) -> Events:
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 2, n)
    y = np.stack([np.ones(n), c], 1) @ A + rng.multivariate_normal(np.zeros(3), COV, n)
    return Events({"y": y}, {"c": c}, SPEC)


def test_recovers_linear_mean_and_covariance():
    model = surrogate.surrogate("gaussian").fit(linear_gaussian(50_000, 0))
    np.testing.assert_allclose(model.W, A, atol=0.05)
    np.testing.assert_allclose(model.cov, COV, atol=0.05)


def test_log_prob_is_the_multivariate_normal_density():
    model = surrogate.surrogate("gaussian").fit(linear_gaussian(5000, 1))
    ev = linear_gaussian(50, 2)
    mean = np.stack([np.ones(50), ev["c"]], 1) @ model.W
    expected = [
        stats.multivariate_normal(m, model.cov).logpdf(y)
        for m, y in zip(mean, ev["y"], strict=True)
    ]
    np.testing.assert_allclose(model.log_prob(ev), expected, rtol=1e-10)


def test_streaming_fit_equals_in_memory_fit(tmp_path):
    from surrogate.io import make_metadata, write_events

    data = linear_gaussian(3000, 3)
    path = write_events(tmp_path / "d.h5", data, make_metadata(SPEC, producer="test"))
    in_memory = surrogate.surrogate("gaussian").fit(data)
    streamed = surrogate.surrogate("gaussian", batch_size=700).fit(path)
    np.testing.assert_allclose(streamed.W, in_memory.W, rtol=1e-10)
    np.testing.assert_allclose(streamed.cov, in_memory.cov, rtol=1e-10)


def test_samples_respect_field_bounds():
    spec = EventSpec((Field("e", (2,), "float32", low=0.0),))
    rng = np.random.default_rng(0)
    data = Events({"e": np.abs(rng.normal(0.1, 1.0, (1000, 2)))}, {}, spec)
    sample = surrogate.surrogate("gaussian").fit(data).sample(5000, seed=0)["e"]
    assert sample.min() == 0.0  # clipped, not negative
    with pytest.raises(surrogate.SurrogateError, match="training-loop options do not apply"):
        surrogate.surrogate("gaussian").fit(data, epochs=3)


def test_bad_hyperparameters_are_one_line_errors_naming_the_model():
    for hp, match in (
        ({"jitter": -1}, "model 'gaussian': jitter must be >= 0"),
        ({"batch_size": 0.5}, "batch_size must be an integer >= 1"),
        ({"jiter": 1e-3}, "did you mean 'jitter'"),
    ):
        with pytest.raises(surrogate.SurrogateError, match=match):
            surrogate.surrogate("gaussian", **hp)
