"""Shower features with the challenge's conventions, on small showers computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surrogate_calo import geometry_from_dict, get_geometry
from surrogate_calo.features import (
    calogan_features,
    ds1_energy_bins,
    high_level_features,
    histogram_edges,
    low_level_features,
    low_level_normed_features,
)
from surrogate_calo.metrics import separation_powers

BINNING = """<Bins><Bin pid="11" name="electron">
  <Layer id="0" r_edges="0,1,3" n_bin_alpha="1"/>
  <Layer id="1" r_edges="0" n_bin_alpha="1"/>
  <Layer id="2" r_edges="0,2" n_bin_alpha="4"/>
</Bin></Bins>"""
H = math.sqrt(0.5)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Layer 0: r bins [0,1], [1,3] (centres 0.5, 2); layer 1 empty; layer 2: one r bin
    [0, 2] (centre 1) x 4 alpha bins centred at -3pi/4, -pi/4, pi/4, 3pi/4."""
    d = tmp_path_factory.mktemp("geo")
    (d / "b.xml").write_text(BINNING)
    return geometry_from_dict(
        {
            "name": "tiny",
            "binning": "b.xml",
            "stack": {"active": {"material": "PbWO4"}},
            "depth": {"unit": "mm", "thickness": [10, 10]},
            "energy_range_mev": [1, 100],
            "cut_mev": 0.0,
        },
        base=d,
    )


# shower A: layer 0 = [2, 1], layer 2 = [1, 0, 0, 3]; shower B: empty
SHOWERS = np.array([[2.0, 1.0, 1.0, 0.0, 0.0, 3.0], [0.0] * 6])
E_INC = np.array([10.0, 10.0])


def test_high_level_features_by_hand(tiny):
    assert tiny.alpha_layers == (2,)
    f = high_level_features(SHOWERS, E_INC, tiny)
    assert f.e_tot.tolist() == [7.0, 0.0]
    assert f.e_layer[0].tolist() == [3.0, 0.0] and f.e_layer[2].tolist() == [4.0, 0.0]
    # layer 0: EC_r = (0.5*2 + 2*1)/3 = 1, W_r = sqrt((0.25*2 + 4*1)/3 - 1) = sqrt(0.5)
    assert f.ec_r[0][0] == pytest.approx(1.0) and f.w_r[0][0] == pytest.approx(H)
    # layer 2: eta = cos(alpha), phi = sin(alpha) at r = 1
    assert f.ec_eta[2][0] == pytest.approx(-H)  # (1 * -H + 3 * -H) / 4
    assert f.ec_phi[2][0] == pytest.approx(H / 2)  # (1 * -H + 3 * H) / 4
    assert f.w_eta[2][0] == pytest.approx(0.0, abs=1e-7)
    assert f.w_phi[2][0] == pytest.approx(math.sqrt(0.5 - 0.125))
    assert f.ec_r[2][0] == pytest.approx(1.0) and f.w_r[2][0] == pytest.approx(0.0, abs=1e-7)
    assert f.sparsity[0][0] == 0.0 and f.sparsity[2][0] == 0.5
    # an empty shower: centres and widths 0 (the 1e-16 regulariser), sparsity 1
    assert f.ec_eta[2][1] == 0.0 and f.w_r[0][1] == 0.0 and f.sparsity[2][1] == 1.0
    assert 1 not in f.e_layer  # the empty layer has no features


def test_cut_is_applied_first(tiny):
    f = high_level_features(SHOWERS, E_INC, tiny, cut=1.5)
    assert f.e_layer[0][0] == 2.0 and f.ec_r[0][0] == 0.5 and f.sparsity[0][0] == 0.5
    assert f.ec_phi[2][0] == pytest.approx(H) and f.sparsity[2][0] == 0.75
    assert f.e_tot[0] == 5.0


def test_classifier_inputs_by_hand(tiny):
    f = high_level_features(SHOWERS, E_INC, tiny)
    high = f.matrix()[0]
    expected = [
        1.0,
        math.log10(3 + 1e-8),
        math.log10(4 + 1e-8),
        -H / 100,
        H / 200,
        0.0,
        math.sqrt(0.375) / 100,
        math.log10(7 + 1e-8),
        0.0,
        0.5,
        0.01,
        0.01,
        H / 100,
        0.0,
    ]
    np.testing.assert_allclose(high, expected, atol=1e-9)
    assert len(f.names()) == len(expected)
    low = low_level_features(SHOWERS, E_INC, tiny)[0]
    np.testing.assert_allclose(low, [1.0, 0.2, 0.1, 0.1, 0, 0, 0.3])
    normed = low_level_normed_features(SHOWERS, E_INC, tiny)[0]
    np.testing.assert_allclose(
        normed, [1.0, 2 / 3, 1 / 3, 0.25, 0, 0, 0.75, math.log10(3 + 1e-8), math.log10(4 + 1e-8)]
    )


