"""The CaloChallenge file layout, registered by this plugin: files are exactly the
challenge's (``showers`` (N, V) and ``incident_energies`` (N, 1)), and foreign challenge
files are read with a spec."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from surrogate import Condition, EventFileError, Events, EventSpec, Field, SpecError
from surrogate.io import make_metadata, open_events, read_events, write_events

CALO = EventSpec(
    (Field("showers", (6,), "float32", "MeV", low=0.0),),
    (Condition("incident_energies", "MeV", 1e3, 1e6, prior="loguniform"),),
    layout="calochallenge",
)


def showers(n: int) -> Events:
    rng = np.random.default_rng(0)
    fields = {"showers": rng.uniform(0, 10, (n, 6)).astype("float32")}
    return Events(fields, CALO.resolve_conditions(n, None, rng), CALO)


def test_files_are_exactly_the_challenge_ones(tmp_path):
    ev = showers(50)
    path = write_events(tmp_path / "calo.h5", ev, make_metadata(CALO, producer="test"))
    with h5py.File(path) as f:
        assert set(f) == {"incident_energies", "showers"}
        assert f["incident_energies"].shape == (50, 1)
        assert f["showers"].shape == (50, 6)
        np.testing.assert_array_equal(f["incident_energies"][:, 0], ev["incident_energies"])
    back = read_events(path)
    np.testing.assert_array_equal(back["showers"], ev["showers"])
    assert back.spec == CALO


def test_the_layout_needs_the_challenge_names():
    with pytest.raises(SpecError, match="calochallenge layout needs exactly the fields"):
        EventSpec((Field("a", (3,)),), layout="calochallenge")


def test_foreign_challenge_file_needs_a_spec_and_the_right_voxel_count(tmp_path):
    path = tmp_path / "challenge.h5"
    with h5py.File(path, "w") as f:  # as the CaloChallenge distributes them: no metadata
        f["incident_energies"] = np.full((4, 1), 2048.0)
        f["showers"] = np.ones((4, 6))
    with pytest.raises(EventFileError, match="give the event spec"):
        open_events(path)
    assert len(read_events(path, spec=CALO)) == 4
    other = EventSpec((Field("showers", (7,)),), CALO.conditions, layout="calochallenge")
    with pytest.raises(EventFileError, match=r"'showers' has shape \(4, 6\), expected \(N, 7\)"):
        open_events(path, spec=other)


def test_the_challenge_presets_are_this_plugins():
    from surrogate.metrics import metric
    from surrogate.validation.config import load_config

    cfg = load_config("calochallenge")
    assert cfg.classifier_options == {"preset": "calochallenge"}
    cls = metric("calo.cls_low")
    assert cls.options["preset"] == "calochallenge"
    assert metric("classifier", preset="calochallenge").settings()["hidden"] == 2048
