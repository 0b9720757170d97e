"""Anomaly benchmark (issue #15, item 2): how well each family's anomaly scores find the
labelled anomalies the toolkit's own simulators make, beside simple cuts.

Per domain, on one CPU thread:

1. the simulator writes a training sample, an independent background sample and one
   labelled anomaly sample per anomaly (``surrogate.simulate(..., anomaly=NAME)``, read
   back through ``anomaly_label``);
2. each family is trained on the training sample within ``--minutes`` of ``max_time``
   (the loop option: training stops at the last epoch boundary that fits and keeps the
   best epoch), then every score kind it gives scores the background and each anomaly
   file (``surrogate.score``: score files, chunk seeds; the models are saved in the
   work directory, ``model-FAMILY``);
3. the baselines score the same files: for the calorimeter a cut on ``E_tot/E_inc`` and
   one on the layer energies (``surrogate_calo.baselines``, fitted on the training
   sample), for the toy the radial distance ``|r - R| / sigma`` and the simulator's own
   exact density (``surrogate_toy.anomalies``: nearly optimal for events off the ring);
4. ``roc_summary`` gives the ROC AUC (Hanley-McNeil error) and the signal efficiency at
   background efficiencies 1e-2 and 1e-3 (bootstrap error; a working point with fewer
   than 10 background events above it is not quoted: hence >= 10^4 background events).

Domains: ``toy`` = the conditional ring ``toy.gmm2d`` (radius 1-4, sigma 0.1), events
moved off it by +3 and -2 sigma; ``calo`` = ``calo.gflash`` photons in the ``test``
geometry (6 layers x 4 alpha x 4 r = 96 voxels, W/Si, 1-100 GeV log-uniform: the one
whose models train in minutes on one thread), with a dead cell (the default, which is
also layer 1's anchor voxel of the ``calo.layers`` split, and its neighbour in alpha), a
noisy cell (50 and 500 MeV pedestals), a dead layer (the hottest, and a deep one), 5% and
2% energy-scale shifts, and electrons.  Left out: ``knn`` of the calo flow and two-stage
models (:data:`SKIP_KINDS`), and the diffusion family (its bound costs T network calls an
event, its knn draws 50 DDIM steps each).

    OMP_NUM_THREADS=1 python benchmarks/anomaly.py                 # full: ~20-30 minutes
    OMP_NUM_THREADS=1 python benchmarks/anomaly.py --quick         # the plumbing: ~2 minutes
    python benchmarks/anomaly.py --table                           # the tables of what is saved

Results are merged into ``--json`` (default ``benchmarks/anomaly-results.json``) row by
row, and the tables go to stdout and into ``--md`` (default ``benchmarks/anomaly.md``)
between its result markers, so the discussion written around them stays.  Timings
depend on the machine and its load (the load average is recorded).  Run it from a copy
of the tree (``git worktree add``) if the source is being edited meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from calo import train_within  # benchmarks/ is the script's folder
from machine_info import machine
from results import save_row

from surrogate.io.atomic import write_text_atomic

HERE = Path(__file__).resolve()
BEGIN, END = "<!-- anomaly results: begin -->", "<!-- anomaly results: end -->"
WORKING_POINTS = (1e-2, 1e-3)
#: score kinds left out per domain and family: knn needs ``draws`` samples per event, and
#: these families sample too slowly for it on one thread (calo flow: 72 events/s,
#: two-stage 42/s, i.e. 6-10 minutes per score at 24k events)
SKIP_KINDS = {"calo": {"flow": ("knn",), "twostage": ("knn",)}}


@dataclass(frozen=True)
class Domain:
    """A simulator, its anomalies (label, registered name, options) and the families with
    their options (hyper-parameters, ``train``: loop options) trained on it."""

    simulator: str
    options: dict[str, Any]
    anomalies: tuple[tuple[str, str, dict[str, Any]], ...]
    families: dict[str, dict[str, Any]] = field(default_factory=dict)


DOMAINS = {
    "toy": Domain(
        "toy.gmm2d",
        {"conditional": True},
        (
            ("off_ring +3 sigma", "toy.off_ring", {"shift": 3.0}),
            ("off_ring -2 sigma", "toy.off_ring", {"shift": -2.0}),
        ),
        {
            "gaussian": {},
            "vae": {"hidden": 64, "latent": 2, "train": {"epochs": 200, "batch_size": 256}},
            "flow": {"hidden": 64, "train": {"epochs": 60, "batch_size": 256}},
            "gan": {"hidden": 64, "train": {"epochs": 200, "batch_size": 256}},
        },
    ),
    "calo": Domain(
        "calo.gflash",
        {"geometry": "test", "particle": "photon"},
        (
            ("dead cell", "calo.dead_cell", {}),
            ("dead cell (alpha bin 1)", "calo.dead_cell", {"layer": 1, "index": 4}),
            ("noisy cell (50 MeV)", "calo.noisy_cell", {}),
            ("noisy cell (500 MeV)", "calo.noisy_cell", {"energy": 500.0}),
            ("dead layer (hottest)", "calo.dead_layer", {}),
            ("dead layer 4", "calo.dead_layer", {"layer": 4}),
            ("energy scale +5%", "calo.energy_scale", {"shift": 0.05}),
            ("energy scale +2%", "calo.energy_scale", {"shift": 0.02}),
            ("electrons", "calo.electrons", {}),
        ),
        {
            "gaussian": {},
            "vae": {"train": {"epochs": 150}},
            "flow": {"train": {"epochs": 15}},
            "gan": {"train": {"epochs": 150}},
            "twostage": {
                "stage1_options": {"flow_type": "autoregressive", "hidden": 64},
                "stage1_train": {"epochs": 15},
                "stage2_train": {"epochs": 20},
            },
        },
    ),
}


# -- samples ----------------------------------------------------------------------------------
def write_samples(domain: Domain, args: argparse.Namespace, workdir: Path) -> dict[str, Path]:
    """The training, background and anomaly files of ``domain`` (seeds 1, 2, 10 + i)."""
    import surrogate

    paths = {"train": workdir / "train.h5", "background": workdir / "background.h5"}
    common = {"options": domain.options, "progress": False}
    surrogate.simulate(domain.simulator, args.train_events, paths["train"], seed=1, **common)
    surrogate.simulate(
        domain.simulator, args.background_events, paths["background"], seed=2, **common
    )
    for i, (label, name, options) in enumerate(domain.anomalies):
        paths[label] = workdir / f"anomaly-{i}.h5"
        surrogate.simulate(
            domain.simulator,
            args.signal_events,
            paths[label],
            seed=10 + i,
            anomaly=name,
            anomaly_options=options,
            **common,
        )
    return paths


def read_samples(paths: dict[str, Path]) -> dict[str, Any]:
    """Every file's events; an anomaly file must carry its label."""
    from surrogate.anomaly import anomaly_label
    from surrogate.io import open_events

    out = {}
    for label, path in paths.items():
        with open_events(path) as f:
            if label not in ("train", "background"):
                anomaly_label(f.metadata, str(path))
            out[label] = f.read()
    return out


