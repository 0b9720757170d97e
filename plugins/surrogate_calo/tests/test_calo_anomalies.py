"""Calorimeter anomalies (:mod:`surrogate_calo.anomalies`): each changes what it says and
nothing else of the seed's own showers, electrons start shallower than photons, options
and simulators it cannot change are one-line errors, files are labelled; and the cut
baselines (:mod:`surrogate_calo.baselines`) see the faults they are made for."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import surrogate
from surrogate.anomaly import anomalous, anomaly_label, roc_summary
from surrogate.cli import main
from surrogate.errors import SpecError
from surrogate.events import Events
from surrogate.io import open_events
from surrogate_calo.anomalies import DeadCell, NoisyCell, hottest_layer, reference_mean
from surrogate_calo.baselines import LayerCut, ResponseCut, layer_fractions
from surrogate_calo.features import shower_depth
from surrogate_calo.gflash import CONVERSION_X0

N = 400
SEED = 7
PHOTONS = {"geometry": "test", "particle": "photon"}


@functools.cache
def photons():
    return surrogate.simulator("calo.gflash", **PHOTONS)


@functools.cache
def normal() -> Events:
    """The showers an EventTransform faults at ``SEED``: the simulator's draw from the
    seed's first child."""
    return photons().sample(N, seed=np.random.SeedSequence(SEED).spawn(2)[0])


def faulted(name: str, **options) -> Events:
    return anomalous(photons(), name, options).sample(N, seed=SEED)


def layer_energy(events: Events, layer: int) -> np.ndarray:
    geo = photons().geometry
    return events["showers"][:, geo.layer_slice(layer)].sum(axis=1, dtype=np.float64)


def test_a_dead_cell_reads_zero_and_nothing_else_changes():
    geo = photons().geometry
    mean = reference_mean(photons())
    voxel = DeadCell().cell(photons())
    # the default: the ring with the most energy per voxel of the layer with the most
    assert geo.coordinates["layer"][voxel] == hottest_layer(geo, mean) == 1
    assert mean[voxel] >= np.sort(mean)[-geo.layer(1).n_alpha]  # among the hottest ring's
    assert (normal()["showers"][:, voxel] > 0).mean() > 0.95  # a cell that is usually hit
    bad, ref = faulted("calo.dead_cell")["showers"], normal()["showers"]
    assert np.all(bad[:, voxel] == 0)
    np.testing.assert_array_equal(np.delete(bad, voxel, 1), np.delete(ref, voxel, 1))
    by_layer = faulted("calo.dead_cell", layer=3, index=5)["showers"]
    assert np.all(by_layer[:, geo.layer_slice(3).start + 5] == 0)
    assert np.all(faulted("calo.dead_cell", voxel=90)["showers"][:, 90] == 0)


def test_a_noisy_cell_carries_its_pedestal_or_noise():
    geo = photons().geometry
    mean = reference_mean(photons())
    voxel = NoisyCell().cell(photons())
    assert geo.coordinates["layer"][voxel] == 1
    assert mean[voxel] <= np.sort(mean[geo.layer_slice(1)])[geo.layer(1).n_alpha - 1]
    bad, ref = faulted("calo.noisy_cell", energy=30)["showers"], normal()["showers"]
    np.testing.assert_array_equal(bad[:, voxel], (ref[:, voxel] + 30.0).astype(np.float32))
    np.testing.assert_array_equal(np.delete(bad, voxel, 1), np.delete(ref, voxel, 1))
    noisy = faulted("calo.noisy_cell", energy=30, mode="noise")["showers"]
    extra = noisy[:, voxel].astype(np.float64) - ref[:, voxel]
    assert extra.min() >= 0 and extra.std() > 10  # half-normal of scale 30: std 18 MeV
    assert np.mean(extra) == pytest.approx(30 * np.sqrt(2 / np.pi), rel=0.15)


def test_a_dead_layer_has_no_energy_and_the_others_keep_theirs():
    geo = photons().geometry
    bad, ref = faulted("calo.dead_layer"), normal()
    assert hottest_layer(geo, reference_mean(photons())) == 1
    assert np.all(layer_energy(bad, 1) == 0) and np.all(layer_energy(ref, 1) > 0)
    for layer in (0, 2, 3, 4, 5):
        np.testing.assert_array_equal(layer_energy(bad, layer), layer_energy(ref, layer))
    assert np.all(layer_energy(faulted("calo.dead_layer", layer=4), 4) == 0)


def test_the_energy_scale_multiplies_every_shower_by_one_plus_shift():
    for shift in (0.05, -0.2):
        bad, ref = faulted("calo.energy_scale", shift=shift), normal()
        ratio = bad["showers"].sum(1, dtype=np.float64) / ref["showers"].sum(1, dtype=np.float64)
        np.testing.assert_allclose(ratio, 1 + shift, rtol=1e-6)
        np.testing.assert_array_equal(bad["incident_energies"], ref["incident_energies"])
        assert np.array_equal(bad["showers"] > 0, ref["showers"] > 0)  # no new readout


def mean_depth(events: Events) -> np.ndarray:
    """Each shower's energy-weighted mean depth in X0 (its layer energies at their
    layers' centres)."""
    return shower_depth(events["showers"], photons().geometry)


