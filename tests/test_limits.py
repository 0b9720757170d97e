"""Limits: a file larger than the memory given to the process, a disk that fills up
during a write, two processes writing one output.

Memory.  "The memory given to the process" is ``RLIMIT_DATA`` (``ulimit -d``): since
Linux 4.7 it counts the private writable memory (heap, anonymous mappings: where numpy
arrays, torch tensors and HDF5 chunks live) and not the mapped shared libraries.
``RLIMIT_AS`` counts the whole address space: torch's libraries alone map ~400 MB, and
a process training a small VAE peaks near 1 GB of address space, so a cap that fits it
would be mostly libraries, and "a file larger than the cap" would say little about the
data.  Measured here: importing torch and the toolkit costs ~175 MB of ``VmData``
(~590 MB ``VmSize``); training a small VAE ends near 400 MB, a validation with plots
peaks near 450 MB (below 400 MiB the training fails, with one line).  So the real test
(``-m slow``) caps ``RLIMIT_DATA`` at 512 MiB and trains and validates on a 630 MB file
(compressed on disk; 740 MB of events), which takes about 100 s; a quick test of that
kind is impossible (the baseline alone is near the cap), so the default suite checks
that the streaming, window, shard, batch and read choices follow a real rlimit (a
subprocess, no torch), and that what still does not fit says so in one line.

Peak memory: ``VmHWM`` counts every resident page, the shared libraries' too, which the
cap does not (it reached 537 MiB under the 512 MiB cap while training), so the test
compares it with the file's size, and the sampled peak ``RssAnon`` with the cap.

Disk.  A full disk is a tmpfs of a few pages mounted in a private user and mount
namespace (``unshare -Urm``: no root needed where user namespaces are allowed), which
gives the real ``ENOSPC``; a rerun remounts it larger in the same namespace, so it sees
what the failed run left.  Where namespaces are not allowed, ``RLIMIT_FSIZE`` (with
``SIGXFSZ`` ignored, so writes fail with ``EFBIG`` instead of killing the process)
stands in; that emulation also runs with ``-m slow`` everywhere.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import surrogate
from surrogate.cli import main
from surrogate.io import open_events, read_events
from surrogate.memory import OutOfMemoryError

CLI = [sys.executable, "-m", "surrogate.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
MiB = 2**20


def _cli(command: str) -> list[str]:
    return [*CLI, *shlex.split(command)]


#: the quick validation config of these tests
FAST = {
    "metrics": ["separation_power", "wasserstein1"],
    "max_plots": 1,
    "metric_options": {"separation_power": {"bootstrap": 5}, "wasserstein1": {"bootstrap": 5}},
}


# -- memory -----------------------------------------------------------------------------
#: run in a subprocess under RLIMIT_DATA = what it uses + 200 MiB: what the toolkit makes
#: of a million wide events (16 GB) that exist only when sliced
CAPPED_CHOICES = r"""
import json, math, resource, sys
import numpy as np
from surrogate.memory import _status_kib, memory_available, memory_budget
from surrogate.events import Events
from surrogate.spec import EventSpec, Field

room = int(sys.argv[1])
used = _status_kib("VmData") * 1024
resource.setrlimit(resource.RLIMIT_DATA, (used + room, resource.RLIM_INFINITY))

from surrogate.training.data import EventStream
from surrogate.validation import harness, sharded
from surrogate.validation.groundtruth import read_indices

spec = EventSpec((Field("x", (4096,)),))

class Wide:
    '''n events of 16 KiB, made when sliced (zeros: nothing to hold).'''
    def __init__(self, n): self.n, self.spec, self.reads = n, spec, []
    def __len__(self): return self.n
    def __getitem__(self, key):
        start, stop, _ = key.indices(self.n)
        self.reads.append(stop - start)
        return Events({"x": np.zeros((stop - start, 4096), np.float32)}, {}, spec)