# -- scores -----------------------------------------------------------------------------------
def summarise(scores: dict[str, np.ndarray], labels: list[str], bootstraps: int) -> dict:
    """anomaly label -> ``roc_summary`` row of ``scores[label]`` against the background."""
    from surrogate.anomaly import roc_summary

    return {
        label: roc_summary(scores["background"], scores[label], bootstraps=bootstraps).row()
        for label in labels
    }


def score_model(model, kind: str, paths: dict[str, Path], workdir: Path, args) -> tuple:
    """The ``kind`` scores of every file but the training one, and events per second."""
    import surrogate
    from surrogate.anomaly import read_scores

    options = {"draws": args.knn_draws} if kind == "knn" else None
    out, events, t0 = {}, 0, time.perf_counter()
    for label, path in paths.items():
        if label == "train":
            continue
        target = workdir / f"scores-{model.name}-{kind}-{path.stem}.h5"
        surrogate.score(model, path, target, kind=kind, options=options, progress=False)
        out[label] = read_scores(target).score
        events += len(out[label])
    return out, events / (time.perf_counter() - t0)


def timed(fn: Callable[[Any], np.ndarray], events: dict[str, Any]) -> tuple:
    """``fn`` of every sample but the training one, and events per second."""
    t0 = time.perf_counter()
    out = {k: np.asarray(fn(v), dtype=np.float64) for k, v in events.items() if k != "train"}
    return out, sum(map(len, out.values())) / (time.perf_counter() - t0)


def baselines(domain_name: str, sim, train) -> dict[str, Callable[[Any], np.ndarray]]:
    """score name -> scorer of events, for the cut baselines of the domain."""
    if domain_name == "toy":
        from surrogate_toy.anomalies import radial_score

        return {
            "radial distance / sigma": lambda ev: radial_score(sim, ev),
            "exact nll (simulator)": lambda ev: -sim.log_prob(ev),
        }
    from surrogate_calo.baselines import BASELINES

    return {name: cls(sim.geometry).fit(train).score for name, cls in BASELINES.items()}


