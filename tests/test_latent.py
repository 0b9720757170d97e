"""The core's latent-space tools (:mod:`surrogate.latent`) on a model that has one (a
small conditional flow on the toy ring) and on one that has none."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import surrogate
from surrogate import Events, EventSpec, Field, latent


@functools.cache
def flow():
    data = surrogate.simulator("toy.gmm2d", conditional=True).sample(2000, seed=0)
    model = surrogate.surrogate("flow", hidden=32, blocks=1, transforms=3)
    return model.fit(data, seed=0, epochs=3, batch_size=128, lr=3e-3, progress=False)


@functools.cache
def events() -> Events:
    return surrogate.simulator("toy.gmm2d", conditional=True).sample(10, seed=1)


@pytest.mark.parametrize("path", ["linear", "slerp"])
def test_interpolation_ends_at_the_two_events_for_a_flow(path):
    """A flow's latent point is its exact inverse: both ends decode to the events."""
    a, b = events()[:1], events()[1:2]
    steps = latent.interpolate(flow(), a, b, 7, path=path)
    assert len(steps) == 7
    np.testing.assert_allclose(steps["x"][0], a["x"][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(steps["x"][-1], b["x"][0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(steps["x"][3], a["x"][0], atol=1e-3)


def test_conditions_interpolate_linearly():
    a, b = events()[2:3], events()[3:4]
    steps = latent.interpolate(flow(), a, b, 5)
    expected = np.linspace(a["radius"][0], b["radius"][0], 5)
    np.testing.assert_allclose(steps["radius"], expected, rtol=1e-12)


def test_slerp_keeps_the_norm_where_the_line_shrinks_it():
    """Two prior draws in 64 dimensions: slerp's norms run linearly from one end's to the
    other's; the straight line's midpoint has about 1/sqrt(2) of them."""
    za, zb = latent.prior_sample(64, 2, seed=0)
    slerp = np.linalg.norm(latent.latent_path(za, zb, 11, "slerp"), axis=1)
    np.testing.assert_allclose(slerp, np.linspace(*np.linalg.norm([za, zb], axis=1), 11))
    line = np.linalg.norm(latent.latent_path(za, zb, 11, "linear"), axis=1)
    assert line[5] < 0.8 * min(slerp[0], slerp[-1])
    # on a great circle: every point is in the plane of the two ends, at equal angle steps
    unit = latent.latent_path(za, zb, 11, "slerp") / slerp[:, None]
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-6)


def test_slerp_of_one_direction_is_the_line():
    z = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        latent.latent_path(z, 2 * z, 4, "slerp"), latent.latent_path(z, 2 * z, 4, "linear")
    )


def test_a_model_without_a_latent_space_is_told_which_families_have_one():
    data = surrogate.simulator("toy.gmm2d").sample(500, seed=0)
    model = surrogate.surrogate("gaussian").fit(data)
    with pytest.raises(surrogate.SurrogateError) as info:
        latent.interpolate(model, data[:1], data[1:2])
    message = str(info.value)
    assert "\n" not in message and "'gaussian' has no latent space" in message
    assert "flow" in message and "vae" in message and "gan" not in message


@pytest.mark.parametrize("steps", [1, 0, 2.5, True, "4"])
def test_bad_steps_are_refused(steps):
    with pytest.raises(surrogate.SpecError, match="steps >= 2"):
        latent.interpolate(flow(), events()[:1], events()[1:2], steps)


def test_bad_path_and_empty_ends_are_refused():
    with pytest.raises(surrogate.SpecError, match="linear, slerp"):
        latent.interpolate(flow(), events()[:1], events()[1:2], 3, path="geodesic")
    with pytest.raises(surrogate.SpecError, match="an event at each end"):
        latent.interpolate(flow(), events()[:0], events()[1:2], 3)


def test_events_of_another_spec_are_refused_with_what_differs():
    other = surrogate.simulator("toy.gmm2d").sample(3, seed=0)  # no radius condition
    with pytest.raises(surrogate.SpecError, match="radius"):
        latent.interpolate(flow(), other[:1], other[1:2], 3)
    spec = EventSpec(fields=(Field("y", (2,)),))
    with pytest.raises(surrogate.SpecError, match="do not match the model's spec"):
        latent.encode(flow(), Events({"y": np.zeros((2, 2))}, {}, spec))


def test_decode_checks_the_latent_points():
    with pytest.raises(surrogate.SpecError, match=r"\(n, 2\)"):
        latent.decode(flow(), np.zeros((4, 3)), {"radius": 2.0})
    with pytest.raises(surrogate.SpecError, match="finite"):
        latent.decode(flow(), np.array([[0.0, np.nan]]), {"radius": 2.0})
    one = latent.decode(flow(), np.zeros(2), {"radius": 2.0})
    assert len(one) == 1 and one["radius"][0] == 2.0


def test_prior_log_prob_is_the_standard_normal():
    import torch

    z = latent.prior_sample(3, 5, seed=2)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(torch.from_numpy(z)).sum(-1)
    np.testing.assert_allclose(latent.prior_log_prob(z), expected.numpy())