left, source = memory_available()
budget = memory_budget(2e9)
stream = EventStream(Wide(20_000), lambda ev: (ev["x"],), batch_size=64, seed=0)
shards = sharded.resolve(20_000, spec, False)
reader = Wide(100_000)
read_indices(reader, np.arange(0, 100_000, 997))
print(json.dumps({
    "left": left, "source": source, "budget": budget,
    "in_memory": stream.in_memory, "window": stream.window_events,
    "shard_size": shards and shards.execution.shard_size,
    "subsample": shards and shards.subsample,
    "batch": harness._default_batch(spec),
    "largest_read": max(reader.reads),
}))
"""


def test_choices_follow_a_real_rlimit():
    """Under RLIMIT_DATA with 200 MiB left, 20 000 wide events (330 MB raw, which the
    2 GB default would hold in memory and validate unsharded) are streamed in windows,
    validated in shards, sampled in batches and read in slices that fit what is left."""
    room = 200 * MiB
    done = subprocess.run(
        [sys.executable, "-c", CAPPED_CHOICES, str(room)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["source"] == "RLIMIT_DATA"
    assert 0.5 * room < got["left"] <= room
    assert got["budget"] == pytest.approx(0.25 * got["left"])
    # each choice sees what is left when it is made, which moves by a few MB
    budget, event = 1.05 * got["budget"], 4096 * 4
    assert got["in_memory"] is False
    assert got["window"] >= 64 and got["window"] * 2 * event <= budget / 4
    # three samples of a shard, and of the subsample, each within half of the budget
    for held in (got["shard_size"], got["subsample"]):
        assert held is not None and 3 * held * event * 3 <= budget / 2
    assert got["batch"] * event * 3 <= budget / 4
    assert got["largest_read"] * event <= budget


def test_without_a_limit_the_defaults_hold(monkeypatch):
    """With memory to spare, the option decides as it always has: the same data in
    memory, the window of the option, and a validation that fits is not sharded."""
    from surrogate import memory
    from surrogate.events import Events
    from surrogate.spec import EventSpec, Field
    from surrogate.training.data import EventStream
    from surrogate.validation import harness, sharded

    monkeypatch.setattr(memory, "memory_limits", lambda: {"none": float("inf")})
    spec = EventSpec((Field("x", (4096,)),))
    data = Events({"x": np.zeros((2000, 4096), np.float32)}, {}, spec)
    stream = EventStream(data, lambda ev: (ev["x"],), batch_size=64, seed=0)
    assert stream.in_memory and stream.window_events == int(2e9 / 4 / (2 * (4 * 4096 + 8)))
    assert sharded.resolve(2000, spec, False) is None
    assert sharded.resolve(2000, spec, False, workers=2).execution.shard_size == 100_000
    assert harness._default_batch(spec) == harness.DEFAULT_BATCH
    monkeypatch.setattr(memory, "memory_limits", lambda: {"RLIMIT_DATA": 40 * MiB})
    assert not EventStream(data, lambda ev: (ev["x"],), batch_size=64, seed=0).in_memory
    assert sharded.resolve(2000, spec, False) is not None


def test_an_allocation_that_fails_is_one_line(tmp_path):
    """A chunk that cannot fit under the cap: one line that says out of memory and how
    much the limit leaves, no traceback, no output, no leftovers."""
    cap = 1 << 30
    done = subprocess.run(
        _cli("simulate toy.gmm2d -n 3e8 --chunk-size 300000000 -o big.h5 --seed 1 --no-progress"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (cap, cap)),
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("surrogate simulate: error: out of memory (")
    assert "RLIMIT_DATA leaves this process" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_hdf5_failing_to_allocate_is_not_a_damaged_file(tmp_path, monkeypatch):
    """HDF5 reports a chunk it could not allocate as an OSError, which a reader would
    take for a damaged file: it is out of memory, and says so."""
    surrogate.simulate("toy.gmm2d", 100, tmp_path / "a.h5", seed=0, progress=False)
    reader = open_events(tmp_path / "a.h5")

    def fail(*_):
        raise OSError("Can't synchronously read data (memory allocation failed for chunk)")

    monkeypatch.setattr(type(reader._h5()["x"]), "__getitem__", fail)
    with pytest.raises(OutOfMemoryError, match="out of memory"):
        reader[0:10]


CAP = 512 * MiB
#: runs the CLI and writes its status and peak memory next to it: ``VmHWM`` (all resident
#: pages, the shared libraries' too) and the largest ``RssAnon`` seen every 10 ms (the
#: resident part of what RLIMIT_DATA counts)
MEASURED = r"""
import json, sys, threading, time
from surrogate.cli import main
from surrogate.memory import _status_kib, peak_rss_mb
anon = [0]
def watch():
    while True:
        anon[0] = max(anon[0], _status_kib("RssAnon") or 0)
        time.sleep(0.01)
