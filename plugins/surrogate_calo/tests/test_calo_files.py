"""The CaloChallenge file format, ROOT ntuples with a branch mapping, CaloGAN files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import surrogate
from surrogate import Events
from surrogate.errors import EventFileError, SpecError
from surrogate_calo import GeometryError, get_geometry
from surrogate_calo.io import (
    challenge_spec,
    inspect_challenge_file,
    open_challenge,
    read_calogan,
    read_challenge,
    read_root,
    voxel_branch_names,
    write_calogan,
    write_challenge,
)


def challenge_file(path, showers, energies, *, energies_shape=None):
    """A file laid out exactly as the challenge's (no attributes)."""
    with h5py.File(path, "w") as f:
        e = np.asarray(energies, dtype=np.float64)
        f.create_dataset("incident_energies", data=e.reshape(energies_shape or (-1, 1)))
        f.create_dataset("showers", data=np.asarray(showers), compression="gzip")
    return path


def test_read_a_foreign_challenge_file(tmp_path):
    rng = np.random.default_rng(0)
    showers = rng.exponential(1.0, (20, 368)).astype(np.float32)
    energies = 2.0 ** rng.integers(8, 23, 20)
    path = challenge_file(tmp_path / "dataset_1_photons_1.hdf5", showers, energies)
    ev = read_challenge(path, "1-photons")
    np.testing.assert_array_equal(ev["showers"], showers)
    np.testing.assert_array_equal(ev["incident_energies"], energies)
    assert ev.spec.layout == "calochallenge"
    info = inspect_challenge_file(path, "1-photons")
    assert info["n_events"] == 20 and info["enough_for_classifier"] is False
    with open_challenge(path, "1-photons") as f:
        assert len(f) == 20 and len(f[5:9]) == 4


def test_write_exactly_the_two_datasets(tmp_path):
    ev = surrogate.simulator("calo.gflash", geometry="test").sample(10, seed=1)
    path = write_challenge(tmp_path / "gen.h5", ev, "test", metadata=False)
    with h5py.File(path) as f:
        assert sorted(f.keys()) == ["incident_energies", "showers"]
        assert f["incident_energies"].shape == (10, 1) and f["showers"].shape == (10, 96)
        assert len(f.attrs) == 0
    back = read_challenge(path, "test")
    np.testing.assert_array_equal(back["showers"], ev["showers"])


def test_write_with_metadata_reopens_without_a_spec(tmp_path):
    ev = surrogate.simulator("calo.gflash", geometry="test").sample(10, seed=1)
    path = write_challenge(tmp_path / "gen.h5", ev)
    with h5py.File(path) as f:
        assert sorted(f.keys()) == ["incident_energies", "showers"]  # the attributes are extra
    back = surrogate.io.read_events(path)
    np.testing.assert_array_equal(back["incident_energies"], ev["incident_energies"])


def test_wrong_voxel_count_is_named(tmp_path):
    path = challenge_file(tmp_path / "ds1.h5", np.ones((3, 368)), [1e3, 2e3, 4e3])
    with pytest.raises(EventFileError, match=r"368 voxels but geometry '2' has 6480.*'1-photons'"):
        read_challenge(path, "2")
    with pytest.raises(GeometryError, match="368 voxels but geometry 'test'"):
        write_challenge(tmp_path / "x.h5", read_challenge(path, "1-photons"), "test")


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda s: s.__setitem__((1, 3), -2.0), "showers.*below 0"),
        (lambda s: s.__setitem__((2, 0), np.nan), "showers.*NaN.*event 2"),
    ],
)
def test_negative_or_nan_voxels_are_named(tmp_path, mutate, message):
    showers = np.ones((4, 96))
    mutate(showers)
    path = challenge_file(tmp_path / "bad.h5", showers, np.full(4, 5e3))
    with pytest.raises(SpecError, match=message):
        read_challenge(path, "test")
    ev = Events({"showers": showers}, {"incident_energies": np.full(4, 5e3)})
    with pytest.raises(SpecError, match=message):
        write_challenge(tmp_path / "out.h5", ev, "test")


