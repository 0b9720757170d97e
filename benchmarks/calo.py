"""Calorimeter benchmark: the reference simulator's cost, and generators against it.

Part ``simulator`` (minutes):
  ``calo.gflash`` showers per second against incident energy (1 GeV - 1 TeV; dataset 1
  up to 4 TeV) on the dataset-3, dataset-2, dataset-1-photons and CaloGAN geometries, the
  number of spots per shower (what the cost follows), and the memory of the dataset-3
  geometry: the peak of numpy allocations (tracemalloc) while simulating, beyond the
  output array, and the process's peak RSS.

Part ``generators`` (the training budget per family and geometry, ``--minutes``):
  on the dataset-1-photons and CaloGAN geometries, each registered generator family is
  trained on ``calo.gflash`` showers (preprocessing chain ``--chain``, default the
  simulator's ``logit``) within the budget (a two-epoch pilot, counted in it, sets the
  number of epochs), saved under ``--workdir``, then compared with fresh ``calo.gflash``
  showers at the same incident energies:

  - the challenge's low-level classifier AUC (``calo.cls_low``; ``--classifier small`` for
    CPU-sized runs, ``calochallenge`` for the recipe);
  - the largest separation power over the high-level features, and the worst group mean
    (``calo.separation_power``; voxel spectrum and per-energy histograms listed apart);
  - FPD (x10^3) on the high-level features.

  The first row per geometry is the floor: a second, independent ``calo.gflash`` sample
  scored the same way (what a perfect generator would get at this sample size).

Part ``speed`` (minutes; run it on a quiet machine): sampling speed at batch
  ``--speed-batch`` (10^4) of ``calo.gflash`` and of every model in ``--workdir``, in one
  process, over one incident-energy array drawn from the dataset's spectrum (what
  ``calo.gflash`` samples without conditions: dataset 1's discrete energies), with
  ``--threads`` torch threads (1 by default: the simulator is single-threaded numpy).

Part ``breakdown``: for every two-stage model under ``--workdir``, the median time of
  each part of a draw of ``--speed-batch`` showers (stage 1, stage 2's network and its
  noise, stage 2's decoding, the split's inverse) beside the whole draw and
  ``calo.gflash``'s, in one process: what limits a student's speed.

Part ``steps``: every diffusion model under ``--workdir`` (or two-stage model with a
  diffusion stage 2) sampled at each of ``--sampling-steps`` DDIM steps, scored as part
  ``generators`` scores it, with the showers per second of that sampling run.

Targets from the issue: AUC < 0.60, every separation power < 2e-3, speed >= 100x.

    python benchmarks/calo.py --part simulator
    OMP_NUM_THREADS=1 python benchmarks/calo.py --part generators --minutes 60 \
        --train-events 100000 --classifier small --bench-geometries 1-photons
    python benchmarks/calo.py --part speed
    python benchmarks/calo.py --part generators --minutes 0.3 --families vae gan --quick \
        --json /tmp/q.json --workdir /tmp/models
    python benchmarks/calo.py                      # the tables of what is saved

Results are merged into ``--json`` (default ``benchmarks/calo-results.json``) row by row
(two processes, one per geometry, may share it), and the tables are printed as markdown.
Timings depend on the machine and its load; the load average is recorded.  A generator
run imports the model families lazily, after tens of minutes: run it from a copy of the
tree (``git worktree add``) if you edit the source meanwhile.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
from machine_info import machine  # benchmarks/ is the script's folder
from results import save_row

from surrogate.io.atomic import write_text_atomic

ENERGIES_GEV = [1, 3, 10, 30, 100, 300, 1000]


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
    """The largest separation power over the challenge's high-level features: not the
    voxel spectrum, nor dataset 1's per-energy E_tot/E_inc histograms, nor the extra
    histograms (EC_r, W_r, sparsity) that the challenge's ``evaluate.py`` does not run."""
    extra = tuple((result.details or {}).get("extra", {}).get("groups", ()))
    per = {
        k: v
        for k, v in result.per_observable.items()
        if k != "voxel" and "@" not in k and not k.startswith(extra) and np.isfinite(v)
    }
    name = max(per, key=per.get)
    return name, per[name]


def build(family: str, sim, pre: list, options: dict):
    """An untrained model of ``family`` on the chain ``pre`` (``--chain``), else with what
    the simulator recommends (its split), as ``surrogate train`` chooses."""
    import surrogate
    from surrogate.api import hyperparameters_for

    cls = surrogate.surrogate_class(family)
    hp = dict(options)
    if "preprocessing" in cls.defaults:
        hp.setdefault("preprocessing", pre)
    return cls(**hyperparameters_for(cls, hp, sim))


