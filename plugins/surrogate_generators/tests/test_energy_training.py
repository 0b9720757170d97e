"""Training a flow on a target's energy (a Boltzmann generator) in the one loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import surrogate
from surrogate.errors import SpecError, SurrogateError, TrainingError
from surrogate.testing import GaussianEnergy

QUICK = {"epochs": 3, "steps_per_epoch": 40, "batch_size": 256, "val_samples": 512, "lr": 3e-3}


def small_flow(**hp):
    return surrogate.surrogate("flow", **{"preprocessing": [], "transforms": 4, "hidden": 32, **hp})


def importance(model, target, n, conditions, seed):
    events, log_q = model.sample_and_log_prob(n, conditions, seed=seed)
    log_w = -target.energy(events) - log_q
    ess = np.exp(2 * logsumexp(log_w) - logsumexp(2 * log_w)) / n
    return events, ess, logsumexp(log_w) - np.log(n)


def test_energy_alone_learns_the_target_and_its_normaliser():
    target = GaussianEnergy((3,))
    model = small_flow().fit(target=target, conditions={"scale": 1.5}, seed=0, **QUICK)
    events, ess, log_z = importance(model, target, 4000, None, seed=1)
    # the fixed condition is what the model records as trained, so it draws there
    assert np.all(events.conditions["scale"] == 1.5)
    assert ess > 0.95
    assert log_z == pytest.approx(target.log_normalizer({"scale": 1.5})[0], abs=0.03)
    row = model.training_result.history[-1]
    # the energy estimate E_q[u + log q] = KL(q || p) - ln Z is an upper bound on -ln Z
    assert row["val_kl"] >= -target.log_normalizer({"scale": 1.5})[0] - 0.01
    assert model.provenance["target"]["name"] == "testing.gaussian_energy"


def test_a_conditional_flow_learns_every_condition():
    target = GaussianEnergy((2,))
    model = small_flow().fit(target=target, seed=0, **{**QUICK, "epochs": 6})
    for scale in (0.6, 1.8):
        x = model.sample(4000, {"scale": scale}, seed=2)["x"]
        assert x.var(axis=0).mean() == pytest.approx(scale, rel=0.12)


def test_mixed_objective_logs_both_terms():
    target = GaussianEnergy((2,))
    data = target.sample(2000, {"scale": 1.0}, seed=0)
    model = small_flow().fit(data, target=target, seed=0, **{**QUICK, "epochs": 2})
    row = model.training_result.history[-1]
    assert {"train_nll", "train_kl", "val_nll", "val_kl"} <= set(row)
    _, ess, _ = importance(model, target, 2000, {"scale": 1.0}, seed=3)
    assert ess > 0.8


def test_resume_on_an_energy_reaches_the_same_weights(tmp_path):
    target = GaussianEnergy((2,))
    # a constant rate: the cosine schedule depends on the planned epochs, which differ
    opts = {**QUICK, "epochs": 2, "steps_per_epoch": 10, "schedule": "constant"}
    full = small_flow().fit(target=target, seed=5, workdir=tmp_path / "a", **opts)
    half = small_flow().fit(target=target, seed=5, workdir=tmp_path / "b", **{**opts, "epochs": 1})
    assert half.training_result.epochs_run == 1
    resumed = small_flow().fit(target=target, workdir=tmp_path / "b", resume=True, **opts)
    for key, value in full._state().items():
        np.testing.assert_array_equal(value, resumed._state()[key], err_msg=key)


def test_bad_combinations_are_one_line_errors():
    target = GaussianEnergy((2,))
    with pytest.raises(TrainingError, match="cannot train on a target's energy"):
        surrogate.surrogate("vae").fit(target=target, seed=0, **QUICK)
    with pytest.raises(SurrogateError, match="cannot train on a target's energy"):
        surrogate.surrogate("gaussian").fit(target=target, seed=0)
    with pytest.raises(TrainingError, match="needs data to fit"):
        surrogate.surrogate("flow").fit(target=target, seed=0, **QUICK)  # standardise
    with pytest.raises(TrainingError, match="needs a target"):
        data = target.sample(100, seed=0)
        small_flow().fit(data, seed=0, objective="energy", **QUICK)
    with pytest.raises(SurrogateError, match="has no energy"):
        small_flow().fit(target=NoEnergy(), seed=0)
    with pytest.raises(TrainingError, match="fixed affine"):
        hp = {"preprocessing": [{"type": "log", "eps": 10.0}]}
        small_flow(**hp).fit(target=target, seed=0, **QUICK)


class NoEnergy(GaussianEnergy):
    _energy = surrogate.Simulator._energy


class NaNAfter(GaussianEnergy):
    """The Gaussian target whose energy turns NaN after some calls (a model gone bad)."""

    calls = 0

    def _energy(self, fields, conditions):
        type(self).calls += 1
        u = super()._energy(fields, conditions)
        return u * torch.nan if type(self).calls > 25 else u


def test_non_finite_weights_stop_training_and_keep_the_last_good_checkpoint(tmp_path):
    target = NaNAfter((2,))
    with pytest.raises(TrainingError, match=r"became nan.*last good checkpoint .*epoch-000\d"):
        small_flow().fit(
            target=target, seed=0, workdir=tmp_path, **{**QUICK, "steps_per_epoch": 10}
        )
    assert list((tmp_path / "checkpoints").glob("epoch-*.pt"))


def test_energy_annealing_ramps_the_energy_and_reports_the_true_estimate():
    from surrogate.training.objectives import Objective
    from surrogate.training.options import TrainOptions

    target = GaussianEnergy((2,))
    opts = TrainOptions.resolve({"energy_anneal": 0.9})
    objective = Objective.from_options(opts, has_data=False, target=target)
    assert objective.annealing(0) == 0.0 and objective.annealing(10) == pytest.approx(1 - 0.9**10)
    model = small_flow().fit(
        target=target, conditions={"scale": 1.0}, seed=0, **{**QUICK, "epochs": 1}
    )
    batch = model.make_batch(model._prepare_conditions({"scale": np.ones(64)}), model.device)
    torch.manual_seed(0)
    at_start = objective._energy_term(model, batch, None, objective.annealing(0))
    torch.manual_seed(0)
    plain = objective._energy_term(model, batch, None)
    # at step 0 the loss sees no energy; the estimate is the true E_q[u + log q] either way
    assert float(at_start["loss"].detach()) == pytest.approx(
        float(plain["kl"] - plain["energy"]), rel=1e-5
    )
    assert float(at_start["kl"]) == pytest.approx(float(plain["kl"]), rel=1e-6)
    with pytest.raises(TrainingError, match="energy_anneal"):
        small_flow().fit(target=target, seed=0, energy_anneal=1.5, **QUICK)


def test_fixed_conditions_with_data_are_refused():
    target = GaussianEnergy((2,))
    data = target.sample(100, {"scale": 1.0}, seed=0)
    with pytest.raises(SpecError, match="data's conditions"):
        small_flow().fit(data, target=target, conditions={"scale": 1.0}, seed=0, **QUICK)
