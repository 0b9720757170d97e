"""Rare showers on demand: showers with an unusually deep maximum, found in a
generator's latent space, against brute-force rejection from the simulator.

The target is the top 1% (``--quantile``) of the shower depth (the energy-weighted mean
depth of the layers, in X0) of ``calo.gflash`` electrons at one incident energy
(``--energy``, 10 GeV), the kind of tail a rare-topology study needs many of.  Each
method gets the same wall-clock time (``--seconds``):

- ``calo.gflash`` brute force: simulate, keep the deep ones;
- latent rejection (``surrogate.guided.guided_sample``, ``method="rejection"``): prior
  draws decoded by the VAE or the flow, the deep ones kept: the model's own tail;
- adaptive (``method="adaptive"``): a cross-entropy search moves a Gaussian proposal in
  latent space onto the deep showers; the events carry importance weights, and their
  effective sample size (ESS) is what they are worth.

It prints accepted events per second, the acceptance and the ESS, and checks that the
depth distribution *inside* the range agrees between each model and the simulator
(Wasserstein-1 and Kolmogorov-Smirnov, weighted for the adaptive events, beside the
simulator's own statistical floor), and compares the width of the deep showers, which
was not selected on.  The latent methods find the *model's* tail: where that is wrong,
the check says so, and the rare events are the model's artefacts, not the detector's.
Run after ``examples/latent_interpolation.py``, whose models it reuses (one CPU thread:
about 2 minutes, 2 more to train the models if they are not there; ``--quick`` about
30 s)::

    OMP_NUM_THREADS=1 python examples/guided_generation.py
    OMP_NUM_THREADS=1 python examples/guided_generation.py --quick --out /tmp/guided

Writes ``guided.png`` and ``guided.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from latent_interpolation import (
    common_arguments,
    depth_of,
    models_for,
    quick_defaults,
    shower_shape,
)

import surrogate
from surrogate.errors import SurrogateError
from surrogate.guided import GuidedResult, guided_sample
from surrogate.metrics.functional import ks_p_value
from surrogate.seeds import chunk_seed
from surrogate_calo import get_geometry

METHODS = ("rejection", "adaptive")


# -- the simulator's side -------------------------------------------------------------------
def simulator_threshold(sim, energy: float, geometry, n: int, quantile: float, seed: int) -> dict:
    """The depth above which the top ``1 - quantile`` of the simulator's showers lie, from
    ``n`` showers (the target's definition: not part of any method's cost)."""
    events = sim.sample(n, {"incident_energies": energy}, seed=seed)
    shape = shower_shape(events, geometry)
    low = float(np.quantile(shape["depth"], quantile))
    deep = shape["depth"] >= low
    return {
        "low": low,
        "depth": shape["depth"],
        "deep_depth": shape["depth"][deep],
        "deep_width": shape["width"][deep],
    }


def brute_force(
    sim, energy: float, geometry, low: float, seconds: float, batch: int, seed: int
) -> dict:
    """Simulate batches for ``seconds`` and keep the showers at least ``low`` deep."""
    t0, draws, depth, width, i = time.perf_counter(), 0, [], [], 0
    while time.perf_counter() - t0 < seconds or not draws:
        shape = shower_shape(
            sim.sample(batch, {"incident_energies": energy}, seed=chunk_seed(seed, i)), geometry
        )
        keep = shape["depth"] >= low
        depth.append(shape["depth"][keep])
        width.append(shape["width"][keep])
        draws, i = draws + batch, i + 1
    elapsed = time.perf_counter() - t0
    d = np.concatenate(depth)
    return {
        "draws": draws,
        "accepted": len(d),
        "seconds": elapsed,
        "events_per_s": len(d) / elapsed,
        "acceptance": len(d) / draws,
        "ess": float(len(d)),
        "depth": d,
        "width": np.concatenate(width),
    }


# -- agreement inside the range --------------------------------------------------------------
def weighted_ks(x: np.ndarray, y: np.ndarray, wy: np.ndarray) -> float:
    """sup |F_x - F_y| with the empirical CDF of ``y`` weighted by ``wy``."""
    grid = np.sort(np.concatenate([x, y]))
    fx = np.searchsorted(np.sort(x), grid, side="right") / len(x)
    order = np.argsort(y)
    cum = np.concatenate([[0.0], np.cumsum(wy[order]) / wy.sum()])
    fy = cum[np.searchsorted(y[order], grid, side="right")]
    return float(np.max(np.abs(fx - fy)))


def agreement(reference: np.ndarray, values: np.ndarray, weights: np.ndarray, ess: float) -> dict:
    """W1 (X0) and KS between the simulator's deep showers and a method's, weighted;
    the KS p-value counts the weighted sample as its ESS."""
    from scipy.stats import wasserstein_distance

    d = weighted_ks(reference, values, weights)
    return {
        "w1": float(wasserstein_distance(reference, values, v_weights=weights)),
        "ks": d,
        "ks_p": ks_p_value(d, len(reference), max(int(ess), 1)),
    }


def floor(reference: np.ndarray, seed: int) -> dict:
    """The same figures between two random halves of the simulator's deep showers: what
    statistics alone give at that sample size."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(reference))
    a, b = reference[perm[::2]], reference[perm[1::2]]
    return agreement(a, b, np.ones(len(b)), len(b))