def train_within(family: str, sim, data, pre: list, minutes: float, seed: int, options: dict):
    """Train ``family`` with a wall-clock budget of ``minutes`` (``max_time``, as
    ``surrogate train --max-time`` does): training stops at the last epoch boundary that
    fits and keeps the best epoch.  ``options["train"]`` holds training-loop options
    (``epochs`` sets the learning-rate schedule's length), the rest hyper-parameters."""
    options = dict(options)
    train = options.pop("train", {})
    model = build(family, sim, pre, options)
    t0 = time.perf_counter()
    model.fit(data, seed=seed, progress=False, max_time=minutes * 60, **train)
    info = {"train_seconds": time.perf_counter() - t0, "train_options": train}
    result = getattr(model, "training_result", None)
    if result is not None:
        info |= {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch}
        info["stopped"] = getattr(result, "stopped", None)
    stages = model.provenance.get("training", {})
    if set(stages) == {"stage1", "stage2"}:  # a two-stage model: each stage's run
        keep = ("epochs", "best_epoch", "stopped", "seconds")
        info["stages"] = {k: {f: v.get(f) for f in keep} for k, v in stages.items()}
    return model, info


def sampling_speed(source, energies: np.ndarray, seed: int = 5) -> float:
    """Showers per second generating one shower per entry of ``energies`` in one call
    (after a small warm-up call)."""
    source.sample(min(len(energies), 100), {"incident_energies": energies[:100]}, seed=seed)
    t0 = time.perf_counter()
    source.sample(len(energies), {"incident_energies": energies}, seed=seed)
    return len(energies) / (time.perf_counter() - t0)


def compare_to_reference(reference, gen, classifier: str, ctx: dict) -> dict:
    """The issue's quality figures for ``gen`` against ``reference``."""
    from surrogate.metrics import evaluate

    metrics = {
        "calo.separation_power": {"voxels": True, "bootstrap": 10},
        "fpd": {},
        "calo.cls_low": {"preset": classifier},
        "calo.cls_high": {"preset": classifier},
    }
    res = evaluate(reference, gen, metrics, seed=0, context=ctx)
    sep = res["calo.separation_power"]
    name, value = _hlf_max(sep)
    return {
        "auc_low": res["calo.cls_low.auc"].value,
        "auc_low_error": res["calo.cls_low.auc"].error,
        "auc_high": res["calo.cls_high.auc"].value,
        "auc_high_error": res["calo.cls_high.auc"].error,
        "sep_power_etot": sep.per_observable.get("E_tot/E_inc"),
        "sep_power_layers_max": max(
            (v for k, v in sep.per_observable.items() if k.startswith("E_layer")), default=None
        ),
        "max_sep_power": value,
        "max_sep_power_feature": name,
        "sep_power_worst_group_mean": res["calo.separation_power"].value,
        "sep_power_voxel": res["calo.separation_power"].per_observable.get("voxel"),
        "fpd_x1e3": 1e3 * res["fpd"].value,
        "fpd_error_x1e3": 1e3 * (res["fpd"].error or 0.0),
    }


