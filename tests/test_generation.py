"""Fan-out of simulation and generation: the same events on every backend, shards that
survive a killed run, and clear errors for what cannot work."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import surrogate
from surrogate import Condition, EventSpec, Field, Simulator
from surrogate.errors import NonFiniteError, SurrogateError
from surrogate.generation import Execution, generate_chunks, generate_to_file
from surrogate.generation.backends import BackendError, read_cluster_file
from surrogate.generation.files import worker_threads
from surrogate.generation.shards import ShardDir
from surrogate.io import read_events

try:
    import distributed  # noqa: F401

    dask_installed = True
except ImportError:  # pragma: no cover - the dev extra installs it
    dask_installed = False
needs_dask = pytest.mark.skipif(not dask_installed, reason="dask is not installed")
two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")


class ThreadCounter(Simulator):
    """Records, in every event, how many torch threads the process generating it had."""

    name = "test.threads"
    version = "0"

    def __init__(self) -> None:
        super().__init__()
        self.spec = EventSpec(fields=(Field("threads", (), "float32"),))

    def _sample(self, n, conditions, rng):
        import torch

        return {"threads": np.full(n, torch.get_num_threads(), dtype=np.float32)}


class DiesOnce(Simulator):
    """Kills its own process the first time it makes the event range starting at
    ``die_at`` (a marker file remembers), like a worker lost mid-shard on a farm."""

    name = "test.dies_once"
    version = "0"

    def __init__(self, marker: str, die_at: int) -> None:
        super().__init__(marker=marker, die_at=die_at)
        self.marker, self.die_at = Path(marker), die_at
        self.spec = EventSpec(fields=(Field("x", (2,), "float32"),))
        self.made = 0

    def _sample(self, n, conditions, rng):
        return {"x": rng.normal(size=(n, 2)).astype(np.float32)}

    def sample(self, n, conditions=None, *, seed=None):
        chunk = seed.spawn_key[-1] if isinstance(seed, np.random.SeedSequence) else None
        if chunk == self.die_at and not self.marker.exists():
            self.marker.write_text("died")
            os._exit(1)
        return super().sample(n, conditions, seed=seed)


class NaNAboveOne(Simulator):
    """Gives NaN in ``x[:, 1]`` for the events whose condition ``e`` is above 1, like a
    generator that breaks down at one corner of its conditions."""

    name = "test.nan_above_one"
    version = "0"

    def __init__(self) -> None:
        super().__init__()
        self.spec = EventSpec(
            fields=(Field("x", (2,), "float32"),), conditions=(Condition("e", low=0, high=2),)
        )

    def _sample(self, n, conditions, rng):
        x = rng.normal(size=(n, 2)).astype(np.float32)
        x[conditions["e"] > 1, 1] = np.nan
        return {"x": x}


def _toy(tmp_path: Path, name: str, **kw) -> Path:
    kw.setdefault("seed", 7)
    kw.setdefault("chunk_size", 100)
    kw.setdefault("progress", False)
    return surrogate.simulate("toy.gmm2d", 1000, tmp_path / name, **kw)


def _same_events(a: Path, b: Path) -> None:
    ea, eb = read_events(a), read_events(b)
    for key in ea.fields:
        np.testing.assert_array_equal(ea[key], eb[key])
    for key in ea.conditions:
        np.testing.assert_array_equal(ea.conditions[key], eb.conditions[key])


def test_worker_threads_divide_the_cores():
    cores = os.cpu_count() or 1
    assert worker_threads(1) == cores
    assert worker_threads(cores) == 1
    assert worker_threads(4 * cores) == 1


def test_the_chunks_are_those_of_one_seed_per_chunk():
    """chunk i is seeded by SeedSequence(seed).spawn(...)[i]: the rule every backend keeps
    (and the one files made before shards existed followed)."""
    sim = surrogate.simulator("toy.gmm2d")
    chunks = list(generate_chunks(sim, 250, seed=3, chunk_size=100, progress=False))
    seeds = np.random.SeedSequence(3).spawn(3)
    for chunk, s, m in zip(chunks, seeds, (100, 100, 50), strict=True):
        np.testing.assert_array_equal(chunk["x"], sim.sample(m, seed=s)["x"])


def test_sharding_does_not_change_the_events(tmp_path):
    direct = _toy(tmp_path, "direct.h5")
    sharded = _toy(tmp_path, "sharded.h5", shard_size=300)
    _same_events(direct, sharded)
    assert not ShardDir(sharded).path.exists()  # joined and removed
    meta = read_events(sharded)
    assert len(meta) == 1000


@two_cores
def test_processes_give_the_same_events_and_share_the_cores(tmp_path):
    serial = _toy(tmp_path, "serial.h5", shard_size=200)
    pool = _toy(tmp_path, "pool.h5", shard_size=200, backend="processes", workers=2)
    _same_events(serial, pool)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(worker_threads(2) + 2)  # what the workers must not inherit
    try:
        out = generate_to_file(
            ThreadCounter(),
            40,
            tmp_path / "threads.h5",
            seed=0,
            chunk_size=10,
            execution=Execution(backend="processes", workers=2, shard_size=10),
            progress=False,
        )
    finally:
        torch.set_num_threads(before)
    assert np.all(read_events(out)["threads"] == worker_threads(2))


@needs_dask
def test_dask_gives_the_same_events(tmp_path):
    serial = _toy(tmp_path, "serial.h5", shard_size=250)
    one = _toy(tmp_path, "dask1.h5", shard_size=250, backend="dask", workers=1)
    two = _toy(tmp_path, "dask2.h5", shard_size=500, backend="dask", workers=2)
    _same_events(serial, one)
    _same_events(serial, two)


def test_a_virtual_join_reads_as_the_copied_one(tmp_path):
    copied = _toy(tmp_path, "copied.h5", shard_size=300)
    virtual = _toy(tmp_path, "virtual.h5", shard_size=300, join="virtual")
    _same_events(copied, virtual)
    assert ShardDir(virtual).path.is_dir()  # the output reads from them
    # the shards are named relative to the output: the two move together
    moved = tmp_path / "moved"
    moved.mkdir()
    os.replace(virtual, moved / virtual.name)
    os.replace(ShardDir(virtual).path, ShardDir(moved / virtual.name).path)
    _same_events(copied, moved / virtual.name)


def test_the_metadata_is_that_of_an_unsharded_file(tmp_path):
    a = surrogate.io.open_events(_toy(tmp_path, "a.h5")).metadata
    b = surrogate.io.open_events(_toy(tmp_path, "b.h5", shard_size=300)).metadata
    assert {k: v for k, v in a.items() if k != "created"} == {
        k: v for k, v in b.items() if k != "created"
    }


def _dies_once(tmp_path: Path, backend: str, workers: int, **kw) -> Path:
    sim = DiesOnce(str(tmp_path / "died"), die_at=5)
    return generate_to_file(
        sim,
        1000,
        tmp_path / "out.h5",
        seed=11,
        chunk_size=100,
        execution=Execution(backend=backend, workers=workers, shard_size=200),
        progress=False,
        **kw,
    )


def _uninterrupted(tmp_path: Path) -> Path:
    """The same run, serial and never killed."""
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "died").write_text("already")
    return _dies_once(clean, "serial", 1)


def test_a_dead_worker_keeps_the_finished_shards_and_the_rerun_completes(tmp_path, caplog):
    with pytest.raises(SurrogateError, match="died.*shards are complete.*run the same command"):
        _dies_once(tmp_path, "processes", 1)
    out = tmp_path / "out.h5"
    assert not out.exists()
    shards = ShardDir(out)
    kept = sorted(p.name for p in shards.path.glob("shard-*.h5"))
    assert kept == ["shard-00000.h5", "shard-00001.h5"]  # shard 2 holds chunk 5
    with caplog.at_level("WARNING"):
        _dies_once(tmp_path, "processes", 1)
    assert "2 of 5 shards are already in" in caplog.text and "making the other 3" in caplog.text
    assert not shards.path.exists()
    _same_events(out, _uninterrupted(tmp_path))


@needs_dask
def test_dask_reruns_the_shard_of_a_worker_that_died(tmp_path):
    out = _dies_once(tmp_path, "dask", 2)
    assert (tmp_path / "died").exists()  # a worker did die
    _same_events(out, _uninterrupted(tmp_path))


def test_a_corrupt_shard_is_made_again(tmp_path, caplog):
    with pytest.raises(SurrogateError):
        _dies_once(tmp_path, "processes", 1)
    shard = ShardDir(tmp_path / "out.h5").shard(1)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        out = _dies_once(tmp_path, "serial", 1)
    assert "shard 1" in caplog.text and "corrupt" in caplog.text
    _same_events(out, _uninterrupted(tmp_path))


def test_shards_of_another_run_are_refused(tmp_path):
    with pytest.raises(SurrogateError):
        _dies_once(tmp_path, "processes", 1)
    sim = DiesOnce(str(tmp_path / "died"), die_at=5)
    with pytest.raises(SurrogateError, match="another run.*seed"):
        generate_to_file(
            sim,
            1000,
            tmp_path / "out.h5",
            seed=12,
            chunk_size=100,
            execution=Execution(shard_size=200),
            progress=False,
        )
    # without a seed, the same command continues the interrupted run with its seed
    out = generate_to_file(
        sim,
        1000,
        tmp_path / "out.h5",
        chunk_size=100,
        execution=Execution(shard_size=200),
        progress=False,
    )
    assert surrogate.io.open_events(out).metadata["seed"] == 11


@contextlib.contextmanager
def _held_elsewhere(out: Path):
    """Another process holds the output lock of ``out`` while the block runs."""
    code = (
        "import fcntl, sys, time; fh = open(sys.argv[1], 'a+'); "
        "fh.write('pid 1 on elsewhere'); fh.flush(); "
        "fcntl.flock(fh, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out.parent / f".{out.name}.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_two_runs_cannot_write_one_output(tmp_path):
    out = tmp_path / "out.h5"
    with _held_elsewhere(out):
        with pytest.raises(SurrogateError, match="being written by another run"):
            _toy(tmp_path, "out.h5")
        assert not out.exists()
    _toy(tmp_path, "out.h5")  # the lock died with its process
    assert out.exists()


def test_two_trainings_validations_samples_or_scorings_cannot_write_one_output(tmp_path):
    data = _toy(tmp_path, "toy.h5")
    busy = pytest.raises(SurrogateError, match="being written by another run")
    with _held_elsewhere(tmp_path / "model"), busy:
        surrogate.train("gaussian", data, tmp_path / "model")
    model = surrogate.train("gaussian", data, tmp_path / "model")
    busy = pytest.raises(SurrogateError, match="being written by another run")
    with _held_elsewhere(tmp_path / "report"), busy:
        surrogate.validate(model, n=100, out=tmp_path / "report", simulator="toy.gmm2d")
    assert not (tmp_path / "report").exists()
    for output, write in {
        "gen.h5": lambda path: surrogate.sample(model, 100, path, seed=0, progress=False),
        "scores.h5": lambda path: surrogate.score(model, data, path, progress=False),
    }.items():
        busy = pytest.raises(SurrogateError, match="being written by another run")
        with _held_elsewhere(tmp_path / output), busy:
            write(tmp_path / output)
        assert not (tmp_path / output).exists()


def test_a_model_in_memory_is_not_sent_to_workers(tmp_path):
    model = surrogate.surrogate("gaussian")
    model.fit(read_events(_toy(tmp_path, "train.h5")), seed=0)
    with pytest.raises(BackendError, match="save it"):
        surrogate.sample(model, 100, tmp_path / "g.h5", backend="processes", workers=2)
    directory = tmp_path / "model"
    model.save(directory)
    serial = surrogate.sample(
        directory, 500, tmp_path / "s.h5", seed=1, chunk_size=100, progress=False
    )
    pool = surrogate.sample(
        directory,
        500,
        tmp_path / "p.h5",
        seed=1,
        chunk_size=100,
        shard_size=200,
        backend="processes",
        workers=2,
        progress=False,
    )
    _same_events(serial, pool)


@pytest.mark.parametrize("backend", ["serial", pytest.param("processes", marks=two_cores)])
def test_nan_from_a_generator_names_the_event_of_the_output_and_writes_nothing(tmp_path, backend):
    e = np.full(1000, 0.5)
    e[[537, 538, 901]] = 1.5
    with pytest.raises(NonFiniteError) as caught:
        generate_to_file(
            NaNAboveOne(),
            1000,
            tmp_path / "out.h5",
            conditions={"e": e},
            seed=3,
            chunk_size=100,
            execution=Execution(backend=backend, workers=2, shard_size=200),
            progress=False,
        )
    message = str(caught.value)
    assert "\n" not in message
    assert "field 'x' has NaN or Inf in 2 of 100 events" in message  # the chunk 500:600
    assert (
        "(the first: event 537, element (1,), is nan, at e=1.5); counted in the output of seed 3"
        in message
    )
    assert (caught.value.name, caught.value.event) == ("x", 537)
    assert not (tmp_path / "out.h5").exists()
    assert not list(tmp_path.glob(".out.h5.tmp-*"))


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(BackendError, match="unknown backend 'dsak'.*did you mean 'dask'"):
        Execution(backend="dsak")
    with pytest.raises(BackendError, match="need --backend dask"):
        Execution(backend="processes", scheduler="tcp://x:1")
    with pytest.raises(BackendError, match="workers must be a positive integer"):
        Execution(workers=0)
    with pytest.raises(SurrogateError, match="virtual datasets are HDF5"):
        _toy(tmp_path, "out.root", join="virtual")


def test_cluster_files_name_a_known_type(tmp_path):
    good = tmp_path / "slurm.yaml"
    good.write_text("type: slurm\njobs: 4\ncores: 32\nmemory: 64GB\nwalltime: '02:00:00'\n")
    assert read_cluster_file(good) == (
        "slurm",
        4,
        {"cores": 32, "memory": "64GB", "walltime": "02:00:00"},
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("type: os.system\n")
    with pytest.raises(BackendError, match="cluster type 'os.system' is not one of"):
        read_cluster_file(bad)
    bad.write_text("type: slurm\njobs: many\n")
    with pytest.raises(BackendError, match="jobs must be a positive integer"):
        read_cluster_file(bad)


@needs_dask
def test_an_unreachable_scheduler_is_named(tmp_path):
    with pytest.raises(BackendError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        _toy(tmp_path, "out.h5", backend="dask", scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "out.h5").exists()


def test_without_dask_the_backend_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(BackendError, match=r"pip install 'surrogate\[dask\]'"):
        _toy(tmp_path, "out.h5", backend="dask")
    _toy(tmp_path, "serial.h5")  # the core runs without it


def test_the_command_line_takes_the_backend(tmp_path, capsys):
    from surrogate.cli import main

    out = tmp_path / "cli.h5"
    args = ["simulate", "toy.gmm2d", "-n", "1000", "-o", str(out), "--seed", "7"]
    args += ["--chunk-size", "100", "--shard-size", "300", "--no-progress"]
    assert main(args) == 0
    _same_events(out, _toy(tmp_path, "api.h5"))
    assert (
        main(
            [
                *args[:5],
                str(tmp_path / "x.h5"),
                "--backend",
                "dask",
                "--cluster",
                str(tmp_path / "missing.yaml"),
            ]
        )
        == 1
    )
    assert "cannot read the cluster file" in capsys.readouterr().err
    plan = ShardDir(tmp_path / "x.h5").path / "plan.json"
    assert not plan.exists() or json.loads(plan.read_text())


def test_a_run_killed_with_sigkill_continues_where_it_stopped(tmp_path):
    """The coordinator itself killed mid-run: no output, the finished shards kept, and the
    same command makes only the rest, giving the uninterrupted run's events."""
    import signal
    import time

    out = tmp_path / "killed.h5"
    cmd = [sys.executable, "-m", "surrogate.cli", "simulate", "toy.gmm2d", "-n", "2e6"]
    cmd += ["-o", str(out), "--seed", "5", "--chunk-size", "1e5", "--shard-size", "2e5"]
    cmd += ["--no-progress"]
    run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = ShardDir(out)
    deadline = time.monotonic() + 120
    while not (shards.path / "shard-00001.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not out.exists(), "the run ended before it could be killed"
    kept = {p.name for p in shards.path.glob("shard-*.json")}
    assert 2 <= len(kept) < 10
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    assert not shards.path.exists()
    whole = surrogate.simulate(
        "toy.gmm2d",
        2_000_000,
        tmp_path / "whole.h5",
        seed=5,
        chunk_size=100_000,
        shard_size=2_000_000,
        progress=False,
    )
    _same_events(out, whole)


def test_sharded_root_output_and_conditions_from_a_file(tmp_path):
    """A .root output joined from shards holds the direct run's events, and per-event
    conditions read from a file are cut along with the shards."""
    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    ref = generate_to_file(sim, 1000, tmp_path / "ref.h5", seed=3, chunk_size=100)
    direct = generate_to_file(sim, 1000, tmp_path / "d.root", seed=3, chunk_size=100)
    sharded = generate_to_file(
        sim,
        1000,
        tmp_path / "s.root",
        seed=3,
        chunk_size=100,
        execution=Execution(shard_size=300),
        progress=False,
    )
    _same_events(direct, sharded)
    model = surrogate.surrogate("gaussian")
    model.fit(read_events(ref), seed=0)
    model.save(tmp_path / "model")
    kw = dict(seed=1, chunk_size=100, progress=False, conditions_from=ref)
    serial = surrogate.sample(tmp_path / "model", None, tmp_path / "a.h5", **kw)
    pool = surrogate.sample(
        tmp_path / "model",
        None,
        tmp_path / "b.h5",
        shard_size=300,
        backend="processes",
        workers=2,
        **kw,
    )
    _same_events(serial, pool)
    np.testing.assert_array_equal(
        read_events(pool).conditions["radius"], read_events(ref).conditions["radius"]
    )


def test_aligned_shards_join_chunk_by_chunk(tmp_path, monkeypatch):
    """Shards written with the plan's alignment are joined by copying compressed chunks
    (no event is decoded); a file that does not line up is copied event by event; both
    give the same events."""
    from surrogate.io import EventWriter, make_metadata

    sim = surrogate.simulator("toy.gmm2d")
    meta = make_metadata(sim.spec, producer="toy.gmm2d", seed=0)
    parts = []
    for i, m in enumerate((10_000, 10_000, 3_000)):
        with EventWriter(tmp_path / f"p{i}.h5", sim.spec, meta, align=10_000) as w:
            w.write(sim.sample(m, seed=i))
        parts.append(tmp_path / f"p{i}.h5")
    decoded = []
    monkeypatch.setattr(EventWriter, "write", lambda self, ev: decoded.append(len(ev)))
    with EventWriter(tmp_path / "fast.h5", sim.spec, meta, align=10_000) as w:
        for p in parts:
            w.append_file(p)
    assert decoded == []
    monkeypatch.undo()
    with EventWriter(tmp_path / "slow.h5", sim.spec, meta) as w:  # other chunks: decoded
        for p in parts:
            w.append_file(p)
    whole = np.concatenate([read_events(p)["x"] for p in parts])
    np.testing.assert_array_equal(read_events(tmp_path / "fast.h5")["x"], whole)
    np.testing.assert_array_equal(read_events(tmp_path / "slow.h5")["x"], whole)
