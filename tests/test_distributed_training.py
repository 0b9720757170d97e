"""Data-parallel training on two CPU processes (gloo): the weights of a two-process run
equal a single-process run's at the same global batch, a run killed after its first
checkpoint resumes to the weights of an uninterrupted one, more families train, and the
helpers (row slices, the weighted gradient mean, the world from the environment) hold on
their own.

The processes are spawned (``torch.multiprocessing.start_processes``) and report through
files; one launch runs several trainings, since starting a process costs more here than
training its small models."""

from __future__ import annotations

import csv
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import surrogate
from surrogate.training import Trainer, TrainOptions
from surrogate.training.distributed import (
    World,
    pack_gradients,
    rank_seed,
    unpack_gradients,
)

FLOW: dict[str, Any] = {"hidden": 16, "blocks": 1, "transforms": 2}
VAE: dict[str, Any] = {"latent": 2, "hidden": 16, "blocks": 1}
GAN: dict[str, Any] = {"hidden": 16, "blocks": 1}
#: 1200 training events in batches of 250: the last batch (200) is uneven
LOOP: dict[str, Any] = {"batch_size": 250, "lr": 3e-3, "progress": False, "val_fraction": 0.1}


# -- what the spawned processes run -----------------------------------------------------------


class NanOnRank1:
    """A least-squares objective whose loss is NaN on rank 1 at the second step."""

    def __init__(self, rank: int) -> None:
        self.rank, self.net = rank, torch.nn.Linear(2, 1)

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def configure_optimizers(self, options: TrainOptions) -> dict[str, Any]:
        return {"main": torch.optim.SGD(self.net.parameters(), lr=0.1)}

    def make_batch(self, arrays: tuple[np.ndarray, ...], device: torch.device) -> torch.Tensor:
        return torch.from_numpy(arrays[0])

    def training_loss(self, x: torch.Tensor, optimizer: str, ctx: Any) -> dict[str, Any]:
        loss = self.net(x).pow(2).mean()
        return {"loss": loss * float("nan") if self.rank == 1 and ctx.step == 1 else loss}

    def validation_loss(self, x: torch.Tensor, ctx: Any) -> dict[str, Any]:
        return self.training_loss(x, "main", ctx)


def _nan_on_one_rank(rank: int, out: Path) -> None:
    batches = [(np.ones((4, 2), np.float32),)] * 3
    trainer = Trainer(
        NanOnRank1(rank),
        train_batches=lambda epoch: batches,
        val_batches=None,
        steps_per_epoch=3,
        options=TrainOptions(epochs=2, progress=False),
    )
    try:
        trainer.run()
    except surrogate.TrainingError as exc:
        (out / f"nan-rank{rank}.txt").write_text(str(exc))


def _flow_and_friends(rank: int, data: str, out: Path) -> None:
    """Flow through ``surrogate.train`` (the library call of a torchrun script), then a
    VAE streamed from the file (its reference for the resume test), a GAN, and a loss
    that is NaN on one process only."""
    surrogate.train("flow", data, out / "flow", hyperparameters=FLOW, seed=3, epochs=2, **LOOP)
    vae = surrogate.surrogate("vae", **VAE)
    vae.fit(data, seed=4, workdir=out / "vae", epochs=3, in_memory=False, **LOOP)
    _report(vae, out / f"vae-rank{rank}.npz")
    gan = surrogate.surrogate("gan", **GAN)
    gan.fit(data, seed=5, epochs=1, **LOOP)
    _report(gan, out / f"gan-rank{rank}.npz")
    _nan_on_one_rank(rank, out)


