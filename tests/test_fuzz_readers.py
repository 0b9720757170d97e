"""Property-based tests of the readers: whatever bytes or text they are given, only the
toolkit's own one-line errors come out (a ``SurrogateError``, or argparse's usage error
for a command-line value), never another exception.

The default run tries a few dozen inputs per reader; ``pytest -m slow`` a few thousand.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surrogate
from surrogate.errors import SurrogateError
from surrogate.io.root import METADATA_KEY
from surrogate.testing import (
    FUZZ_EXAMPLES,
    assert_one_line_error,
    corrupt_bytes,
    corruption_strategies,
    fuzz_tests,
)

QUICK = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


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


def _read_event_file(path, spec=None) -> None:
    from surrogate.io import open_events

    try:
        with open_events(path, spec) as f:
            for _ in f.batches(100):
                pass
    except Exception as exc:
        assert_one_line_error(exc)


CORRUPTION = corruption_strategies()


def _corrupt_event_files_give_one_line_errors(tmp_path_factory, event_bytes, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.h5"
    path.write_bytes(corrupt_bytes(event_bytes, cut, flips))
    _read_event_file(path)


test_corrupt_event_files_give_one_line_errors, test_corrupt_event_files_long = fuzz_tests(
    _corrupt_event_files_give_one_line_errors,
    *CORRUPTION,
)


@QUICK
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_not_an_event_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("f") / "x.h5"
    path.write_bytes(data)
    _read_event_file(path)


def test_a_value_beyond_float32_is_one_error(tmp_path, root_file):
    """A float64 branch holding 1e300 for the float32 field ``x``: one SpecError naming
    the range, not a cast warning or an Inf."""
    layout = {
        "n": 2,
        "branches": {"x": ("f8", (2,), 1e300), "radius": "as written", "extra": None},
        "metadata": "kept",
        "tree": "events",
    }
    path = tmp_path / "big.root"
    _write_root_layout(path, layout, root_file.metadata)
    from surrogate.io import read_events

    with pytest.raises(SurrogateError, match=r"'x' has values beyond the range of float32"):
        read_events(path)


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


class EventFileSample(NamedTuple):
    """A real event file's bytes and metadata, shown short in a failing example."""

    data: bytes
    metadata: dict

    def __repr__(self) -> str:
        return f"<an event file of {len(self.data)} bytes>"


@pytest.fixture(scope="module")
def root_file(tmp_path_factory) -> EventFileSample:
    """A small ROOT event file of the toolkit's own (a field and a condition)."""
    from surrogate.io import open_events

    path = tmp_path_factory.mktemp("fuzz") / "toy.root"
    surrogate.simulate(
        "toy.gmm2d", 200, path, options={"conditional": True}, seed=0, progress=False
    )
    with open_events(path) as f:
        return EventFileSample(path.read_bytes(), f.metadata)


