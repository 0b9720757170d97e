"""The VAN benchmark of the 2D Ising model (issue #12): the ``van`` family trained on the
energy of ``boltzmann.ising`` at one temperature for a fixed wall-clock budget, scored
against the exact free energy (Kaufman 1949, ``sim.log_z``).

VAN (Wu, Wang & Zhang, PRL 122, 080602, 2019) reports the free energy per site from the
variational bound ``-beta F_q / N = E_q[-u - ln q] / N <= -beta F / N``; importance
weighting the same draws gives ``ln Z-hat = LSE(-u - ln q) - ln n``, which is much
closer when ``q`` overlaps ``p`` well.  The table gives both relative errors, the
reverse (Kish) ESS, and a learning curve (every ``--curve-every`` epochs, from
``--curve-samples`` fresh draws), so a budget that does not reach the issue's 1e-3 shows
what limits it.  Defaults: L = 16 at beta_c, where -beta F / N = 0.932196314981.

    OMP_NUM_THREADS=1 python benchmarks/ising_van.py --L 16 --minutes 9 --batch 1000

Nothing is written unless ``--json PATH`` is given.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine_info import machine  # benchmarks/ is the script's folder

import surrogate
from surrogate_boltzmann.estimators import elbo, kish_ess, log_z_estimate

BETA_C = 0.5 * math.log(1.0 + math.sqrt(2.0))


def score(model: Any, sim: Any, temperature: float, n: int, seed: int) -> dict[str, float]:
    """``n`` fresh draws: the bound and ``ln Z-hat`` per site, and the reverse ESS."""
    events, log_q = model.sample_and_log_prob(n, {"temperature": temperature}, seed=seed)
    log_w = -np.asarray(sim.energy(events)) - log_q
    sites = int(np.prod(events["x"].shape[1:]))
    bound, ln_z = elbo(log_w), log_z_estimate(log_w)
    return {
        "bound": bound.value / sites,
        "bound_error": bound.error / sites,
        "is": ln_z.value / sites,
        "is_error": ln_z.error / sites,
        "ess": kish_ess(log_w).fraction,
    }


def relative(value: float, exact: float) -> float:
    return (value - exact) / abs(exact)


def train(args: argparse.Namespace, sim: Any, temperature: float, exact: float) -> dict:
    """Fit within the budget; score the model every ``curve_every`` epochs on the way."""
    model = surrogate.surrogate("van", hidden=args.hidden, layers=args.layers)
    curve: list[dict[str, float]] = []
    start = time.perf_counter()

    def on_epoch(event: str, info: dict[str, Any]) -> None:
        if event != "epoch_end" or info["epoch"] % args.curve_every:
            return
        row = {"epoch": info["epoch"], "step": info["row"]["step"]}
        row["minutes"] = (time.perf_counter() - start) / 60
        row |= score(model, sim, temperature, args.curve_samples, seed=1)
        curve.append(row)
        print(curve_line(row, exact), flush=True)

    print(f"{'epoch':>5} {'step':>6} {'min':>6} {'bound rel':>10} {'IS rel':>10} {'ESS':>7}")
    model.fit(
        target=sim,
        conditions={"temperature": temperature},
        seed=args.seed,
        max_time=60 * args.minutes,
        epochs=10**6,
        batch_size=args.batch,
        lr=args.lr,
        schedule=args.schedule,
        patience=None,
        restore_best=False,
        val_samples=args.batch,
        callbacks=[on_epoch],
    )
    seconds = time.perf_counter() - start
    result = model.training_result
    final = score(model, sim, temperature, args.eval_samples, seed=2)
    steps = int(result.history[-1]["step"])
    return {"model": model, "final": final, "curve": curve, "steps": steps, "seconds": seconds}


def curve_line(row: dict[str, float], exact: float) -> str:
    return (
        f"{row['epoch']:>5} {row['step']:>6} {row['minutes']:>6.2f} "
        f"{relative(row['bound'], exact):>10.2e} {relative(row['is'], exact):>10.2e} "
        f"{100 * row['ess']:>6.2f}%"
    )


def table(run: dict, exact: float, args: argparse.Namespace) -> str:
    f = run["final"]
    rows = [
        ("-beta F / N exact (Kaufman)", f"{exact:.9f}"),
        ("-beta F_q / N (bound)", f"{f['bound']:.9f} ± {f['bound_error']:.1e}"),
        ("  relative error", f"{relative(f['bound'], exact):.2e}"),
        ("ln Z-hat / N (importance sampled)", f"{f['is']:.9f} ± {f['is_error']:.1e}"),
        ("  relative error", f"{relative(f['is'], exact):.2e}"),
        ("reverse ESS", f"{100 * f['ess']:.2f}% of {args.eval_samples}"),
        ("training steps", f"{run['steps']} (batch {args.batch})"),
        ("training seconds (with the curve)", f"{run['seconds']:.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--L", type=int, default=16, help="lattice side")
    p.add_argument("--beta", type=float, default=BETA_C, help="inverse temperature (J = 1)")
    p.add_argument("--minutes", type=float, default=9.0, help="training wall-clock budget")
    p.add_argument("--batch", type=int, default=1000, help="draws per step")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument(
        "--schedule",
        choices=("constant", "plateau"),
        default="plateau",
        help="plateau: halve the rate when the validation bound stalls for 3 epochs",
    )
    p.add_argument("--hidden", type=int, default=512, help="MADE units per hidden layer")
    p.add_argument("--layers", type=int, default=2, help="MADE hidden layers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-samples", type=int, default=100_000)
    p.add_argument("--curve-samples", type=int, default=4096)
    p.add_argument("--curve-every", type=int, default=2, help="epochs of 100 steps")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    temperature = 1.0 / args.beta
    sim = surrogate.simulator("boltzmann.ising", L=args.L, t_min=temperature, t_max=temperature)
    exact = float(sim.log_z(np.array([temperature]))[0]) / args.L**2
    print(f"VAN on the {args.L}x{args.L} Ising model at beta = {args.beta:.10f}, ", end="")
    print(f"{args.minutes:g} min, {torch.get_num_threads()} thread(s)")
    run = train(args, sim, temperature, exact)
    print()
    print(table(run, exact, args))
    if args.json is not None:
        out = {k: v for k, v in run.items() if k != "model"} | {"exact": exact}
        out |= {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine()}
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
