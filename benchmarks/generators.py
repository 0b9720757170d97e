"""Generator benchmark on the toy ring (``toy.gmm2d``): sampling speed and time to coverage.

Part ``speed``: events per second of each family at batch 10^4 on this machine, next to
the reference simulator's rate measured in the same run (the ratio is the speed-up; < 1
means slower than the simulator).  The rate depends on the architecture, not on how well
the model is trained, so each family is trained for one short epoch with its default
hyper-parameters.  Each rate is the best of ``--repeats`` calls after a warm-up.  The
diffusion family is timed with its default sampler (DDIM, 50 steps) and also with 10 DDIM
steps and the ancestral sampler (all T = 1000 steps).

Part ``coverage``: training time until the mode-coverage target is first met, with each
family's default hyper-parameters and training options on 20 000 events: every one of
the 8 modes holds a share of the on-mode events within ``--tolerance`` (0.03) of 1/8, and
at most ``--max-off`` (0.2) of the events lie off every mode (3 sigma).  After each epoch
a callback samples ``--eval-events`` events (with the EMA weights where the family uses
them; for diffusion after recording the x0-clipping range that training sets at its end)
and checks; the time of these checks is not counted.  ``--stop-at-target`` ends each
family's training there.

    python benchmarks/generators.py                       # both parts
    python benchmarks/generators.py --part speed --families gan flow

Results go to ``--json`` (default ``benchmarks/generators-results.json``) and a table on
stdout.  Timings depend on the machine and its load: the load average and torch's thread
count are recorded.  Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from machine_info import machine  # benchmarks/ is the script's folder

HERE = Path(__file__).resolve()
FAMILIES = ("gaussian", "vae", "gan", "flow", "diffusion")


def rate(fn, n: int, repeats: int, seed: int = 0) -> dict:
    """Best-of-``repeats`` events per second of ``fn(n, seed=...)`` after a warm-up."""
    fn(min(n, 100), seed=seed)
    walls, cpus = [], []
    for i in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(n, seed=seed + 1 + i)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "events_per_s": n / min(walls),
        "cpu_events_per_s": n / min(cpus) if min(cpus) > 0 else None,
        "seconds": min(walls),
    }


def part_speed(args) -> dict:
    import surrogate

    sim = surrogate.simulator("toy.gmm2d")
    data = sim.sample(args.train_events, seed=0)
    sim_rate = rate(sim.sample, args.batch, args.repeats)
    rows = [{"name": "simulator (toy.gmm2d)", **sim_rate, "ratio": 1.0}]
    print(f"simulator: {sim_rate['events_per_s']:.3e} events/s", flush=True)
    for fam in args.families:
        model = surrogate.surrogate(fam)
        opts = {} if fam == "gaussian" else {"epochs": 1, "progress": False}
        model.fit(data, seed=0, **opts)
        variants = [(fam, model.sample)]
        if fam == "diffusion":
            variants += [
                (
                    "diffusion (DDIM 10 steps)",
                    lambda n, seed, m=model: m.sample(n, seed=seed, steps=10),
                ),
                (
                    "diffusion (ancestral, 1000 steps)",
                    lambda n, seed, m=model: m.sample(n, seed=seed, sampler="ancestral"),
                ),
            ]
        for name, fn in variants:
            repeats = 1 if "ancestral" in name else args.repeats
            r = rate(fn, args.batch, repeats)
            r["ratio"] = r["events_per_s"] / sim_rate["events_per_s"]
            rows.append({"name": name, **r})
            print(f"{name}: {r['events_per_s']:.3e} events/s, x{r['ratio']:.3g}", flush=True)
    return {"batch": args.batch, "rows": rows}


class TargetReached(Exception):
    """Raised by the coverage callback to end a training run at the target."""


def coverage(sim, model, n: int, seed: int) -> tuple[float, float]:
    """(worst |share - 1/8| over on-mode events, off-mode fraction) of ``n`` samples."""
    from surrogate_generators.compare import mode_shares

    shares, off = mode_shares(sim, model.sample(n, seed=seed))
    return float(np.abs(np.asarray(shares) - 1 / sim.n_modes).max()), off


def part_coverage(args) -> dict:
    import surrogate

    sim = surrogate.simulator("toy.gmm2d")
    data = sim.sample(args.train_events, seed=0)
    rows = []
    for fam in [f for f in args.families if f != "gaussian"]:
        model = surrogate.surrogate(fam)
        state = {"eval_s": 0.0, "reached": None, "history": [], "t0": time.perf_counter()}

        def callback(event, info, fam=fam, model=model, state=state):
            if event != "epoch_end":
                return
            t0 = time.perf_counter()
            trainer = info["trainer"]
            if trainer.ema is not None:
                trainer.ema.swap()
            try:
                if hasattr(model, "_set_range"):
                    # diffusion: its x0-clipping range is otherwise set after training, and
                    # few-step DDIM from alpha_bar_T ~ 1e-9 is unusable without it
                    model._set_range(data)
                worst, off = coverage(sim, model, args.eval_events, seed=info["epoch"])
            finally:
                if trainer.ema is not None:
                    trainer.ema.swap()
            state["eval_s"] += time.perf_counter() - t0
            train_s = time.perf_counter() - state["t0"] - state["eval_s"]
            ok = worst <= args.tolerance and off <= args.max_off
            state["history"].append(
                {"epoch": info["epoch"], "train_s": train_s, "worst": worst, "off": off}
            )
            if ok and state["reached"] is None:
                state["reached"] = {"epoch": info["epoch"], "train_s": train_s}
                print(f"{fam}: target met at epoch {info['epoch']}, {train_s:.1f} s", flush=True)
                if args.stop_at_target:
                    raise TargetReached

        opts = {"progress": False, "callbacks": [callback]}
        if args.max_epochs:
            opts["epochs"] = args.max_epochs
        state["t0"] = time.perf_counter()
        try:
            model.fit(data, seed=0, **opts)
            final = coverage(sim, model, args.eval_events, seed=12345)
            epochs_run = model.training_result.epochs_run
        except TargetReached:
            h = state["history"][-1]
            final, epochs_run = (h["worst"], h["off"]), h["epoch"]
        last = state["history"][-1] if state["history"] else {}
        rows.append(
            {
                "family": fam,
                "reached": state["reached"],
                "epochs_run": epochs_run,
                "train_s_total": last.get("train_s"),
                "final_worst": final[0],
                "final_off": final[1],
                "history": state["history"],
            }
        )
        status = (
            f"epoch {state['reached']['epoch']}, {state['reached']['train_s']:.1f} s"
            if state["reached"]
            else "not reached"
        )
        print(
            f"{fam}: {status}; final model worst {final[0]:.4f}, off-mode {final[1]:.3f}",
            flush=True,
        )
    return {
        "tolerance": args.tolerance,
        "max_off": args.max_off,
        "eval_events": args.eval_events,
        "rows": rows,
    }


def table(results: dict) -> str:
    lines = []
    if "speed" in results:
        sp = results["speed"]
        lines += [
            f"## Sampling speed at batch {sp['batch']} (best of repeats, wall clock)",
            "",
            "| generator | events/s | events/s per CPU-second | x simulator |",
            "|---|---|---|---|",
        ]
        for r in sp["rows"]:
            cpu = r.get("cpu_events_per_s")
            cpu_text = f"{cpu:.3e}" if cpu else "-"
            lines.append(
                f"| {r['name']} | {r['events_per_s']:.3e} | {cpu_text} | {r['ratio']:.3g} |"
            )
        lines.append("")
    if "coverage" in results:
        cv = results["coverage"]
        lines += [
            f"## Training time to the mode-coverage target (every mode within "
            f"{cv['tolerance']} of 1/8, off-mode <= {cv['max_off']})",
            "",
            "| family | epoch reached | train s to target | epochs run | final worst "
            "| final off-mode |",
            "|---|---|---|---|---|---|",
        ]
        for r in cv["rows"]:
            reached = r["reached"]
            epoch = str(reached["epoch"]) if reached else "not reached"
            secs = f"{reached['train_s']:.1f}" if reached else "-"
            lines.append(
                f"| {r['family']} | {epoch} | {secs} | {r['epochs_run']} | "
                f"{r['final_worst']:.4f} | {r['final_off']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("speed", "coverage", "all"), default="all")
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-events", type=int, default=20_000)
    p.add_argument("--tolerance", type=float, default=0.03)
    p.add_argument("--max-off", type=float, default=0.2)
    p.add_argument("--eval-events", type=int, default=10_000)
    p.add_argument("--max-epochs", type=int, help="cap on epochs (default: each family's)")
    p.add_argument("--stop-at-target", action="store_true", help="end training at the target")
    p.add_argument("--json", default=str(HERE.with_name("generators-results.json")))
    args = p.parse_args(argv)
    results: dict = {"machine": machine()}
    if args.part in ("speed", "all"):
        results["speed"] = part_speed(args)
    if args.part in ("coverage", "all"):
        results["coverage"] = part_coverage(args)
    results["machine"]["load_average_end"] = os.getloadavg()
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
