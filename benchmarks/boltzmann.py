"""Boltzmann benchmark: Boltzmann generators against MCMC at an equal budget of energy
evaluations, target by target (issue #12).

For each target of ``--targets`` (at T = 1):

1. **Data**: ``--n-data`` training configurations from the target's own sampler (exact
   where one exists, decorrelated reference MCMC otherwise) and as many again, fresh, as
   the reference the scores compare with.
2. **Boltzmann generator**: a spline-coupling flow trained with the mixed objective
   (``(1 - w) NLL + w E_q[u + log q]``, w = 0.5) for ``--minutes`` of wall time (one
   thread), then scored by :func:`surrogate_boltzmann.evaluate.evaluate` on ``--n-eval``
   draws: reverse and forward ESS, ``ln Z`` error, ΔF between the target's named states
   (raw and reweighted), energy W2 (the physical energy for particle systems), mode
   coverage.
3. **MCMC** (MALA, or the target's reference method) given the energy evaluations the
   generator used (training draws, validation draws and evaluation draws; the data's
   own cost is reported apart), scored the same way where MCMC can be (ΔF from state
   counts with the autocorrelation-corrected error, energy W2); it has no ``ln Z``.

Independent samples per second: the generator's Kish ESS count over its sampling time;
MCMC's ``n_chains * n_steps / tau_int`` (energy) over its run time.

    OMP_NUM_THREADS=1 python benchmarks/boltzmann.py --targets double_well --minutes 3
    python benchmarks/boltzmann.py --table

Rows are merged into ``--json`` (default ``benchmarks/boltzmann-results.json``).  Run from a
``git worktree`` at a fixed commit.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from machine_info import machine  # benchmarks/ is the script's folder
from results import save_row

RESULTS = Path(__file__).with_name("boltzmann-results.json")
#: samples per side of the published energy-W2 protocol (ASBS, iDEM: 2,000 each)
W2_SAMPLES = 2_000


@dataclass(frozen=True)
class Case:
    """One target's set-up: the simulator, the flow, the loop and the MCMC baseline."""

    target: str
    options: dict = field(default_factory=dict)
    flow: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    mcmc: dict = field(default_factory=dict)
    n_data: int = 20_000
    #: fresh target samples the scores compare with (ASBS and iDEM score on 2,000)
    n_reference: int = 20_000
    #: randomly turned and relabelled copies of each training configuration added to the
    #: data (particle systems: MCMC shows a non-equivariant flow little of the symmetry)
    symmetry_copies: int = 0


FLOW = {"transforms": 6, "hidden": 64, "bins": 8, "tail_bound": 5.0}
TRAIN = {"batch_size": 256, "lr": 1e-3, "epochs": 1000, "patience": None, "energy_weight": 0.5}
CASES = {
    "double_well": Case("boltzmann.double_well", flow=FLOW, train=TRAIN),
    "manywell": Case(
        "boltzmann.manywell",
        flow={**FLOW, "transforms": 10, "hidden": 128},
        train={**TRAIN, "batch_size": 512},
        n_data=50_000,
    ),
    # modes 1.3 wide over a range of 80 need narrow spline bins (8 and 32 bins at w = 0.5
    # covered 34 and 35 of 40); the mode-seeking energy term gets a small weight
    "gmm40": Case(
        "boltzmann.gmm40",
        flow={**FLOW, "transforms": 10, "hidden": 128, "bins": 64},
        train={**TRAIN, "energy_weight": 0.1},
    ),
    "mueller_brown": Case("boltzmann.mueller_brown", flow=FLOW, train=TRAIN),
    # a non-equivariant flow fits the particle systems slowly: the likelihood carries it,
    # the mode-seeking energy term gets a small weight
    "dw4": Case(
        "boltzmann.dw4",
        flow={**FLOW, "transforms": 8, "hidden": 128},
        train={**TRAIN, "energy_weight": 0.1},
        n_reference=2_000,
        symmetry_copies=3,
    ),
    # reference MCMC costs ~0.05 s a decorrelated LJ-13 sample on one thread
    "lj13": Case(
        "boltzmann.lj13",
        flow={**FLOW, "transforms": 10, "hidden": 128},
        train={**TRAIN, "energy_cap": 1e3, "energy_weight": 0.1},
        mcmc={"method": "hmc"},
        n_data=4_000,
        n_reference=2_000,
        symmetry_copies=9,
    ),
}


