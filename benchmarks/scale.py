"""Benchmark of the fan-out: ``calo.gflash`` simulation and VAE generation of 10^6
showers (the ``test`` geometry's 96 voxels by default) on every backend with 1 and 2
workers, and DDP training throughput with 1 and 2 processes.

Each configuration runs in a fresh Python process through the library call the CLI
makes (``surrogate.simulate`` / ``surrogate.sample`` with ``backend=``, ``workers=``), so
its wall time includes starting the workers (a Dask ``LocalCluster``, a ``spawn`` pool)
and joining the shards, and its peak memory is its own.  Worker memory is each worker's
peak RSS as it reports it (for ``serial``, the process's own).  Every output is checked
to hold the same events as the serial run's (the fan-out must not change them).  Torch
uses one thread per worker.  The VAE is a quick one trained here on 50k ``calo.gflash``
showers (throughput does not depend on how well it is trained).

DDP: ``torchrun --standalone --nproc_per_node=P -m surrogate train`` of the same VAE at
one global batch, P = 1 and 2, on the same showers; events per second from the training
log's epoch times.

    python benchmarks/scale.py                       # everything, ~40 minutes on 2 cores
    python benchmarks/scale.py --n 1e5 --kinds vae   # a quick look
    python benchmarks/scale.py --table               # the table of the last results
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
RESULTS = HERE.with_name("scale-results.json")
CONFIGS = [("serial", 1), ("processes", 1), ("processes", 2), ("dask", 1), ("dask", 2)]


def _geometry() -> dict:
    """The geometry of every run (``--geometry``, passed to the worker processes)."""
    return {"geometry": os.environ.get("SCALE_GEOMETRY", "test")}


class _Stats(logging.Handler):
    """Keeps the ``stats`` of the generation's summary record."""

    def __init__(self) -> None:
        super().__init__()
        self.stats: dict = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.stats.update(getattr(record, "stats", {}))


def one(kind: str, backend: str, workers: int, n: int, shard_size: int, work: Path) -> dict:
    """One configuration, inside a fresh process: wall time, rate, memory."""
    import surrogate
    from surrogate.memory import peak_rss_mb

    handler = _Stats()
    logging.getLogger("surrogate.generation").addHandler(handler)
    logging.getLogger("surrogate.generation").setLevel(logging.INFO)
    out = work / f"{kind}-{backend}-{workers}.h5"
    out.unlink(missing_ok=True)
    common = dict(seed=1, backend=backend, workers=workers, shard_size=shard_size, progress=False)
    t0 = time.perf_counter()
    if kind == "gflash":
        surrogate.simulate("calo.gflash", n, out, options=_geometry(), **common)
    else:
        surrogate.sample(work / "vae", n, out, **common)
    wall = time.perf_counter() - t0
    own = peak_rss_mb()
    stats = handler.stats
    return {
        "kind": kind,
        "geometry": _geometry()["geometry"],
        "backend": backend,
        "workers": workers,
        "n": n,
        "shard_size": shard_size,
        "wall_s": wall,
        "events_per_s": n / wall,
        "coordinator_peak_rss_mb": own,
        "worker_peak_rss_mb": own if backend == "serial" else stats.get("worker_peak_rss_mb"),
        "join_s": stats.get("join_seconds"),
        "shard_s_mean": float(np.mean(stats["shard_seconds"])) if stats else None,
        "output": str(out),
        "output_mb": out.stat().st_size / 2**20,
        "load_average_before": os.getloadavg(),
    }


def _same_events(a: str, b: str) -> bool:
    from surrogate.io import read_events

    ea, eb = read_events(a), read_events(b)
    return all(np.array_equal(ea[k], eb[k]) for k in ea.fields) and all(
        np.array_equal(ea.conditions[k], eb.conditions[k]) for k in ea.conditions
    )