def test_low_normed_uses_uncut_voxels_and_cut_layer_energies(tiny):
    normed = low_level_normed_features(SHOWERS, E_INC, tiny, cut=1.5)[0]
    # layer 0 energy after the cut is 2; the voxels divided by it are not cut
    np.testing.assert_allclose(normed[1:3], [1.0, 0.5])


def test_separation_power_by_hand(tiny):
    def showers(ratios):
        # all energy in one voxel: E_tot / E_inc = ratio
        x = np.zeros((len(ratios), 6))
        x[:, 0] = 10.0 * np.asarray(ratios)
        return x

    ref = showers([0.955, 0.955, 1.055, 1.055])
    gen = showers([0.955] * 4)
    res = separation_powers(ref, np.full(4, 10.0), gen, np.full(4, 10.0), tiny)
    # normalised histograms [0.5, 0.5] and [1, 0]: 0.5 (0.25/1.5 + 0.25/0.5) = 1/3
    assert res.per_observable["E_tot/E_inc"] == pytest.approx(1 / 3)
    same = separation_powers(ref, np.full(4, 10.0), ref, np.full(4, 10.0), tiny)
    assert max(same.per_observable.values()) == 0.0
    assert "voxel" in same.per_observable


def test_challenge_binnings():
    ds2, ds1 = get_geometry("2"), get_geometry("1-pions")
    np.testing.assert_array_equal(histogram_edges("EC_eta_5", ds2), np.linspace(-30, 30, 101))
    np.testing.assert_array_equal(histogram_edges("W_phi_5", ds2), np.linspace(0, 30, 101))
    np.testing.assert_array_equal(histogram_edges("EC_r_5", ds2), np.linspace(0, 42, 101))
    np.testing.assert_array_equal(histogram_edges("W_r_5", ds2), np.linspace(0, 20, 101))
    np.testing.assert_array_equal(histogram_edges("EC_eta_12", ds1), np.linspace(-500, 500, 101))
    np.testing.assert_array_equal(histogram_edges("W_eta_13", ds1), np.linspace(0, 400, 101))
    np.testing.assert_array_equal(histogram_edges("EC_phi_1", ds1), np.linspace(-100, 100, 101))
    np.testing.assert_array_equal(histogram_edges("EC_r_14", ds1), np.linspace(0, 1500, 101))
    np.testing.assert_array_equal(histogram_edges("W_r_2", ds1), np.linspace(0, 500, 101))
    np.testing.assert_array_equal(histogram_edges("sparsity_3", ds1), np.linspace(0, 1, 21))
    np.testing.assert_array_equal(histogram_edges("E_tot/E_inc", ds1), np.linspace(0.5, 1.5, 101))
    e = histogram_edges("E_layer_3", ds1, np.array([0.0, 10.0, 1000.0]))
    assert len(e) == 40 and e[0] == pytest.approx(1.0) and e[-1] == pytest.approx(1000.0)
    e = histogram_edges("E_layer_3", ds2, np.array([5.0, 100.0]))
    assert e[0] == pytest.approx(0.5e-3 / 0.033)


def test_ds1_per_energy_binnings():
    photons, pions = ds1_energy_bins("photon"), ds1_energy_bins("pion")
    assert len(photons) == 15 and photons[0][0] == 256.0 and photons[-1][0] == 2.0**22
    np.testing.assert_array_equal(photons[3][2], np.linspace(0.4, 1.4, 21))
    np.testing.assert_array_equal(photons[4][2], np.linspace(0.9, 1.1, 21))
    np.testing.assert_array_equal(pions[10][2], np.linspace(0.4, 1.4, 21))


def test_calogan_features_by_hand():
    x = np.zeros((1, 504))
    x[0, 10], x[0, 20] = 3.0, 1.0  # layer 0
    x[0, 288] = 4.0  # layer 1
    x[0, 432], x[0, 433] = 1.0, 1.0  # layer 2
    f = calogan_features(x)
    assert f["E_0/E_tot"][0] == 0.4 and f["E_1/E_tot"][0] == 0.4
    assert f["depth"][0] == pytest.approx((4 + 2 * 2) / 10)
    assert f["E_ratio_0"][0] == pytest.approx(2 / (4 + 1e-6))
    assert f["E_ratio_2"][0] == 0.0


def test_wrong_width_is_named():
    with pytest.raises(ValueError, match="6 voxels but geometry '2'"):
        high_level_features(SHOWERS, E_INC, "2")


# -- evaluate.py's arithmetic on float32 files and its NaN --------------------------------
def _ds1_showers(ratios, e_inc):
    """1-photons showers holding ``ratio * E_inc`` in one voxel (float32, as written)."""
    x = np.zeros((len(ratios), 368), dtype=np.float32)
    x[:, 0] = np.asarray(ratios) * np.asarray(e_inc)
    return x, np.asarray(e_inc, dtype=np.float64)


