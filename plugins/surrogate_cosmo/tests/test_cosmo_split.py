"""The ``cosmo.bands`` split: the log field's band powers against a plane wave's closed
form, an inverse that imposes stage 1's band powers exactly and moves nothing else, bad
input, and a two-stage field model (flow, then a conv diffusion model) end to end."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.fft

import surrogate
from surrogate.errors import SpecError, SurrogateError
from surrogate.events import Events
from surrogate.io import make_metadata, write_events
from surrogate.registry import get_registry
from surrogate.splits import make_split
from surrogate.testing import surrogate_checks
from surrogate_cosmo.split import SUMMARY, BandSplit
from surrogate_cosmo.statistics import mode_bins

MAPS = {"output": "maps", "particles": 16, "box": 64.0, "maps_per_run": 4}
TARGET = np.array([0.4, -0.3, 0.2, 0.1])


def bands(**options) -> BandSplit:
    split = make_split({"type": "cosmo.bands", **options})
    assert isinstance(split, BandSplit)
    return split


@functools.cache
def maps() -> Events:
    return surrogate.simulator("cosmo.lognormal", **MAPS).sample(48, seed=0)


def log_modes(delta: np.ndarray, offset: float = 1.001) -> np.ndarray:
    log_field = np.log(np.asarray(delta, np.float64) + offset)
    return scipy.fft.rfftn(log_field, axes=(1, 2)).reshape(len(delta), -1)


def test_the_simulators_offer_the_split():
    assert "cosmo.bands" in get_registry().names("split")
    sim = surrogate.simulator("cosmo.pm", **MAPS)
    assert sim.split() == {"type": "cosmo.bands", "bands": 4}
    small = surrogate.simulator("cosmo.lognormal", **{**MAPS, "particles": 8})
    assert small.split()["bands"] == 3  # a grid of 8 has 3 bins below Nyquist
    split = make_split(sim.split())
    assert not split.bijective
    rest = split.rest_spec(sim.spec)
    assert rest.fields == sim.spec.fields
    names = [c.name for c in rest.conditions]
    assert names == ["omega_m", "sigma8", *(f"{SUMMARY}_{i}" for i in range(4))]


def test_band_power_of_a_plane_wave_is_its_closed_form():
    """L = A cos(2 pi 2 x / N): two modes of |L(n)| = A N^2 / 2 in the bin [2, 3), which
    holds 16 modes, so its power per mode is A^2 N^2 / 32; the other bins hold none."""
    n, amplitude = 16, 0.3
    x = np.arange(n)
    log_field = amplitude * np.cos(2 * np.pi * 2 * x / n)[:, None] * np.ones((1, n))
    delta = np.exp(log_field)[None] - 1.001
    summary, rest, logdet = bands().forward({"delta": delta}, {})
    power = np.exp(summary[SUMMARY][0])
    np.testing.assert_allclose(power[1], amplitude**2 * n**2 / 32, rtol=1e-12)
    assert (power[[0, 2, 3]] < 1e-20).all()
    np.testing.assert_array_equal(rest["delta"], delta)
    np.testing.assert_array_equal(logdet, 0.0)


def test_the_inverse_of_the_forward_is_the_field():
    split, events = bands(), maps()
    summary, rest, _ = split.forward(events.fields, events.conditions)
    back = split.inverse(summary, rest, events.conditions)["delta"]
    np.testing.assert_allclose(back, events["delta"], atol=1e-12)


def test_the_inverse_imposes_the_band_powers_and_moves_nothing_else():
    split, events = bands(), maps()
    summary, rest, _ = split.forward(events.fields, events.conditions)
    target = {SUMMARY: summary[SUMMARY] + TARGET}
    out = split.inverse(target, rest, events.conditions)["delta"]
    again, _, _ = split.forward({"delta": out}, events.conditions)
    np.testing.assert_allclose(again[SUMMARY], target[SUMMARY], atol=1e-10)
    # 1 + delta keeps its mean, and every mode outside the bands (DC apart) its value
    np.testing.assert_allclose(out.mean(axis=(1, 2)), events["delta"].mean(axis=(1, 2)), atol=1e-7)
    index, _ = mode_bins(16, 2, 4)
    outside = index == 4
    outside[0] = False  # the DC mode carries the mean
    np.testing.assert_allclose(
        log_modes(out)[:, outside], log_modes(events["delta"])[:, outside], atol=1e-9
    )
    # each band's modes were scaled by one real factor: their phases are kept
    band = index == 0
    ratio = log_modes(out)[:, band] / log_modes(events["delta"])[:, band]
    np.testing.assert_allclose(ratio.imag, 0.0, atol=1e-9)
    np.testing.assert_allclose(ratio.real, np.exp(0.5 * TARGET[0]), rtol=1e-9)


def test_the_inverse_clips_what_is_not_a_density():
    split, events = bands(), maps()
    summary, rest, _ = split.forward(events.fields, events.conditions)
    low = rest["delta"].copy()
    low[:, 0, 0] = -3.0  # a generator's output under delta = -1
    out = split.inverse(summary, {"delta": low}, events.conditions)["delta"]
    assert np.isfinite(out).all() and out.min() >= -1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bands": 0}, "bands must be a whole number >= 1"),
        ({"bands": 2.5}, "bands must be a whole number >= 1"),
        ({"offset": 1.0}, "offset must be a finite number > 1"),
        ({"offset": "x"}, "offset must be a finite number > 1"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_settings_are_one_line_errors(options, message):
    with pytest.raises(SpecError, match=message):
        bands(**options)


def test_fields_the_split_does_not_apply_to_are_refused():
    spec = surrogate.simulator("cosmo.lognormal", **MAPS).spec
    with pytest.raises(SpecError, match="more than the 7 bins below Nyquist"):
        bands(bands=8).summary_spec(spec)
    with pytest.raises(SpecError, match="one density field 'rho'"):
        bands(field="rho").rest_spec(spec)
    toy = surrogate.simulator("toy.gmm2d").spec
    with pytest.raises(SpecError, match="one density field"):
        bands().summary_spec(toy)
    with pytest.raises(SpecError, match="not a density contrast"):
        bands().forward({"delta": np.full((1, 16, 16), -2.0)}, {})


TINY_FLOW = {"hidden": 16, "blocks": 1, "transforms": 2}
TINY_UNET = {"backbone": "conv", "hidden": 8, "blocks": 1, "sampling_steps": 3}
QUICK = {"epochs": 1, "batch_size": 16, "progress": False}


@functools.cache
def trained():
    sim = surrogate.simulator("cosmo.lognormal", **MAPS)
    model = surrogate.surrogate(
        "twostage",
        split=sim.split(),
        stage2="diffusion",
        stage1_options=TINY_FLOW,
        stage2_options=TINY_UNET,
    )
    return model.fit(maps(), seed=0, **QUICK)


def test_a_two_stage_field_model_has_no_density():
    model = trained()
    assert model.density == "none"
    with pytest.raises(SurrogateError, match="no tractable density"):
        model.log_prob(maps()[:2])


def test_generated_band_powers_are_stage_ones(monkeypatch):
    model = trained()
    stage1 = model.stages["stage1"]
    drawn = []

    def sample(*args, **kwargs):
        drawn.append(type(stage1).sample(stage1, *args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(stage1, "sample", sample)
    out = model.sample(8, {"omega_m": 0.3, "sigma8": 0.8}, seed=4)
    summary, _, _ = model.split.forward(out.fields, out.conditions)
    # the generated maps are float32: their band powers are stage 1's to its rounding
    np.testing.assert_allclose(summary[SUMMARY], drawn[0][SUMMARY], atol=1e-4)


def test_the_split_a_file_offers_decides_the_density(tmp_path):
    """Trained on a simulator's file with no split given, the model takes the one the
    simulator offers, and with it has no density."""
    meta = make_metadata(maps().spec, producer="cosmo.lognormal", seed=0, options=MAPS)
    path = write_events(tmp_path / "maps.h5", maps()[:16], meta)
    model = surrogate.surrogate(
        "twostage", stage2="diffusion", stage1_options=TINY_FLOW, stage2_options=TINY_UNET
    )
    assert model.density == "bound"  # a flow and a diffusion model, before the split
    model.fit(str(path), seed=0, **QUICK)
    assert model.split.to_config()["type"] == "cosmo.bands"
    assert model.density == "none"


@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_two_stage_fields_conformance(name):
    dict(surrogate_checks(trained, n=8))[name]()
