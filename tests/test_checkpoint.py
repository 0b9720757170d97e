"""Model directories: round trip, no pickle, tamper and version checks, atomic saves."""

from __future__ import annotations

import json

import numpy as np
import pytest

import surrogate
from surrogate import CheckpointError
from surrogate_baseline.gaussian import GaussianSurrogate


@pytest.fixture
def model(toy_conditional):
    return surrogate.surrogate("gaussian").fit(toy_conditional.sample(500, seed=0), seed=0)


def test_directory_layout_and_card(model, tmp_path):
    path = model.save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((path / "config.json").read_text())
    assert config["plugin"] == "gaussian" and config["density"] == "exact"
    assert config["spec"]["conditions"][0]["name"] == "radius"
    assert config["provenance"]["n_events"] == 500
    card = (path / "README.md").read_text()
    assert "| radius | 1 | 4 |" in card  # the valid range of conditions
    assert "n_events: 500" in card


def test_round_trip_same_samples(model, tmp_path):
    loaded = surrogate.load(model.save(tmp_path / "m"))
    a, b = model.sample(100, {"radius": 2.5}, seed=4), loaded.sample(100, {"radius": 2.5}, seed=4)
    np.testing.assert_array_equal(a["x"], b["x"])


def test_weights_are_not_pickles(model, tmp_path):
    path = model.save(tmp_path / "m")
    head = (path / "model.safetensors").read_bytes()[:64]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    assert b"PK" not in head[:4]  # torch.save zip archive


def test_missing_files(model, tmp_path):
    path = model.save(tmp_path / "m")
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing weights file model.safetensors"):
        surrogate.load(path)
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="missing config.json"):
        surrogate.load(path)
    with pytest.raises(CheckpointError, match="not a model directory"):
        surrogate.load(tmp_path / "nowhere")


def test_tampered_weights_and_config(model, tmp_path):
    path = model.save(tmp_path / "m")
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum does not match"):
        surrogate.load(path)
    (path / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        surrogate.load(path)


def test_config_that_breaks_the_schema(model, tmp_path):
    path = model.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    del config["weights"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="invalid config.*weights"):
        surrogate.load(path)


def test_other_plugin_and_incompatible_version(model, tmp_path, monkeypatch):
    path = model.save(tmp_path / "m")

    class Other(GaussianSurrogate):
        name = "other"

    with pytest.raises(CheckpointError, match="checkpoint of plugin 'gaussian', not 'other'"):
        Other.load(path)
    monkeypatch.setattr(GaussianSurrogate, "version", "2.0")
    with pytest.raises(CheckpointError, match="version 1.0, incompatible .* 2.0"):
        surrogate.load(path)


def test_newer_format_is_refused(model, tmp_path):
    path = model.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format version 99 is newer"):
        surrogate.load(path)


def test_failed_save_keeps_the_previous_model(model, tmp_path, monkeypatch):
    path = model.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def broken_state():
        raise RuntimeError("disk full")

    monkeypatch.setattr(model, "_state", broken_state)
    with pytest.raises(RuntimeError):
        model.save(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    with pytest.raises(RuntimeError):
        model.save(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary left behind


def test_refuses_to_overwrite_unrelated_files(model, tmp_path):
    (tmp_path / "README.md").write_text("my notes")
    with pytest.raises(CheckpointError, match="README.md exists and is not part of a model"):
        model.save(tmp_path)
    assert (tmp_path / "README.md").read_text() == "my notes"


def test_scalar_state_keeps_its_shape(tmp_path):
    """0-d arrays (fitted scalars such as a transform's bounds) come back 0-d."""
    from surrogate import Events, EventSpec, Field

    class Scalar(GaussianSurrogate):
        def _state(self):
            return {**super()._state(), "scale": np.asarray(2.5)}

        def _load_state(self, state):
            assert state["scale"].shape == ()
            self.scale = float(state["scale"])
            super()._load_state(state)

    spec = EventSpec((Field("x", (2,)),))
    data = Events({"x": np.random.default_rng(0).normal(size=(50, 2))}, {}, spec)
    path = Scalar().fit(data).save(tmp_path / "m")
    assert Scalar.load(path).scale == 2.5


def test_write_metrics_keeps_the_weights_and_refuses_a_re_saved_model(model, tmp_path):
    from surrogate.checkpoint import write_metrics

    path = model.save(tmp_path / "m")
    sha = json.loads((path / "config.json").read_text())["weights"]["sha256"]
    weights = (path / "model.safetensors").read_bytes()
    write_metrics(path, {"note": "checked by hand"}, weights_sha256=sha)
    assert (path / "model.safetensors").read_bytes() == weights
    assert surrogate.load(path).metrics == {"note": "checked by hand"}
    assert "- note: checked by hand" in (path / "README.md").read_text()
    with pytest.raises(CheckpointError, match="re-saved after it was loaded"):
        write_metrics(path, {"note": "stale"}, weights_sha256="0" * 64)
    with pytest.raises(CheckpointError, match="do not match the config schema"):
        write_metrics(path, {"validation": {"status": "pass"}}, weights_sha256=sha)
    assert surrogate.load(path).metrics == {"note": "checked by hand"}