threading.Thread(target=watch, daemon=True).start()
rc = main(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": rc, "peak_mb": peak_rss_mb(), "anon_mb": anon[0] / 1024}, fh)
sys.exit(rc)
"""


def _under_cap(args: list[str], cwd: Path, name: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, str(cwd / f"{name}.json"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (CAP, CAP)),
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((cwd / f"{name}.json").read_text())
    return {**result, "seconds": time.perf_counter() - t0}


@pytest.mark.slow
def test_train_and_validate_a_file_larger_than_the_cap(tmp_path):
    """A 630 MB event file (4096 voxels an event), RLIMIT_DATA 512 MiB: training a VAE
    for an epoch and validating it against every event of the file both succeed, each
    holding less than the file (measured, on a loaded 2-core machine: training 25 s,
    VmHWM 537 MiB, RssAnon 416 MiB, streamed; validation 17 s, VmHWM 421 MiB, RssAnon
    297 MiB, in 82 shards of 277 events, which it chose itself)."""
    subprocess.run(
        _cli(
            "simulate cosmo.lognormal -n 45000 --option particles=16 -o big.h5 --seed 1 "
            "--no-progress --workers 2"
        ),
        cwd=tmp_path,
        env=ENV,
        check=True,
        capture_output=True,
    )
    size = (tmp_path / "big.h5").stat().st_size
    assert size > 1.15 * CAP
    train = _under_cap(
        shlex.split(
            "train vae --data big.h5 -o model --epochs 1 --batch-size 128 --device cpu "
            "--no-progress"
        ),
        tmp_path,
        "train",
    )
    assert train["anon_mb"] * MiB < CAP and train["peak_mb"] * MiB < size
    assert json.loads((tmp_path / "model" / "config.json").read_text())["plugin"] == "vae"
    from surrogate.training.loop import latest_checkpoint

    assert json.loads(latest_checkpoint(tmp_path / "model")["fingerprint"])["in_memory"] is False
    (tmp_path / "fast.json").write_text(json.dumps({**FAST, "observables": ["generic"]}))
    validate = _under_cap(
        shlex.split(
            "validate model --reference big.h5 -n 22500 --out report --config fast.json "
            "--device cpu -q"
        ),
        tmp_path,
        "validate",
    )
    assert validate["anon_mb"] * MiB < CAP and validate["peak_mb"] * MiB < size
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    execution = report["settings"]["execution"]
    assert execution["shards"] > 1 and execution["subsample"] < 22500
    sep = next(r for r in report["metrics"] if r["name"] == "separation_power")
    assert sep["evaluated_on"]["events"] == 22500
    print(
        f"file {size / MiB:.0f} MiB, RLIMIT_DATA {CAP / MiB:.0f} MiB; train "
        f"{train['seconds']:.0f} s, VmHWM {train['peak_mb']:.0f} MiB, RssAnon "
        f"{train['anon_mb']:.0f} MiB; validate {validate['seconds']:.0f} s, VmHWM "
        f"{validate['peak_mb']:.0f} MiB, RssAnon {validate['anon_mb']:.0f} MiB; {execution}"
    )


# -- disk -------------------------------------------------------------------------------
@functools.cache
def _namespaces() -> bool:
    """Whether this process may mount a tmpfs in a user and mount namespace of its own."""
    try:
        done = subprocess.run(
            ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


#: one failed run and its rerun, inside the namespace for a tmpfs (whose files vanish
#: with it): the listing, status and stderr of each, as JSON on stdout
DRIVER = r"""
import json, os, resource, signal, subprocess, sys
job = json.loads(sys.argv[1])
out, limit = job["dir"], job["limit"]

def listing():
    return sorted(os.path.relpath(os.path.join(d, f), out)
                  for d, _, files in os.walk(out) for f in files)

def fsize():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, cwd=job["cwd"], **kw)
    return {"rc": p.returncode, "stderr": p.stderr, "stdout": p.stdout, "files": listing()}

if job["how"] == "tmpfs":
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={limit}", "tmpfs", out], check=True)
    first = run(job["args"])
    subprocess.run(["mount", "-o", "remount,size=256m", out], check=True)
