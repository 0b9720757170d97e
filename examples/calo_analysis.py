"""Replace the reference shower simulator by a trained surrogate in a small analysis.

The analysis asks an event source for showers with one call, ``sample(n, conditions)``;
it does not care whether the source is ``calo.gflash`` (the GFlash Monte Carlo) or a
generator trained on its output.  It measures, per incident energy,

- the energy resolution ``sigma(E_tot) / <E_tot>`` and the response ``<E_tot> / E_inc``;
- the shower depth: the energy-weighted mean depth of the layers, in radiation lengths;

and draws both for the simulator and the surrogate side by side, with the time each
took.  Run (a few minutes on a laptop CPU; ``--quick`` for a smoke test)::

    python examples/calo_analysis.py --out calo-analysis
    python examples/calo_analysis.py --geometry calogan --family flow --epochs 30

Outputs ``calo-analysis/analysis.png`` and ``analysis.json``; the trained model is kept
in ``calo-analysis/model`` (reused on the next run unless ``--retrain``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import surrogate
from surrogate_calo import get_geometry
from surrogate_calo.features import shower_depth


def analyse(source, geometry, energies, n: int, seed: int) -> dict:
    """The analysis: any object with ``sample(n, conditions, seed=...)`` will do."""
    geo = get_geometry(geometry)
    out = {"energy": [], "resolution": [], "response": [], "depth": [], "seconds": 0.0}
    for k, e in enumerate(energies):
        t0 = time.perf_counter()
        showers = source.sample(n, {"incident_energies": float(e)}, seed=seed + k)["showers"]
        out["seconds"] += time.perf_counter() - t0
        x = np.asarray(showers, dtype=np.float64)
        total = x.sum(axis=1)
        depth = shower_depth(x, geo)
        out["energy"].append(float(e))
        out["resolution"].append(float(total.std() / total.mean()))
        out["response"].append(float(total.mean() / e))
        out["depth"].append(float(depth.mean()))
    return out


def plot(results: dict, path: Path, geometry: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for label, r in results.items():
        e = np.array(r["energy"]) / 1e3
        style = (
            {"marker": "o", "ls": "-"}
            if label.startswith("calo.gflash")
            else {
                "marker": "s",
                "ls": "--",
            }
        )
        axes[0].plot(e, r["resolution"], label=f"{label} ({r['seconds']:.2f} s)", **style)
        axes[1].plot(e, r["response"], label=label, **style)
        axes[2].plot(e, r["depth"], label=label, **style)
    e = np.array(next(iter(results.values()))["energy"]) / 1e3
    stochastic = get_geometry(geometry).stochastic_term
    axes[0].plot(e, stochastic / np.sqrt(e), "k:", label=f"{stochastic:.2f}/sqrt(E/GeV)")
    for ax, title in zip(
        axes,
        ("energy resolution sigma/E", "response <E_tot>/E_inc", "mean shower depth [X0]"),
        strict=True,
    ):
        ax.set_xscale("log")
        ax.set_xlabel("incident energy [GeV]")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"geometry {geometry}: reference simulator vs surrogate")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="calo-analysis")
    p.add_argument("--geometry", default="test", help="test, calogan, 1-photons, 2, ...")
    p.add_argument("--family", default="flow", help="generator family (flow, vae, gan, ...)")
    p.add_argument("--train-events", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--events", type=int, default=2_000, help="showers per energy point")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny run: checks the plumbing only")
    args = p.parse_args(argv)
    if args.quick:
        args.train_events, args.epochs, args.events = 2_000, 2, 200
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sim = surrogate.simulator("calo.gflash", geometry=args.geometry)
    model_dir = out / "model"
    if model_dir.exists() and not args.retrain:
        model = surrogate.load(model_dir)
    else:
        print(f"simulating {args.train_events} training showers with {sim!r}")
        data = sim.sample(args.train_events, seed=1)
        model = surrogate.surrogate(args.family, preprocessing=sim.preprocessing())
        print(f"training {args.family} for {args.epochs} epochs")
        model.fit(data, seed=1, epochs=args.epochs, progress=False)
        model.save(model_dir)

    low, high = (
        sim.spec.condition("incident_energies").low,
        sim.spec.condition("incident_energies").high,
    )
    energies = np.geomspace(low * 1.01, high * 0.99, 6)
    results = {
        "calo.gflash": analyse(sim, args.geometry, energies, args.events, seed=100),
        f"surrogate ({model.name})": analyse(model, args.geometry, energies, args.events, 100),
    }
    plot(results, out / "analysis.png", args.geometry)
    (out / "analysis.json").write_text(json.dumps(results, indent=2))
    for label, r in results.items():
        print(f"{label:>22}: {r['seconds']:.2f} s for {len(energies) * args.events} showers")
        for e, s, d in zip(r["energy"], r["resolution"], r["depth"], strict=True):
            print(f"{'':>24}E = {e / 1e3:8.2f} GeV  sigma/E = {s:.4f}  depth = {d:.2f} X0")
    print(f"plots: {out / 'analysis.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