def part_generators(args) -> None:
    """Train each family per geometry, save it under ``--workdir`` and write its quality
    figures (speed is part ``speed``, timed apart on a quiet machine).  The first row of a
    geometry is the floor: a second, independent ``calo.gflash`` sample."""
    import surrogate
    from surrogate_calo.preprocessing import preprocessing_chain

    registry = surrogate.registry.get_registry()
    families = args.families or [f for f in registry.names("surrogate") if f not in ("gaussian",)]
    path = Path(args.json)
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    for geometry in args.bench_geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        ctx = {"simulator": "calo.gflash", "simulator_options": sim.options}
        t0 = time.perf_counter()
        train = sim.sample(args.train_events, seed=1)
        sim_seconds = time.perf_counter() - t0
        reference = sim.sample(args.test_events, seed=2)
        energies = np.asarray(reference["incident_energies"])
        print(
            f"{geometry}: {args.train_events} training showers in {sim_seconds:.0f} s", flush=True
        )
        if not args.no_floor:
            floor = sim.sample(len(energies), {"incident_energies": energies}, seed=4)
            row = {"geometry": geometry, "family": "floor (calo.gflash)", "settings": settings}
            row.update(compare_to_reference(reference, floor, args.classifier, ctx))
            save_row(path, "generators", row, ("geometry", "family"))
            print(json.dumps(row, default=str), flush=True)
        for family in families:
            # a model on another chain is its own row (and model folder): "vae+layers"
            label = family if args.chain == "logit" else f"{family}+{args.chain}"
            label += f"+{args.tag}" if args.tag else ""
            row = {"geometry": geometry, "family": label, "settings": settings}
            try:
                opts = dict(args.family_options.get(family, {}))
                row["options"] = opts
                pre = preprocessing_chain(geometry, args.chain)
                model, info = train_within(family, sim, train, pre, args.minutes, 1, opts)
                row.update(info)
                model.save(Path(args.workdir) / f"{geometry}-{label}")
                gen = model.sample(len(energies), {"incident_energies": energies}, seed=3)
                row.update(compare_to_reference(reference, gen, args.classifier, ctx))
            except Exception as exc:  # one family's failure must not lose the others
                row["error"] = f"{type(exc).__name__}: {exc}"
            save_row(path, "generators", row, ("geometry", "family"))
            print(json.dumps(row, default=str), flush=True)


def part_speed(args) -> None:
    """Sampling speed at batch ``--speed-batch`` of ``calo.gflash`` and of every model
    saved under ``--workdir``, in one process, over one incident-energy array per geometry
    (drawn from the geometry's spectrum), with ``--threads`` torch threads."""
    import torch

    import surrogate

    torch.set_num_threads(args.threads)
    path = Path(args.json)
    for geometry in args.bench_geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        energies = sim.draw_energies(args.speed_batch, np.random.default_rng(2))
        ref = sampling_speed(sim, energies)
        print(f"{geometry}: calo.gflash {ref:.0f} showers/s", flush=True)
        for folder in sorted(Path(args.workdir).glob(f"{geometry}-*")):
            model = surrogate.load(folder)
            speed = sampling_speed(model, energies)
            row = {
                "geometry": geometry,
                "family": folder.name[len(geometry) + 1 :],
                "batch": args.speed_batch,
                "threads": args.threads,
                "device": "cpu",
                "showers_per_s": speed,
                "gflash_showers_per_s": ref,
                "speedup": speed / ref,
                "load_average": os.getloadavg(),
            }
            save_row(path, "speed", row, ("geometry", "family"))
            print(json.dumps(row), flush=True)


def median_ms(fn, repeats: int = 5) -> float:
    """The median wall time of ``fn()`` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def part_breakdown(args) -> None:
    """Where each two-stage model's draw of ``--speed-batch`` showers goes (median of 5,
    ``--threads`` torch threads): stage 1, stage 2's ``_generate`` (its network and
    noise), stage 2's decoding and the split's inverse, against the whole ``sample()``
    and ``calo.gflash`` in the same process."""
    import torch

    import surrogate

    torch.set_num_threads(args.threads)
    path, n = Path(args.json), args.speed_batch
    for geometry in args.bench_geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        conds = {"incident_energies": sim.draw_energies(n, np.random.default_rng(2))}
        for folder in sorted(Path(args.workdir).glob(f"{geometry}-*")):
            model = surrogate.load(folder)
            if set(getattr(model, "stages", {})) != {"stage1", "stage2"}:
                continue
            ms = draw_breakdown(model, n, conds)
            ms["gflash"] = median_ms(lambda s=sim, c=conds: s.sample(n, c, seed=3), repeats=2)
            row = {"geometry": geometry, "family": folder.name[len(geometry) + 1 :], "batch": n}
            row |= {"threads": args.threads, "ms": ms, "load_average": os.getloadavg()}
            save_row(path, "breakdown", row, ("geometry", "family"))
            print(json.dumps(row), flush=True)


def draw_breakdown(model, n: int, conds: dict) -> dict:
    """Median ms of each part of a two-stage model's draw of ``n`` showers at ``conds``."""
    import torch

    from surrogate.splits import stage2_conditions

    one, two = model.stages["stage1"], model.stages["stage2"]
    first = one.sample(n, conds, seed=1)
    conds2 = stage2_conditions(first.spec, first.fields, conds)
    second = two.sample(n, conds2, seed=2)
    c2 = torch.from_numpy(two.condition_encoder.encode(conds2, n))

    def network():
        with two._eval_mode(), two._sample_autocast():  # as sample() runs it
            return two._generate(c2, torch.Generator().manual_seed(0)).float().numpy()

    x2 = network()
    return {
        "sample": median_ms(lambda: model.sample(n, conds, seed=3)),
        "stage1": median_ms(lambda: one.sample(n, conds, seed=1)),
        "stage2_network": median_ms(network),
        "stage2_decode": median_ms(lambda: two.decode_fields(x2, conds2)),
        "split_inverse": median_ms(lambda: model.split.inverse(first.fields, second.fields, conds)),
    }


