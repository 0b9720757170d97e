"""Benchmark of ``surrogate validate``: wall time and peak memory on the toy problem at
n = 10^5 events per side, and how both scale with n and with the number of features.

Each configuration runs in a fresh Python process (so peak RSS is its own) through the
library call the CLI makes, with the built-in ``quick`` config (every generic metric; the
classifier with the ``small`` preset).  The CaloChallenge-recipe classifier is timed
separately, one training epoch at n = 10^5 per side, because its 50 epochs x 2 trainings
take hours on a CPU and minutes on a GPU.

    python benchmarks/validate.py                 # the default table
    python benchmarks/validate.py --n 1e3 1e4 1e5 --dims 2 8 32 64 --recipe-epoch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


# -- a d-dimensional reference simulator for the feature scaling --------------------------
def _bench_plugin():
    from surrogate import EventSpec, Field, Simulator, hookimpl
    from surrogate.metrics.observables import GenericObservables

    class CorrelatedMixture(Simulator):
        """Two correlated Gaussians in d dimensions (non-Gaussian marginals and pairs)."""

        name = "bench.mixture"
        version = "1"

        def __init__(self, dim: int = 8):
            super().__init__(dim=int(dim))
            self.dim = int(dim)
            self.spec = EventSpec(fields=(Field("x", (self.dim,), "float32"),))
            rng = np.random.default_rng(0)
            a = rng.normal(size=(self.dim, self.dim)) / np.sqrt(self.dim)
            self.chol = np.linalg.cholesky(a @ a.T + 0.5 * np.eye(self.dim))

        def _sample(self, n, conditions, rng):
            z = rng.standard_normal((n, self.dim)) @ self.chol.T
            side = rng.integers(0, 2, n)[:, None]
            return {"x": z + np.where(side, 1.5, -1.5)}

    class AllComponents(GenericObservables):
        """Every component an observable (the generic set summarises fields over 16)."""

        name = "bench.components"
        replaces_generic = True

        def __init__(self):
            super().__init__(max_components=100_000)

        def bind(self, spec, context):
            return self if context.get("simulator") == "bench.mixture" else None

    class Plugin:
        @hookimpl
        def register_simulators(self, register):
            register("bench.mixture", CorrelatedMixture)

        @hookimpl
        def register_observables(self, register):
            register("bench.components", AllComponents)

    return Plugin()


def one(simulator: str, options: dict, n: int, workdir: Path) -> dict:
    """Train the Gaussian baseline and validate it; runs inside a fresh process."""
    import surrogate
    from surrogate.generation import generate_to_file
    from surrogate.testing import plugin_registry
    from surrogate.validation import validate

    with plugin_registry(("bench", _bench_plugin())):
        sim = surrogate.simulator(simulator, **options)
        data = generate_to_file(sim, 20_000, workdir / "train.h5", seed=1, progress=False)
        model_dir = workdir / "model"
        surrogate.surrogate("gaussian").fit(data, seed=1).save(model_dir)
        t0 = time.perf_counter()
        report = validate(
            model_dir,
            simulator=simulator,
            simulator_options=options,
            n=n,
            out=workdir / "report",
            config="quick",
            device="cpu",
        )
        wall = time.perf_counter() - t0
    rt = report.data["runtime"]
    return {
        "wall_s": wall,
        "peak_rss_mb": rt["peak_rss_mb"],
        "stages": rt["stages_seconds"],
        "n_features": next(
            r["model"]["details"].get("n_features")
            for r in report.data["metrics"]
            if r["name"] == "fpd"
        ),
        "n_observables": len(report.data["observables"]),
        "floors": {
            r["name"]: (r["floor"]["value"], r["floor"]["error"]) for r in report.data["metrics"]
        },
        "model": {r["name"]: r["model"]["value"] for r in report.data["metrics"]},
    }


def run_one(simulator: str, options: dict, n: int) -> dict:
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(HERE), "--one", json.dumps([simulator, options, n]), tmp]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise RuntimeError(f"benchmark run failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        # CPU seconds of the whole process (training the baseline included): robust to load
        result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return result


def recipe_epoch(n: int) -> dict:
    """One epoch of the ``large`` classifier preset (the CaloChallenge's recipe, 2048
    wide) at n per side, on the CPU."""
    import torch

    from surrogate.metrics.classifier import LARGE, build_network

    d = 3
    net = build_network(d, LARGE["hidden"], LARGE["layers"], LARGE["dropout"])
    opt = torch.optim.Adam(net.parameters(), lr=LARGE["lr"])
    x = torch.randn(int(1.2 * n), d)
    y = (torch.rand(len(x)) > 0.5).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batch = LARGE["batch_size"]
    t0 = time.perf_counter()
    for s in range(0, len(x), batch):
        loss = loss_fn(net(x[s : s + batch]).reshape(-1), y[s : s + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sec = time.perf_counter() - t0
    return {"epoch_s": sec, "full_recipe_estimate_min": sec * LARGE["epochs"] * 2 / 60}


def fmt_stages(stages: dict) -> str:
    keep = {k.replace("metric ", ""): v for k, v in stages.items() if k not in ("total", "checks")}
    top = sorted(keep.items(), key=lambda kv: -kv[1])[:4]
    return ", ".join(f"{k} {v:.1f}" for k, v in top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", nargs="+", type=float, default=[1e3, 1e4, 1e5])
    parser.add_argument("--dims", nargs="+", type=int, default=[2, 8, 32])
    parser.add_argument("--dims-n", type=float, default=1e4, help="n for the feature scaling")
    parser.add_argument("--recipe-epoch", action="store_true", help="time the 2048-wide net")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sim, opts, n = json.loads(args.one[0])
        print(json.dumps(one(sim, opts, n, Path(args.one[1]))))
        return

    import torch

    print(
        f"# surrogate validate benchmark: {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.1f}; "
        "config 'quick' (classifier preset 'small'), device cpu"
    )
    results: dict = {"scaling_n": [], "scaling_features": []}
    print("\n## toy.gmm2d (conditional), gaussian baseline: scaling with n (events per side)")
    print(f"{'n':>8} {'wall s':>8} {'cpu s':>7} {'peak MB':>8}  slowest stages (wall s)")
    for n in args.n:
        r = run_one("toy.gmm2d", {"conditional": True}, int(n))
        results["scaling_n"].append({"n": int(n), **r})
        print(
            f"{int(n):>8} {r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} {r['peak_rss_mb']:>8.0f}  "
            f"{fmt_stages(r['stages'])}"
        )
    big = results["scaling_n"][-1]
    print(f"\n## floors (reference vs reference) and model values at n = {big['n']}")
    print(f"{'metric':<18} {'floor':>12} {'+-':>10} {'model':>12}")
    for name, (v, e) in big["floors"].items():
        e_txt = "" if e is None else f"{e:.2e}"
        print(f"{name:<18} {v:>12.3e} {e_txt:>10} {big['model'][name]:>12.3e}")

    n_d = int(args.dims_n)
    print(f"\n## bench.mixture (d-dimensional), gaussian baseline: scaling with d at n = {n_d}")
    print(
        f"{'d':>5} {'features':>8} {'wall s':>8} {'cpu s':>7} {'peak MB':>8}  "
        "slowest stages (wall s)"
    )
    for d in args.dims:
        r = run_one("bench.mixture", {"dim": d}, n_d)
        results["scaling_features"].append({"dim": d, "n": n_d, **r})
        print(
            f"{d:>5} {r['n_features']:>8} {r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} "
            f"{r['peak_rss_mb']:>8.0f}  "
            f"{fmt_stages(r['stages'])}"
        )
    if args.recipe_epoch:
        n = int(max(args.n))
        r = recipe_epoch(n)
        results["recipe"] = {"n": n, **r}
        print(
            f"\n## CaloChallenge classifier (3 x 2048, batch 1000) on this CPU at n = {n}: "
            f"{r['epoch_s']:.1f} s/epoch -> 50 epochs x 2 trainings ~ "
            f"{r['full_recipe_estimate_min']:.0f} min"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
