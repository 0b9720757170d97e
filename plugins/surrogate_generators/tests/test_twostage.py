"""The ``twostage`` family and the core's event splits (:mod:`surrogate.splits`), on
``toy.gmm2d`` with a toy polar split registered through ``plugin_registry``: conformance,
an exact density (it integrates to 1 in raw units), bad input as one-line errors with no
partial model directory, resume, and the time budget shared by the stages."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pytest

import surrogate
from surrogate import Field, hookimpl
from surrogate.errors import SpecError, TrainingError
from surrogate.events import Events
from surrogate.io import make_metadata, write_events
from surrogate.registry import get_registry
from surrogate.splits import Split, make_split, numerical_logdet, stage2_conditions
from surrogate.testing import plugin_registry, surrogate_checks
from surrogate_baseline.gaussian import GaussianSurrogate
from surrogate_generators import twostage
from surrogate_generators.twostage import TwoStage

#: the largest float32 angle: float32 values of atan2 never exceed it (pi rounds up)
PHI_MAX = float(np.float32(np.pi))
#: the toy split's angle origin: half-way between two of the eight modes
TURN = np.exp(1j * np.pi / 8)
#: both stages are 1-d: autoregressive (a coupling layer needs two numbers)
TINY = {"hidden": 16, "blocks": 1, "transforms": 2, "flow_type": "autoregressive"}
QUICK = {"epochs": 3, "batch_size": 256, "lr": 3e-3, "progress": False}
HP = {"split": {"type": "test.polar"}, "stage1_options": TINY, "stage2_options": TINY}


@dataclass(frozen=True)
class PolarSettings:
    field: str = "x"


class PolarSplit(Split):
    """The plane in polar coordinates: the radius first, the angle given it;
    ``log|det d(r, phi)/d(x, y)| = -log r``.  The angle is measured from a line between
    two of ``toy.gmm2d``'s modes, so that none straddles the cut at +-pi."""

    settings_class = PolarSettings
    type = "test.polar"

    def _check(self, spec):
        name = self.settings.field
        if spec.field_names != (name,) or spec.field(name).shape != (2,):
            raise SpecError(f"{self.where}: needs one field {name!r} of shape (2,)")

    def summary_fields(self, spec):
        self._check(spec)
        return (Field("r", (), "float32", low=0.0),)

    def rest_fields(self, spec):
        self._check(spec)
        return (Field("phi", (), "float32", low=-PHI_MAX, high=PHI_MAX),)

    def forward(self, fields, conditions):
        x = np.asarray(fields[self.settings.field], dtype=np.float64)
        z = (x[:, 0] + 1j * x[:, 1]) * TURN.conjugate()
        return {"r": np.abs(z)}, {"phi": np.angle(z)}, -np.log(np.abs(z))

    def inverse(self, summary, rest, conditions):
        z = np.asarray(summary["r"], np.float64) * np.exp(1j * np.asarray(rest["phi"])) * TURN
        return {self.settings.field: np.stack([z.real, z.imag], axis=1)}

    def preprocessing(self, spec):
        # bounded supports, so that the density integrates to 1 over the plane
        log = [{"type": "log", "eps": 1e-6}, {"type": "standardise"}]
        return log, [{"type": "logit", "alpha": 1e-6}, {"type": "standardise"}]


class Unconditional(GaussianSurrogate):
    name = "test.unconditional"
    conditional = False


class ToyPlugin:
    @hookimpl
    def register_splits(self, register):
        register("test.polar", PolarSplit)

    @hookimpl
    def register_surrogates(self, register):
        register("test.unconditional", Unconditional)


@pytest.fixture(autouse=True)
def toy_plugin():
    with plugin_registry(("toy_split", ToyPlugin())) as registry:
        yield registry


@functools.cache
def events(n: int = 3000) -> Events:
    return surrogate.simulator("toy.gmm2d", conditional=True).sample(n, seed=0)


@functools.cache
def trained() -> TwoStage:
    return TwoStage(**HP).fit(events(), seed=0, **QUICK)


def write(tmp_path, n: int = 600):
    data = events()[:n]
    meta = make_metadata(data.spec, producer="toy.gmm2d", seed=0, options={"conditional": True})
    return write_events(tmp_path / "toy.h5", data, meta)