# -- the latent side ------------------------------------------------------------------------
def latent_run(
    model, method: str, energy: float, observable, low: float, seconds: float, seed: int
) -> GuidedResult:
    return guided_sample(
        model,
        10**8,
        {"incident_energies": energy},
        observable,
        low,
        math.inf,
        method=method,
        seed=seed,
        budget=10**9,
        max_time=seconds,
    )


def row(
    label: str, r: dict | GuidedResult, reference: np.ndarray, widths: np.ndarray | None = None
) -> dict:
    """One line of the comparison: throughput, acceptance, ESS and agreement."""
    if isinstance(r, GuidedResult):
        s = r.summary()
        out = {
            k: s[k] for k in ("accepted", "draws", "seconds", "events_per_s", "acceptance", "ess")
        }
        out["proposal_acceptance"] = s["proposal_acceptance"]
        out["probability"], out["probability_error"] = s["probability"], s["probability_error"]
        values, weights = r.values, r.weights
    else:
        out = {
            k: r[k] for k in ("accepted", "draws", "seconds", "events_per_s", "acceptance", "ess")
        }
        values, weights = r["depth"], np.ones(len(r["depth"]))
    out["ess_per_s"] = out["ess"] / out["seconds"]
    out |= agreement(reference, values, weights, out["ess"])
    if widths is not None:
        out["deep_width_mean"] = float(np.sum(weights * widths) / np.sum(weights))
    return {"method": label, **out}


def compare(models: dict, sim, geometry, args) -> dict:
    """Every method for ``args.seconds`` at ``args.energy``: the rows and the samples."""
    target = simulator_threshold(
        sim, args.energy, geometry, args.reference_events, args.quantile, seed=3
    )
    low = target["low"]
    brute = brute_force(sim, args.energy, geometry, low, args.seconds, args.sim_batch, seed=4)
    reference = np.concatenate([target["deep_depth"], brute["depth"]])
    ref_width = np.concatenate([target["deep_width"], brute["width"]])
    rows = [row("calo.gflash brute force", brute, reference)]
    rows[0]["deep_width_mean"] = float(brute["width"].mean())
    samples = {"calo.gflash": (brute["depth"], np.ones(len(brute["depth"])))}
    observable = depth_of(geometry)
    for family, model in models.items():
        for method in METHODS:
            try:
                r = latent_run(model, method, args.energy, observable, low, args.seconds, seed=5)
            except SurrogateError as exc:  # a model whose showers never get that deep
                print(f"{family} latent {method}: {exc}")
                rows.append({"method": f"{family} latent {method} (range not reached)"})
                continue
            widths = shower_shape(r.events, geometry)["width"]
            rows.append(row(f"{family} latent {method}", r, reference, widths))
            samples[f"{family} {method}"] = (r.values, r.weights)
    return {
        "energy": args.energy,
        "quantile": args.quantile,
        "low": low,
        "seconds": args.seconds,
        "floor": floor(reference, seed=6),
        "reference_events": len(reference),
        "reference_width_mean": float(ref_width.mean()),
        "rows": rows,
        "samples": samples,
        "full_depth": target["depth"],
    }


def model_depths(models: dict, energy: float, geometry, n: int) -> dict:
    return {
        f: shower_shape(m.sample(n, {"incident_energies": energy}, seed=9), geometry)["depth"]
        for f, m in models.items()
    }