def test_float32_sums_move_an_event_off_a_ring_centre_as_evaluate_py():
    """Two voxels of layer 1's ring [20, 30] mm (centre 25, an edge of the EC_r bins):
    1 + 3 * 2^-23 and 2 MeV.  Their float32 sum rounds (a tie, to even) up to 3 + 2^-21, so
    HighLevelFeatures' EC_r = 25 (3 + 3 * 2^-23) / (3 + 2^-21) lies below 25, in the bin
    [20, 25); a float64 sum would give exactly 25, one bin up."""
    geo = get_geometry("1-photons")
    x = np.zeros((1, 368), dtype=np.float32)
    ring = geo.layer_slice(1).start + 8  # alpha bin 0, r bin 8 (16 r bins per alpha bin)
    x[0, ring], x[0, ring + 16] = 1 + 3 * 2**-23, 2.0
    f = high_level_features(x, [1e3], geo)
    assert f.e_layer[1].dtype == np.float32 and f.e_layer[1][0] == 3 + 2**-21
    assert f.ec_r[1][0] == 25 * (3 + 3 * 2**-23) / (3 + 2**-21) < 25
    edges = histogram_edges("EC_r_1", geo)
    assert np.searchsorted(edges, f.ec_r[1][0], side="right") - 1 == 4  # [20, 25)
    f64 = high_level_features(x.astype(np.float64), [1e3], geo)
    assert f64.ec_r[1][0] == 25.0  # why float64 arithmetic moved events on such edges


def test_log_bins_top_edge_from_the_float32_maximum():
    """evaluate.py's top edge is 10 ** float32(log10(max)) for float32 layer energies."""
    ref = np.array([3.0, 777.7], dtype=np.float32)
    edges = histogram_edges("E_layer_0", get_geometry("1-photons"), ref)
    assert edges[-1] == 10 ** float(np.log10(np.float32(777.7)))
    assert edges[-1] != pytest.approx(float(np.float32(777.7)), rel=1e-9)


def test_a_missing_energy_is_a_failure_not_a_dropped_histogram():
    """Reference: 256 MeV at E_tot/E_inc 0.475, 0.475, 0.975, 0.975 (bins of 0.05 from 0.4)
    and 65.5 GeV at 0.995, 1.005 (bins of 0.01 from 0.9).  A model at 0.475 for 256 MeV
    has S = 0.5 (0.25 / 1.5 + 0.25 / 0.5) = 1/3 there; one that puts 65.5 GeV showers at
    0.5, outside [0.9, 1.1], leaves that histogram empty: NaN (evaluate.py's density of
    no entries), listed as failed, and the summary is NaN.  The 13 energies the reference
    lacks are skipped."""
    e = [256.0] * 4 + [65536.0] * 2
    ref, e_ref = _ds1_showers([0.475, 0.475, 0.975, 0.975, 0.995, 1.005], e)
    gen, e_gen = _ds1_showers([0.475] * 4 + [0.5, 0.5], e)
    res = separation_powers(ref, e_ref, gen, e_gen, "1-photons", voxels=False)
    assert res.per_observable["E_tot/E_inc@256MeV"] == pytest.approx(1 / 3)
    assert math.isnan(res.per_observable["E_tot/E_inc@65536MeV"])
    assert res.details["failed"] == ["E_tot/E_inc@65536MeV"] and math.isnan(res.value)
    assert math.isnan(res.groups["E_tot/E_inc per E_inc"])
    assert len([s for s in res.details["skipped"] if s.startswith("E_tot/E_inc@")]) == 13
    assert "E_tot/E_inc@256MeV" not in res.details["skipped"]
    # a model without 65.5 GeV showers fails there too (and its 0.475s leave the global
    # E_tot/E_inc histogram, linspace(0.5, 1.5), empty): missing is not better
    missing = separation_powers(ref, e_ref, gen[:4], e_gen[:4], "1-photons", voxels=False)
    assert missing.details["failed"] == ["E_tot/E_inc", "E_tot/E_inc@65536MeV"]
    assert math.isnan(missing.value)
    good = separation_powers(ref, e_ref, ref, e_ref, "1-photons", voxels=False)
    assert good.value == 0.0 and good.details["failed"] == []


def test_shower_depth_is_the_energy_weighted_layer_centre():
    from surrogate_calo import get_geometry
    from surrogate_calo.features import layer_centres_x0, shower_depth

    geo = get_geometry("test")
    first, last = geo.relevant_layers[0], geo.relevant_layers[-1]
    centres = layer_centres_x0(geo)
    showers = np.zeros((3, geo.n_voxels))
    showers[0, geo.layer_slice(first)] = 100.0
    showers[1, geo.layer_slice(last).start] = 50.0
    showers[2, geo.layer_slice(first).start] = 30.0
    showers[2, geo.layer_slice(last).start] = 10.0
    depth = shower_depth(showers, geo)
    np.testing.assert_allclose(depth[:2], [centres[0], centres[-1]])
    np.testing.assert_allclose(depth[2], (3 * centres[0] + centres[-1]) / 4)
    assert np.all(np.diff(centres) > 0)