# -- one domain -------------------------------------------------------------------------------
def save(args, domain_name: str, family: str, score: str, summary: dict, extra: dict) -> None:
    for label, row in summary.items():
        full = {"anomaly": label, "family": family, "score": score, **row, **extra}
        save_row(Path(args.json), domain_name, full, ("anomaly", "family", "score"))
    first = next(iter(summary.values()))
    print(f"{domain_name}: {family} {score}: AUC {first['auc']:.3f} ... ({extra})", flush=True)


def run_family(args, name: str, domain: Domain, family: str, sim, events, paths, workdir):
    """Train ``family`` within the budget, then score with each of its kinds."""
    minutes = args.toy_minutes if name == "toy" else args.minutes
    model, info = train_within(
        family, sim, events["train"], sim.preprocessing(), minutes, 1, domain.families[family]
    )
    info = {"budget_minutes": minutes, **info}
    model.save(workdir / f"model-{family}")
    save_row(Path(args.json), f"{name} training", {"family": family, **info}, ("family",))
    skip = SKIP_KINDS.get(name, {}).get(family, ())
    labels = [a[0] for a in domain.anomalies]
    for kind in [k for k in model.score_kinds() if k not in skip]:
        scores, rate = score_model(model, kind, paths, workdir, args)
        extra = {"train_seconds": info["train_seconds"], "score_events_per_s": rate}
        save(args, name, family, kind, summarise(scores, labels, args.bootstraps), extra)


def run_domain(args, name: str) -> None:
    import surrogate

    domain = DOMAINS[name]
    workdir = Path(args.workdir) / name
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = write_samples(domain, args, workdir)
    events = read_samples(paths)
    sim = surrogate.simulator(domain.simulator, **domain.options)
    record_settings(args, name, domain, time.perf_counter() - t0)
    labels = [a[0] for a in domain.anomalies]
    for score, fn in baselines(name, sim, events["train"]).items():
        scores, rate = timed(fn, events)
        extra = {"train_seconds": 0.0, "score_events_per_s": rate}
        save(args, name, "baseline", score, summarise(scores, labels, args.bootstraps), extra)
    families = [f for f in domain.families if not args.families or f in args.families]
    for family in families:
        try:
            run_family(args, name, domain, family, sim, events, paths, workdir)
        except Exception as exc:  # one family's failure must not lose the others
            row = {"family": family, "error": f"{type(exc).__name__}: {exc}"}
            save_row(Path(args.json), f"{name} training", row, ("family",))
            print(f"{name}: {family} failed: {row['error']}", flush=True)


def record_settings(args, name: str, domain: Domain, simulate_seconds: float) -> None:
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {}
    keep = ("train_events", "background_events", "signal_events", "minutes", "toy_minutes")
    results.setdefault("settings", {})[name] = {
        "simulator": domain.simulator,
        "options": domain.options,
        "anomalies": [list(a) for a in domain.anomalies],
        "families": domain.families,
        "knn_draws": args.knn_draws,
        "bootstraps": args.bootstraps,
        "simulate_seconds": simulate_seconds,
        **{k: getattr(args, k) for k in keep},
    }
    results["machine"] = machine()
    write_text_atomic(path, json.dumps(results, indent=2, default=str))


# -- tables -----------------------------------------------------------------------------------
def _pm(value, error, spec: str = ".3f") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}} ± {error:{spec}}" if error is not None else f"{value:{spec}}"


def _label(row: dict) -> str:
    return row["score"] if row["family"] == "baseline" else f"{row['family']}: {row['score']}"


def auc_table(rows: list[dict], anomalies: list[str]) -> list[str]:
    """Rows: scores; columns: anomalies; cells: AUC (the best per column in bold)."""
    by = {(_label(r), r["anomaly"]): r for r in rows}
    scores = list(dict.fromkeys(_label(r) for r in rows))
    best = {a: max((by[s, a]["auc"] for s in scores if (s, a) in by), default=0) for a in anomalies}
    lines = ["| score | " + " | ".join(anomalies) + " |", "|---|" + "---|" * len(anomalies)]
    for s in scores:
        cells = []
        for a in anomalies:
            r = by.get((s, a))
            text = "-" if r is None else f"{r['auc']:.3f}"
            cells.append(f"**{text}**" if r is not None and r["auc"] == best[a] else text)
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return lines


