"""The command line: simulate -> train -> sample, one-line errors, exit codes, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from surrogate import hookimpl
from surrogate.cli import main
from surrogate.io import open_events, read_events
from surrogate.testing import plugin_registry


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_train_sample(tmp_path, capsys):
    data, model, gen = tmp_path / "toy.h5", tmp_path / "model", tmp_path / "gen.h5"
    assert (
        run(
            capsys,
            "simulate",
            "toy.gmm2d",
            "-n",
            "3000",
            "-o",
            str(data),
            "--seed",
            "1",
            "--option",
            "conditional=true",
        )[0]
        == 0
    )
    with open_events(data) as f:
        assert len(f) == 3000 and f.metadata["seed"] == 1
        assert f.metadata["options"]["conditional"] is True
    assert run(capsys, "train", "gaussian", "--data", str(data), "-o", str(model))[0] == 0
    assert (model / "config.json").is_file() and (model / "README.md").is_file()
    code, out, _ = run(
        capsys,
        "sample",
        str(model),
        "-n",
        "500",
        "-o",
        str(gen),
        "--condition",
        "radius=3",
        "--seed",
        "2",
    )
    assert code == 0 and "wrote 500 events" in out
    with open_events(gen) as f:
        assert f.metadata["producer"] == "gaussian"
        assert f.metadata["producer_kind"] == "surrogate"
        events = f.read()
    assert np.all(events["radius"] == 3.0)


def test_same_seed_same_file_content_whatever_the_workers(tmp_path, capsys):
    for workers in ("1", "2"):
        assert (
            run(
                capsys,
                "simulate",
                "toy.gmm2d",
                "-n",
                "2500",
                "--chunk-size",
                "1000",
                "--seed",
                "5",
                "--workers",
                workers,
                "-o",
                str(tmp_path / f"w{workers}.h5"),
            )[0]
            == 0
        )
    a, b = read_events(tmp_path / "w1.h5"), read_events(tmp_path / "w2.h5")
    np.testing.assert_array_equal(a["x"], b["x"])


def test_unseeded_runs_record_their_seed(tmp_path, capsys):
    path = tmp_path / "a.h5"
    run(capsys, "simulate", "toy.gmm2d", "-n", "100", "-o", str(path))
    with open_events(path) as f:
        seed = f.metadata["seed"]
        first = f.read()["x"]
    again = tmp_path / "b.h5"
    run(capsys, "simulate", "toy.gmm2d", "-n", "100", "-o", str(again), "--seed", str(seed))
    np.testing.assert_array_equal(read_events(again)["x"], first)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "toy.gmm", "-n", "5", "-o", "{tmp}/x.h5"], "did you mean 'toy.gmm2d'"),
        (
            ["simulate", "toy.gmm2d", "-n", "5", "-o", "{tmp}/x.h5", "--condition", "radius=2"],
            "unknown condition 'radius'",
        ),
        (
            [
                "simulate",
                "toy.gmm2d",
                "-n",
                "5",
                "-o",
                "{tmp}/x.h5",
                "--option",
                "conditional=true",
                "--condition",
                "radius=9",
            ],
            "condition 'radius' has values above 4",
        ),
        (
            ["simulate", "toy.gmm2d", "-n", "5", "-o", "{tmp}/x.h5", "--option", "sigma=-1"],
            "sigma > 0",
        ),
        (["train", "gaussian", "--data", "{tmp}/absent.h5", "-o", "{tmp}/m"], "no such file"),
        (
            ["train", "gausian", "--data", "{tmp}/toy.h5", "-o", "{tmp}/m"],
            "did you mean 'gaussian'",
        ),
        (["train", "gaussian", "--data", "{tmp}/garbage.h5", "-o", "{tmp}/m"], "not an HDF5 file"),
        (
            ["train", "gaussian", "--data", "{tmp}/toy.h5", "-o", "{tmp}/m", "--option", "jiter=1"],
            "unknown option 'jiter'",
        ),
        (["sample", "{tmp}", "-n", "5", "-o", "{tmp}/x.h5"], "missing config.json"),
    ],
)
def test_errors_are_one_line_with_exit_1_and_no_output(tmp_path, capsys, argv, message):
    run(capsys, "simulate", "toy.gmm2d", "-n", "50", "-o", str(tmp_path / "toy.h5"))
    (tmp_path / "garbage.h5").write_text("garbage")
    before = set(tmp_path.iterdir())
    code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert set(tmp_path.iterdir()) == before  # no partial output


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "toy.gmm2d", "-n", "-3", "-o", "x.h5"],
        ["simulate", "toy.gmm2d", "-n", "5", "-o", "x.h5", "--option", "novalue"],
        ["simulate", "toy.gmm2d", "-o", "x.h5"],
        ["nosuchcommand"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    assert run(capsys, *argv)[0] == 2


def test_training_into_an_existing_model_needs_overwrite(tmp_path, capsys):
    data = tmp_path / "toy.h5"
    run(capsys, "simulate", "toy.gmm2d", "-n", "200", "-o", str(data))
    assert run(capsys, "train", "gaussian", "--data", str(data), "-o", str(tmp_path / "m"))[0] == 0
    code, _, err = run(capsys, "train", "gaussian", "--data", str(data), "-o", str(tmp_path / "m"))
    assert code == 1 and "--overwrite" in err
    assert (
        run(
            capsys,
            "train",
            "gaussian",
            "--data",
            str(data),
            "-o",
            str(tmp_path / "m"),
            "--overwrite",
        )[0]
        == 0
    )


@pytest.mark.parametrize("command", ["plugins", "simulate", "train", "sample"])
def test_every_command_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "usage: surrogate " + command in out


def test_console_script_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "surrogate.cli", "sample", str(tmp_path), "-n", "1", "-o", "x.h5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("surrogate sample: error:") and "Traceback" not in proc.stderr


def test_plugins_command_lists_builtins(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    assert "toy.gmm2d" in out and "gaussian" in out and "[ok]" in out


def test_nan_in_training_data_is_named(tmp_path, capsys):
    import h5py

    data = tmp_path / "toy.h5"
    run(capsys, "simulate", "toy.gmm2d", "-n", "100", "-o", str(data))
    with h5py.File(data, "a") as f:  # corrupt one value behind the toolkit's back
        f["x"][77, 1] = np.inf
    code, _, err = run(capsys, "train", "gaussian", "--data", str(data), "-o", str(tmp_path / "m"))
    assert code == 1 and "field 'x' has NaN or Inf in 1 of" in err
    assert "(the first: event 77, element (1,), is inf)" in err  # counted in the file
    assert not (tmp_path / "m").exists()


def test_nan_from_a_model_at_sampling_is_named_and_not_written(tmp_path, capsys, monkeypatch):
    """A model that breaks down on one event: the command names the field, the event's
    number in the output and its conditions, and writes no file."""
    from surrogate_baseline.gaussian import GaussianSurrogate

    data, model = tmp_path / "toy.h5", tmp_path / "m"
    run(
        capsys,
        "simulate",
        "toy.gmm2d",
        "-n",
        "300",
        "-o",
        str(data),
        "--option",
        "conditional=true",
    )
    run(capsys, "train", "gaussian", "--data", str(data), "-o", str(model))
    good = GaussianSurrogate._sample

    def breaks_at_150(self, n, conditions, rng):
        out = good(self, n, conditions, rng)
        if n == 100 and breaks_at_150.calls == 1:  # the second chunk: events 100-199
            out["x"][50, 0] = np.inf
        breaks_at_150.calls += 1
        return out

    breaks_at_150.calls = 0
    monkeypatch.setattr(GaussianSurrogate, "_sample", breaks_at_150)
    out = tmp_path / "gen.h5"
    argv = ["sample", str(model), "-n", "300", "-o", str(out), "--chunk-size", "100"]
    code, _, err = run(capsys, *argv, "--seed", "4")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "model 'gaussian' output: field 'x' has NaN or Inf in 1 of 100 events" in err
    assert "(the first: event 150, element (0,), is inf, at radius=" in err
    assert "); counted in the output of seed 4, which is not written" in err
    assert not out.exists()


def test_resume_reuses_the_runs_settings_and_overwrite_starts_afresh(tmp_path, capsys):
    data, out = tmp_path / "toy.h5", tmp_path / "flow"
    run(capsys, "simulate", "toy.gmm2d", "-n", "600", "-o", str(data), "--seed", "1")
    common = ["train", "flow", "--data", str(data), "-o", str(out), "--no-progress"]
    assert run(capsys, *common, "--epochs", "1", "--option", "hidden=8", "--seed", "3")[0] == 0
    # no --option or --seed repeated: the checkpoint's hyper-parameters and seed are used
    assert run(capsys, *common, "--epochs", "2", "--resume")[0] == 0
    config = json.loads((out / "config.json").read_text())
    assert config["hyperparameters"]["hidden"] == 8 and config["provenance"]["seed"] == 3
    assert sorted(p.name for p in (out / "checkpoints").iterdir())[-1] == "epoch-0002.pt"
    code, _, err = run(capsys, *common, "--epochs", "2", "--resume", "--option", "hidden=16")
    assert code == 1 and "hidden: 8 -> 16" in err
    assert run(capsys, *common, "--epochs", "1", "--overwrite", "--option", "hidden=8")[0] == 0
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch-0001.pt"]


# -- a plugin author's path without traps ---------------------------------------------------
def _toy_file(tmp_path, capsys, *options: str):
    data = tmp_path / "toy.h5"
    argv = ["simulate", "toy.gmm2d", "-n", "400", "-o", str(data), "--seed", "1"]
    assert run(capsys, *argv, *[x for o in options for x in ("--option", o)])[0] == 0
    return data


def test_options_every_model_accepts_work_for_the_closed_form_baseline(tmp_path, capsys):
    data = _toy_file(tmp_path, capsys)
    common = ["train", "gaussian", "--data", str(data), "--no-progress", "--max-time", "60"]
    assert run(capsys, *common, "-o", str(tmp_path / "g"))[0] == 0
    code, _, err = run(capsys, *common, "-o", str(tmp_path / "h"), "--epochs", "3")
    assert code == 1 and "closed form" in err and "(epochs)" in err
    assert not (tmp_path / "h").exists()


class _OtherRing:
    @hookimpl
    def register_simulators(self, register):
        register("other.ring", "surrogate_toy.gmm2d:GaussianRing")


def test_data_of_another_simulator_is_named(tmp_path, capsys):
    data = _toy_file(tmp_path, capsys, "conditional=true")
    with plugin_registry(("other", _OtherRing())):
        code, _, err = run(
            capsys, "train", "gaussian", "--data", str(data), "-o", str(tmp_path / "m"),
            "--simulator", "other.ring",
        )  # fmt: skip
    assert code == 1 and err.count("\n") == 1
    assert f"{data} holds toy.gmm2d events (fields x (2,); conditions radius)" in err
    assert "not other.ring's (fields x (2,); conditions none)" in err
    assert not (tmp_path / "m").exists()


def test_info_shows_options_conditions_and_hyperparameters(capsys):
    code, out, _ = run(capsys, "info", "toy.gmm2d", "--option", "conditional=true")
    assert code == 0
    assert "conditional: default False" in out and "condition radius: [1, 4]" in out
    code, out, _ = run(capsys, "info", "gaussian")
    assert code == 0 and "density: exact" in out and "jitter: default" in out
    code, _, err = run(capsys, "info", "toy.gmm")
    assert code == 1 and "did you mean 'toy.gmm2d'" in err


def test_library_train_is_what_the_command_does(tmp_path, capsys):
    import surrogate

    data = _toy_file(tmp_path, capsys)
    model = surrogate.train("gaussian", data, tmp_path / "lib")
    assert model.provenance["n_events"] == 400 and (tmp_path / "lib" / "config.json").is_file()
    with pytest.raises(surrogate.SurrogateError, match="already holds a model"):
        surrogate.train("gaussian", data, tmp_path / "lib")


def test_sample_at_the_conditions_of_a_reference_file(tmp_path, capsys):
    data = _toy_file(tmp_path, capsys, "conditional=true")
    model, gen = tmp_path / "m", tmp_path / "gen.h5"
    assert run(capsys, "train", "gaussian", "--data", str(data), "-o", str(model))[0] == 0
    argv = ["sample", str(model), "-o", str(gen), "--conditions-from", str(data), "--seed", "3"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "wrote 400 events" in out  # -n defaults to the file's events
    np.testing.assert_array_equal(read_events(gen)["radius"], read_events(data)["radius"])
    code, _, err = run(capsys, *argv, "-n", "401")
    assert code == 1 and "holds 400 events, fewer than the 401 asked for" in err
    code, _, err = run(capsys, *argv, "--condition", "radius=2")
    assert code == 1 and "exclude each other" in err
    code, _, err = run(capsys, "sample", str(model), "-o", str(tmp_path / "x.h5"))
    assert code == 1 and "give the number of events" in err
    assert not (tmp_path / "x.h5").exists()


def test_a_model_draws_its_training_conditions_and_its_card_says_so(tmp_path, capsys):
    data = tmp_path / "fixed.h5"
    argv = ["simulate", "toy.gmm2d", "-n", "300", "-o", str(data), "--seed", "1"]
    assert run(capsys, *argv, "--option", "conditional=true", "--condition", "radius=2.5")[0] == 0
    assert run(capsys, "train", "gaussian", "--data", str(data), "-o", str(tmp_path / "m"))[0] == 0
    card = (tmp_path / "m" / "README.md").read_text()
    assert "its 300 events take 1 distinct value," in card and "| 2.5 | 100.00% | 300 |" in card
    gen = tmp_path / "gen.h5"
    assert run(capsys, "sample", str(tmp_path / "m"), "-n", "50", "-o", str(gen))[0] == 0
    assert np.all(read_events(gen)["radius"] == 2.5)  # not the prior over [1, 4]
    with open_events(gen) as f:
        assert "training conditions" in f.metadata["conditions"]["radius"]
