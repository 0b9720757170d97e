"""Replace the particle mesh by a trained surrogate in a small inference-style analysis.

A cosmologist constraining sigma8 from the power spectrum of density maps needs P(k) at
many trial values: one ``sample(n, conditions)`` call per value, whether the source is
``cosmo.pm`` (the FastPM N-body reference) or a generator trained on its maps.  This
example measures, at a grid of sigma8 (omega_m fixed),

- the mean P(k) of ``--maps`` maps and its error, for the simulator and the surrogate;
- the ratio surrogate / simulator, and the time each source took;

and draws them side by side.  Run (minutes on a laptop CPU; ``--quick`` for a smoke test)::

    python examples/cosmo_sigma8_scan.py --out cosmo-scan
    python examples/cosmo_sigma8_scan.py --model path/to/model --particles 64   # a trained one

Outputs ``cosmo-scan/scan.png`` and ``scan.json``; a model trained here is kept in
``cosmo-scan/model`` (reused on the next run unless ``--retrain``).  A model given with
``--model`` must have been trained on maps of the same simulator options.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import surrogate
from surrogate.api import hyperparameters_for
from surrogate_cosmo.statistics import power_spectrum

OMEGA_M = 0.3


def analyse(source, sigma8s, n: int, box: float, seed: int) -> dict:
    """The analysis: any object with ``sample(n, conditions, seed=...)`` will do."""
    out: dict = {"sigma8": [], "k": None, "power": [], "error": [], "seconds": 0.0}
    for i, s8 in enumerate(sigma8s):
        t0 = time.perf_counter()
        maps = source.sample(n, {"omega_m": OMEGA_M, "sigma8": float(s8)}, seed=seed + i)
        out["seconds"] += time.perf_counter() - t0
        ps = power_spectrum(maps["delta"], box, ndim=2)
        out["k"] = ps.k.tolist()
        out["sigma8"].append(float(s8))
        out["power"].append(ps.power.mean(axis=0).tolist())
        out["error"].append((ps.power.std(axis=0, ddof=1) / np.sqrt(n)).tolist())
    return out


def train(options: dict, family: str, n_maps: int, minutes: float, path: Path):
    """A ``family`` model on ``cosmo.pm`` maps over the sigma8 range of the scan."""
    sim = surrogate.simulator("cosmo.pm", **options)
    m = options["maps_per_run"]
    rng = np.random.default_rng(0)
    sigma8 = np.repeat(rng.uniform(0.65, 0.95, n_maps // m), m)
    data = sim.sample(len(sigma8), {"omega_m": OMEGA_M, "sigma8": sigma8}, seed=1)
    cls = surrogate.surrogate_class(family)
    model = cls(**hyperparameters_for(cls, {"backbone": "conv", "hidden": 16, "blocks": 1}, sim))
    model.fit(data, seed=1, max_time=minutes * 60, progress=True)
    model.save(path)
    return model


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), sharex=True, height_ratios=(3, 1))
    sim, gen = results["cosmo.pm"], results["surrogate"]
    k = np.array(sim["k"])
    for i, s8 in enumerate(sim["sigma8"]):
        line = top.errorbar(k, sim["power"][i], sim["error"][i], fmt="-", label=f"PM, σ8={s8}")
        colour = line[0].get_color()
        top.plot(k, gen["power"][i], "--", color=colour, label=f"surrogate, σ8={s8}")
        ratio = np.array(gen["power"][i]) / np.array(sim["power"][i])
        bottom.plot(k, 100 * (ratio - 1), "--", color=colour)
    top.set(xscale="log", yscale="log", ylabel="P(k) [(Mpc/h)²]")
    top.set_title(f"PM {sim['seconds']:.1f} s, surrogate {gen['seconds']:.1f} s")
    top.legend(fontsize=7)
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set(xscale="log", xlabel="k [h/Mpc]", ylabel="surrogate / PM - 1 [%]")
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="cosmo-scan")
    p.add_argument("--model", default=None, help="a trained model directory (else train one)")
    p.add_argument("--family", default="gan")
    p.add_argument("--particles", type=int, default=32)
    p.add_argument("--box", type=float, default=128.0)
    p.add_argument("--maps", type=int, default=64, help="maps per sigma8 value")
    p.add_argument("--train-maps", type=int, default=512)
    p.add_argument("--minutes", type=float, default=5.0, help="training budget")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the plumbing")
    args = p.parse_args(argv)
    if args.quick:
        args.particles, args.maps, args.train_maps, args.minutes = 16, 8, 64, 0.1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = {"box": args.box, "particles": args.particles, "output": "maps", "maps_per_run": 8}
    folder = Path(args.model) if args.model else out / "model"
    if folder.exists() and not args.retrain:
        model = surrogate.load(folder)
    else:
        model = train(options, args.family, args.train_maps, args.minutes, folder)
    sigma8s = (0.7, 0.8, 0.9)
    sim = surrogate.simulator("cosmo.pm", **options)
    results = {
        "cosmo.pm": analyse(sim, sigma8s, args.maps, args.box, seed=10),
        "surrogate": analyse(model, sigma8s, args.maps, args.box, seed=10),
    }
    (out / "scan.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "scan.png")
    print(f"wrote {out / 'scan.png'} and {out / 'scan.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
