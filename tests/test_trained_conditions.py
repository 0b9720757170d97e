"""A model draws, by default, from the conditions it was trained on: recorded by
``Surrogate.fit`` for every family, saved with the weights, shown in the card, recorded in
the files it writes, and conditional on the conditions given where the record is exact."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import surrogate
from surrogate import CheckpointError, Condition, Events, EventSpec, Field, SpecError
from surrogate import trained_conditions as tc
from surrogate.generation import Execution, Source, generate_to_file
from surrogate.io import open_events, read_events, write_events
from surrogate.io.metadata import make_metadata
from surrogate.schemas import validate as validate_schema
from surrogate_baseline.gaussian import GaussianSurrogate

SPEC = EventSpec(
    fields=(Field("x", (2,)),),
    conditions=(
        Condition("energy", "GeV", 1.0, 100.0, prior="loguniform"),
        Condition("angle", "rad", 0.0, 1.0),
    ),
)
#: (energy, angle) pairs of a dataset with fixed settings, and their shares
PAIRS = np.array([[2.0, 0.1], [2.0, 0.3], [10.0, 0.5], [50.0, 0.9]])
SHARES = np.array([0.1, 0.3, 0.2, 0.4])


def discrete_events(n: int = 4000, seed: int = 0) -> Events:
    rng = np.random.default_rng(seed)
    rows = PAIRS[rng.choice(len(PAIRS), size=n, p=SHARES)]
    x = rng.normal(size=(n, 2)) + rows[:, :1]
    return Events({"x": x}, {"energy": rows[:, 0], "angle": rows[:, 1]}, SPEC)


def continuous_events(n: int = 3000, seed: int = 0) -> Events:
    rng = np.random.default_rng(seed)
    energy, angle = rng.uniform(1, 100, n), rng.uniform(0, 1, n)
    return Events({"x": rng.normal(size=(n, 2))}, {"energy": energy, "angle": angle}, SPEC)


def fit(events: Events, seed: int = 0) -> GaussianSurrogate:
    return GaussianSurrogate().fit(events, seed=seed)


def shares(conditions, pairs=PAIRS):
    rows = np.stack([conditions["energy"], conditions["angle"]], axis=1)
    return np.array([np.mean(np.all(rows == p, axis=1)) for p in pairs])


# -- recording -------------------------------------------------------------------------------
def test_few_distinct_values_are_recorded_exactly_and_drawn_with_their_shares():
    events = discrete_events()
    model = fit(events)
    record = model.trained_conditions
    assert record is not None and record.exact and record.n_events == 4000
    np.testing.assert_array_equal(record.rows, PAIRS)
    assert record.counts.sum() == 4000
    drawn = model.sample(20_000, seed=1).conditions
    assert shares(drawn).sum() == 1.0  # only the trained pairs
    np.testing.assert_allclose(shares(drawn), record.counts / 4000, atol=0.015)


def test_many_distinct_values_are_recorded_as_a_subsample_of_the_data(monkeypatch):
    monkeypatch.setattr(tc, "SUBSAMPLE", 500)
    events = continuous_events()
    record = fit(events, seed=3).trained_conditions
    assert record is not None and not record.exact and record.rows.shape == (500, 2)
    trained = set(map(tuple, events.condition_matrix().tolist()))
    assert set(map(tuple, record.rows.tolist())) <= trained  # rows of the training data
    assert len(set(map(tuple, record.rows.tolist()))) == 500  # without replacement
    # a property of the data: the same for another fit seed (and for a resumed fit)
    np.testing.assert_array_equal(fit(events, seed=4).trained_conditions.rows, record.rows)
    other = continuous_events(seed=1)
    assert not np.array_equal(fit(other, seed=3).trained_conditions.rows, record.rows)
    drawn = fit(events, seed=3).sample(2000, seed=0).conditions
    assert set(zip(drawn["energy"], drawn["angle"], strict=True)) <= trained


def test_a_file_is_read_in_bounded_batches_with_the_same_record(tmp_path, monkeypatch):
    monkeypatch.setattr(tc, "SUBSAMPLE", 300)
    events = continuous_events(2000)
    path = write_events(tmp_path / "train.h5", events, make_metadata(SPEC, producer="test"))
    in_memory = fit(events, seed=5).trained_conditions
    seen = []
    batches = tc.condition_batches
    monkeypatch.setattr(tc, "READ_BYTES", 8 * 128)  # 128 events of 8 bytes at a time
    monkeypatch.setattr(
        tc, "condition_batches", lambda *a, **k: (seen.append(len(b)) or b for b in batches(*a))
    )
    from_file = GaussianSurrogate().fit(path, seed=5).trained_conditions
    assert max(seen) == 128 and sum(seen) == 2000
    np.testing.assert_array_equal(from_file.rows, in_memory.rows)  # whatever the batches


def test_unconditional_models_record_nothing(toy):
    model = surrogate.surrogate("gaussian").fit(toy.sample(200, seed=0))
    assert model.trained_conditions is None


# -- partial conditions ------------------------------------------------------------------------
def test_given_conditions_draw_the_others_from_matching_rows():
    model = fit(discrete_events())
    some = model.sample(4000, {"energy": 2.0}, seed=2).conditions
    assert set(np.unique(some["angle"])) == {0.1, 0.3}
    assert abs(np.mean(some["angle"] == 0.3) - 0.75) < 0.03  # 0.3 of 0.4 at 2 GeV
    assert set(np.unique(model.sample(50, {"energy": 50.0}, seed=2)["angle"])) == {0.9}
    # per event: each draws from the rows of its own energy
    energy = np.array([2.0, 10.0, 50.0] * 100)
    mixed = model.sample(300, {"energy": energy}, seed=2).conditions
    assert np.all(np.isin(mixed["angle"][energy == 10.0], [0.5]))
    assert np.all(np.isin(mixed["angle"][energy == 2.0], [0.1, 0.3]))


def test_values_matching_no_row_draw_the_others_from_the_marginal():
    model = fit(discrete_events())
    drawn = model.sample(4000, {"energy": 7.0}, seed=2).conditions
    angles, counts = np.unique(drawn["angle"], return_counts=True)
    np.testing.assert_array_equal(angles, PAIRS[:, 1])
    np.testing.assert_allclose(counts / 4000, SHARES, atol=0.03)


def test_a_subsample_draws_the_others_from_its_marginal(monkeypatch):
    monkeypatch.setattr(tc, "SUBSAMPLE", 400)
    model = fit(continuous_events())
    drawn = model.sample(1000, {"energy": 3.0}, seed=2).conditions
    assert np.all(drawn["energy"] == 3.0)
    assert set(drawn["angle"]) <= set(model.trained_conditions.rows[:, 1])


def test_conditions_outside_the_valid_range_are_still_refused():
    model = fit(discrete_events())
    with pytest.raises(SpecError, match="condition 'energy' has values above 100"):
        model.sample(5, {"energy": 500.0}, seed=0)


def test_zero_events():
    model = fit(discrete_events())
    assert len(model.sample(0, seed=0)) == 0
    assert len(model.sample(0, {"energy": 2.0}, seed=0)) == 0


# -- the model directory -----------------------------------------------------------------------
def test_saved_with_the_weights_checked_and_shown_in_the_card(tmp_path):
    model = fit(discrete_events())
    path = model.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    assert validate_schema(config, "model-config") == []
    record = config["training_conditions"]
    assert record["kind"] == "exact" and record["rows"] == 4 and record["n_events"] == 4000
    card = (path / "README.md").read_text()
    assert "## Conditions when none are given" in card
    assert "| energy | angle | share | events |" in card and "| 50 | 0.9 |" in card
    loaded = surrogate.load(path)
    np.testing.assert_array_equal(loaded.trained_conditions.rows, PAIRS)
    a, b = model.sample(500, seed=9), loaded.sample(500, seed=9)
    np.testing.assert_array_equal(a["energy"], b["energy"])
    np.testing.assert_array_equal(a["x"], b["x"])


def test_the_card_of_a_subsample_gives_its_range(tmp_path, monkeypatch):
    monkeypatch.setattr(tc, "SUBSAMPLE", 100)
    card = (fit(continuous_events()).save(tmp_path / "m") / "README.md").read_text()
    assert "a uniform random subsample of 100 of its 3000 events" in card
    assert "| condition | min | max |" in card


def test_a_model_saved_before_the_record_loads_and_uses_the_priors(tmp_path):
    model = fit(discrete_events())
    model.trained_conditions = None  # what a directory of an earlier version holds
    path = model.save(tmp_path / "old")
    config = json.loads((path / "config.json").read_text())
    assert "training_conditions" not in config
    assert "records no distribution" in (path / "README.md").read_text()
    loaded = surrogate.load(path)
    assert loaded.trained_conditions is None
    drawn = loaded.sample(200, seed=0)["energy"]
    assert len(np.unique(drawn)) == 200  # log-uniform over [1, 100], not the 3 trained energies


def test_a_plugin_may_not_use_the_reserved_state_prefix(tmp_path):
    class Clash(GaussianSurrogate):
        def _state(self):
            return {**super()._state(), "__surrogate__.conditions.rows": np.zeros(1)}

    model = Clash().fit(discrete_events(200))
    with pytest.raises(CheckpointError, match="reserves for its own arrays"):
        model.save(tmp_path / "m")


def test_a_malformed_record_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="rows of shape"):
        tc.TrainedConditions.from_state({"rows": np.zeros((3, 5)), "n_events": 3}, SPEC)


# -- files written by a model ------------------------------------------------------------------
def test_the_file_says_its_conditions_were_drawn_from_the_training_record(tmp_path):
    model = fit(discrete_events())
    path = generate_to_file(model, 100, tmp_path / "gen.h5", seed=1, progress=False)
    with open_events(path) as f:
        recorded = f.metadata["conditions"]
    assert recorded == {
        "energy": "drawn from the model's training conditions (4 distinct values of 4000 events)",
        "angle": "drawn from the model's training conditions (4 distinct values of 4000 events)",
    }
    path = generate_to_file(model, 10, tmp_path / "g2.h5", conditions={"energy": 2.0}, seed=1)
    with open_events(path) as f:
        assert f.metadata["conditions"]["energy"] == 2.0
        assert f.metadata["conditions"]["angle"].endswith("events), given the others")


def test_drawn_conditions_do_not_depend_on_the_workers(tmp_path):
    model = fit(discrete_events())
    model.save(tmp_path / "model")
    for workers in (1, 2):
        generate_to_file(
            Source.model(tmp_path / "model"),
            300,
            tmp_path / f"w{workers}.h5",
            seed=4,
            chunk_size=100,
            execution=Execution.resolve(workers=workers, shard_size=100),
        )
    a, b = read_events(tmp_path / "w1.h5"), read_events(tmp_path / "w2.h5")
    np.testing.assert_array_equal(a["energy"], b["energy"])
    np.testing.assert_array_equal(a["x"], b["x"])
    assert len(np.unique(a["energy"][:100])) > 1  # drawn per event, not one value per chunk


# -- generating at a reference file's conditions -----------------------------------------------
@pytest.fixture
def foreign_reference(tmp_path):
    """A file of the challenge's kind: datasets only, no toolkit metadata."""
    events = discrete_events(50, seed=7)
    path = tmp_path / "ref.h5"
    with h5py.File(path, "w") as f:
        f["x"] = events["x"].astype(np.float32)
        f["energy"] = events["energy"]
        f["angle"] = events["angle"]
    return path, events


