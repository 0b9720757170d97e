"""Hostile model directories and resume checkpoints: every file a load reads is read
without running code, and what is planted in it is refused with one clear error.

Each payload, if it were ever unpickled, would create a marker file; every test checks
the marker is absent afterwards, so "refused" also means "never executed".
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
from pathlib import Path

import pytest

import surrogate
from surrogate import CheckpointError
from surrogate.errors import SurrogateError


class Payload:
    """Unpickling this runs ``open(marker, "w")``: proof that a loader executed code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def saved(toy_conditional, tmp_path) -> Path:
    model = surrogate.surrogate("gaussian").fit(toy_conditional.sample(500, seed=0), seed=0)
    return model.save(tmp_path / "m")


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "EXECUTED"


def _reseal(path: Path) -> None:
    """Make config.json's checksum match the (planted) weights, as an attacker would."""
    config = json.loads((path / "config.json").read_text())
    weights = (path / "model.safetensors").read_bytes()
    config["weights"]["sha256"] = hashlib.sha256(weights).hexdigest()
    (path / "config.json").write_text(json.dumps(config))


def test_a_pickle_in_place_of_the_weights_is_refused(saved, marker):
    (saved / "model.safetensors").write_bytes(pickle.dumps(Payload(marker)))
    _reseal(saved)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        surrogate.load(saved)
    assert not marker.exists()


def test_a_pickle_in_place_of_the_config_is_refused(saved, marker):
    (saved / "config.json").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match="config.json"):
        surrogate.load(saved)
    assert not marker.exists()


def test_a_pickle_inside_the_safetensors_metadata_is_data(saved, marker):
    """safetensors' header is JSON; a pickle smuggled into its metadata stays a string."""
    weights = saved / "model.safetensors"
    blob = weights.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header["__metadata__"] = {"x": pickle.dumps(Payload(marker)).hex()}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    weights.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n :])
    _reseal(saved)
    surrogate.load(saved)  # loads: the metadata is never interpreted
    assert not marker.exists()


def test_a_header_claiming_terabytes_is_refused(saved):
    weights = saved / "model.safetensors"
    blob = weights.read_bytes()
    weights.write_bytes(struct.pack("<Q", 2**40) + blob[8:])
    _reseal(saved)
    with pytest.raises(CheckpointError, match="unreadable safetensors file.*header too large"):
        surrogate.load(saved)
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2**20, 2**20]  # a tensor of 4 TiB in a file of kilobytes
    text = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n :])
    _reseal(saved)
    with pytest.raises(CheckpointError, match="unreadable safetensors file"):
        surrogate.load(saved)


def test_an_oversized_config_is_refused_before_it_is_read(saved, monkeypatch):
    from surrogate import checkpoint

    monkeypatch.setattr(checkpoint, "MAX_CONFIG_BYTES", 1000)
    with pytest.raises(CheckpointError, match="config.json is .* bytes, more than"):
        surrogate.load(saved)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_links_out_of_the_directory_are_refused(saved, tmp_path, name):
    outside = tmp_path / f"outside-{name}"
    os.replace(saved / name, outside)
    os.symlink(outside, saved / name)
    with pytest.raises(CheckpointError, match=f"{name} is a link out of the model directory"):
        surrogate.load(saved)


def test_a_link_inside_the_directory_is_followed(saved):
    os.replace(saved / "model.safetensors", saved / "weights-v1.safetensors")
    os.symlink("weights-v1.safetensors", saved / "model.safetensors")
    surrogate.load(saved)


def test_a_pickle_planted_in_a_resume_checkpoint_is_refused(tmp_path, marker):
    data = surrogate.simulate("toy.gmm2d", 400, tmp_path / "toy.h5", seed=0, progress=False)
    out = tmp_path / "run"
    surrogate.train("flow", data, out, epochs=1, progress=False, hyperparameters={"hidden": 8})
    (ckpt,) = sorted((out / "checkpoints").glob("epoch-*.pt"))
    import torch

    torch.save({"format": "x", "evil": Payload(marker)}, ckpt)  # a real torch archive
    with pytest.raises(SurrogateError, match="unreadable training checkpoint"):
        surrogate.train("flow", data, out, epochs=2, resume=True, progress=False)
    assert not marker.exists()


def test_a_checkpoint_linked_from_outside_is_refused(tmp_path):
    data = surrogate.simulate("toy.gmm2d", 400, tmp_path / "toy.h5", seed=0, progress=False)
    out = tmp_path / "run"
    surrogate.train("flow", data, out, epochs=1, progress=False, hyperparameters={"hidden": 8})
    (ckpt,) = sorted((out / "checkpoints").glob("epoch-*.pt"))
    os.replace(ckpt, tmp_path / "elsewhere.pt")
    os.symlink(tmp_path / "elsewhere.pt", ckpt)
    with pytest.raises(SurrogateError, match="a link out of"):
        surrogate.train("flow", data, out, epochs=2, resume=True, progress=False)
