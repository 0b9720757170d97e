"""Event files: HDF5 layouts and metadata, chunked streaming, atomic writes, ROOT TTrees."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import uproot

from surrogate import Condition, EventFileError, Events, EventSpec, Field, SpecError
from surrogate.io import (
    EventFile,
    EventWriter,
    make_metadata,
    open_events,
    read_events,
    write_events,
    write_root,
)
from surrogate.io.metadata import decode

TOY = EventSpec(
    (Field("x", (2,), "float32"), Field("t", (), "float64", "ns")),
    (Condition("radius", "", 1.0, 4.0),),
)


def events(spec: EventSpec, n: int, seed: int = 0) -> Events:
    rng = np.random.default_rng(seed)
    fields = {
        f.name: np.abs(rng.standard_normal((n, *f.shape))).astype(f.dtype) for f in spec.fields
    }
    return Events(fields, spec.resolve_conditions(n, None, rng), spec)


@pytest.fixture
def cols(column_layout):
    """A spec of a domain layout (registered by a test plugin): conditions stored (N, 1)."""
    return EventSpec(
        (Field("hits", (6,), "float32", "MeV", low=0.0),),
        (Condition("energy", "MeV", 1e3, 1e6, prior="loguniform"),),
        layout="test.columns",
    )


def meta(spec: EventSpec, **kw):
    return make_metadata(spec, producer="test.sim", seed=3, options={"geometry": "tiny"}, **kw)


def test_a_plugin_layout_decides_the_datasets(tmp_path, cols):
    ev = events(cols, 50)
    path = write_events(tmp_path / "cols.h5", ev, meta(cols))
    with h5py.File(path) as f:
        assert set(f) == {"energy", "hits"}
        assert f["energy"].shape == (50, 1)
        assert f["hits"].shape == (50, 6)
        assert f["hits"].compression == "gzip"
        assert f["hits"].chunks is not None
        np.testing.assert_array_equal(f["energy"][:, 0], ev["energy"])
    back = read_events(path)
    np.testing.assert_array_equal(back["hits"], ev["hits"])
    assert back.spec == cols


def test_a_layout_refuses_a_spec_it_cannot_store(column_layout):
    with pytest.raises(SpecError, match="test.columns layout needs exactly the fields"):
        EventSpec((Field("x", (6,)),), (Condition("energy"),), layout="test.columns")


def test_default_layout_and_metadata(tmp_path):
    ev = events(TOY, 30)
    path = write_events(tmp_path / "toy.h5", ev, meta(TOY, conditions={"radius": 2.0}))
    with h5py.File(path) as f:
        assert set(f) == {"x", "t", "radius"}
        assert f["radius"].shape == (30,)
        md = decode(dict(f.attrs), "test")  # schema-checked
    assert md["n_events"] == 30 and md["seed"] == 3 and md["producer"] == "test.sim"
    assert md["options"] == {"geometry": "tiny"} and md["conditions"] == {"radius": 2.0}
    assert md["units"]["t"] == "ns"
    back = read_events(path)
    for k in ("x", "t", "radius"):
        np.testing.assert_array_equal(back[k], ev[k])


def test_written_and_read_in_batches(tmp_path):
    path = tmp_path / "big.h5"
    parts = [events(TOY, 1000, seed=i) for i in range(7)]
    with EventWriter(path, TOY, meta(TOY)) as writer:
        for part in parts:
            writer.write(part)
            assert not path.exists()  # only the temporary file exists while writing
    with EventFile(path) as f:
        assert len(f) == 7000
        batches = list(f.batches(2048))
    assert [len(b) for b in batches] == [2048, 2048, 2048, 856]
    np.testing.assert_array_equal(Events.concatenate(batches)["x"], Events.concatenate(parts)["x"])


def test_interrupted_write_leaves_no_file(tmp_path):
    path = tmp_path / "out.h5"
    with pytest.raises(RuntimeError), EventWriter(path, TOY, meta(TOY)) as writer:
        writer.write(events(TOY, 10))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_bad_batch_writes_nothing(tmp_path):
    path = tmp_path / "out.h5"
    bad = events(TOY, 10)
    bad.fields["x"][3, 1] = np.nan
    with pytest.raises(SpecError, match="'x' has NaN"), EventWriter(path, TOY, meta(TOY)) as w:
        w.write(bad)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_survives_a_failed_overwrite(tmp_path):
    path = write_events(tmp_path / "keep.h5", events(TOY, 5), meta(TOY))
    before = path.read_bytes()
    with pytest.raises(RuntimeError), EventWriter(path, TOY, meta(TOY)):
        raise RuntimeError("killed")
    assert path.read_bytes() == before


def test_not_hdf5_truncated_and_missing(tmp_path):
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(EventFileError, match="not an HDF5 file"):
        open_events(tmp_path / "text.h5")
    good = write_events(tmp_path / "good.h5", events(TOY, 2000), meta(TOY))
    (tmp_path / "cut.h5").write_bytes(good.read_bytes()[:4000])
    with pytest.raises(EventFileError, match="truncated"):
        read_events(tmp_path / "cut.h5")
    with pytest.raises(EventFileError, match="no such file"):
        open_events(tmp_path / "absent.h5")


def test_foreign_file_needs_a_spec_and_the_right_shapes(tmp_path, cols):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:  # as another tool writes them: no metadata
        f["energy"] = np.full((4, 1), 2048.0)
        f["hits"] = np.ones((4, 6))
    with pytest.raises(EventFileError, match="give the event spec"):
        open_events(path)
    assert len(read_events(path, spec=cols)) == 4
    other = EventSpec((Field("hits", (7,)),), cols.conditions, layout="test.columns")
    with pytest.raises(EventFileError, match="'hits' has shape \\(4, 6\\), expected \\(N, 7\\)"):
        open_events(path, spec=other)


def test_metadata_must_match_the_schema(tmp_path):
    path = write_events(tmp_path / "x.h5", events(TOY, 3), meta(TOY))
    with h5py.File(path, "a") as f:
        f.attrs["n_events"] = -1
    with pytest.raises(EventFileError, match="n_events"):
        open_events(path)


def test_root_round_trip_is_a_ttree(tmp_path):
    ev = events(TOY, 300)
    path = write_root(tmp_path / "toy.root", ev, TOY, meta(TOY))
    with uproot.open(path) as f:
        assert f["events"].classname == "TTree"
        assert set(f["events"].keys()) == {"x", "t", "radius"}
    back = read_events(path)
    for k in ("x", "t", "radius"):
        np.testing.assert_array_equal(back[k], ev[k])
    assert open_events(path).metadata["n_events"] == 300


def test_root_ntuple_with_branch_mapping(tmp_path, cols):
    path = tmp_path / "g4.root"
    rng = np.random.default_rng(1)
    cells = {f"cell{i}": rng.uniform(0, 1, 20) for i in range(6)}
    with uproot.recreate(path) as f:
        f.mktree("hits", {**{k: "f8" for k in cells}, "E0": "f8"})
        f["hits"].extend({**cells, "E0": np.full(20, 5.0)})
    ev = read_events(
        path,
        cols,
        tree="hits",
        branches={"hits": [f"cell{i}" for i in range(6)], "energy": "E0"},
        scale={"hits": 1000.0, "energy": 1000.0},  # GeV -> MeV
    )
    np.testing.assert_allclose(ev["hits"][:, 2], 1000 * cells["cell2"], rtol=1e-6)
    assert (ev["energy"] == 5000.0).all()
    with pytest.raises(EventFileError, match="no branch 'nope'"):
        open_events(path, cols, tree="hits", branches={"hits": "nope"})


def test_conditions_are_read_without_the_fields(tmp_path, monkeypatch):
    """Recording a model's training conditions reads only the condition datasets."""
    from surrogate.io import EventFile
    from surrogate.trained_conditions import condition_batches

    ev = events(TOY, 500)
    path = write_events(tmp_path / "toy.h5", ev, meta(TOY))
    with open_events(path) as reader:
        monkeypatch.setattr(EventFile, "__getitem__", None)  # a field read would fail
        rows = np.concatenate(list(condition_batches(reader, TOY)))
        np.testing.assert_array_equal(rows[:, 0], ev["radius"])
        assert reader.read_conditions(slice(10, 20))["radius"].shape == (10,)


