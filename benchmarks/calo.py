"""Calorimeter benchmark: the reference simulator's cost, and generators against it.

Part ``simulator`` (minutes):
  ``calo.gflash`` showers per second against incident energy (1 GeV - 1 TeV; dataset 1
  up to 4 TeV) on the dataset-3, dataset-2, dataset-1-photons and CaloGAN geometries, the
  number of spots per shower (what the cost follows), and the memory of the dataset-3
  geometry: the peak of numpy allocations (tracemalloc) while simulating, beyond the
  output array, and the process's peak RSS.

Part ``generators`` (the training budget per family and geometry, ``--minutes``):
  on the dataset-1-photons and CaloGAN geometries, each registered generator family is
  trained on ``calo.gflash`` showers (the simulator's preprocessing chain) for about the
  budget (one pilot epoch sets the number of epochs), then compared with fresh
  ``calo.gflash`` showers at the same incident energies:

  - the challenge's low-level classifier AUC (``calo.cls_low``; ``--classifier small`` for
    CPU-sized runs, ``calochallenge`` for the recipe);
  - the largest separation power over the high-level features, and the worst group mean
    (``calo.separation_power``; voxel spectrum and per-energy histograms listed apart);
  - FPD (x10^3) on the high-level features;
  - sampling speed at batch 10^4 and its ratio to ``calo.gflash`` over the same
    incident-energy spectrum.

Targets from the issue: AUC < 0.60, every separation power < 2e-3, speed >= 100x.

    python benchmarks/calo.py --part simulator
    python benchmarks/calo.py --part generators --minutes 60 --train-events 100000
    python benchmarks/calo.py --part generators --minutes 3 --families flow vae --quick

Results go to ``--json`` (default ``benchmarks/calo-results.json``) and a markdown table
on stdout.  Timings depend on the machine and its load; the load average is recorded.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ENERGIES_GEV = [1, 3, 10, 30, 100, 300, 1000]


def machine() -> dict:
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }


# -- part 1: the reference simulator ------------------------------------------------------------
def time_simulator(sim, energy_mev: float, budget_s: float = 3.0, seed: int = 0) -> dict:
    """Showers per second at one energy: grow n until a call takes ``budget_s``."""
    sim.sample(2, {"incident_energies": energy_mev}, seed=seed)  # warm up
    n, best = 2, None
    while True:
        t0 = time.perf_counter()
        sim.sample(n, {"incident_energies": energy_mev}, seed=seed + n)
        dt = time.perf_counter() - t0
        best = (n, dt)
        if dt > budget_s or n >= 20_000:
            break
        n = int(min(20_000, max(2 * n, n * budget_s / max(dt, 1e-3) * 1.2)))
    n, dt = best
    spots = len(sim.spots(np.full(min(n, 20), energy_mev), np.random.default_rng(seed)).energy)
    return {
        "energy_GeV": energy_mev / 1e3,
        "showers": n,
        "seconds": dt,
        "showers_per_s": n / dt,
        "ms_per_shower": 1e3 * dt / n,
        "spots_per_shower": spots / min(n, 20),
    }


def memory_ds3(energy_mev: float, n: int) -> dict:
    import surrogate

    sim = surrogate.simulator("calo.gflash", geometry="3")
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    ev = sim.sample(n, {"incident_energies": energy_mev}, seed=1)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_bytes = ev["showers"].nbytes
    return {
        "energy_GeV": energy_mev / 1e3,
        "showers": n,
        "output_MB": out_bytes / 2**20,
        "peak_numpy_MB": peak / 2**20,
        "working_MB_beyond_output": (peak - out_bytes) / 2**20,
        "seconds": dt,
        "max_spots_per_chunk": sim.max_spots,
    }


def part_simulator(args) -> dict:
    import surrogate

    out: dict = {"speed": {}, "memory_ds3": []}
    for geometry in args.geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        low, high = sim.geometry.energy_range
        energies = [e * 1e3 for e in ENERGIES_GEV if low <= e * 1e3 <= high]
        if geometry.startswith("1-"):
            energies.append(high)
        rows = []
        for e in energies:
            row = time_simulator(sim, e, args.budget)
            rows.append(row)
            print(
                f"{geometry:>9} {row['energy_GeV']:8.1f} GeV: {row['showers_per_s']:9.1f} "
                f"showers/s, {row['spots_per_shower']:9.0f} spots/shower",
                flush=True,
            )
        out["speed"][geometry] = rows
    for e, n in ((1e4, 2000), (1e5, 500), (1e6, 50)):
        row = memory_ds3(e, n)
        out["memory_ds3"].append(row)
        print(
            f"ds3 memory at {row['energy_GeV']:.0f} GeV x {n}: output {row['output_MB']:.0f} MB, "
            f"working {row['working_MB_beyond_output']:.0f} MB beyond it",
            flush=True,
        )
    out["max_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# -- part 2: generators ---------------------------------------------------------------------------
def _hlf_max(result) -> tuple[str, float]:
    """The largest separation power over the high-level features (not the voxel spectrum
    nor dataset 1's per-energy E_tot/E_inc histograms)."""
    per = {
        k: v
        for k, v in result.per_observable.items()
        if k != "voxel" and "@" not in k and np.isfinite(v)
    }
    name = max(per, key=per.get)
    return name, per[name]


def train_within(family: str, data, sim, minutes: float, seed: int, options: dict):
    """Train ``family`` for about ``minutes``: a one-epoch pilot sets the epoch count."""
    import surrogate

    pre = sim.preprocessing()
    pilot = surrogate.surrogate(family, preprocessing=pre, **options)
    t0 = time.perf_counter()
    pilot.fit(data, seed=seed, epochs=1, progress=False, patience=None)
    per_epoch = time.perf_counter() - t0
    epochs = max(1, int(minutes * 60 / max(per_epoch, 1e-3)))
    if epochs == 1:
        return pilot, {"epochs": 1, "seconds_per_epoch": per_epoch, "train_seconds": per_epoch}
    model = surrogate.surrogate(family, preprocessing=pre, **options)
    t0 = time.perf_counter()
    model.fit(data, seed=seed, epochs=epochs, progress=False)
    return model, {
        "epochs": epochs,
        "seconds_per_epoch": per_epoch,
        "train_seconds": time.perf_counter() - t0,
    }


def sampling_speed(source, energies: np.ndarray, batch: int = 10_000, seed: int = 5) -> float:
    """Showers per second generating ``batch`` showers at ``energies`` (one call)."""
    e = energies[:batch]
    t0 = time.perf_counter()
    source.sample(len(e), {"incident_energies": e}, seed=seed)
    return len(e) / (time.perf_counter() - t0)


def part_generators(args) -> dict:
    import surrogate
    from surrogate.metrics import evaluate

    registry = surrogate.registry.get_registry()
    families = args.families or [f for f in registry.names("surrogate") if f not in ("gaussian",)]
    out: dict = {"settings": vars(args).copy(), "rows": []}
    for geometry in args.bench_geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        ctx = {"simulator": "calo.gflash", "simulator_options": sim.options}
        t0 = time.perf_counter()
        train = sim.sample(args.train_events, seed=1)
        sim_seconds = time.perf_counter() - t0
        reference = sim.sample(args.test_events, seed=2)
        energies = np.asarray(reference["incident_energies"])
        # the reference's cost over the same spectrum (batch 10^4 or what fits the budget)
        speed_sim = sampling_speed(sim, np.resize(energies, min(args.speed_batch, 2_000)))
        print(
            f"{geometry}: {args.train_events} training showers in {sim_seconds:.0f} s; "
            f"calo.gflash {speed_sim:.0f} showers/s on the test spectrum",
            flush=True,
        )
        for family in families:
            row = {"geometry": geometry, "family": family}
            try:
                opts = dict(args.family_options.get(family, {}))
                model, info = train_within(family, train, sim, args.minutes, 1, opts)
                row.update(info)
                gen = model.sample(len(energies), {"incident_energies": energies}, seed=3)
                metrics = {
                    "calo.separation_power": {"voxels": True},
                    "fpd": {},
                    "calo.cls_low": {"preset": args.classifier},
                }
                res = evaluate(reference, gen, metrics, seed=0, context=ctx)
                name, value = _hlf_max(res["calo.separation_power"])
                row.update(
                    {
                        "auc_low": res["calo.cls_low.auc"].value,
                        "auc_low_error": res["calo.cls_low.auc"].error,
                        "max_sep_power": value,
                        "max_sep_power_feature": name,
                        "sep_power_worst_group_mean": res["calo.separation_power"].value,
                        "sep_power_voxel": res["calo.separation_power"].per_observable.get("voxel"),
                        "fpd_x1e3": 1e3 * res["fpd"].value,
                        "fpd_error_x1e3": 1e3 * (res["fpd"].error or 0.0),
                    }
                )
                speed = sampling_speed(model, np.resize(energies, args.speed_batch))
                row.update(
                    {
                        "showers_per_s": speed,
                        "gflash_showers_per_s": speed_sim,
                        "speedup": speed / speed_sim,
                    }
                )
            except Exception as exc:  # one family's failure must not lose the others
                row["error"] = f"{type(exc).__name__}: {exc}"
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
    return out


def table(results: dict) -> str:
    lines = []
    sim = results.get("simulator")
    if sim:
        lines += [
            "| geometry | E [GeV] | showers/s | ms/shower | spots/shower |",
            "|---|---|---|---|---|",
        ]
        for geo, rows in sim["speed"].items():
            for r in rows:
                lines.append(
                    f"| {geo} | {r['energy_GeV']:g} | {r['showers_per_s']:.1f} | "
                    f"{r['ms_per_shower']:.2f} | {r['spots_per_shower']:.0f} |"
                )
        lines += [
            "",
            "| ds3 memory: E [GeV] x n | output MB | working MB beyond output |",
            "|---|---|---|",
        ]
        for r in sim["memory_ds3"]:
            lines.append(
                f"| {r['energy_GeV']:g} x {r['showers']} | {r['output_MB']:.0f} | "
                f"{r['working_MB_beyond_output']:.0f} |"
            )
    gen = results.get("generators")
    if gen:
        lines += [
            "",
            "| geometry | family | epochs | AUC (low) | max sep. power (feature) | FPD x1e3 | "
            "showers/s @1e4 | x calo.gflash |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in gen["rows"]:
            if "error" in r:
                lines.append(f"| {r['geometry']} | {r['family']} | failed: {r['error'][:80]} |")
                continue
            lines.append(
                f"| {r['geometry']} | {r['family']} | {r['epochs']} | {r['auc_low']:.3f} | "
                f"{r['max_sep_power']:.2e} ({r['max_sep_power_feature']}) | "
                f"{r['fpd_x1e3']:.1f} | {r['showers_per_s']:.0f} | {r['speedup']:.2g} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("simulator", "generators", "all"), default="simulator")
    p.add_argument("--json", default=str(Path(__file__).with_name("calo-results.json")))
    p.add_argument("--geometries", nargs="+", default=["3", "2", "1-photons", "calogan"])
    p.add_argument("--budget", type=float, default=3.0, help="seconds per speed point")
    p.add_argument("--bench-geometries", nargs="+", default=["1-photons", "calogan"])
    p.add_argument("--families", nargs="+", default=None)
    p.add_argument("--minutes", type=float, default=60.0, help="training budget per model")
    p.add_argument("--train-events", type=int, default=100_000)
    p.add_argument("--test-events", type=int, default=30_000)
    p.add_argument("--speed-batch", type=int, default=10_000)
    p.add_argument("--classifier", default="calochallenge", choices=("calochallenge", "small"))
    p.add_argument(
        "--family-options", type=json.loads, default={}, help='JSON, e.g. {"flow": {"hidden": 256}}'
    )
    p.add_argument("--quick", action="store_true", help="small samples: checks the plumbing")
    args = p.parse_args(argv)
    if args.quick:
        args.train_events, args.test_events, args.classifier = 5_000, 3_000, "small"
        args.speed_batch = min(args.speed_batch, 2_000)
    results: dict = {"machine": machine()}
    path = Path(args.json)
    if path.exists():
        results = {**json.loads(path.read_text()), "machine": machine()}
    if args.part in ("simulator", "all"):
        results["simulator"] = part_simulator(args)
    if args.part in ("generators", "all"):
        results["generators"] = part_generators(args)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