def test_electrons_start_shallower_than_photons_at_the_same_energies():
    """A photon converts after 9/7 X0 on average, an electron showers at once: their
    mean depths differ by that (measured: 1.31 +- 0.14 X0 over 400 showers)."""
    ref = photons().sample(N, seed=SEED)
    bad = faulted("calo.electrons")
    np.testing.assert_array_equal(bad["incident_energies"], ref["incident_energies"])
    assert bad.spec == photons().spec and bad["showers"].shape == (N, 96)
    shift = mean_depth(ref).mean() - mean_depth(bad).mean()
    error = np.hypot(mean_depth(ref).std(), mean_depth(bad).std()) / np.sqrt(N)
    assert shift > 3 * error and shift == pytest.approx(CONVERSION_X0, abs=3 * error)
    # dataset 1's photon binning, electrons given explicitly: 368 voxels, no refusal
    ds1 = surrogate.simulator("calo.gflash", geometry="1-photons")
    electrons = anomalous(ds1, "calo.electrons").sample(20, {"incident_energies": 8192.0}, seed=1)
    assert electrons["showers"].shape == (20, 368)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("calo.dead_cell", {"voxel": 96}, r"voxel 96 is outside geometry 'test' \(0..95\)"),
        ("calo.dead_cell", {"voxel": 1.5}, "voxel must be an integer"),
        ("calo.dead_cell", {"voxel": 3, "layer": 1}, "not both"),
        ("calo.dead_cell", {"layer": 1}, "layer and index go together"),
        ("calo.dead_cell", {"layer": 1, "index": 16}, r"outside layer 1 .* \(0..15\)"),
        ("calo.noisy_cell", {"energy": 0}, "energy must be > 0 MeV"),
        ("calo.noisy_cell", {"mode": "hot"}, "mode must be one of"),
        ("calo.dead_layer", {"layer": 6}, r"no layer 6 with voxels \(layers: 0, 1, 2"),
        ("calo.energy_scale", {"shift": -1}, "shift must be > -1 and not 0"),
        ("calo.energy_scale", {"shift": "x"}, "shift must be a number"),
        ("calo.electrons", {"particle": "muon"}, "particle must be 'electron' or 'positron'"),
    ],
)
def test_bad_options_are_one_line_errors(name, options, message):
    with pytest.raises(SpecError, match=message) as info:
        anomalous(photons(), name, options)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["calo.dead_cell", "calo.noisy_cell", "calo.dead_layer", "calo.energy_scale", "calo.electrons"],
)
def test_a_simulator_without_showers_is_refused(name):
    with pytest.raises(SpecError, match="makes no calorimeter showers") as info:
        anomalous(surrogate.simulator("toy.gmm2d"), name)
    assert "\n" not in str(info.value)


def test_electrons_need_photons():
    with pytest.raises(SpecError, match="already showers electrons; pass particle=photon"):
        anomalous(surrogate.simulator("calo.gflash", geometry="test"), "calo.electrons")


def test_anomaly_files_are_labelled(tmp_path):
    path = surrogate.simulate(
        "calo.gflash", 30, tmp_path / "e.h5", options=PHOTONS, seed=1, anomaly="calo.electrons"
    )
    with open_events(path) as f:
        assert anomaly_label(f.metadata, str(path)) == "calo.electrons"
        assert f.metadata["options"]["particle"] == "photon"  # the background's simulator
    out = tmp_path / "l.h5"
    argv = ["simulate", "calo.gflash", "-n", "30", "--option", "geometry=test"]
    argv += ["--anomaly", "calo.dead_layer", "--anomaly-option", "layer=2", "-o", str(out)]
    assert main([*argv, "--seed", "2"]) == 0
    with open_events(out) as f:
        assert anomaly_label(f.metadata, str(out)) == "calo.dead_layer"
        assert f.metadata["options"]["anomaly_options"] == {"layer": 2}
        assert np.all(layer_energy(f.read(), 2) == 0)
    # a default resolved from the simulator's showers is recorded, and rebuilds the fault
    sim = surrogate.simulator("calo.gflash", geometry="test")
    dead = anomalous(sim, "calo.dead_cell")
    recorded = dead.options["anomaly_options"]
    assert recorded == {"voxel": 16, "layer": None, "index": None}
    again = anomalous(sim, "calo.dead_cell", recorded)
    np.testing.assert_array_equal(
        dead.sample(5, seed=3)["showers"], again.sample(5, seed=3)["showers"]
    )


def test_the_cut_baselines_see_what_they_cut_on():
    """Background scores are standardised (half within one spread), a 5% scale shift is
    the response cut's, a dead layer the layer cut's, beyond any background shower."""
    train = photons().sample(4000, seed=1)
    response, layers = ResponseCut("test").fit(train), LayerCut("test").fit(train)
    bkg = normal()
    assert np.median(response.score(bkg)) == pytest.approx(0.67, abs=0.15)
    assert layer_fractions(bkg, photons().geometry).shape == (N, 6)
    scale = roc_summary(response.score(bkg), response.score(faulted("calo.energy_scale")))
    assert scale.auc > 0.75, scale
    dead = layers.score(faulted("calo.dead_layer"))
    assert dead.min() > layers.score(bkg).max()
    with pytest.raises(Exception, match="fit it on a background first"):
        LayerCut("test").score(bkg)
