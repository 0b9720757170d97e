"""Classifier and validation presets are registered, like everything else a domain adds:
the core registers generic ones and names no domain."""

from __future__ import annotations

import pytest
from validation_helpers import CHEAP

from surrogate import hookimpl
from surrogate.metrics import MetricError, metric
from surrogate.metrics.classifier import LARGE, PRESET_KEYS
from surrogate.testing import plugin_registry
from surrogate.validation import validate
from surrogate.validation.config import load_config

RECIPE = {"hidden": 16, "layers": 1, "epochs": 2, "batch_size": 128, "lr": 1e-3, "dropout": 0.0}


class Detector:
    """What a domain plugin registers: its community's recipe and the config naming it."""

    @hookimpl
    def register_classifier_presets(self, register):
        register("mydet", RECIPE)
        register("mydet.partial", {"hidden": 16})
        register("mydet.broken", ["not", "a", "dict"])

    @hookimpl
    def register_validation_presets(self, register):
        register("mydet", {"classifier_options": {"preset": "mydet"}, **CHEAP})
        register("mydet.bad", {"bounds": [{"metric": "fpd"}]})


@pytest.fixture
def detector():
    with plugin_registry(("mydet", Detector())) as registry:
        yield registry


def test_the_core_registers_generic_presets_only(detector):
    core = detector.plugins["core"].names
    assert sorted(core["classifier_preset"]) == ["large", "small"]
    assert core["validation_preset"] == ["quick"]
    assert detector.label("classifier_preset") == "classifier presets"
    assert detector.label("validation_preset") == "validation presets"
    assert set(LARGE) == set(PRESET_KEYS)
    assert metric("classifier").options["preset"] == "large"
    assert metric("classifier").settings() == LARGE


def test_a_plugin_preset_is_used_by_name(detector):
    m = metric("classifier", preset="mydet", epochs=3)
    assert m.settings() == {**RECIPE, "epochs": 3}  # explicit options override the preset
    assert "preset 'mydet'" in m.summary()


def test_bad_presets_are_named(detector):
    with pytest.raises(MetricError, match=r"unknown classifier_preset 'mydt' \(did you mean"):
        metric("classifier", preset="mydt").settings()
    with pytest.raises(MetricError, match=r"preset 'mydet.partial' \(plugin mydet\) does not set"):
        metric("classifier", preset="mydet.partial").settings()
    with pytest.raises(MetricError, match=r"preset 'mydet.broken' .* is a list, not a dict"):
        metric("classifier", preset="mydet.broken").settings()


def test_a_plugin_validation_preset_by_name(detector, toy_model_dir, tmp_path):
    cfg = load_config("mydet")
    assert cfg.classifier_options == {"preset": "mydet"}
    assert cfg.metrics == {"separation_power": {}, "ks": {}}
    with pytest.raises(Exception, match=r"validation preset 'mydet.bad': bounds/0 on 'fpd'"):
        load_config("mydet.bad")
    rep = validate(toy_model_dir, simulator="toy.gmm2d", n=300, out=tmp_path / "v", config="mydet")
    assert rep.data["settings"]["config"]["classifier_options"] == {"preset": "mydet"}


def test_a_file_wins_over_a_preset_of_its_name(detector, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydet").write_text("seed: 7\n")
    assert load_config("mydet").seed == 7