def plot(result: dict, full: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    low = result["low"]
    every = np.concatenate([result["full_depth"], *full.values()])
    edges = np.linspace(*np.quantile(every, [0.0005, 0.9995]), 60)
    axes[0].hist(
        result["full_depth"], edges, density=True, histtype="step", color="k", label="calo.gflash"
    )
    for f, d in full.items():
        axes[0].hist(d, edges, density=True, histtype="step", label=f)
    axes[0].axvline(
        low, color="r", ls="--", label=f"top {1 - result['quantile']:.0%}: {low:.2f} X0"
    )
    axes[0].set_yscale("log")
    axes[0].set_title(f"shower depth at E_inc = {result['energy'] / 1e3:g} GeV")
    deep = result["samples"]
    hi = max(np.quantile(v, 0.995) for v, _ in deep.values())
    inner = np.linspace(low, hi, 30)
    for label, (v, w) in deep.items():
        style = {"color": "k", "lw": 2} if label == "calo.gflash" else {}
        axes[1].hist(v, inner, weights=w, density=True, histtype="step", label=label, **style)
    axes[1].set_title("depth inside the range (adaptive: weighted)")
    rows = result["rows"]
    y = np.arange(len(rows))
    axes[2].barh(y - 0.2, [r.get("events_per_s", 0.0) for r in rows], 0.4, label="accepted / s")
    axes[2].barh(y + 0.2, [r.get("ess_per_s", 0.0) for r in rows], 0.4, label="ESS / s")
    axes[2].set_yticks(y, [r["method"] for r in rows], fontsize=8)
    axes[2].set_xscale("log")
    axes[2].set_title(f"same wall time ({result['seconds']:g} s, one thread)")
    for ax in axes[:2]:
        ax.set_xlabel("shower depth [X0]")
        ax.legend(fontsize=7)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: (key, heading, width, format) of the printed table
COLUMNS = (
    ("accepted", "accepted", 9, "d"),
    ("events_per_s", "per s", 9, ".1f"),
    ("acceptance", "accept", 8, ".4f"),
    ("ess_per_s", "ESS/s", 9, ".1f"),
    ("w1", "W1", 7, ".4f"),
    ("ks", "KS", 6, ".3f"),
    ("ks_p", "p", 8, ".3g"),
    ("deep_width_mean", "width", 6, ".3f"),
)


def table_line(name: str, r: dict) -> str:
    cells = [format(r[k], f">{w}{f}") if k in r else " " * w for k, _, w, f in COLUMNS]
    return f"{name:>26} " + " ".join(cells)


def print_table(result: dict) -> None:
    print(
        f"E_inc = {result['energy'] / 1e3:g} GeV, depth >= {result['low']:.3f} X0 "
        f"(top {1 - result['quantile']:.1%} of calo.gflash), {result['seconds']:g} s each"
    )
    print(f"{'method':>26} " + " ".join(f"{h:>{w}}" for _, h, w, _ in COLUMNS))
    for r in result["rows"]:
        print(table_line(r["method"], r))
    floor_row = {**result["floor"], "deep_width_mean": result["reference_width_mean"]}
    print(table_line("simulator halves (floor)", floor_row))


def arguments(argv=None, out: str = "guided-generation") -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, out)
    p.add_argument("--energy", type=float, default=10_000.0, help="incident energy, MeV")
    p.add_argument("--quantile", type=float, default=0.99)
    p.add_argument("--seconds", type=float, default=20.0, help="wall time of each method")
    p.add_argument("--reference-events", type=int, default=20_000)
    p.add_argument("--sim-batch", type=int, default=2000)
    args = p.parse_args(argv)
    quick_defaults(args)
    if args.quick:
        args.seconds, args.reference_events = (
            min(args.seconds, 3.0),
            min(args.reference_events, 5000),
        )
    return args


def main(argv=None) -> int:
    args = arguments(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sim = surrogate.simulator("calo.gflash", geometry=args.geometry)
    geo = get_geometry(args.geometry)
    models = models_for(args, sim)
    result = compare(models, sim, geo, args)
    plot(result, model_depths(models, args.energy, geo, args.reference_events), out / "guided.png")
    print_table(result)
    summary = {k: v for k, v in result.items() if k not in ("samples", "full_depth")}
    (out / "guided.json").write_text(json.dumps(summary, indent=2))
    print(f"plot: {out / 'guided.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
