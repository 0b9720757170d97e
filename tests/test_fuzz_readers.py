"""Property-based tests of the readers: whatever bytes or text they are given, only the
toolkit's own one-line errors come out (a ``SurrogateError``, or argparse's usage error
for a command-line value), never another exception.

The default run tries a few dozen inputs per reader; ``pytest -m slow`` a few thousand.
"""

from __future__ import annotations

import argparse
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surrogate
from surrogate.errors import SurrogateError

QUICK = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, SurrogateError), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), "an empty message"


@pytest.fixture(scope="module")
def event_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "toy.h5"
    surrogate.simulate("toy.gmm2d", 300, path, seed=0, progress=False)
    return path.read_bytes()


@pytest.fixture(scope="module")
def model_config(tmp_path_factory) -> dict:
    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    model = surrogate.surrogate("gaussian").fit(sim.sample(200, seed=0), seed=0)
    path = model.save(tmp_path_factory.mktemp("fuzz") / "m")
    return json.loads((path / "config.json").read_text())


def _read_event_file(path) -> None:
    from surrogate.io import open_events

    try:
        with open_events(path) as f:
            for _ in f.batches(100):
                pass
    except Exception as exc:
        _one_line(exc)


def _corrupt(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    out = bytearray(data[: max(1, int(cut * len(data)))])
    for where, value in flips:
        out[int(where * (len(out) - 1))] = value
    return bytes(out)


CORRUPTION = (
    st.floats(0.0, 1.0),
    st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)


@QUICK
@given(*CORRUPTION)
def test_corrupt_event_files_give_one_line_errors(tmp_path_factory, event_bytes, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.h5"
    path.write_bytes(_corrupt(event_bytes, cut, flips))
    _read_event_file(path)


@pytest.mark.slow
@LONG
@given(*CORRUPTION)
def test_corrupt_event_files_long(tmp_path_factory, event_bytes, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.h5"
    path.write_bytes(_corrupt(event_bytes, cut, flips))
    _read_event_file(path)


@QUICK
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_not_an_event_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("f") / "x.h5"
    path.write_bytes(data)
    _read_event_file(path)


def _mutations():
    """A config with one entry replaced, removed or added, anywhere in its tree."""
    return st.tuples(
        st.lists(st.text(max_size=12), min_size=1, max_size=3),
        JSON,
        st.sampled_from(["set", "delete"]),
    )


def _mutate(config: dict, path: list[str], value, how: str) -> dict:
    config = json.loads(json.dumps(config))
    node = config
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            break
        node = child
    if how == "delete":
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return config


def _load_config(folder, text: str) -> None:
    from surrogate.checkpoint import read_config

    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(text)
    try:
        read_config(folder)
    except Exception as exc:
        _one_line(exc)


@QUICK
@given(_mutations())
def test_mutated_model_configs_give_one_line_errors(tmp_path_factory, model_config, mutation):
    path, value, how = mutation
    folder = tmp_path_factory.mktemp("m")
    config = _mutate(model_config, path, value, how)
    _load_config(folder, json.dumps(config, allow_nan=True))


@QUICK
@given(st.text(max_size=400))
def test_arbitrary_text_as_a_model_config(tmp_path_factory, text):
    _load_config(tmp_path_factory.mktemp("m"), text)


@QUICK
@given(st.text(max_size=300))
def test_cluster_files(tmp_path_factory, text):
    from surrogate.generation.backends import read_cluster_file

    path = tmp_path_factory.mktemp("c") / "cluster.yaml"
    path.write_text(text)
    try:
        read_cluster_file(path)
    except Exception as exc:
        _one_line(exc)


@QUICK
@given(st.text(max_size=60))
def test_command_line_key_values(text):
    from surrogate.cli.options import count, key_value

    for parse in (key_value, count):
        try:
            parse(text)
        except argparse.ArgumentTypeError as exc:
            assert str(exc)


@QUICK
@given(st.dictionaries(st.text(max_size=10), JSON, max_size=6))
def test_validation_configs(tmp_path_factory, config):
    from surrogate.validation.config import load_config

    path = tmp_path_factory.mktemp("v") / "config.json"
    path.write_text(json.dumps(config, allow_nan=True))
    try:
        load_config(path)
    except Exception as exc:
        _one_line(exc)


def test_the_fuzzers_can_fail(tmp_path):
    """The property is not vacuous: an exception of another kind is caught out."""
    with pytest.raises(AssertionError, match="ValueError"):
        _one_line(ValueError("not ours"))
    assert os.path.exists(tmp_path)