def test_structural_problems_are_named(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("showers", data=np.ones((2, 96)))
    with pytest.raises(EventFileError, match="no dataset 'incident_energies'"):
        read_challenge(tmp_path / "a.h5", "test")
    challenge_file(tmp_path / "b.h5", np.ones((2, 96)), [1e3, 2e3, 3e3])
    with pytest.raises(EventFileError, match="3 incident energies but 2 showers"):
        read_challenge(tmp_path / "b.h5", "test")
    (tmp_path / "c.h5").write_text("not hdf5")
    with pytest.raises(EventFileError, match="not an HDF5 file"):
        read_challenge(tmp_path / "c.h5", "test")
    with pytest.raises(EventFileError, match="no such file"):
        read_challenge(tmp_path / "missing.h5", "test")
    challenge_file(tmp_path / "d.h5", np.ones((2, 96)), [1e3, 2e7])
    with pytest.raises(SpecError, match="incident_energies.*above"):
        read_challenge(tmp_path / "d.h5", "test")


def test_flat_incident_energies_are_refused(tmp_path):
    path = challenge_file(tmp_path / "flat.h5", np.ones((2, 96)), [1e3, 2e3], energies_shape=(-1,))
    with pytest.raises(EventFileError, match=r"'incident_energies' has shape \(2,\), not \(N, 1\)"):
        read_challenge(path, "test")


def test_challenge_spec():
    spec = challenge_spec("3")
    assert spec.field("showers").shape == (40500,)
    assert spec.condition("incident_energies").low == 1000.0


# -- ROOT ---------------------------------------------------------------------------------------
def _write_tree(path, branches):
    import uproot

    with uproot.recreate(path) as f:
        f["g4"] = branches


def test_root_dense_branches_by_pattern(tmp_path):
    uproot = pytest.importorskip("uproot")
    geo = get_geometry("test")
    names = voxel_branch_names(geo, "e_{layer}_{alpha}_{r}")
    assert names[0] == "e_0_0_0" and names[5] == "e_0_1_1" and len(names) == 96
    rng = np.random.default_rng(1)
    vox = rng.exponential(1.0, (5, 96))
    data = {n: vox[:, i] for i, n in enumerate(names)} | {"E_GeV": np.full(5, 10.0)}
    with uproot.recreate(tmp_path / "g4.root") as f:
        f.mktree("g4", {k: np.float64 for k in data})
        f["g4"].extend(data)
    ev = read_root(
        tmp_path / "g4.root",
        "test",
        tree="g4",
        energy="E_GeV",
        voxels="e_{layer}_{alpha}_{r}",
        scale=2.0,
        energy_scale=1000.0,
    )
    np.testing.assert_allclose(ev["showers"], (2.0 * vox).astype(np.float32))
    assert ev["incident_energies"].tolist() == [1e4] * 5


def test_root_array_branch_and_wrong_width(tmp_path):
    uproot = pytest.importorskip("uproot")
    with uproot.recreate(tmp_path / "a.root") as f:
        f.mktree("events", {"vox": (np.float32, (96,)), "e": np.float64})
        f["events"].extend({"vox": np.ones((3, 96), np.float32), "e": np.full(3, 5e3)})
    ev = read_root(tmp_path / "a.root", "test", energy="e", voxels="vox")
    assert ev["showers"].shape == (3, 96)
    with pytest.raises(EventFileError, match="geometry '1-photons' has 368"):
        read_root(tmp_path / "a.root", "1-photons", energy="e", voxels="vox")
    with pytest.raises(EventFileError, match="no branch 'nope'"):
        read_root(tmp_path / "a.root", "test", energy="nope", voxels="vox")


def test_root_sparse_hits_par04_style(tmp_path):
    uproot = pytest.importorskip("uproot")
    import awkward as ak

    hits = {
        "EnergyMC": np.array([5e3, 6e3]),
        "EnergyCell": ak.Array([[1.0, 2.0, 0.5], [3.0]]),
        "zCell": ak.Array([[0, 2, 0], [5]]),
        "phiCell": ak.Array([[0, 3, 0], [1]]),
        "rhoCell": ak.Array([[0, 1, 0], [3]]),
    }
    with uproot.recreate(tmp_path / "par04.root") as f:
        f["global"] = hits
    mapping = {"energy": "EnergyCell", "layer": "zCell", "alpha": "phiCell", "r": "rhoCell"}
    ev = read_root(tmp_path / "par04.root", "test", tree="global", energy="EnergyMC", hits=mapping)
    x = ev["showers"]
    assert x[0, 0] == 1.5  # two hits in the same voxel add up
    assert x[0, 2 * 16 + 3 * 4 + 1] == 2.0 and x[1, 5 * 16 + 1 * 4 + 3] == 3.0
    assert x.sum() == 6.5
    bad = dict(hits, rhoCell=ak.Array([[0, 9, 0], [3]]))
    with uproot.recreate(tmp_path / "bad.root") as f:
        f["global"] = bad
    with pytest.raises(EventFileError, match="'rhoCell' has index 9"):
        read_root(tmp_path / "bad.root", "test", tree="global", energy="EnergyMC", hits=mapping)


def test_root_needs_one_mapping(tmp_path):
    with pytest.raises(SpecError, match="either voxels"):
        read_root(tmp_path / "x.root", "test")


# -- CaloGAN ------------------------------------------------------------------------------------
def test_calogan_round_trip(tmp_path):
    ev = surrogate.simulator("calo.gflash", geometry="calogan").sample(4, seed=2)
    path = write_calogan(tmp_path / "eplus.hdf5", ev)
    with h5py.File(path) as f:
        assert f["layer_0"].shape == (4, 3, 96) and f["layer_2"].shape == (4, 12, 6)
        np.testing.assert_allclose(f["energy"][:], ev["incident_energies"] / 1000)
    back = read_calogan(path)
    np.testing.assert_allclose(back["showers"], ev["showers"], rtol=1e-6)
