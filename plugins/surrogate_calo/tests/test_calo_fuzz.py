"""Property-based tests of the calorimeter plugin's readers: CaloChallenge and CaloGAN
HDF5 files, binning XMLs and detector YAMLs.  Whatever bytes or text they are given,
only the toolkit's own one-line errors come out (a ``SurrogateError``), never another
exception, a hang or an allocation of what a file merely claims.

The default run tries a few dozen inputs per reader; ``pytest -m slow`` a few thousand.
The core's readers are fuzzed the same way in ``tests/test_fuzz_readers.py``.
"""

from __future__ import annotations

import copy
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surrogate
from surrogate.errors import SurrogateError
from surrogate.testing import (
    FUZZ_EXAMPLES,
    assert_one_line_error,
    corrupt_bytes,
    corruption_strategies,
    fuzz_tests,
)
from surrogate_calo.geometry import DATA, GeometryError, load_geometry, parse_binning
from surrogate_calo.io import (
    inspect_challenge_file,
    open_challenge,
    read_calogan,
    read_challenge,
    write_calogan,
    write_challenge,
)

QUICK = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
CORRUPTION = corruption_strategies()
#: how long a refusal of a huge claim may take (what an allocation of it would not)
PROMPT_S = 2.0


def _refused_or_read(read: Callable[[], Any]) -> None:
    """Run a reader: it returns, or raises one of the toolkit's one-line errors."""
    try:
        read()
    except Exception as exc:
        assert_one_line_error(exc)


class Sample(NamedTuple):
    """A real file's bytes, shown short in a failing example."""

    data: bytes

    def __repr__(self) -> str:
        return f"<a file of {len(self.data)} bytes>"


def _raises(exc: Exception) -> Callable[[], None]:
    def read() -> None:
        raise exc

    return read


def test_the_fuzzers_can_fail():
    """The property is not vacuous: another exception type, or several lines, fail it."""
    with pytest.raises(AssertionError, match="KeyError"):
        _refused_or_read(_raises(KeyError("showers")))
    with pytest.raises(AssertionError, match="several lines"):
        _refused_or_read(_raises(GeometryError("not valid YAML (while parsing\n  in line 1)")))
    _refused_or_read(_raises(GeometryError("one line")))


# -- CaloChallenge files ---------------------------------------------------------------------
GEOMETRY = "test"  # 96 voxels, incident energies 1-100 GeV
N_VOXELS = 96


@pytest.fixture(scope="module")
def showers():
    return surrogate.simulator("calo.gflash", geometry=GEOMETRY).sample(6, seed=1)


@pytest.fixture(scope="module", params=["plain", "metadata"])
def challenge_file(request, tmp_path_factory, showers) -> Sample:
    """A challenge file as the challenge writes it (two datasets), or with our metadata."""
    path = tmp_path_factory.mktemp("calo") / "showers.h5"
    write_challenge(path, showers, GEOMETRY, metadata=request.param == "metadata")
    return Sample(path.read_bytes())


def _read_challenge(path: Path) -> None:
    """Every way the plugin reads a challenge file."""
    _refused_or_read(lambda: inspect_challenge_file(path, GEOMETRY))
    _refused_or_read(lambda: read_challenge(path, GEOMETRY))

    def batches() -> None:
        with open_challenge(path, GEOMETRY) as f:
            for _ in f.batches(4):
                pass

    _refused_or_read(batches)


