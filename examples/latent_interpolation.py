"""Walk through a generator's latent space from one shower to another and watch the
shower shape change along the way.

A VAE (latent: its posterior mean) and a flow (latent: its base point, an exact inverse)
are trained on ``calo.gflash`` showers of the small ``test`` geometry (96 voxels, 1-100
GeV electrons).  Two simulated showers at different incident energies are encoded, and
``surrogate.latent.interpolate`` decodes the points between them, the energy moving
linearly from one to the other, on a straight line and on a great circle (slerp).  Along
each path the script plots

- the shower depth: the energy-weighted mean depth of the layers, in radiation lengths;
- the shower width: the energy-weighted mean of the layers' radial widths ``W_r``, mm;

beside the simulator's mean and spread at the same energies, and the longitudinal profile
at five points of the flow's path.  A smooth path changes these a little at each step:
the script prints the largest change of one step, and how it shrinks with four times the
steps (about 1/4 on a smooth path; a jump would not shrink).
Run (one CPU thread: about 2 minutes; ``--quick`` about 30 s, to check the plumbing)::

    OMP_NUM_THREADS=1 python examples/latent_interpolation.py
    OMP_NUM_THREADS=1 python examples/latent_interpolation.py --quick --out /tmp/interp

Writes ``interpolation.png`` and ``interpolation.json`` to ``--out``; the models are kept
in ``--models`` and reused by ``examples/guided_generation.py`` (``--retrain`` trains
them again).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

import surrogate
from surrogate import latent
from surrogate_calo import get_geometry
from surrogate_calo.features import high_level_features, layer_centres_x0

#: The VAE samples its decoder mean: with the decoder's Gaussian noise on every voxel (in
#: logit space) its depth had a tail twice too heavy (99th percentile 12.7 X0 against the
#: simulator's 10.4 at 10 GeV); the mean's is 10.2, though its showers are narrower.
FAMILIES = {
    "vae": {"latent": 8, "sample_noise": False},
    "flow": {"hidden": 64, "blocks": 1, "transforms": 4},
}
EPOCHS = {"vae": 60, "flow": 20}
QUICK_EPOCHS = {"vae": 5, "flow": 2}


# -- observables ----------------------------------------------------------------------------
def shower_shape(events, geometry) -> dict[str, np.ndarray]:
    """Depth (X0), width (mm) and the longitudinal profile ``E_layer / E_tot`` per shower,
    from the CaloChallenge features of the calorimeter plugin."""
    hlf = high_level_features(events["showers"], events["incident_energies"], geometry)
    layers = geometry.relevant_layers
    e = np.stack([np.asarray(hlf.e_layer[i], np.float64) for i in layers], axis=1)
    w_r = np.stack([np.asarray(hlf.w_r[i], np.float64) for i in layers], axis=1)
    total = np.maximum(e.sum(axis=1), 1e-12)
    return {
        "depth": e @ layer_centres_x0(geometry) / total,
        "width": (e * w_r).sum(axis=1) / total,
        "profile": e / total[:, None],
    }


def depth_of(geometry):
    """The shower depth as an observable: a function events -> one value per event."""
    return lambda events: shower_shape(events, geometry)["depth"]


# -- models ---------------------------------------------------------------------------------
def train_or_load(family: str, sim, models: Path, *, events: int, epochs: int, retrain: bool):
    """The family's model on ``sim``'s showers: loaded from ``models/family`` unless
    ``retrain`` (or absent), else trained there (the simulator's preprocessing chain)."""
    path = models / family
    if path.exists() and not retrain:
        return surrogate.load(path)
    data = sim.sample(events, seed=1)
    model = surrogate.surrogate(family, preprocessing=sim.preprocessing(), **FAMILIES[family])
    t0 = time.perf_counter()
    model.fit(data, seed=1, epochs=epochs, progress=False)
    print(
        f"trained {family} on {events} showers, {epochs} epochs: {time.perf_counter() - t0:.0f} s"
    )
    model.save(path)
    return model


def models_for(args, sim) -> dict:
    epochs = QUICK_EPOCHS if args.quick else EPOCHS
    models = Path(args.models)
    return {
        f: train_or_load(
            f, sim, models, events=args.train_events, epochs=epochs[f], retrain=args.retrain
        )
        for f in FAMILIES
    }


def quick_defaults(args) -> None:
    if args.quick:
        args.train_events = min(args.train_events, 2000)
        if args.models == "latent-models":
            args.models = str(Path(args.out) / "models")


def common_arguments(p: argparse.ArgumentParser, out: str) -> None:
    p.add_argument("--out", default=out)
    p.add_argument("--models", default="latent-models", help="where the models are kept")
    p.add_argument("--geometry", default="test")
    p.add_argument("--train-events", type=int, default=10_000)
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny models: checks the plumbing only")


# -- the walk -------------------------------------------------------------------------------
def reference_band(sim, energies: np.ndarray, geometry, n: int) -> dict[str, np.ndarray]:
    """The simulator's mean and spread of depth and width at each energy of the path."""
    out = {k: np.zeros((len(energies), 2)) for k in ("depth", "width")}
    for i, e in enumerate(energies):
        shape = shower_shape(sim.sample(n, {"incident_energies": float(e)}, seed=100 + i), geometry)
        for k in out:
            out[k][i] = shape[k].mean(), shape[k].std()
    return out


def walk(model, a, b, steps: int, path: str, geometry) -> dict:
    events = latent.interpolate(model, a, b, steps, path=path)
    shape = shower_shape(events, geometry)
    ends = np.stack([a["showers"][0], b["showers"][0]]).astype(np.float64)
    got = events["showers"][[0, -1]].astype(np.float64)
    return {
        "depth": shape["depth"],
        "width": shape["width"],
        "profile": shape["profile"],
        "energy": events["incident_energies"],
        "end_error": float(np.abs(got - ends).sum() / ends.sum()),
    }


def largest_steps(model, a, b, steps: int, path: str, geometry) -> dict[str, float]:
    """The largest change of depth and width in one step of a path of ``steps`` points."""
    shape = shower_shape(latent.interpolate(model, a, b, steps, path=path), geometry)
    return {k: float(np.abs(np.diff(shape[k])).max()) for k in ("depth", "width")}


def smoothness(model, a, b, steps: int, path: str, geometry) -> dict[str, float]:
    """How the largest step shrinks with four times the steps: about 1/4 on a smooth
    path (a jump would stay as large however fine the steps)."""
    coarse = largest_steps(model, a, b, steps, path, geometry)
    fine = largest_steps(model, a, b, 4 * steps, path, geometry)
    return {k: fine[k] / coarse[k] for k in coarse} | {
        f"largest_{k}_step": v for k, v in coarse.items()
    }


def plot(paths: dict, band: dict, path: Path, energies: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.linspace(0, 1, len(energies))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, key, unit in ((axes[0], "depth", "X0"), (axes[1], "width", "mm")):
        m, s = band[key][:, 0], band[key][:, 1]
        ax.fill_between(t, m - s, m + s, color="0.85", label="calo.gflash mean ± 1σ")
        ax.plot(t, m, color="0.5", lw=1)
        for label, p in paths.items():
            ax.plot(t, p[key], marker=".", label=label)
        ax.set_xlabel(f"path t (E_inc {energies[0] / 1e3:.0f} → {energies[-1] / 1e3:.0f} GeV)")
        ax.set_ylabel(f"shower {key} [{unit}]")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    flow = paths["flow slerp"]["profile"]
    for k in np.linspace(0, len(flow) - 1, 5).astype(int):
        axes[2].plot(np.arange(flow.shape[1]), flow[k], marker="o", label=f"t = {t[k]:.2f}")
    axes[2].set_xlabel("layer")
    axes[2].set_ylabel("E_layer / E_tot")
    axes[2].set_title("flow, slerp: longitudinal profile")
    axes[2].legend(fontsize=8)
    axes[2].grid(alpha=0.3)
    fig.suptitle("latent interpolation between two calo.gflash showers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, "latent-interpolation")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--energies", type=float, nargs=2, default=[2_000.0, 50_000.0], help="MeV")
    args = p.parse_args(argv)
    quick_defaults(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sim = surrogate.simulator("calo.gflash", geometry=args.geometry)
    geo = get_geometry(args.geometry)
    models = models_for(args, sim)
    a = sim.sample(1, {"incident_energies": args.energies[0]}, seed=7)
    b = sim.sample(1, {"incident_energies": args.energies[1]}, seed=8)
    paths = {
        f"{f} {path}": walk(m, a, b, args.steps, path, geo)
        for f, m in models.items()
        for path in ("linear", "slerp")
    }
    energies = next(iter(paths.values()))["energy"]
    band = reference_band(sim, energies, geo, 100 if args.quick else 400)
    plot(paths, band, out / "interpolation.png", energies)
    summary = {}
    for (family, model), path in itertools.product(models.items(), ("linear", "slerp")):
        r = paths[f"{family} {path}"]
        smooth = smoothness(model, a, b, args.steps, path, geo)
        summary[f"{family} {path}"] = {
            "end_error": r["end_error"],
            **smooth,
            "depth": r["depth"].tolist(),
            "width": r["width"].tolist(),
        }
        print(
            f"{family:>5} {path:>6}: ends reproduced to {r['end_error']:.1e} (sum |diff| / sum); "
            f"largest step {smooth['largest_depth_step']:.3f} X0, "
            f"{smooth['largest_width_step']:.3f} mm; "
            f"x{smooth['depth']:.2f}, x{smooth['width']:.2f} with {4 * args.steps} steps"
        )
    summary["seconds"] = time.perf_counter() - t0
    (out / "interpolation.json").write_text(json.dumps(summary, indent=2))
    print(f"plot: {out / 'interpolation.png'} ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