# -- the generator -----------------------------------------------------------------------
def train_generator(sim, data, case: Case, minutes: float, seed: int):
    """The mixed-objective flow, trained for ``minutes``; its energy evaluations."""
    import surrogate

    model = surrogate.surrogate("flow", preprocessing=sim.preprocessing(), **case.flow)
    cpu0, t0 = time.process_time(), time.perf_counter()
    model.fit(data, target=sim, seed=seed, max_time=60 * minutes, **case.train)
    result = model.training_result
    val = round(len(data) * 0.1)  # the loop's default validation fraction
    evals = result.history[-1]["step"] * case.train["batch_size"] + result.epochs_run * val
    return model, {
        "train_seconds": time.perf_counter() - t0,
        "train_cpu_seconds": time.process_time() - cpu0,
        "epochs": result.epochs_run,
        "steps": result.history[-1]["step"],
        "train_energy_evaluations": int(evals),
    }


def score_generator(model, sim, reference, n_eval: int, seed: int) -> dict:
    """The generator's scores and its independent samples per second."""
    from surrogate_boltzmann.evaluate import evaluate

    t0 = time.perf_counter()
    model.sample_and_log_prob(n_eval, {"temperature": 1.0}, seed=seed + 7)
    sample_seconds = time.perf_counter() - t0
    scores = evaluate(model, sim, n_eval, 1.0, seed=seed, reference=reference).to_dict()
    scores["independent_per_second"] = scores["ess_count"] / sample_seconds
    scores["modes"] = _without_long_shares(scores.get("modes"))
    few = model.sample(W2_SAMPLES, {"temperature": 1.0}, seed=seed + 8)
    scores["energy_w2_2k"] = energy_w2(sim, few, reference)
    scores["sample_seconds"] = sample_seconds
    return scores


def _without_long_shares(modes: dict | None, keep: int = 100) -> dict | None:
    """Mode coverage without its per-mode shares beyond ``keep`` modes (ManyWell's 2^16
    would make the results file megabytes of numbers nobody reads)."""
    if modes is None or len(modes.get("shares", ())) <= keep:
        return modes
    return {k: v for k, v in modes.items() if k not in ("shares", "expected")}