def _corrupt_challenge_files(tmp_path_factory, challenge_file, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.h5"
    path.write_bytes(corrupt_bytes(challenge_file.data, cut, flips))
    _read_challenge(path)


test_corrupt_challenge_files, test_corrupt_challenge_files_long = fuzz_tests(
    _corrupt_challenge_files,
    *CORRUPTION,
)


#: a dataset's shape, in events ``n`` and voxels ``v``: right, off by one, flat, extra dims
SHAPES = st.sampled_from(
    [
        *[("n", 1), ("n", "v"), ("n",), ("n", "v+1"), ("n+1", 1), ("n", 1, 1), ("n", "v", 1)],
        *[(), ("n", 368), ("n", 2), (0, "v"), "empty"],
    ]
)
DTYPES = st.sampled_from(["f4", "f8", "i4", "u1", "bool", "c8", "S4"])
VALUES = st.sampled_from([1.0, 5e3, 0.0, -1.0, math.nan, math.inf, 1e9])
#: a dataset: left out, a group in its place, or (shape, dtype, value)
DATASETS = st.tuples(SHAPES, DTYPES, VALUES) | st.sampled_from([None, "a group"])


def _shape(tokens: tuple, n: int, v: int) -> tuple[int, ...]:
    sizes = {"n": n, "n+1": n + 1, "v": v, "v+1": v + 1}
    return tuple(sizes.get(t, t) for t in tokens)


def _write_dataset(f: h5py.File, name: str, how, n: int, v: int) -> None:
    """Write one dataset as ``how`` (see :data:`DATASETS`) says."""
    if how is None:
        return
    if how == "a group":
        f.create_group(name)
        return
    tokens, dtype, value = how
    if tokens == "empty":
        f.create_dataset(name, data=h5py.Empty(dtype if dtype != "S4" else "f4"))
        return
    with np.errstate(invalid="ignore", over="ignore"):  # NaN as an integer: anything
        data = np.full(_shape(tokens, n, v), value).astype(dtype)
    f.create_dataset(name, data=data, **({"compression": "gzip"} if data.ndim else {}))


@st.composite
def challenge_layouts(draw) -> dict:
    """The two datasets of a challenge file, each right or wrong in its own way, and the
    attributes: none (a real challenge file), ours, or ours with one damaged."""
    return {
        "n": draw(st.integers(0, 4)),
        "incident_energies": draw(st.just((("n", 1), "f8", 5e3)) | DATASETS),
        "showers": draw(st.just((("n", "v"), "f4", 1.0)) | DATASETS),
        "attrs": draw(st.sampled_from(["none", "ours", "damaged"])),
    }


@pytest.fixture(scope="module")
def our_attrs(tmp_path_factory, showers) -> dict:
    """The root attributes our writer adds (the metadata of a 6-event file)."""
    path = write_challenge(tmp_path_factory.mktemp("calo") / "ours.h5", showers, GEOMETRY)
    with h5py.File(path) as f:
        return dict(f.attrs)


def _write_challenge_layout(path: Path, layout: dict, attrs: dict) -> None:
    n = layout["n"]
    with h5py.File(path, "w") as f:
        for name in ("incident_energies", "showers"):
            _write_dataset(f, name, layout[name], n, N_VOXELS)
        if layout["attrs"] != "none":
            f.attrs.update({**attrs, "n_events": n})
        if layout["attrs"] == "damaged":
            f.attrs["spec"] = '{"fields": [{"name": "showers", "shape": [96]'


def _mutated_challenge_files(tmp_path_factory, our_attrs, layout):
    path = tmp_path_factory.mktemp("f") / "mutated.h5"
    _write_challenge_layout(path, layout, our_attrs)
    _read_challenge(path)


test_mutated_challenge_files, test_mutated_challenge_files_long = fuzz_tests(
    _mutated_challenge_files,
    challenge_layouts(),
)


def test_a_huge_claimed_challenge_file_is_not_read_into_memory(tmp_path):
    """A dataset that claims 2**40 events (chunked, nothing stored) is refused quickly."""
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("incident_energies", shape=(2**40, 1), dtype="f8", chunks=(1024, 1))
        f.create_dataset("showers", shape=(2**40, N_VOXELS), dtype="f4", chunks=(64, 96))
    start = time.monotonic()
    with pytest.raises(SurrogateError):
        read_challenge(path, GEOMETRY)
    assert time.monotonic() - start < PROMPT_S


# -- CaloGAN files ---------------------------------------------------------------------------
#: CaloGAN's layers (n_y, n_x)
CALOGAN_LAYERS = {"layer_0": (3, 96), "layer_1": (12, 12), "layer_2": (12, 6)}


@pytest.fixture(scope="module")
def calogan_file(tmp_path_factory) -> Sample:
    events = surrogate.simulator("calo.gflash", geometry="calogan").sample(4, seed=2)
    return Sample(write_calogan(tmp_path_factory.mktemp("calo") / "eplus.h5", events).read_bytes())


def _corrupt_calogan_files(tmp_path_factory, calogan_file, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.h5"
    path.write_bytes(corrupt_bytes(calogan_file.data, cut, flips))
    _refused_or_read(lambda: read_calogan(path))


test_corrupt_calogan_files, test_corrupt_calogan_files_long = fuzz_tests(
    _corrupt_calogan_files,
    *CORRUPTION,
)


#: a CaloGAN array's shape: right (``g`` is the layer's grid), or not
CALOGAN_SHAPES = st.sampled_from(
    [("n", "g"), ("n",), ("n", 1), ("n+1", "g"), ("n", "g", 1), (), ("g",), "empty"]
)
CALOGAN_DATASETS = st.tuples(CALOGAN_SHAPES, DTYPES, VALUES) | st.sampled_from([None, "a group"])


@st.composite
def calogan_layouts(draw) -> dict:
    right = {"energy": (("n",), "f8", 50.0)} | {k: (("n", "g"), "f4", 1.0) for k in CALOGAN_LAYERS}
    return {
        "n": draw(st.integers(0, 3)),
        **{k: draw(st.just(v) | CALOGAN_DATASETS) for k, v in right.items()},
    }


def _write_calogan_layout(path: Path, layout: dict) -> None:
    n = layout["n"]
    with h5py.File(path, "w") as f:
        for name in ("energy", *CALOGAN_LAYERS):
            how = layout[name]
            if isinstance(how, tuple) and isinstance(how[0], tuple) and "g" in how[0]:
                grid = CALOGAN_LAYERS.get(name, (2,))
                i = how[0].index("g")
                how = (how[0][:i] + grid + how[0][i + 1 :], *how[1:])
            _write_dataset(f, name, how, n, 0)


def _mutated_calogan_files(tmp_path_factory, layout):
    path = tmp_path_factory.mktemp("f") / "mutated.h5"
    _write_calogan_layout(path, layout)
    _refused_or_read(lambda: read_calogan(path))


test_mutated_calogan_files, test_mutated_calogan_files_long = fuzz_tests(
    _mutated_calogan_files,
    calogan_layouts(),
)


def test_a_huge_claimed_calogan_file_is_not_read_into_memory(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("energy", shape=(2**40,), dtype="f8", chunks=(1024,))
        for name, grid in CALOGAN_LAYERS.items():
            f.create_dataset(name, shape=(2**40, *grid), dtype="f4", chunks=(16, *grid))
    start = time.monotonic()
    with pytest.raises(SurrogateError):
        read_calogan(path)
    assert time.monotonic() - start < PROMPT_S


# -- Geant4 ROOT ntuples --------------------------------------------------------------------
#: a Par04-style ntuple: one entry per hit, indices of layer, alpha and r
HITS = {"energy": "EnergyCell", "layer": "zCell", "alpha": "phiCell", "r": "rhoCell"}


@pytest.fixture(scope="module")
def par04_file(tmp_path_factory) -> Sample:
    import awkward as ak
    import uproot

    path = tmp_path_factory.mktemp("calo") / "par04.root"
    with uproot.recreate(path) as f:
        f["global"] = {
            "EnergyMC": np.array([5e3, 6e3, 7e3]),
            "EnergyCell": ak.Array([[1.0, 2.0, 0.5], [3.0], []]),
            "zCell": ak.Array([[0, 2, 0], [5], []]),
            "phiCell": ak.Array([[0, 3, 0], [1], []]),
            "rhoCell": ak.Array([[0, 1, 0], [3], []]),
        }
        f.mktree("dense", {"vox": (np.float32, (N_VOXELS,)), "e": np.float64})
        f["dense"].extend({"vox": np.ones((3, N_VOXELS), np.float32), "e": np.full(3, 5e3)})
    return Sample(path.read_bytes())


def _read_ntuple(path: Path) -> None:
    """The ntuple read sparse (hits) and dense (one array branch)."""
    from surrogate_calo.io import read_root

    _refused_or_read(lambda: read_root(path, GEOMETRY, tree="global", energy="EnergyMC", hits=HITS))
    _refused_or_read(lambda: read_root(path, GEOMETRY, tree="dense", energy="e", voxels="vox"))


def _corrupt_geant4_ntuples(tmp_path_factory, par04_file, cut, flips):
    path = tmp_path_factory.mktemp("f") / "bad.root"
    path.write_bytes(corrupt_bytes(par04_file.data, cut, flips))
    _read_ntuple(path)


test_corrupt_geant4_ntuples, test_corrupt_geant4_ntuples_long = fuzz_tests(
    _corrupt_geant4_ntuples,
    *CORRUPTION,
    examples=(
        (0.6, []),  # a basket cut off: uproot's OSError of three lines, read in _read_hits
        (0.07317651073261923, [(0.79296875, 128)]),  # a tree named "\udc80ense": unprintable
    ),
)


# -- binning XML -----------------------------------------------------------------------------
BINNINGS = sorted(DATA.glob("binning_*.xml"))
#: attribute values a binning might hold: numbers of every kind, lists, garbage
XML_VALUES = st.sampled_from(
    [
        *["", "abc", "-1", "0", "1", "4", "nan", "inf", "1e12", "1" * 40, "0x10", "4.5"],
        *["0,1,1", "0,-1", "1,2", "0,,5", " 0 , 4.5 ", "0,4,nan", "0," + "1" * 400],
    ]
)
XML_ATTRS = st.sampled_from(["id", "r_edges", "n_bin_alpha", "name", "pid", "etaMin", "etaMax"])
XML_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["set", "unset", "drop", "duplicate", "nest", "rename", "add a bin"]),
        st.integers(0, 200),
        XML_ATTRS,
        XML_VALUES,
    ),
    max_size=4,
)


