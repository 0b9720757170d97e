"""``surrogate compare`` (``surrogate_generators.compare``): the table's structure,
numbers that can fail (the exact flow beats the gaussian baseline on held-out likelihood;
the simulator's own floor), failures recorded rather than fatal, the metrics reused from
``surrogate.metrics``, and the command line.  Budgets are tiny: this checks the machinery,
not the families."""

from __future__ import annotations

import json

import pytest

import surrogate.metrics
from surrogate.cli import main
from surrogate_generators.compare import Comparison, compare

CLASSIFIER = {"preset": "small", "epochs": 5}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    calls = []
    original = surrogate.metrics.evaluate

    def spy(*args, **kwargs):
        calls.append(args[2] if len(args) > 2 else kwargs.get("metrics"))
        return original(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(surrogate.metrics, "evaluate", spy)
    try:
        result = compare(
            "toy.gmm2d",
            ["flow", "vae"],
            n_train=2000,
            n_test=2000,
            seeds=[0, 1],
            hyperparameters={
                "*": {"hidden": 32, "blocks": 1},
                "flow": {"transforms": 2},
                "vae": {"latent": 0},  # invalid: this family's runs must fail, not the table
            },
            train_options={"*": {"epochs": 3, "batch_size": 256, "lr": 3e-3, "progress": False}},
            classifier=CLASSIFIER,
            speed_batch=2000,
            workdir=tmp_path_factory.mktemp("compare"),
        )
    finally:
        mp.undo()
    return result, calls


def test_table_structure(table, tmp_path):
    result, _ = table
    assert isinstance(result, Comparison)
    assert list(result.runs) == ["gaussian", "flow", "vae"]
    assert [r.seed for r in result.runs["flow"]] == [0, 1]
    assert len(result.runs["gaussian"]) == 1  # closed form: one run
    rows = result.rows()
    assert [r[0] for r in rows] == ["gaussian", "flow", "vae", "simulator"]
    assert all(len(r) == len(Comparison.COLUMNS) for r in rows)
    text = result.text()
    assert "held-out log p" in text.splitlines()[0] and "simulator" in text
    flow = result.summary("flow")
    assert flow["density"] == "exact" and flow["failed"] == 0
    assert flow["sample_rate"][0] > 0 and flow["speed_ratio"] > 0
    assert flow["modes"]["n_modes"] == 8 and len(flow["modes"]["covered_per_seed"]) == 2
    paths = result.save(tmp_path)
    data = json.loads(paths["json"].read_text())
    assert set(data["families"]) == {"gaussian", "flow", "vae"}
    assert data["settings"]["seeds"] == [0, 1]
    assert data["families"]["flow"]["runs"][0]["w1_per_marginal"].keys() == {"x[0]", "x[1]"}
    md = paths["markdown"].read_text()
    assert "| family | likelihood |" in md and "| flow | exact |" in md


def test_numbers_that_can_fail(table):
    result, _ = table
    flow, gauss = result.summary("flow"), result.summary("gaussian")
    ref = result.reference
    # an exact flow already beats the single Gaussian on held-out likelihood after 3
    # epochs; the true log-density (the simulator row) beats both
    assert flow["log_likelihood"][0] > gauss["log_likelihood"][0] + 0.1
    assert ref["log_likelihood"] > flow["log_likelihood"][0]
    # two simulator samples are close (the floor); a single Gaussian is far off the ring
    assert ref["auc"] < 0.6 and gauss["auc"][0] > ref["auc"] + 0.1
    assert ref["w1_worst"] < gauss["w1_worst"][0]
    assert sum(abs(s - 1 / 8) <= 0.03 for s in ref["mode_shares"]) == 8
    assert ref["off_mode"] < 0.03
    # the workdir holds each run's model and training log
    assert flow["runs"] == 2


def test_failures_are_recorded_not_fatal(table):
    result, _ = table
    vae = result.summary("vae")
    assert vae["failed"] == 2 and vae["auc"] is None
    assert "latent must be >= 1" in result.runs["vae"][0].error
    assert "2/2" in next(r for r in result.rows() if r[0] == "vae")  # failed runs / runs


def test_sample_quality_reuses_the_metrics_package(table):
    _, calls = table
    assert calls and all(set(c) == {"wasserstein1", "classifier"} for c in calls)
    # one call for the floor and one per successful run
    assert len(calls) == 1 + 1 + 2


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = main(
        [
            "compare",
            "toy.gmm2d",
            "--option",
            "conditional=true",
            "--families",
            "diffusion",
            "-n",
            "800",
            "--n-test",
            "400",
            "--seeds",
            "0",
            "--epochs",
            "1",
            "--model-option",
            "diffusion.steps=20",
            "--model-option",
            "diffusion.sampling_steps=5",
            "--model-option",
            "hidden=16",
            "--speed-batch",
            "300",
            "-o",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "diffusion" in printed and "simulator" in printed and "bound" in printed
    data = json.loads((out / "comparison.json").read_text())
    assert data["settings"]["simulator_options"]["conditional"] is True
    assert data["settings"]["hyperparameters"]["diffusion"]["steps"] == 20
    assert (out / "runs" / "diffusion" / "seed-0" / "config.json").is_file()
    assert (out / "runs" / "diffusion" / "seed-0" / "training_log.csv").is_file()
    # a second comparison into the same directory is refused before any training
    assert main(["compare", "toy.gmm2d", "-o", str(out), "--quiet"]) == 1
    assert "already holds the runs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--families", "vae,nope"], "unknown surrogate 'nope'"),
        (["--seeds", "a,b"], "seeds must be integers"),
        (["--seeds", ""], "at least one seed"),
    ],
)
def test_command_line_bad_input(args, message, capsys):
    rc = main(["compare", "toy.gmm2d", "-n", "100", "--n-test", "100", "--quiet", *args])
    assert rc == 1
    assert message in capsys.readouterr().err