def diffusion_of(model):
    """The diffusion model that samples ``model``'s events (``model`` itself, or a
    two-stage model's stage 2), or ``None``: what ``sampling(steps=...)`` is called on."""
    for candidate in (model, getattr(model, "stages", {}).get("stage2")):
        if candidate is not None and hasattr(candidate, "sampling"):
            return candidate
    return None


def part_steps(args) -> None:
    """Quality and speed of every diffusion model under ``--workdir`` at each of
    ``--sampling-steps`` DDIM steps (issue #10, item 4: few-step samplers beside the
    many-step one), against the generators part's reference showers (the same seed)."""
    import surrogate

    path = Path(args.json)
    for geometry in args.bench_geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        ctx = {"simulator": "calo.gflash", "simulator_options": sim.options}
        reference = sim.sample(args.test_events, seed=2)
        energies = np.asarray(reference["incident_energies"])
        for folder in sorted(Path(args.workdir).glob(f"{geometry}-*")):
            model = surrogate.load(folder)
            sampler = diffusion_of(model)
            if sampler is None:
                continue
            for steps in args.sampling_steps:
                with sampler.sampling(steps=steps):
                    t0 = time.perf_counter()
                    gen = model.sample(len(energies), {"incident_energies": energies}, seed=3)
                    seconds = time.perf_counter() - t0
                row = {"geometry": geometry, "family": folder.name[len(geometry) + 1 :]}
                row |= {"steps": steps, "showers_per_s": len(energies) / seconds}
                row |= compare_to_reference(reference, gen, args.classifier, ctx)
                row["load_average"] = os.getloadavg()
                save_row(path, "steps", row, ("geometry", "family", "steps"))
                print(json.dumps(row), flush=True)