def full_table(rows: list[dict], anomalies: list[str]) -> list[str]:
    head = "| anomaly | score | AUC | eff_sig @ 1e-2 | eff_sig @ 1e-3 | score events/s |"
    lines = [head, "|---|---|---|---|---|---|"]
    for a in anomalies:
        for r in [r for r in rows if r["anomaly"] == a]:
            cells = [_pm(r["auc"], r["auc_error"])]
            cells += [
                _pm(r.get(f"eff_sig@{wp:g}"), r.get(f"eff_sig@{wp:g}_error"))
                for wp in WORKING_POINTS
            ]
            rate = f"{r['score_events_per_s']:,.0f}"
            lines.append(f"| {a} | {_label(r)} | " + " | ".join(cells) + f" | {rate} |")
    return lines


def training_table(rows: list[dict]) -> list[str]:
    lines = [
        "| family | budget (min) | trained (min) | epochs | stopped |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | failed: {r['error'][:100]} | | | |")
            continue
        stages = r.get("stages")
        epochs = (
            " + ".join(str(s.get("epochs")) for s in stages.values())
            if stages
            else str(r.get("epochs_run", "-"))
        )
        lines.append(
            f"| {r['family']} | {r['budget_minutes']:g} | {r['train_seconds'] / 60:.1f} | "
            f"{epochs} | {r.get('stopped') or '-'} |"
        )
    return lines


def table(results: dict) -> str:
    lines: list[str] = []
    for name in DOMAINS:
        rows = results.get(name, {}).get("rows", [])
        if not rows:
            continue
        settings = results.get("settings", {}).get(name, {})
        anomalies = [a[0] for a in settings.get("anomalies", [])] or sorted(
            {r["anomaly"] for r in rows}
        )
        n_bkg, n_sig = rows[0]["n_background"], rows[0]["n_signal"]
        lines += [f"### {name}: ROC AUC ({n_bkg} background, {n_sig} signal events each)", ""]
        lines += auc_table(rows, anomalies)
        lines += ["", f"### {name}: every figure", "", *full_table(rows, anomalies)]
        training = results.get(f"{name} training", {}).get("rows", [])
        if training:
            lines += ["", f"### {name}: training", "", *training_table(training)]
        lines.append("")
    return "\n".join(lines)


def write_markdown(path: Path, text: str) -> None:
    """``text`` between the result markers of ``path`` (created with them if absent)."""
    block = f"{BEGIN}\n\n{text}\n{END}"
    old = path.read_text() if path.exists() else f"# Anomaly benchmark\n\n{BEGIN}\n{END}\n"
    if BEGIN not in old or END not in old:
        old += f"\n{BEGIN}\n{END}\n"
    head, rest = old.split(BEGIN, 1)
    write_text_atomic(path, head + block + rest.split(END, 1)[1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--domains", nargs="+", choices=tuple(DOMAINS), default=list(DOMAINS))
    p.add_argument("--families", nargs="+", default=None, help="default: each domain's")
    p.add_argument("--minutes", type=float, default=4.0, help="calo training budget a model")
    p.add_argument("--toy-minutes", type=float, default=1.0, help="toy training budget a model")
    p.add_argument("--train-events", type=int, default=20_000)
    p.add_argument("--background-events", type=int, default=10_000)
    p.add_argument("--signal-events", type=int, default=2_000)
    p.add_argument("--knn-draws", type=int, default=64, help="model draws per event (knn)")
    p.add_argument("--bootstraps", type=int, default=200, help="for the efficiencies' errors")
    p.add_argument("--workdir", default=None, help="samples, models, scores (default: a temp dir)")
    p.add_argument("--json", default=str(HERE.with_name("anomaly-results.json")))
    p.add_argument("--md", default=str(HERE.with_name("anomaly.md")))
    p.add_argument("--table", action="store_true", help="only print the saved tables")
    p.add_argument("--quick", action="store_true", help="small samples: checks the plumbing")
    args = p.parse_args(argv)
    if args.quick:
        args.train_events, args.background_events, args.signal_events = 3000, 2000, 500
        args.minutes, args.toy_minutes, args.knn_draws, args.bootstraps = 0.2, 0.1, 16, 20
    if not args.table:
        import torch

        torch.set_num_threads(1)
        args.workdir = args.workdir or tempfile.mkdtemp(prefix="anomaly-bench-")
        for name in args.domains:
            run_domain(args, name)
    path = Path(args.json)
    text = table(json.loads(path.read_text()) if path.exists() else {})
    print(text)
    if not args.table:
        write_markdown(Path(args.md), text)
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
