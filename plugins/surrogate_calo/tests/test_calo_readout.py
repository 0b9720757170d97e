"""The readout threshold: ``calo.gflash`` reads voxels out as a detector does (exact zeros
below the geometry's threshold), records the threshold it used in its files, and the
preprocessing chains give generated showers the same zeros."""

from __future__ import annotations

import numpy as np
import pytest

import surrogate
from surrogate.io import EventFile
from surrogate.preprocessing import Preprocessing
from surrogate_calo import GeometryError, get_geometry
from surrogate_calo.features import high_level_features
from surrogate_calo.preprocessing import preprocessing_chain, stored_threshold

DS2_THRESHOLD = 0.5e-3 / 0.033  # the challenge's 15.15 keV


def test_each_geometry_has_its_readout_threshold():
    expected = {"1-photons": 1.0, "1-pions": 1.0, "2": DS2_THRESHOLD, "3": DS2_THRESHOLD}
    expected |= {"calogan": 1.0, "test": DS2_THRESHOLD}
    assert {name: get_geometry(name).readout_threshold for name in expected} == expected


@pytest.mark.parametrize("geometry", ["1-photons", "calogan", "test"])
def test_no_voxel_is_read_out_below_the_threshold(geometry):
    sim = surrogate.simulator("calo.gflash", geometry=geometry)
    low = get_geometry(geometry).energy_range[0]
    x = sim.sample(40, {"incident_energies": 4 * low}, seed=3)["showers"]
    assert sim.threshold == get_geometry(geometry).readout_threshold
    assert ((x == 0) | (x >= sim.threshold)).all() and (x == 0).any()


def test_the_threshold_in_use_is_recorded_in_the_file(tmp_path):
    for options, threshold in (({}, 1.0), ({"threshold": 0}, 0.0), ({"threshold": 2.5}, 2.5)):
        path = surrogate.simulate(
            "calo.gflash",
            5,
            tmp_path / f"t{threshold}.h5",
            options={"geometry": "1-photons"} | options,
            seed=1,
        )
        with EventFile(path) as f:
            assert f.metadata["options"]["threshold"] == threshold
            x = f[:]["showers"]
        assert ((x == 0) | (x >= threshold)).all()


def test_disabling_the_threshold_brings_back_the_tail_of_tiny_voxels():
    """At dataset 1's energies the same seed gives the same showers with and without the
    readout, but without it ~10 % of the non-zero voxels lie below 1 MeV (down to
    float32's denormals), so the fraction of zeros (the sparsity before the evaluation's
    cut) drops by exactly that much; the evaluated features, cut at 1 MeV, do not move."""
    on = surrogate.simulator("calo.gflash", geometry="1-photons")
    off = surrogate.simulator("calo.gflash", geometry="1-photons", threshold=0)
    a, b = on.sample(200, seed=5), off.sample(200, seed=5)
    x, raw = a["showers"], b["showers"]
    np.testing.assert_array_equal(x, np.where(raw < 1.0, 0.0, raw))
    tiny = (raw > 0) & (raw < 1.0)
    assert 0.05 < tiny.sum() / (raw > 0).sum() < 0.3 and raw[raw > 0].min() < 1e-3
    assert (x == 0).mean() == pytest.approx((raw == 0).mean() + tiny.mean(), abs=1e-12)
    f_on = high_level_features(x, a["incident_energies"], "1-photons")
    f_off = high_level_features(raw, b["incident_energies"], "1-photons")
    for layer in (0, 1, 2, 3, 12):
        np.testing.assert_array_equal(f_on.sparsity[layer], f_off.sparsity[layer])