def test_sample_at_the_conditions_of_a_foreign_file(tmp_path, foreign_reference):
    ref, events = foreign_reference
    model_dir = fit(discrete_events()).save(tmp_path / "m")
    out = surrogate.sample(model_dir, None, tmp_path / "gen.h5", conditions_from=ref, seed=1)
    gen = read_events(out)
    np.testing.assert_array_equal(gen["energy"], events["energy"])  # every event, in order
    np.testing.assert_array_equal(gen["angle"], events["angle"])
    with open_events(out) as f:
        assert (
            f.metadata["conditions"]["energy"] == f"read from {ref} (its first 50 events, in order)"
        )
    first = surrogate.sample(model_dir, 20, tmp_path / "g20.h5", conditions_from=ref, seed=1)
    np.testing.assert_array_equal(read_events(first)["energy"], events["energy"][:20])


def test_conditions_from_refuses_more_events_than_the_file_and_explicit_conditions(
    tmp_path, foreign_reference
):
    ref, _ = foreign_reference
    model = fit(discrete_events())
    with pytest.raises(SpecError, match="holds 50 events, fewer than the 60 asked for"):
        surrogate.sample(model, 60, tmp_path / "g.h5", conditions_from=ref)
    with pytest.raises(SpecError, match="exclude each other"):
        surrogate.sample(model, 5, tmp_path / "g.h5", conditions={"energy": 2}, conditions_from=ref)
    with pytest.raises(SpecError, match="give the number of events"):
        surrogate.sample(model, None, tmp_path / "g.h5")
    assert not (tmp_path / "g.h5").exists()


def test_conditions_outside_the_model_range_name_the_file(tmp_path):
    path = write_events(tmp_path / "ref.h5", discrete_events(50), make_metadata(SPEC, producer="t"))
    narrow = EventSpec(SPEC.fields, (Condition("energy", "GeV", 1, 20), SPEC.conditions[1]))
    low = discrete_events()
    model = GaussianSurrogate(spec=narrow).fit(low[low["energy"] == 2.0].check(narrow))
    with pytest.raises(SpecError, match=f"{path}: condition 'energy' has values above 20"):
        surrogate.sample(model, None, tmp_path / "g.h5", conditions_from=path)
    assert not (tmp_path / "g.h5").exists()


def test_fit_drops_the_metrics_of_earlier_weights():
    model = fit(discrete_events())
    model.metrics = {"validation": {"status": "pass"}}
    model.fit(discrete_events(seed=1), seed=0)
    assert model.metrics == {}