def _mutate_xml(root: ET.Element, how: str, at: int, attr: str, value: str) -> None:
    """One change to the element ``at`` (modulo their number) of a binning tree."""
    parents = {child: parent for parent in root.iter() for child in parent}
    elements = list(root.iter())
    target = elements[at % len(elements)]
    parent = parents.get(target)
    if how == "set":
        target.set(attr, value)
    elif how == "unset":
        target.attrib.pop(attr, None)
    elif how == "drop" and parent is not None:
        parent.remove(target)
    elif how == "duplicate" and parent is not None:
        parent.insert(list(parent).index(target), copy.deepcopy(target))
    elif how == "nest":
        target.append(copy.deepcopy(elements[-1]))
    elif how == "rename":
        target.tag = {"Bins": "Bin", "Bin": "Layer", "Layer": "Bins"}.get(target.tag, value or "X")
    elif how == "add a bin":
        root.append(ET.Element("Bin", {"name": value, attr: value}))


def _parse_binning_file(path: Path, particle: str | None) -> None:
    _refused_or_read(lambda: parse_binning(path, particle))


def _mutated_binnings(tmp_path_factory, source, mutations, particle):
    root = ET.parse(source).getroot()
    name = root.find("Bin").get("name")
    for mutation in mutations:
        _mutate_xml(root, *mutation)
    path = tmp_path_factory.mktemp("b") / "binning.xml"
    path.write_bytes(ET.tostring(root))
    _parse_binning_file(path, name if particle == "real" else particle)