def test_generated_showers_come_back_read_out():
    """A generator's imperfect output (the training showers in model space plus noise)
    comes back from the chain's inverse with exact zeros below the threshold; without the
    readout step it has a continuous tail of voxels there.  Forward is the identity on
    read-out showers, with log-det 0."""
    sim = surrogate.simulator("calo.gflash", geometry="test")
    data = sim.sample(200, seed=0)
    with_step = Preprocessing(preprocessing_chain("test", "logit"), sim.spec).fit([data])
    without = Preprocessing(preprocessing_chain("test", "logit", threshold=0), sim.spec).fit([data])
    assert with_step.steps[0].type == "calo.readout_threshold" and len(without.steps) == 3
    y, logdet = with_step.forward(data.fields, data.conditions)
    y0, logdet0 = without.forward(data.fields, data.conditions)
    np.testing.assert_array_equal(y["showers"], y0["showers"])
    np.testing.assert_array_equal(logdet, logdet0)
    noisy = {"showers": y["showers"] + np.random.default_rng(1).normal(0, 0.3, y["showers"].shape)}
    gen = with_step.inverse(noisy, data.conditions)["showers"].astype(np.float32)
    tail = without.inverse(noisy, data.conditions)["showers"].astype(np.float32)
    assert ((gen == 0) | (gen >= DS2_THRESHOLD)).all()
    assert ((tail > 0) & (tail < DS2_THRESHOLD)).mean() > 0.01
    np.testing.assert_array_equal(gen, np.where(tail < DS2_THRESHOLD, 0.0, tail))


def test_the_threshold_survives_the_float32_cast():
    """float32 rounds 15.15 keV up but 0.7 MeV down: the cut is the smallest float32 at or
    above the threshold, so no stored voxel is below it."""
    for t in (DS2_THRESHOLD, 0.7, 1.0):
        s = stored_threshold(t, np.float32)
        assert (
            s >= t and np.float32(s) == s and float(np.nextafter(np.float32(s), np.float32(0))) < t
        )
    assert float(np.float32(0.7)) < 0.7 <= stored_threshold(0.7, np.float32)
    assert stored_threshold(0.7, np.float64) == 0.7
    spec = surrogate.simulator("calo.gflash", geometry="test").spec
    with pytest.raises(surrogate.SpecError, match="threshold must be a number > 0"):
        Preprocessing([{"type": "calo.readout_threshold", "threshold": 0}], spec)


def test_alpha_rotations_move_whole_alpha_bins_and_keep_the_invariants():
    """A quarter turn of the ``test`` geometry (4 alpha bins) moves bin a to a + 1 in every
    layer; E_layer, EC_r, W_r, sparsity do not change; (EC_eta, EC_phi) turns by 90
    degrees: (eta, phi) -> (-phi, eta).  Rotated copies for augmentation keep the
    conditions."""
    from surrogate_calo.preprocessing import alpha_period, augment_alpha, rotate_alpha

    geo = get_geometry("test")
    assert alpha_period(geo) == 4 and alpha_period("1-photons") == 10
    assert alpha_period("2") == 16 and alpha_period("3") == 50
    events = surrogate.simulator("calo.gflash", geometry="test").sample(20, seed=2)
    x = events["showers"]
    turned = rotate_alpha(x, geo, np.ones(20, dtype=int))
    for layer in geo.alpha_layers:
        np.testing.assert_array_equal(
            geo.layer_grid(turned, layer), np.roll(geo.layer_grid(x, layer), 1, axis=1)
        )
    np.testing.assert_array_equal(rotate_alpha(x, geo, np.full(20, 4)), x)  # a full turn
    f, g = (high_level_features(s, events["incident_energies"], geo) for s in (x, turned))
    for layer in geo.relevant_layers:
        for key in ("e_layer", "ec_r", "w_r", "sparsity"):
            np.testing.assert_allclose(getattr(g, key)[layer], getattr(f, key)[layer], rtol=1e-6)
        np.testing.assert_allclose(g.ec_eta[layer], -f.ec_phi[layer], atol=1e-4)
        np.testing.assert_allclose(g.ec_phi[layer], f.ec_eta[layer], atol=1e-4)
    aug = augment_alpha(events, geo, copies=2, seed=0)
    assert len(aug) == 60 and (aug["incident_energies"][40:] == events["incident_energies"]).all()
    np.testing.assert_allclose(aug["showers"][40:].sum(1), x.sum(1), rtol=1e-6)
    with pytest.raises(GeometryError, match="Cartesian"):
        alpha_period("calogan")