else:
    first = run(job["args"], preexec_fn=fsize)
print(json.dumps({"first": first, "again": run(job["args"])}))
"""


@dataclass(frozen=True)
class Case:
    """A command that writes into ``out/`` and how much room makes it fail part way:
    ``tmpfs`` the size of the disk, ``fsize`` the largest file it may write."""

    args: str  # the command line, with {data}, {model} and {config}
    output: str  # what a complete output has, relative to out/
    tmpfs: str
    fsize: int
    named: str  # what the error names

    def complete(self, files: list[str]) -> bool:
        return self.output in files


CASES = {
    "simulate": Case(
        "simulate toy.gmm2d -n 100000 -o out/sim.h5 --seed 1 --no-progress",
        "sim.h5",
        "256k",
        200_000,
        "out/sim.h5",
    ),
    "simulate-processes": Case(
        (
            "simulate toy.gmm2d -n 100000 -o out/sim.h5 --seed 1 --no-progress --workers 2 "
            "--shard-size 20000"
        ),
        "sim.h5",
        "320k",
        100_000,
        "sim.h5",
    ),
    "sample": Case(
        "sample {model} -n 100000 -o out/gen.h5 --seed 1 --no-progress",
        "gen.h5",
        "256k",
        100_000,
        "out/gen.h5",
    ),
    "train-checkpoint": Case(
        "train vae --data {data} -o out/vae --epochs 1 --batch-size 512 --device cpu --no-progress",
        "vae/config.json",
        "1m",
        20_000,
        "out/vae/checkpoints/epoch-0001.pt",
    ),
    "train-model-directory": Case(
        "train gaussian --data {data} -o out/gauss --no-progress",
        "gauss/config.json",
        "8k",
        600,
        "out/gauss",
    ),
    "validate": Case(
        "validate {model} --simulator toy.gmm2d -n 2000 --out out/rep --config {config} -q",
        "rep/report.json",
        "64k",
        30_000,
        "out/rep",
    ),
}
REASONS = {"tmpfs": "no space left on the device", "fsize": "file size limit reached"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """A training file, a trained model and the quick validation config."""
    root = tmp_path_factory.mktemp("limits")
    data = surrogate.simulate("toy.gmm2d", 5000, root / "data.h5", seed=2, progress=False)
    surrogate.train("gaussian", data, root / "model")
    (root / "fast.json").write_text(json.dumps(FAST))
    return {"data": str(data), "model": str(root / "model"), "config": str(root / "fast.json")}


def _fill_and_rerun(case: Case, how: str, cwd: Path, inputs: dict[str, str]) -> dict[str, Any]:
    out = cwd / "out"
    out.mkdir()
    args = _cli(case.args.format(**inputs))
    limit = case.tmpfs if how == "tmpfs" else case.fsize
    job = {"dir": str(out), "cwd": str(cwd), "how": how, "limit": limit, "args": args}
    driver = [sys.executable, "-c", DRIVER, json.dumps(job)]
    if how == "tmpfs":
        driver = ["unshare", "-Urm", *driver]
    done = subprocess.run(driver, capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _hows() -> list[Any]:
    """The full disk of the default run (a tmpfs where namespaces allow, else the file
    size limit), and the other emulation with ``-m slow``."""
    first = "tmpfs" if _namespaces() else "fsize"
    other = "fsize" if first == "tmpfs" else "tmpfs"
    return [first, pytest.param(other, marks=pytest.mark.slow)]


@pytest.mark.parametrize("how", _hows())
@pytest.mark.parametrize("name", list(CASES))
def test_a_full_disk_leaves_no_output_and_says_so(name, how, tmp_path, inputs):
    """The command fails with one line naming the output and the reason, leaves
    nothing that looks complete, no temporary file and no lock; the same command run
    again with room succeeds (a sharded run keeps its finished shards for it)."""
    if how == "tmpfs" and not _namespaces():
        pytest.skip("no user namespaces here: unshare -Urm cannot mount a tmpfs")
    case = CASES[name]
    result = _fill_and_rerun(case, how, tmp_path, inputs)
    first, again = result["first"], result["again"]
    lines = first["stderr"].strip().splitlines()
    assert first["rc"] == 1, first["stderr"]
    assert "Traceback" not in first["stderr"] and len(lines) == 1, first["stderr"]
    assert case.named in lines[0] and REASONS[how] in lines[0], lines[0]
    assert not case.complete(first["files"]), first["files"]
    hidden = [f for f in first["files"] if ".tmp-" in f or f.endswith(".lock")]
    assert hidden == [], hidden
    assert again["rc"] == 0, again["stderr"]
    assert case.complete(again["files"]), again["files"]
    assert not [f for f in again["files"] if ".tmp-" in f or f.endswith(".lock")]


def test_a_write_that_finds_no_space_names_its_output(tmp_path, monkeypatch):
    """ENOSPC from any writer inside ``atomic_path`` (here a text write): one
    DiskFullError naming the output, the temporary file gone, the CLI's line."""
    import errno

    from surrogate.io.atomic import DiskFullError, write_text_atomic

    def full(self, *_, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(DiskFullError, match=r"out\.txt: cannot write it: no space left"):
        write_text_atomic(tmp_path / "out.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_names_a_full_disk_outside_atomic_writes(tmp_path, monkeypatch, capsys):
    """An ENOSPC no writer turned into a toolkit error still reads as one line."""
    import errno

    from surrogate.cli import simulate as command

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.h5"))

    monkeypatch.setattr(command, "run", full)
    assert main(["simulate", "toy.gmm2d", "-n", "10", "-o", str(tmp_path / "x.h5")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"surrogate simulate: error: {tmp_path / 'x.h5'}: cannot write it: no space left on "
        "the device (nothing is left under that name; run the command again when there is "
        "room)"
    ]


# -- two processes, one output ----------------------------------------------------------
def _start_holding(args: list[str], cwd: Path, lock: Path) -> subprocess.Popen[str]:
    """Start ``args`` and return once it holds the output lock ``lock``."""
    proc = subprocess.Popen(
        [*CLI, *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if lock.is_file() and lock.read_text().startswith(f"pid {proc.pid} "):
            return proc
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"{args[0]} never held {lock}: {proc.communicate()}")


def _race(first: list[str], second: list[str], cwd: Path, output: str) -> None:
    """``first`` holds the output while ``second`` starts: the second fails at once
    with one line naming the holder; the first finishes."""
    winner = _start_holding(first, cwd, cwd / f".{output}.lock")
    loser = subprocess.run([*CLI, *second], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert winner.poll() is None, "the first run ended before the second tried"
    _out, err = winner.communicate(timeout=300)
    assert winner.returncode == 0, err
    assert loser.returncode == 1
    assert loser.stderr.strip().splitlines() == [
        f"surrogate {second[0]}: error: {output} is being written by another run "
        f"(pid {winner.pid} on {os.uname().nodename}); wait for it to end or choose another "
        "output"
    ]


def test_two_simulations_of_one_output_one_wins_nothing_mixed(tmp_path):
    """Seeds 1 and 2 to ``sim.h5``: the file holds exactly the events of seed 1, as a
    run alone writes them."""
    args = ["simulate", "toy.gmm2d", "-n", "2e6", "--no-progress", "-o"]
    _race([*args, "sim.h5", "--seed", "1"], [*args, "sim.h5", "--seed", "2"], tmp_path, "sim.h5")
    subprocess.run([*CLI, *args, "alone.h5", "--seed", "1"], cwd=tmp_path, env=ENV, check=True)
    got, alone = read_events(tmp_path / "sim.h5"), read_events(tmp_path / "alone.h5")
    assert open_events(tmp_path / "sim.h5").metadata["seed"] == 1
    np.testing.assert_array_equal(got["x"], alone["x"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.h5", "sim.h5"]


def test_two_validations_of_one_report_one_wins(tmp_path, inputs):
    """Seeds 1 and 2 to ``rep``: the report is the first run's, whole."""
    args = ["validate", inputs["model"], "--simulator", "toy.gmm2d", "-n", "20000", "--out"]
    args_end = ["--config", inputs["config"], "-q"]
    first = [*args, "rep", "--seed", "1", *args_end]
    _race(first, [*args, "rep", "--seed", "2", *args_end], tmp_path, "rep")
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["settings"]["seed"] == 1 and report["settings"]["n"] == 20000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