test_mutated_binnings, test_mutated_binnings_long = fuzz_tests(
    _mutated_binnings,
    st.sampled_from(BINNINGS),
    XML_MUTATIONS,
    st.sampled_from([None, "real", "nope"]),
    examples=(
        (BINNINGS[0], [("set", 1, "etaMin", "abc")], None),  # was a ValueError of float()
        (BINNINGS[0], [("set", 2, "n_bin_alpha", "1" * 40)], None),  # 10^40 voxels
    ),
)


@QUICK
@given(st.sampled_from(BINNINGS), *CORRUPTION)
def test_corrupt_binnings(tmp_path_factory, source, cut, flips):
    path = tmp_path_factory.mktemp("b") / "binning.xml"
    path.write_bytes(corrupt_bytes(source.read_bytes(), cut, flips))
    _parse_binning_file(path, None)


@QUICK
@given(st.text(max_size=300))
def test_arbitrary_text_as_a_binning(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("b") / "binning.xml"
    path.write_text(text, encoding="utf-8")
    _parse_binning_file(path, None)
    _refused_or_read(lambda: parse_binning("given", text=text))


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE Bins [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + ']><Bins><Bin name="&i;"><Layer id="0" r_edges="0,1" n_bin_alpha="1"/></Bin></Bins>'
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE Bins [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<Bins><Bin name="e">&x;<Layer id="0" r_edges="0,1" n_bin_alpha="1"/></Bin></Bins>'
)
EXTERNAL_DTD = (
    '<?xml version="1.0"?><!DOCTYPE Bins SYSTEM "http://example.invalid/bins.dtd">'
    '<Bins><Bin name="e"><Layer id="0" r_edges="0,1" n_bin_alpha="1"/></Bin></Bins>'
)


@pytest.mark.parametrize("payload", [LAUGHS, XXE, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_entity_payloads_are_refused(tmp_path, payload):
    """A binning has no DOCTYPE: one (entity expansion, an external entity or DTD) is
    refused before any entity is declared, read or expanded."""
    path = tmp_path / "binning.xml"
    path.write_text(payload)
    start = time.monotonic()
    with pytest.raises(GeometryError, match="DOCTYPE"):
        parse_binning(path)
    with pytest.raises(GeometryError, match="DOCTYPE"):
        parse_binning("given", text=payload)
    assert time.monotonic() - start < PROMPT_S


@pytest.mark.parametrize(
    "layers",
    [
        '<Layer id="0" r_edges="0,1,2" n_bin_alpha="1000000000000"/>',
        '<Layer id="0" r_edges="0,1,2" n_bin_alpha="1' + "0" * 30 + '"/>',
        f'<Layer id="0" r_edges="{",".join(map(str, range(200_000)))}" n_bin_alpha="1000"/>',
    ],
    ids=["alpha", "overflow", "edges"],
)
def test_a_huge_claimed_binning_is_refused(layers):
    """2e12, 2e30 or 2e8 voxels are refused from the counts alone, without building
    anything of that size."""
    start = time.monotonic()
    with pytest.raises(GeometryError, match="voxels"):
        parse_binning("given", text=f'<Bins><Bin name="e">{layers}</Bin></Bins>')
    assert time.monotonic() - start < PROMPT_S


def test_a_huge_binning_file_is_not_read(tmp_path):
    path = tmp_path / "binning.xml"
    with open(path, "wb") as fh:  # a sparse file: no disk is used
        fh.truncate(2**33)
    start = time.monotonic()
    with pytest.raises(GeometryError, match="bytes"):
        parse_binning(path)
    assert time.monotonic() - start < PROMPT_S


# -- detector YAML ---------------------------------------------------------------------------
DETECTORS = sorted(DATA.glob("*.yaml"))
#: the keys of detector files (and of their stack, depth and layer entries)
YAML_KEYS = [
    *("name", "binning", "particle", "cartesian_layers", "stack", "depth"),
    *("energy_range_mev", "energy_prior", "discrete_energies_mev", "cut_mev"),
    *("readout_threshold_mev", "stochastic_term", "challenge", "expected_voxels"),
    *("absorber", "active", "material", "thickness_mm", "unit", "front", "thickness"),
    *("layers", "n_x", "n_y", "width_mm", "height_mm", "values", "weights", "z", "density"),
]
YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from([10**12, 10**9, -1, 0, 1e308, "W", "X0", "mm", "1-photons"])
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
YAML_MUTATIONS = st.lists(
    st.tuples(
        st.lists(st.sampled_from(YAML_KEYS) | st.integers(0, 3), min_size=1, max_size=3),
        YAML_VALUES,
        st.sampled_from(["set", "delete", "rename"]),
    ),
    min_size=1,
    max_size=3,
)


def _detector(source: Path) -> dict:
    """A built-in detector file's description, its binning path made absolute."""
    data = yaml.safe_load(source.read_text())
    if "binning" in data:
        data["binning"] = str(DATA / data["binning"])
    return data


def _mutate_yaml(data: Any, path: list, value: Any, how: str) -> None:
    """Set, delete or rename the entry at ``path`` (keys, or list positions modulo the
    length), as deep as the tree goes."""
    node = data
    for key in path[:-1]:
        child = _child(node, key)
        if not isinstance(child, (dict, list)):
            break
        node = child
    key = path[-1]
    if isinstance(node, list):
        if not node or not isinstance(key, int):
            return
        key %= len(node)
    elif not isinstance(node, dict):
        return
    if how == "set":
        node[key] = value
    elif how == "delete" and isinstance(node, list):
        del node[key]
    elif how == "delete":
        node.pop(key, None)
    elif isinstance(node, dict) and key in node:
        node[str(value)[:12]] = node.pop(key)


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and node and isinstance(key, int):
        return node[key % len(node)]
    return None


def _load_detector(path: Path) -> None:
    """Load a detector file; a geometry it gives must be usable (its voxels' coordinates
    and its summary computed), not only built."""

    def load() -> None:
        geometry = load_geometry(path)
        assert geometry.coordinates["r"].shape == (geometry.n_voxels,)
        geometry.summary()

    _refused_or_read(load)


def _mutated_detector_files(tmp_path_factory, source, mutations):
    data = _detector(source)
    for mutation in mutations:
        _mutate_yaml(data, *mutation)
    path = tmp_path_factory.mktemp("d") / "detector.yaml"
    path.write_text(yaml.safe_dump(data))
    _load_detector(path)


test_mutated_detector_files, test_mutated_detector_files_long = fuzz_tests(
    _mutated_detector_files,
    st.sampled_from(DETECTORS),
    YAML_MUTATIONS,
)


#: YAML a detector file must not be able to use: tags that run code or build objects,
#: aliases that multiply, recursion, nesting deeper than a parser recurses
YAML_PAYLOADS = st.sampled_from(
    [
        '!!python/object/apply:os.system ["true"]',
        "!!python/name:os.system",
        "!!python/object:surrogate_calo.Geometry {}",
        "*undefined",
        "&a [*a, *a]",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "2001-12-14t21:59:43.10-05:00",
        "[" * 2000 + "]" * 2000,
        "{a: 1, a: 2}",
        ".nan",
        "-.inf",
        "0x7fffffffffffffffffffffff",
        "~",
        "[]",
        "{}",
        "!!str",
        "? [1, 2]\n  : x",
    ]
)


@QUICK
@given(st.sampled_from(DETECTORS), st.integers(0, 100), YAML_PAYLOADS | st.text(max_size=30))
def test_yaml_payloads_in_detector_files(tmp_path_factory, source, line, payload):
    """A payload in place of the value (or of the whole line) of one line."""
    lines = [ln for ln in source.read_text().splitlines() if ln and not ln.startswith("#")]
    i = line % len(lines)
    key, sep, _ = lines[i].partition(":")
    lines[i] = f"{key}: {payload}" if sep and line % 3 else payload
    path = tmp_path_factory.mktemp("d") / source.name
    path.write_text("\n".join(lines))
    for binning in DATA.glob("binning_*.xml"):
        (path.parent / binning.name).write_bytes(binning.read_bytes())
    _load_detector(path)


@QUICK
@given(st.binary(max_size=300))
def test_arbitrary_bytes_as_a_detector_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("d") / "detector.yaml"
    path.write_bytes(data)
    _load_detector(path)


ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    + ["name: *i", "description: *i"]
)


@pytest.mark.parametrize(
    "text",
    [
        ALIAS_BOMB,
        "name: big\ncartesian_layers:\n  - {n_x: 1000000000, n_y: 1000, width_mm: 1, height_mm: 1}",
        "name: big\ncartesian_layers:\n  - {n_x: 100000000000000000000, n_y: 1, width_mm: 1,"
        " height_mm: 1}",
    ],
    ids=["aliases", "cells", "overflow"],
)
def test_a_huge_claimed_detector_is_refused(tmp_path, text):
    """10^9 nested aliases, 10^12 cells: refused from the counts, quickly."""
    base = "stack: {active: {material: Si, thickness_mm: 1}}\ndepth: {thickness: 1}\n"
    path = tmp_path / "big.yaml"
    path.write_text(base + "energy_range_mev: [1000, 2000]\n" + text)
    start = time.monotonic()
    with pytest.raises(GeometryError):
        load_geometry(path)
    assert time.monotonic() - start < PROMPT_S


def test_a_huge_detector_file_is_not_read(tmp_path):
    path = tmp_path / "detector.yaml"
    with open(path, "wb") as fh:
        fh.truncate(2**33)
    start = time.monotonic()
    with pytest.raises(GeometryError, match="bytes"):
        load_geometry(path)
    assert time.monotonic() - start < PROMPT_S