# -- the MCMC baseline --------------------------------------------------------------------
def mcmc_baseline(sim, reference, budget: int, case: Case, seed: int, n_chains: int = 128):
    """MALA/HMC chains spending ``budget`` energy evaluations; their scores."""
    from surrogate_boltzmann.autocorr import integrated_time
    from surrogate_boltzmann.mcmc import run_mcmc

    method = case.mcmc.get("method", getattr(sim, "reference_method", "mala"))
    per_step = case.mcmc.get("leapfrog_steps", 10) if method == "hmc" else 1
    steps = max(budget // (n_chains * per_step), 200)
    burn_in = steps // 5
    chains = run_mcmc(
        sim,
        1.0,
        n_chains=n_chains,
        n_steps=steps - burn_in,
        burn_in=burn_in,
        rng=np.random.default_rng(seed),
        method=method,
    )
    tau = float(integrated_time(chains.energies, strict=False))
    x = chains.samples.reshape(-1, *chains.samples.shape[2:])
    out = {
        "method": method,
        "n_chains": n_chains,
        "steps": steps,
        "energy_evaluations": int(chains.energy_evaluations),
        "tau_energy": tau,
        "seconds": chains.seconds,
        "independent_per_second": chains.energies.size / tau / chains.seconds,
    }
    out["energy_w2"] = energy_w2(sim, {"x": x}, reference, n=len(x))
    # the protocol's 2,000 samples, spread evenly over the kept chain (decorrelated)
    spread = np.linspace(0, len(x) - 1, min(W2_SAMPLES, len(x))).astype(int)
    out["energy_w2_2k"] = energy_w2(sim, {"x": x[spread]}, reference)
    out |= _mcmc_free_energy(sim, chains.samples)
    return out


def _mcmc_free_energy(sim, samples: np.ndarray) -> dict:
    """ΔF between the first two named states from the chains' state occupancies, with
    the error of the state indicator's integrated autocorrelation time (``inf`` where no
    chain crossed between the states often enough to measure it)."""
    from surrogate_boltzmann import estimators as est
    from surrogate_boltzmann.autocorr import integrated_time

    states = getattr(sim, "states", None)
    if states is None:
        return {}
    masks = states(samples.reshape(-1, *samples.shape[2:]))
    (a, in_a), (b, in_b) = list(masks.items())[:2]
    indicator = in_b.reshape(samples.shape[:2]).astype(np.float64)
    tau = float(integrated_time(indicator, strict=False))
    tau = tau if math.isfinite(tau) and tau > 0 else math.inf
    delta_f, error = est.raw_free_energy_difference(in_a, in_b, tau=tau)
    return {"free_energy": {f"{a}->{b}": delta_f, "error": error, "tau_state": tau}}


def energy_w2(sim, events, reference, n: int = W2_SAMPLES) -> float:
    """Energy W2 (the physical energy for particle systems) between the first ``n`` of
    ``events`` and of ``reference``: 2,000 each by default, the published protocol,
    whose value depends on the sample size (the extreme quantiles weigh in W2)."""
    from surrogate_boltzmann import estimators as est
    from surrogate_boltzmann.evaluate import physical_energy

    a = physical_energy(sim, _as_events(sim, events))[:n]
    b = physical_energy(sim, _as_events(sim, reference))[:n]
    return float(est.wasserstein(a, b, 2))


def _as_events(sim, events):
    """Chain samples (a dict of ``x``) as events at T = 1, as ``physical_energy`` reads."""
    from surrogate import Events

    if isinstance(events, Events):
        return events
    x = np.asarray(events["x"])
    return Events({"x": x}, {"temperature": np.ones(len(x))}, sim.spec)


def with_symmetry_copies(sim, data, copies: int, seed: int):
    """``data`` and ``copies`` randomly turned and relabelled copies of it."""
    if not copies:
        return data
    from surrogate import Events

    rng = np.random.default_rng([seed, 17])
    xs = [data["x"]] + [sim.symmetry_copies(data["x"], rng) for _ in range(copies)]
    conds = {k: np.tile(v, copies + 1) for k, v in data.conditions.items()}
    return Events({"x": np.concatenate(xs).astype(np.float32)}, conds, data.spec)


def reference_modes(sim, reference, data) -> int | None:
    """Modes the reference sample covers at the generator's tolerance, against the
    shares of another exact sample (``data``), as the generator's coverage is measured:
    with 2^16 ManyWell modes, most are too light to be seen in a finite sample at all."""
    from surrogate_boltzmann import estimators as est

    n = int(getattr(sim, "n_modes", 0) or 0)
    if not n or sim.mode_labels(reference) is None:
        return None
    expected = est.mode_coverage(sim.mode_labels(data), n).shares
    return int(est.mode_coverage(sim.mode_labels(reference), n, expected=expected).covered)


# -- one case -------------------------------------------------------------------------------
def run_case(
    name: str, minutes: float, n_eval: int, seed: int, json_path: Path, variant: str = "default"
) -> dict:
    import surrogate

    case = CASES[name]
    sim = surrogate.simulator(case.target, **case.options)
    t0 = time.perf_counter()
    data = sim.sample(case.n_data, {"temperature": 1.0}, seed=seed)
    data_seconds = time.perf_counter() - t0
    data = with_symmetry_copies(sim, data, case.symmetry_copies, seed)
    reference = sim.sample(case.n_reference, {"temperature": 1.0}, seed=seed + 1)
    model, training = train_generator(sim, data, case, minutes, seed)
    generator = score_generator(model, sim, reference, n_eval, seed + 2)
    budget = training["train_energy_evaluations"] + n_eval
    mcmc = mcmc_baseline(sim, reference, budget, case, seed + 3)
    row = {
        "target": name,
        "variant": variant,
        "simulator": case.target,
        "options": case.options,
        "convention": getattr(sim, "convention", ""),
        "flow": case.flow,
        "train": case.train,
        "minutes": minutes,
        "n_data": case.n_data,
        "symmetry_copies": case.symmetry_copies,
        "data_seconds": data_seconds,
        "n_eval": n_eval,
        "seed": seed,
        "training": training,
        "generator": generator,
        "mcmc": mcmc,
        "energy_w2_floor": energy_w2(sim, data, reference),
        "reference_modes": reference_modes(sim, reference, data),
        "machine": machine(),
    }
    save_row(json_path, "cases", row, ("target", "variant"))
    return row


# -- the table ------------------------------------------------------------------------------
COLUMNS = (
    "target",
    "train CPU s",
    "energy evals",
    "BG indep./s",
    "MCMC indep./s",
    "ESS rev",
    "ESS fwd",
    "ln Z err",
    "ΔF BG rw (exact)",
    "ΔF MCMC",
    "E-W2 BG (2k)",
    "E-W2 BG rw",
    "E-W2 MCMC (2k)",
    "E-W2 floor (2k)",
    "modes",
)


def _fmt(value, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def _delta_f(gen: dict) -> str:
    for key, f in (gen.get("free_energies") or {}).items():
        exact = f.get("exact") if f.get("exact") is not None else f.get("reference")
        return (
            f"{key} {_fmt(f['reweighted'], '.3f')} ± {_fmt(f['reweighted_error'], '.3f')} "
            f"({_fmt(exact, '.3f')})"
        )
    return "–"


def table_row(row: dict) -> list[str]:
    gen, mc, tr = row["generator"], row["mcmc"], row["training"]
    log_z_err = None if gen.get("log_z_exact") is None else gen["log_z"] - gen["log_z_exact"]
    modes = gen.get("modes") or {}
    mc_f = mc.get("free_energy")
    mc_text = (
        "–"
        if not mc_f
        else next(
            f"{_fmt(v, '.3f')} ± {_fmt(mc_f['error'], '.3f')}"
            for k, v in mc_f.items()
            if k != "error"
        )
    )
    variant = row.get("variant", "default")
    return [
        row["target"] + ("" if variant == "default" else f" ({variant})"),
        _fmt(tr["train_cpu_seconds"], ".0f"),
        _fmt(tr["train_energy_evaluations"] + row["n_eval"], ".3g"),
        _fmt(gen["independent_per_second"], ".3g"),
        _fmt(mc["independent_per_second"], ".3g"),
        _fmt(100 * gen["ess"], ".1f") + "%",
        "–" if gen.get("forward_ess") is None else _fmt(100 * gen["forward_ess"], ".1f") + "%",
        _fmt(log_z_err, "+.4f"),
        _delta_f(gen),
        mc_text,
        _fmt(gen.get("energy_w2_2k")),
        _fmt(gen.get("energy_w2_reweighted")),
        _fmt(mc.get("energy_w2_2k")),
        _fmt(row.get("energy_w2_floor")),
        "–" if not modes else _modes_text(modes, row.get("reference_modes")),
    ]


def _modes_text(modes: dict, reference: int | None) -> str:
    ref = "" if reference is None else f" (ref. {reference})"
    return f"{modes.get('covered')}/{modes.get('n_modes')}{ref}"


def print_table(json_path: Path) -> None:
    rows = json.loads(json_path.read_text())["cases"]["rows"] if json_path.exists() else []
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(table_row(row)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="", help=f"comma-separated: {', '.join(CASES)}")
    parser.add_argument("--minutes", type=float, default=3.0, help="training wall time each")
    parser.add_argument("--n-eval", type=int, default=100_000, help="generator draws scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print the saved table only")
    parser.add_argument("--variant", default="default", help="label of a run's settings")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    for name in [t for t in args.targets.split(",") if t] if not args.table else []:
        row = run_case(name, args.minutes, args.n_eval, args.seed, args.json, args.variant)
        print(json.dumps({"target": name, **row["training"]}, default=str))
    print_table(args.json)


if __name__ == "__main__":
    main()