def _subprocess(args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(HERE), *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(work: Path, train_seconds: float) -> None:
    """The 50k training showers and a quick VAE (once per work directory)."""
    import surrogate

    data = work / "train.h5"
    if not data.exists():
        surrogate.simulate("calo.gflash", 50_000, data, options=_geometry(), seed=0, progress=False)
    if not (work / "vae" / "config.json").exists():
        surrogate.train(
            "vae", data, work / "vae", max_time=train_seconds, epochs=50, progress=False
        )


def ddp(work: Path, procs: int, epochs: int, batch: int) -> dict:
    """Training throughput under torchrun with ``procs`` processes at global batch ``batch``."""
    out = work / f"ddp-{procs}"
    shutil.rmtree(out, ignore_errors=True)
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", f"--nproc_per_node={procs}", "-m", "surrogate"]
    cmd += ["train", "vae", "--data", str(work / "train.h5"), "-o", str(out), "--seed", "0"]
    cmd += ["--epochs", str(epochs), "--batch-size", str(batch), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"torchrun: {done.stderr[-2000:]}")
    with open(out / "training_log.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seconds = [float(r["seconds"]) for r in rows]
    steady = seconds[1:] or seconds  # the first epoch includes set-up
    n_train = int(0.9 * 50_000)
    return {
        "kind": "ddp-vae",
        "processes": procs,
        "global_batch": batch,
        "epochs": len(rows),
        "wall_s": wall,
        "epoch_s": float(np.mean(steady)),
        "events_per_s": n_train / float(np.mean(steady)),
    }


def run(args: argparse.Namespace) -> int:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.train_seconds)
    rows = []
    for kind in args.kinds:
        first = None
        for backend, workers in CONFIGS:
            row = _subprocess(
                [
                    "--one",
                    kind,
                    backend,
                    str(workers),
                    "--n",
                    str(args.n),
                    "--work",
                    str(work),
                    "--shard-size",
                    str(args.shard_size),
                ]
            )
            first = first or row
            row["same_events_as_serial"] = _same_events(first["output"], row["output"])
            row["speedup"] = first["wall_s"] / row["wall_s"]
            print(json.dumps(row), flush=True)
            rows.append(row)
        for row in rows:
            if row["kind"] == kind and row["output"] != first["output"]:
                Path(row["output"]).unlink(missing_ok=True)
    for procs in args.ddp:
        row = ddp(work, procs, args.ddp_epochs, args.ddp_batch)
        print(json.dumps(row), flush=True)
        rows.append(row)
    from machine_info import machine

    RESULTS.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1) + "\n")
    print(table(rows))
    return 0


def table(rows: list[dict]) -> str:
    lines = [
        "| job | backend | workers | wall s | events/s | speed-up | worker peak RSS MB | join s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["kind"].startswith("ddp"):
            continue
        rss, join = r["worker_peak_rss_mb"], r["join_s"]
        lines.append(
            f"| {r['kind']} {r['n']:.0e} | {r['backend']} | {r['workers']} | {r['wall_s']:.1f} | "
            f"{r['events_per_s']:,.0f} | {r['speedup']:.2f} | "
            f"{'-' if rss is None else f'{rss:.0f}'} | "
            f"{'-' if join is None else f'{join:.1f}'} |"
        )
    ddp_rows = [r for r in rows if r["kind"].startswith("ddp")]
    if ddp_rows:
        lines += [
            "",
            "| DDP (VAE) | processes | global batch | epoch s | events/s | speed-up |",
            "|---|---|---|---|---|---|",
        ]
        base = ddp_rows[0]["epoch_s"]
        for r in ddp_rows:
            lines.append(
                f"| torchrun | {r['processes']} | {r['global_batch']} | {r['epoch_s']:.1f} | "
                f"{r['events_per_s']:,.0f} | {base / r['epoch_s']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=lambda s: int(float(s)), default=1_000_000)
    p.add_argument("--shard-size", type=lambda s: int(float(s)), default=100_000)
    p.add_argument("--kinds", nargs="+", default=["gflash", "vae"], choices=["gflash", "vae"])
    p.add_argument("--ddp", nargs="*", type=int, default=[1, 2], help="process counts")
    p.add_argument("--ddp-epochs", type=int, default=3)
    p.add_argument("--ddp-batch", type=int, default=512)
    p.add_argument("--train-seconds", type=float, default=120.0)
    p.add_argument("--work", default="/tmp/surrogate-scale")
    p.add_argument(
        "--geometry",
        default="test",
        help="calo.gflash geometry: test (96 voxels, the default) or 1-photons (368)",
    )
    p.add_argument("--table", action="store_true", help="print the last results' table")
    p.add_argument("--one", nargs=3, metavar=("KIND", "BACKEND", "WORKERS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.environ["SCALE_GEOMETRY"] = args.geometry
    if args.table:
        print(table(json.loads(RESULTS.read_text())["rows"]))
        return 0
    if args.one:
        kind, backend, workers = args.one
        row = one(kind, backend, int(workers), args.n, args.shard_size, Path(args.work))
        print(json.dumps(row))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
