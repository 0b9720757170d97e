"""Boltzmann generators through the toolkit's front doors: the command line, the library
call, the saved model, and the conformance kit on the targets."""

from __future__ import annotations

import numpy as np
import pytest

import surrogate
from surrogate.cli import main
from surrogate.errors import SpecError
from surrogate.testing import simulator_checks

EXACT_TARGETS = ["boltzmann.double_well", "boltzmann.manywell", "boltzmann.mueller_brown"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_train_a_flow_on_the_energy_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "model"
    code, stdout, err = run(
        capsys,
        *("train", "flow", "--target", "boltzmann.double_well", "-o", str(out)),
        *("--condition", "temperature=1", "--epochs", "2", "--batch-size", "256"),
        *("--train-option", "steps_per_epoch=20", "--train-option", "val_samples=256"),
        *("--option", "transforms=4", "--option", "hidden=32", "--no-progress"),
    )
    assert code == 0, err
    assert "the energy of boltzmann.double_well" in stdout
    model = surrogate.load(out)
    assert model.provenance["target"]["name"] == "boltzmann.double_well"
    assert model.provenance["training"]["options"]["objective"] == "auto"
    events = model.sample(100, seed=0)
    assert np.all(events.conditions["temperature"] == 1.0)  # trained there, drawn there


def test_a_target_outside_its_temperature_range_is_one_line(tmp_path, capsys):
    code, _, err = run(
        capsys,
        *("train", "flow", "--target", "boltzmann.double_well", "-o", str(tmp_path / "m")),
        *("--condition", "temperature=50", "--epochs", "1"),
    )
    assert code == 1 and "temperature" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_library_form_and_energy_of_a_saved_model(tmp_path):
    sim = surrogate.simulator("boltzmann.double_well", convention="fab")
    model = surrogate.surrogate("flow", preprocessing=[], transforms=4, hidden=32)
    model.fit(target=sim, conditions={"temperature": 1.0}, seed=0, epochs=1, steps_per_epoch=20)
    model.save(tmp_path / "m")
    loaded = surrogate.load(tmp_path / "m")
    a = model.sample_and_log_prob(50, seed=3)
    b = loaded.sample_and_log_prob(50, seed=3)
    np.testing.assert_array_equal(a[0]["x"], b[0]["x"])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)


def test_temperature_range_is_checked_by_the_energy():
    sim = surrogate.simulator("boltzmann.double_well")
    with pytest.raises(SpecError, match="temperature"):
        sim.energy({"x": np.zeros((2, 2))}, {"temperature": 0.1})


@pytest.mark.parametrize("target", EXACT_TARGETS)
def test_conformance_of_the_exact_targets(target):
    for name, check in simulator_checks(lambda: surrogate.simulator(target), n=32):
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{target}: {name}: {exc}") from None