def test_a_file_claiming_more_events_than_it_stores_is_refused(tmp_path):
    """A header claiming 2**40 events over chunks never written (an interrupted write, a
    forged file) is refused at once, not read as fill values for ever."""
    import time

    import surrogate

    real = surrogate.simulate("toy.gmm2d", 10, tmp_path / "real.h5", seed=0)
    forged = tmp_path / "forged.h5"
    with h5py.File(real) as src, h5py.File(forged, "w") as f:
        f.attrs.update(dict(src.attrs))
        f.attrs["n_events"] = 2**40
        f.create_dataset("x", (2**40, 2), "f4", chunks=(4096, 2))
    t0 = time.perf_counter()
    with pytest.raises(EventFileError, match=r"dataset 'x' of shape .* stores 0 of its"):
        open_events(forged)
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize("suffix", [".h5", ".root"])
def test_a_bad_value_is_named_by_its_event_in_the_file(tmp_path, suffix):
    """A slice read from the middle of a file counts events from the file's start."""
    import surrogate
    from surrogate.io.root import METADATA_KEY

    path = surrogate.simulate("toy.gmm2d", 100, tmp_path / f"toy{suffix}", seed=0)
    if suffix == ".h5":
        with h5py.File(path, "a") as f:
            f["x"][77, 1] = np.nan
    else:
        with uproot.open(path) as f:
            meta, x = str(f[METADATA_KEY]), f["events"]["x"].array(library="np")
        x[77, 1] = np.nan
        with uproot.recreate(path) as f:
            f.mktree("events", {"x": (x.dtype, (2,))}).extend({"x": x})
            f[METADATA_KEY] = meta
    with open_events(path) as f, pytest.raises(SpecError, match=r"the first: event 77\b"):
        f[60:90]