def _vae_killed(rank: int, data: str, out: Path) -> None:
    """The VAE run of :func:`_flow_and_friends`, checkpointed every 3 steps (5 an epoch),
    rank 1 killed at the 3rd step of its 2nd epoch, after the checkpoint of its 1st."""

    def kill(event: str, info: dict[str, Any]) -> None:
        if rank == 1 and event == "step_end" and info["epoch"] == 1 and info["step"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    vae = surrogate.surrogate("vae", **VAE)
    vae.fit(
        data,
        seed=4,
        workdir=out,
        epochs=3,
        in_memory=False,
        callbacks=[kill],
        checkpoint_steps=3,
        **LOOP,
    )


def _vae_resumed(rank: int, data: str, out: Path) -> None:
    vae = surrogate.surrogate("vae", **VAE)
    vae.fit(data, workdir=out, resume=True, epochs=3, in_memory=False, **LOOP)
    _report(vae, out / f"rank{rank}.npz")
    # the toolkit created the group (from the environment), so fit destroyed it
    assert not torch.distributed.is_initialized()


JOBS = {"flow": _flow_and_friends, "killed": _vae_killed, "resumed": _vae_resumed}


def _report(model: Any, path: Path) -> None:
    np.savez(path, **model._state())


def _worker(rank: int, job: str, init: str, data: str, out: str) -> None:
    """One process: join a group (``file://...``: the caller initialises it, as a script
    may; ``env:PORT``: torchrun's variables, the toolkit initialises it) and run ``job``."""
    torch.set_num_threads(1)
    os.environ |= {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}
    if init.startswith("env:"):
        os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": init[4:]}
    else:
        torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    JOBS[job](rank, data, Path(out))


def _spawn(job: str, init: str, data: Path, out: Path) -> None:
    mp.start_processes(
        _worker, args=(job, init, str(data), str(out)), nprocs=2, start_method="spawn"
    )


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _log_rows(workdir: Path) -> list[dict[str, str]]:
    """The training log without its timings."""
    with open(workdir / "training_log.csv") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "toy.h5"
    surrogate.simulate("toy.gmm2d", 1334, path, options={"conditional": True}, seed=0)
    return path


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    """The outputs of the flow, VAE and GAN runs on two processes."""
    out = tmp_path_factory.mktemp("ddp")
    _spawn("flow", f"file://{out}/store", data, out)
    return out


# -- two processes ----------------------------------------------------------------------------


def test_two_processes_reach_the_single_process_weights(two_processes, data, tmp_path):
    """The same global batches, split over two processes, give the weights of one
    process (up to the rounding of the sums), and rank 0 wrote the model directory."""
    alone = surrogate.train("flow", data, tmp_path, hyperparameters=FLOW, seed=3, epochs=2, **LOOP)
    ddp = surrogate.load(two_processes / "flow")
    a, b = alone._state(), ddp._state()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-5, err_msg=k)
    rows = (two_processes / "flow" / "training_log.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,")
    assert (two_processes / "flow" / "loss.png").stat().st_size > 1000


def test_every_process_ends_with_the_same_model(two_processes):
    for family in ("vae", "gan"):
        zero = _weights(two_processes / f"{family}-rank0.npz")
        one = _weights(two_processes / f"{family}-rank1.npz")
        for k in zero:
            np.testing.assert_array_equal(zero[k], one[k], err_msg=f"{family} {k}")
            assert np.isfinite(zero[k]).all()


def test_a_loss_that_is_nan_on_one_process_stops_every_process(two_processes):
    for rank in (0, 1):
        message = (two_processes / f"nan-rank{rank}.txt").read_text()
        assert "the main loss became non-finite on 1 of 2 processes at epoch 1, step 2" in message


