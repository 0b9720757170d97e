"""``kill -9`` at a random moment of ``simulate``, ``sample``, ``train`` and ``validate``:
afterwards there is no output or a complete one, what is left over is a hidden temporary
name the next run ignores, and running again (``train --resume`` once a checkpoint
exists) gives exactly the output of a run that was never killed.

One seed per command runs by default; ``pytest -m slow`` tries three more.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import surrogate
from surrogate.io import read_events

CLI = [sys.executable, "-m", "surrogate.cli"]
SEEDS = [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]


def _run(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode in (0, 3), done.stderr  # validate exits 3 on a failed bound
    return time.perf_counter() - t0


def _kill_during(args: list[str], cwd: Path, delay: float) -> bool:
    """Start the command, SIGKILL it after ``delay`` s; whether it was still running."""
    proc = subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _leftovers_are_hidden(folder: Path, expected: set[str]) -> None:
    for entry in folder.iterdir():
        if entry.name in expected:
            continue
        assert entry.name.startswith("."), f"{entry.name} left behind under a visible name"


def _same_events(a: Path, b: Path) -> None:
    ea, eb = read_events(a), read_events(b)
    for k in ea.fields:
        np.testing.assert_array_equal(ea[k], eb[k])


def _same_weights(a: Path, b: Path) -> None:
    from safetensors.numpy import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A training file, a model, and every command's uninterrupted output and time."""
    root = tmp_path_factory.mktemp("kill9")
    surrogate.simulate("toy.gmm2d", 3000, root / "toy.h5", seed=0, progress=False)
    model = surrogate.surrogate("gaussian").fit(read_events(root / "toy.h5"), seed=0)
    model.save(root / "model")
    times = {}
    for name, args in COMMANDS.items():
        ref = root / "reference"
        ref.mkdir(exist_ok=True)
        times[name] = _run(args(root, ref), ref)
    return root, times


def _simulate(root: Path, out: Path) -> list[str]:
    return [
        "simulate",
        "toy.gmm2d",
        "-n",
        "6e5",
        "-o",
        str(out / "sim.h5"),
        "--seed",
        "1",
        "--chunk-size",
        "5e4",
        "--shard-size",
        "1e5",
        "--no-progress",
    ]


def _sample(root: Path, out: Path) -> list[str]:
    return [
        "sample",
        str(root / "model"),
        "-n",
        "6e5",
        "-o",
        str(out / "gen.h5"),
        "--seed",
        "2",
        "--chunk-size",
        "5e4",
        "--no-progress",
    ]


def _train(root: Path, out: Path) -> list[str]:
    return [
        "train",
        "flow",
        "--data",
        str(root / "toy.h5"),
        "-o",
        str(out / "run"),
        "--seed",
        "0",
        "--epochs",
        "4",
        "--batch-size",
        "128",
        "--no-progress",
        "--option",
        "hidden=16",
        "--train-option",
        "checkpoint_steps=5",  # 22 steps an epoch: a kill most often lands inside one
    ]


def _validate(root: Path, out: Path) -> list[str]:
    return [
        "validate",
        str(root / "model"),
        "--simulator",
        "toy.gmm2d",
        "-n",
        "2000",
        "--out",
        str(out / "report"),
        "--config",
        "quick",
        "-q",
    ]


COMMANDS = {"simulate": _simulate, "sample": _sample, "train": _train, "validate": _validate}
OUTPUT = {"simulate": "sim.h5", "sample": "gen.h5", "train": "run", "validate": "report"}


def _check_complete(name: str, out: Path, ref: Path) -> None:
    if name in ("simulate", "sample"):
        _same_events(out, ref)
    elif name == "train":
        surrogate.load(out)
        _same_weights(out, ref)
    else:
        report = json.loads((out / "report.json").read_text())
        assert report["status"] in ("pass", "fail", "no-bounds")
        assert (out / "report.html").is_file()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_kill_minus_nine_leaves_nothing_half_written(workspace, tmp_path, name, seed):
    root, times = workspace
    ref = root / "reference" / OUTPUT[name]
    args = COMMANDS[name](root, tmp_path)
    draw = np.random.default_rng([seed, list(COMMANDS).index(name)])
    delay = float(draw.uniform(0.3, 0.9)) * times[name]
    killed = _kill_during(args, tmp_path, delay)
    out = tmp_path / OUTPUT[name]
    _leftovers_are_hidden(tmp_path, {OUTPUT[name], f"{OUTPUT[name]}.shards"})
    marker = out / "config.json" if name == "train" else out
    finished = marker.exists()
    if finished:  # what is there under the real name is complete
        _check_complete(name, out, ref)
    if (
        name == "train"
        and (out / "checkpoints").is_dir()
        and any((out / "checkpoints").glob("epoch-*.pt"))
    ):
        args = [*args, "--resume"]
    elif finished and name in ("train", "validate"):
        args = [*args, "--overwrite"] if name == "train" else args
    _run(args, tmp_path)
    _check_complete(name, out, ref)
    assert killed or finished  # a run the kill missed had finished its output
    if name in ("simulate", "sample"):  # the rerun held the lock and cleaned up
        assert not list(tmp_path.glob(f".{OUTPUT[name]}.tmp-*"))
