"""Typed settings: the training options and every family's hyper-parameters are checked
once, with one-line errors, and round-trip through ``config.json`` as the same dict."""

from __future__ import annotations

import json

import pytest

from surrogate.errors import SpecError, TrainingError
from surrogate.training import TRAIN_DEFAULTS, TrainOptions
from surrogate_generators.diffusion import Diffusion
from surrogate_generators.flow import Flow
from surrogate_generators.gan import GAN
from surrogate_generators.vae import VAE

FAMILIES = [VAE, Flow, GAN, Diffusion]


def test_train_options_refuse_unknown_names_with_a_suggestion():
    with pytest.raises(TrainingError, match=r"^training: unknown option 'epoch' \(did you mean"):
        TrainOptions.resolve({"epoch": 3})
    with pytest.raises(TrainingError, match="unknown option 'max_tme'.*'max_time'"):
        TrainOptions.resolve({"max_tme": 60})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"epochs": "many"}, "option epochs must be an integer, not 'many'"),
        ({"batch_size": 0}, "epochs and batch_size must be >= 1"),
        ({"schedule": "linear"}, "schedule must be cosine, constant or plateau, not 'linear'"),
        ({"optimizer": "sgd"}, "optimizer must be adam or adamw, not 'sgd'"),
        ({"ema": 1.5}, "ema must be a decay in (0, 1) or None, not 1.5"),
        ({"max_time": 0}, "max_time must be > 0 seconds, not 0.0"),
    ],
)
def test_train_options_refuse_bad_values_in_one_line(bad, message):
    with pytest.raises(TrainingError) as info:
        TrainOptions.resolve(bad)
    assert str(info.value) == f"training: {message}"


def test_train_options_layer_family_defaults_under_the_given_options():
    opts = TrainOptions.resolve({"lr": 1, "epochs": "3"}, {"epochs": 7, "ema": 0.9})
    assert (opts.epochs, opts.lr, opts.ema, opts.batch_size) == (3, 1.0, 0.9, 256)
    assert isinstance(opts.lr, float) and TRAIN_DEFAULTS["max_time"] is None


@pytest.mark.parametrize("cls", FAMILIES)
def test_families_refuse_a_bad_hyperparameter_naming_the_model(cls):
    with pytest.raises(SpecError) as info:
        cls(hidden=0)
    assert str(info.value) == f"model {cls.name!r}: hidden must be >= 1 (an integer), not 0"
    with pytest.raises(SpecError, match=rf"model {cls.name!r}: dropout must be a number in"):
        cls(dropout=1.5)


@pytest.mark.parametrize("cls", FAMILIES)
def test_hyperparameters_round_trip_through_json_as_the_same_keys(cls):
    model = cls()
    assert list(model.hyperparameters) == list(cls.defaults)
    again = cls(**json.loads(json.dumps(model.hyperparameters)))  # as config.json has them
    assert again.settings == model.settings


def test_old_configs_json_types_are_coerced():
    gan = GAN(adam_betas=[0.5, 0.99], latent=4.0)  # a list and a float, as JSON gives them
    assert gan.settings.adam_betas == (0.5, 0.99) and gan.settings.latent == 4
    assert isinstance(gan.settings.latent, int)
    with pytest.raises(SpecError, match="adam_betas must be two numbers"):
        GAN(adam_betas=[0.5])
    with pytest.raises(SpecError, match=r"latent must be >= 1 \(an integer\) or None, not 2.5"):
        GAN(latent=2.5)