def test_a_killed_run_resumes_to_the_uninterrupted_weights(two_processes, data, tmp_path, caplog):
    """Rank 1 killed with SIGKILL inside an epoch; two new processes resume from the
    checkpoint taken inside it (each with its own RNG state, rank 0 with both processes'
    loss sums) and end bit-identical to the run never killed, log included.  One process
    then goes on from their checkpoint, warned that its draws differ."""
    with pytest.raises(mp.ProcessExitedException):
        _spawn("killed", f"env:{_free_port()}", data, tmp_path)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["epoch-0001.pt", "epoch-0002-step-000001.pt"]
    ckpt = torch.load(tmp_path / "checkpoints" / names[1], weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rank_rng"]) == 2 and ckpt["epoch_step"] == 1
    _spawn("resumed", f"env:{_free_port()}", data, tmp_path)
    full = _weights(two_processes / "vae-rank0.npz")
    for rank in (0, 1):
        resumed = _weights(tmp_path / f"rank{rank}.npz")
        for k in full:
            np.testing.assert_array_equal(resumed[k], full[k], err_msg=f"rank {rank} {k}")
    assert _log_rows(tmp_path) == _log_rows(two_processes / "vae")
    with caplog.at_level(logging.WARNING, logger="surrogate.training"):
        alone = surrogate.surrogate("vae", **VAE)
        alone.fit(data, workdir=tmp_path, resume=True, epochs=4, in_memory=False, **LOOP)
    assert "checkpointed on 2 processes on 1" in caplog.text
    assert alone.training_result.epochs_run == 4


def test_torchrun_trains_through_the_command_line(data, tmp_path):
    """``torchrun -m surrogate train``: rank 0 alone says what it trains on and prints
    the result; the model directory is complete."""
    out = tmp_path / "model"
    command = [
        *(str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node=2"),
        *("-m", "surrogate", "train", "vae", "--data", str(data), "-o", str(out)),
        *("--epochs", "1", "--batch-size", "250", "--no-progress", "--option", "hidden=16"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("training on 2 processes (gloo), global batch 250 = 2 x 125") == 1
    assert done.stdout.count("trained vae on 1334 events") == 1
    assert len(surrogate.load(out).sample(10, seed=0)) == 10


# -- the helpers, in one process -------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 250])
def test_rows_are_split_contiguously_rank_0_first(n):
    parts = [World(r, 3).bounds(n) for r in range(3)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    sizes = [end - begin for begin, end in parts]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] - sizes[-1] <= 1
    x = np.arange(n)
    local = World(1, 3).local_batch((x, x * 2))
    np.testing.assert_array_equal(local[0], x[parts[1][0] : parts[1][1]])


def test_the_weighted_gradient_mean_is_the_full_batch_gradient():
    """Two slices of 3 and 1 rows (and an empty third) summed as the all-reduce does
    give the gradient of the mean loss over all 4; a parameter no slice touched keeps
    no gradient."""
    torch.manual_seed(0)
    net, unused = torch.nn.Linear(2, 1), torch.nn.Parameter(torch.zeros(3))
    params = [*net.parameters(), unused]
    x = torch.randn(4, 2)

    def grads(rows: torch.Tensor) -> torch.Tensor:
        net.zero_grad(set_to_none=True)
        if len(rows):
            net(rows).pow(2).mean().backward()
        return pack_gradients(params, len(rows))

    summed = grads(x[:3]) + grads(x[3:]) + grads(x[4:])
    net.zero_grad(set_to_none=True)
    net(x).pow(2).mean().backward()
    expected = [p.grad.clone() for p in net.parameters()]
    assert unpack_gradients(summed, params) == (4, 0)
    for p, g in zip(net.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, g)
    assert unused.grad is None
    bad = pack_gradients(params, 2, finite=False) + pack_gradients(params, 2)
    assert unpack_gradients(bad, params)[1] == 1


def test_the_world_comes_from_torchruns_environment():
    assert World.from_env({}) == World(0, 1, 0)
    world = World.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (world.rank, world.world_size, world.local_rank, world.is_main) == (3, 4, 1, False)
    assert World(0, 2).describe("gloo", 512) == (
        "training on 2 processes (gloo), global batch 512 = 2 x 256"
    )
    with pytest.raises(surrogate.TrainingError, match="RANK=2 and WORLD_SIZE=2"):
        World.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    seeds = {rank_seed(7, r) for r in (1, 2)} | {rank_seed(8, 1), rank_seed(7, 1, 5)}
    assert len(seeds) == 4 and rank_seed(7, 1) == rank_seed(7, 1)


def test_only_rank_0_saves_a_model(monkeypatch, tmp_path):
    model = surrogate.surrogate("gaussian").fit(
        surrogate.simulator("toy.gmm2d").sample(100, seed=0), seed=0
    )
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert model.save(tmp_path / "m") == tmp_path / "m"
    assert not (tmp_path / "m").exists()
    monkeypatch.setenv("RANK", "0")
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "config.json").is_file()