# -- the core's splits -----------------------------------------------------------------------
def test_splits_are_registered_and_built_from_configs():
    assert get_registry().label("split") == "event splits"
    split = make_split("test.polar")
    assert split.to_config() == {"type": "test.polar", "field": "x"}
    assert make_split(split.to_config()).to_config() == split.to_config()
    with pytest.raises(SpecError, match=r"^split: unknown split 'test.polr' \(did you mean"):
        make_split({"type": "test.polr"})
    with pytest.raises(SpecError, match=r"^split 'test.polar': unknown option 'feild'"):
        make_split({"type": "test.polar", "feild": "x"})
    with pytest.raises(SpecError, match=r"^a split is a dict \{'type': NAME"):
        make_split({"field": "x"})


def test_the_rest_is_conditioned_on_the_summary():
    spec, split = events().spec, make_split("test.polar")
    rest = split.rest_spec(spec)
    assert split.summary_spec(spec).condition_names == ("radius",)
    assert rest.condition_names == ("radius", "r")
    assert (rest.condition("r").low, rest.condition("r").high) == (0.0, math.inf)
    summary = {"r": np.array([1.0, 2.0])}
    conds = stage2_conditions(split.summary_spec(spec), summary, {"radius": np.ones(2)})
    np.testing.assert_array_equal(conds["r"], [1.0, 2.0])


def test_numerical_logdet_checks_a_splits_jacobian():
    data = events()[:50]
    split = make_split("test.polar")
    _, _, logdet = split.forward(data.fields, data.conditions)
    numeric = numerical_logdet(split, data.spec, data.fields, data.conditions)
    np.testing.assert_allclose(numeric, logdet, atol=1e-6)


# -- the family ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_twostage_conformance(name):
    dict(surrogate_checks(trained))[name]()


def test_density_integrates_to_one():
    """Riemann sum of exp(log_prob) over the plane in raw units: the stages' densities
    and the split's log-determinant together are a normalised density."""
    model = trained()
    h = 0.04
    axis = np.arange(-7 + h / 2, 7, h)
    gx, gy = np.meshgrid(axis, axis)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    grid = Events.checked({"x": points}, {"radius": np.full(len(points), 3.0)}, model.spec)
    total = np.exp(model.log_prob(grid)).sum() * h * h
    assert abs(total - 1) < 0.003, total


def test_the_stages_record_the_splits_chains_and_one_state():
    model = trained()
    assert model.density == "exact"
    assert model.hyperparameters["stage1_options"]["preprocessing"][0]["type"] == "log"
    assert model.hyperparameters["stage2_options"]["preprocessing"][0]["type"] == "logit"
    assert {k.split(".")[0] for k in model._state()} == {"stage1", "stage2"}


@pytest.mark.parametrize("stage2, density", [("flow", "exact"), ("vae", "bound"), ("gan", "none")])
def test_density_follows_the_stage_families(stage2, density):
    assert TwoStage(split="test.polar", stage2=stage2).density == density


@pytest.mark.parametrize(
    "hp, message",
    [
        (
            {"stage2": "test.unconditional"},
            "model 'twostage': stage2 family 'test.unconditional' cannot take conditions "
            "(stage 1 is conditioned on the events' conditions, stage 2 on the summary too)",
        ),
        (
            {"stage1": "flw"},
            "model 'twostage': stage1: unknown surrogate 'flw' (did you mean 'flow'?)",
        ),
        ({"stage1_budget": 1.5}, "model 'twostage': stage1_budget must be a number in (0, 1)"),
        (
            {"stage2_train": {"max_time": 3}},
            "model 'twostage': stage2_train: max_time is set by the two-stage model",
        ),
    ],
)
def test_bad_hyperparameters_are_one_line_errors(hp, message):
    with pytest.raises(SpecError) as info:
        TwoStage(**hp)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_split_for_other_events_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "model"
    bad = {**HP, "split": {"type": "test.polar", "field": "y"}}
    with pytest.raises(SpecError, match=r"^split 'test.polar': needs one field 'y' of shape"):
        surrogate.train("twostage", write(tmp_path), out, hyperparameters=bad)
    assert not out.exists()