def _steps_table(rows: list[dict]) -> list[str]:
    """Part ``steps``: one line per model and DDIM step count."""
    if not rows:
        return []
    lines = [
        "",
        "| geometry | family | DDIM steps | AUC (low) | AUC (high) | E_tot/E_inc sep. | "
        "max E_layer sep. | FPD x1e3 | showers/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["geometry"], r["family"], r["steps"])):
        lines.append(
            f"| {r['geometry']} | {r['family']} | {r['steps']} | {r['auc_low']:.3f} | "
            f"{r['auc_high']:.3f} | {_fmt(r.get('sep_power_etot'), '.2e')} | "
            f"{_fmt(r.get('sep_power_layers_max'), '.2e')} | {r['fpd_x1e3']:.1f} | "
            f"{r['showers_per_s']:.0f} |"
        )
    return lines


BREAKDOWN = ("sample", "stage1", "stage2_network", "stage2_decode", "split_inverse", "gflash")


def _breakdown_table(rows: list[dict]) -> list[str]:
    """Part ``breakdown``: one line per two-stage model, ms per part of a draw."""
    if not rows:
        return []
    lines = [
        "",
        "| geometry | family | batch | " + " | ".join(f"{k} ms" for k in BREAKDOWN) + " |",
        "|---|---|---|" + "---|" * len(BREAKDOWN),
    ]
    for r in sorted(rows, key=lambda r: (r["geometry"], r["family"])):
        cells = " | ".join(f"{r['ms'][k]:.1f}" for k in BREAKDOWN)
        lines.append(f"| {r['geometry']} | {r['family']} | {r['batch']} | {cells} |")
    return lines


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _epochs(row: dict) -> str:
    """Epochs run (of those planned, for rows of the older pilot runs; per stage for a
    two-stage model)."""
    if "stages" in row:
        return " + ".join(str(s.get("epochs")) for s in row["stages"].values())
    if "epochs_run" not in row:
        return "-"
    return f"{row['epochs_run']}/{row['epochs']}" if "epochs" in row else str(row["epochs_run"])


def spectrum_edges(showers: np.ndarray, geometry) -> np.ndarray:
    """Log10 voxel-energy bin edges from the threshold to the reference's largest voxel:
    one set for both samples (edges of each sample's own would tell them apart)."""
    top = float(np.max(showers))
    return np.linspace(np.log10(max(geometry.readout_threshold, 1e-3)), np.log10(top), 31)


def feature_groups(
    showers: np.ndarray, energies: np.ndarray, geometry, edges: np.ndarray
) -> dict[str, np.ndarray]:
    """Feature matrices by what they describe, each with log10 E_inc: what a classifier
    sees when it tells generated showers from reference ones (issue #10, item 3).  The
    voxel spectrum is each shower's histogram of log10 voxel energies over ``edges``."""
    from surrogate_calo.features import apply_cut, high_level_features

    geo = geometry
    hlf = high_level_features(showers, energies, geo)
    e = np.log10(energies.reshape(-1, 1))

    def stack(cols: list) -> np.ndarray:
        return np.concatenate([e, *[np.asarray(c).reshape(len(e), -1) for c in cols]], axis=1)

    cut = apply_cut(showers, geo.readout_threshold).astype(np.float64)
    groups = {
        f"layer {i} voxels": stack([cut[:, geo.layer_slice(i)] / energies.reshape(-1, 1)])
        for i in geo.relevant_layers
    }
    spectrum = np.stack([np.histogram(np.log10(row[row > 0]), edges)[0] for row in cut])
    groups["voxel spectrum"] = stack([spectrum / max(cut.shape[1], 1)])
    groups["sparsity"] = stack([hlf.sparsity[i] for i in geo.relevant_layers])
    groups["layer energies"] = stack([np.log10(hlf.e_layer[i] + 1e-8) for i in geo.relevant_layers])
    groups["centres"] = stack(
        [d[i] / 100 for d in (hlf.ec_eta, hlf.ec_phi) for i in geo.alpha_layers]
        + [hlf.ec_r[i] / 100 for i in geo.relevant_layers]
    )
    groups["widths"] = stack(
        [d[i] / 100 for d in (hlf.w_eta, hlf.w_phi) for i in geo.alpha_layers]
        + [hlf.w_r[i] / 100 for i in geo.relevant_layers]
    )
    return groups


def part_groups(args) -> None:
    """The classifier AUC (``--classifier`` preset) on each feature group, for the floor
    (a second ``calo.gflash`` sample) and every model saved under ``--workdir``."""
    import surrogate
    from surrogate.metrics.classifier import classifier_test, preset

    path = Path(args.json)
    for geometry in args.bench_geometries:
        sim = surrogate.simulator("calo.gflash", geometry=geometry)
        reference = sim.sample(args.test_events, seed=2)
        energies = np.asarray(reference["incident_energies"], dtype=np.float64)
        edges = spectrum_edges(reference["showers"], sim.geometry)
        ref = feature_groups(reference["showers"], energies, sim.geometry, edges)
        sources = {"floor (calo.gflash)": sim}
        sources |= {
            f.name[len(geometry) + 1 :]: surrogate.load(f)
            for f in sorted(Path(args.workdir).glob(f"{geometry}-*"))
        }
        for label, source in sources.items():
            gen = source.sample(len(energies), {"incident_energies": energies}, seed=4)
            groups = feature_groups(gen["showers"], energies, sim.geometry, edges)
            row = {"geometry": geometry, "family": label, "n": len(energies)}
            for name, x in groups.items():
                res = classifier_test(ref[name], x, **preset(args.classifier), seed=0)
                row[name] = {"auc": res["auc"], "auc_error": res.get("auc_error")}
            save_row(path, "groups", row, ("geometry", "family"))
            print(json.dumps(row), flush=True)


def _groups_table(rows: list[dict]) -> list[str]:
    """Part ``groups``: one line per geometry and source, the AUC of each feature group."""
    lines = []
    for geometry in sorted({r["geometry"] for r in rows}):
        mine = [r for r in rows if r["geometry"] == geometry]
        names = [k for k in mine[0] if k not in ("geometry", "family", "n")]
        lines += ["", f"{geometry}: classifier AUC by feature group ({mine[0]['n']} vs "
                  f"{mine[0]['n']} showers)", "", "| source | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]  # fmt: skip
        for r in mine:
            cells = [f"{r[k]['auc']:.3f}" for k in names]
            lines.append(f"| {r['family']} | " + " | ".join(cells) + " |")
    return lines


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
        speed = {(r["geometry"], r["family"]): r for r in results.get("speed", {}).get("rows", [])}
        lines += [
            "",
            "| geometry | family | train min | epochs run | AUC (low) | AUC (high) | "
            "max sep. power (feature) | E_tot/E_inc sep. | FPD x1e3 | showers/s @1e4 | "
            "x calo.gflash |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        rows = sorted(
            gen["rows"], key=lambda r: (r["geometry"], "floor" not in r["family"], r["family"])
        )
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['geometry']} | {r['family']} | failed: {r['error'][:80]} |")
                continue
            s = speed.get((r["geometry"], r["family"]))
            minutes = f"{r['train_seconds'] / 60:.1f}" if "train_seconds" in r else "-"
            lines.append(
                f"| {r['geometry']} | {r['family']} | {minutes} | {_epochs(r)} | "
                f"{r['auc_low']:.3f} ± {r['auc_low_error'] or 0:.3f} | "
                f"{_fmt(r.get('auc_high'), '.3f')} | "
                f"{r['max_sep_power']:.2e} ({r['max_sep_power_feature']}) | "
                f"{_fmt(r.get('sep_power_etot'), '.2e')} | "
                f"{r['fpd_x1e3']:.2f} ± {r['fpd_error_x1e3']:.2f} | "
                + (f"{s['showers_per_s']:.0f} | {s['speedup']:.3g} |" if s else "- | - |")
            )
        refs = {r["geometry"]: r for r in results.get("speed", {}).get("rows", [])}
        lines += _groups_table(results.get("groups", {}).get("rows", []))
        lines += _steps_table(results.get("steps", {}).get("rows", []))
        for geo, r in refs.items():
            lines.append(
                f"\n{geo}: calo.gflash {r['gflash_showers_per_s']:.0f} showers/s at batch "
                f"{r['batch']}, {r['threads']} thread(s), {r['device']}"
            )
    lines += _breakdown_table(results.get("breakdown", {}).get("rows", []))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--part",
        choices=("simulator", "generators", "speed", "breakdown", "groups", "steps", "table"),
        default="table",
    )
    p.add_argument("--json", default=str(Path(__file__).with_name("calo-results.json")))
    p.add_argument("--geometries", nargs="+", default=["3", "2", "1-photons", "calogan"])
    p.add_argument("--budget", type=float, default=3.0, help="seconds per speed point")
    p.add_argument("--bench-geometries", nargs="+", default=["1-photons", "calogan"])
    p.add_argument("--families", nargs="+", default=None)
    p.add_argument("--minutes", type=float, default=60.0, help="training budget per model")
    p.add_argument("--train-events", type=int, default=100_000)
    p.add_argument("--test-events", type=int, default=30_000)
    p.add_argument("--speed-batch", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1, help="torch threads for part speed")
    p.add_argument(
        "--workdir",
        default=str(Path(__file__).with_name("calo-models")),
        help="where part generators saves its models and part speed loads them",
    )
    p.add_argument(
        "--chain", default="logit", help="the calo preprocessing chain: logit, log or layers"
    )
    p.add_argument("--tag", default="", help='appended to the rows\' family: "flow+affine"')
    p.add_argument("--classifier", default="calochallenge", choices=("calochallenge", "small"))
    p.add_argument(
        "--family-options", type=json.loads, default={}, help='JSON, e.g. {"flow": {"hidden": 256}}'
    )
    p.add_argument("--quick", action="store_true", help="small samples: checks the plumbing")
    p.add_argument(
        "--no-floor",
        action="store_true",
        help="part generators: keep the floor rows already in --json (same samples, same seeds)",
    )
    p.add_argument(
        "--sampling-steps", type=int, nargs="+", default=[10, 25, 50, 200], help="part steps"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.train_events, args.test_events, args.classifier = 5_000, 3_000, "small"
        args.speed_batch = min(args.speed_batch, 2_000)
    path = Path(args.json)
    if args.part == "simulator":
        results = json.loads(path.read_text()) if path.exists() else {}
        results.update({"machine": machine(), "simulator": part_simulator(args)})
        write_text_atomic(path, json.dumps(results, indent=2, default=str))
    elif args.part == "generators":
        part_generators(args)
    elif args.part == "speed":
        part_speed(args)
    elif args.part == "breakdown":
        part_breakdown(args)
    elif args.part == "groups":
        part_groups(args)
    elif args.part == "steps":
        part_steps(args)
    results = json.loads(path.read_text()) if path.exists() else {}
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