def _corrupt_root_files_give_one_line_errors(tmp_path_factory, root_file, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.root"
    path.write_bytes(corrupt_bytes(root_file.data, cut, flips))
    _read_event_file(path)


test_corrupt_root_files_give_one_line_errors, test_corrupt_root_files_long = fuzz_tests(
    _corrupt_root_files_give_one_line_errors,
    *CORRUPTION,
    examples=(
        (0.5, []),  # uproot's message for a truncated file spans three lines
        (1.0, [(0.0, 0)]),  # not a ROOT file at all
    ),
)


@QUICK
@given(st.sampled_from([b"", b"root"]), st.binary(max_size=4096))
def test_arbitrary_bytes_are_not_a_root_file(tmp_path_factory, magic, data):
    path = tmp_path_factory.mktemp("f") / "x.root"
    path.write_bytes(magic + data)
    _read_event_file(path)


#: how a branch of the toy file is written: as the writer does, left out, another dtype
#: and per-event shape, or jagged (``var * float64``, a different length in every event)
BRANCHES = st.one_of(
    st.just("as written"),
    st.none(),
    st.tuples(
        st.sampled_from(["f4", "f8", "i4", "i8", "u1", "bool"]),
        st.sampled_from([(), (1,), (2,), (3,), (2, 2)]),
        # 1e300 (beyond float32) is test_a_value_beyond_float32_is_one_error's: here it
        # would overflow writing an f4 branch
        st.sampled_from([0.0, 1.5, -1.0, math.nan, math.inf, 1e30]),
    ),
    st.just("jagged"),
)
#: what ``surrogate_metadata`` holds: the real metadata with one entry mutated, any
#: text, nothing, or a tree instead of a string
METADATA = st.one_of(
    st.just("kept"),
    _mutations(),
    st.sampled_from(["absent", "a tree"]),
    st.text(max_size=40),
)
#: the branches as the writer makes them: (dtype, per-event shape, a value)
WRITTEN = {"x": ("f4", (2,), 1.5), "radius": ("f8", (), 2.5)}


@st.composite
def root_layouts(draw) -> dict:
    """The toy file's branches ``x`` float32[2] and ``radius`` float64 (and a stray one),
    each left out, retyped, reshaped or made jagged; the tree may be another object."""
    return {
        "n": draw(st.integers(0, 4)),
        "branches": {
            "x": draw(BRANCHES),
            "radius": draw(BRANCHES),
            "extra": draw(st.none() | BRANCHES),
        },
        "metadata": draw(METADATA),
        "tree": draw(st.sampled_from(["events", "events", "other", "a string"])),
    }


def _branch_data(name: str, how, n: int):
    """(the type ``mktree`` takes, the ``n`` entries ``extend`` takes) of a branch."""
    import awkward as ak
    import numpy as np

    if how == "jagged":
        return "var * float64", ak.Array([[0.5] * i for i in range(n)])
    dtype, shape, value = WRITTEN.get(name, WRITTEN["x"]) if how == "as written" else how
    if dtype[0] != "f":
        value = 0 if not math.isfinite(value) else int(max(0.0, min(value, 200.0)))
    return (np.dtype(dtype), shape), np.full((n, *shape), value).astype(dtype)


def _metadata_text(how, metadata: dict, n: int) -> str:
    if isinstance(how, tuple):
        return json.dumps(_mutate({**metadata, "n_events": n}, *how), allow_nan=True)
    return json.dumps({**metadata, "n_events": n}) if how == "kept" else how


def _write_root_layout(path, layout: dict, metadata: dict) -> None:
    import uproot

    n, meta = layout["n"], layout["metadata"]
    data = {k: _branch_data(k, v, n) for k, v in layout["branches"].items() if v is not None}
    with uproot.recreate(path) as f:
        if layout["tree"] == "a string":
            f["events"] = "not a tree"
        elif data:
            tree = f.mktree(layout["tree"], {k: t for k, (t, _) in data.items()})
            if n:
                tree.extend({k: v for k, (_, v) in data.items()})
        if meta == "a tree":
            f.mktree(METADATA_KEY, {"x": "f8"})
        elif meta != "absent":
            f[METADATA_KEY] = _metadata_text(meta, metadata, n)


def _read_root_layout(tmp_path_factory, root_file, layout: dict) -> None:
    """Write the layout, read it as the toolkit's own file and as a foreign one (with
    the spec given, as a Geant4 ntuple is read)."""
    from surrogate import EventSpec

    path = tmp_path_factory.mktemp("r") / "mutated.root"
    _write_root_layout(path, layout, root_file.metadata)
    _read_event_file(path)
    _read_event_file(path, EventSpec.from_dict(root_file.metadata["spec"]))


def _mutated_root_files_give_one_line_errors(tmp_path_factory, root_file, layout):
    _read_root_layout(tmp_path_factory, root_file, layout)


test_mutated_root_files_give_one_line_errors, test_mutated_root_files_long = fuzz_tests(
    _mutated_root_files_give_one_line_errors,
    root_layouts(),
)


def _load_config(folder, text: str) -> None:
    from surrogate.checkpoint import read_config

    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(text)
    try:
        read_config(folder)
    except Exception as exc:
        assert_one_line_error(exc)


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
        assert_one_line_error(exc)


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
        assert_one_line_error(exc)


def test_the_fuzzers_can_fail():
    """The property is not vacuous: an exception of another kind is caught out."""
    with pytest.raises(AssertionError, match="ValueError"):
        assert_one_line_error(ValueError("not ours"))
    with pytest.raises(AssertionError, match="several lines"):
        assert_one_line_error(SurrogateError("expected Chunk of length 320,\nreceived 0 bytes"))