def test_without_a_split_the_files_simulator_must_offer_one(tmp_path):
    with pytest.raises(SpecError, match=r"^model 'twostage' needs a split: pass split="):
        surrogate.train("twostage", write(tmp_path), tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_bad_stage_options_fail_before_any_data_are_split():
    model = TwoStage(**{**HP, "stage1_options": {"hiden": 3}})
    with pytest.raises(SpecError) as info:
        model.fit(events()[:300], seed=0, **QUICK)
    assert str(info.value) == (
        "model 'twostage': stage1_options: model 'flow': unknown option 'hiden' "
        "(did you mean 'hidden'?)"
    )


def test_a_bad_stage_training_option_fails_before_training():
    model = TwoStage(**HP, stage2_train={"epocks": 2})
    with pytest.raises(TrainingError, match=r"^model 'twostage': stage2: training: unknown"):
        model.fit(events()[:300], seed=0, **QUICK)
    assert model.stages["stage1"].nets is None  # stage 1 was not trained first


#: stages standardised only (the resume test below covers the split's logit chains)
STANDARDISED = {**TINY, "preprocessing": [{"type": "standardise"}]}


def test_resume_continues_both_stages_and_refuses_other_families(tmp_path):
    path, out = write(tmp_path), tmp_path / "model"
    hp = {**HP, "stage1_options": STANDARDISED, "stage2_options": STANDARDISED}
    TwoStage(**hp).fit(path, seed=3, workdir=out, **{**QUICK, "epochs": 1})  # killed: no save
    assert (out / twostage.RUN_FILE).is_file() and not (out / "config.json").exists()
    with pytest.raises(TrainingError) as info:
        surrogate.train("twostage", path, out, resume=True, hyperparameters={"stage2": "vae"})
    assert str(info.value) == (
        f"cannot resume the two-stage run in {out}: its stage2 is 'flow', not 'vae'; "
        "resume with the same families or train into another directory"
    )
    assert not (out / "config.json").exists()
    model = surrogate.train("twostage", path, out, resume=True, **{**QUICK, "epochs": 2})
    assert model.provenance["seed"] == 3
    for stage in twostage.STAGES:
        assert model.provenance["training"][stage]["epochs"] == 2
    loaded = surrogate.load(out)
    np.testing.assert_array_equal(loaded.sample(50, seed=1)["x"], model.sample(50, seed=1)["x"])


def test_resume_with_the_splits_chains(tmp_path):
    """The split's chains hold 0-d statistics (a logit's bounds): they resume as saved."""
    path, out = write(tmp_path), tmp_path / "model"
    TwoStage(**HP).fit(path, seed=3, workdir=out, **{**QUICK, "epochs": 1})
    model = TwoStage(**HP).fit(path, workdir=out, resume=True, **{**QUICK, "epochs": 2})
    for stage in twostage.STAGES:
        assert model.provenance["training"][stage]["epochs"] == 2


@pytest.fixture
def clock(clock, monkeypatch):
    """The loop's clock (conftest), also the two-stage family's."""
    monkeypatch.setattr(twostage, "time", clock)
    return clock


def test_stage_two_gets_what_stage_one_leaves_of_the_budget(clock):
    """50 s, epochs of 10 s: stage 1 may use 20% (10 s, one epoch), stage 2 the 40 s left."""
    model = TwoStage(**HP).fit(
        events()[:300], seed=0, max_time=50, callbacks=[clock.tick], **{**QUICK, "epochs": 3}
    )
    first, second = (model.provenance["training"][s] for s in twostage.STAGES)
    assert (first["stopped"], first["epochs"]) == ("max_time", 1)
    assert (second["stopped"], second["epochs"]) == ("epochs", 3)


@pytest.mark.parametrize(
    "budget, stage, first", [({}, "stage1", "6s"), ({"stage1_budget": 0.9}, "stage2", "2s")]
)
def test_a_budget_shorter_than_an_epoch_leaves_no_model_directory(
    tmp_path, clock, budget, stage, first
):
    path, out = write(tmp_path), tmp_path / "model"
    max_time = 30 if stage == "stage1" else 12
    with pytest.raises(TrainingError) as info:
        surrogate.train(
            "twostage",
            path,
            out,
            hyperparameters={**HP, **budget},
            max_time=max_time,
            callbacks=[clock.tick],
            **QUICK,
        )
    assert str(info.value) == (
        f"model 'twostage': {stage} (given {first} of max_time): max_time={first} is "
        "shorter than one epoch (the first took 10s)"
    )
    assert not out.exists()  # stage 1's checkpoints of the refused run are gone too
