"""``surrogate compare``: the lecture's comparison table of generator families, measured.

Registered by the generators plugin through ``register_commands``; it parses arguments and
calls :func:`surrogate_generators.compare.compare`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from surrogate.cli.options import add_key_value, count


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="train generator families on one simulator and tabulate how they compare",
        description="Train each generator family (and the registered baselines) on events of "
        "SIMULATOR with several seeds, then measure and print the comparison table: "
        "likelihood (exact, bound, none) on held-out events, sample quality against a fresh "
        "reference sample (per-marginal Wasserstein-1, classifier AUC), training stability "
        "(spread over seeds), mode coverage (simulators with labelled modes, e.g. toy.gmm2d) "
        "and sampling speed next to the simulator's. With -o DIR the table is saved as "
        "comparison.json and comparison.md, and every run's training log and model under "
        "DIR/runs/FAMILY/seed-S.",
    )
    p.add_argument("simulator", metavar="SIMULATOR", help="registered simulator, e.g. toy.gmm2d")
    add_key_value(p, "--option", "simulator factory option, e.g. conditional=true")
    p.add_argument(
        "--families",
        default="vae,gan,flow,diffusion",
        help="comma-separated families to train (default: vae,gan,flow,diffusion)",
    )
    p.add_argument("--no-baseline", action="store_true", help="leave out the baselines (gaussian)")
    p.add_argument("-n", "--n-train", type=count, default=20_000, help="training events")
    p.add_argument(
        "--n-test", type=count, default=10_000, help="held-out and reference events (each)"
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    p.add_argument("--data-seed", type=int, default=12345, help="seed of the simulated samples")
    p.add_argument("--epochs", type=count, help="epochs for every trained family")
    add_key_value(
        p,
        "--model-option",
        "hyper-parameter, for one family (gan.loss=wgan-gp) or all (hidden=64)",
    )
    add_key_value(
        p,
        "--train-option",
        "training-loop option, for one family (diffusion.epochs=300) or all (batch_size=512)",
    )
    p.add_argument(
        "--classifier-preset",
        default="small",
        help="classifier two-sample test preset (default small; `surrogate plugins` lists them)",
    )
    p.add_argument(
        "--mode-tolerance",
        type=float,
        default=0.03,
        help="a mode is covered when its share is within this of 1/K (default 0.03)",
    )
    p.add_argument(
        "--speed-batch", type=count, default=10_000, help="batch for the speed measurement"
    )
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("-o", "--output", metavar="DIR", help="save the table and the runs here")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(run=run)


def split_per_family(
    pairs: list[tuple[str, Any]], families: list[str]
) -> dict[str, dict[str, Any]]:
    """``[("gan.loss", "ns"), ("hidden", 64)]`` -> ``{"gan": {"loss": "ns"}, "*": {...}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in pairs:
        fam, dot, rest = key.partition(".")
        if dot and fam in families:
            out.setdefault(fam, {})[rest] = value
        else:
            out.setdefault("*", {})[key] = value
    return out


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from surrogate.errors import SurrogateError

    from .compare import baselines, compare

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    try:
        seeds = _seeds(args.seeds)
    except argparse.ArgumentTypeError as exc:
        raise SurrogateError(str(exc)) from None
    known = [*families, *baselines()]
    hp = split_per_family(list(args.model_option), known)
    opts = split_per_family(list(args.train_option), known)
    if args.epochs is not None:
        opts.setdefault("*", {})["epochs"] = args.epochs
    if args.quiet:
        opts.setdefault("*", {}).setdefault("progress", False)
    result = compare(
        args.simulator,
        families,
        baseline=not args.no_baseline,
        simulator_options=dict(args.option),
        n_train=args.n_train,
        n_test=args.n_test,
        seeds=seeds,
        data_seed=args.data_seed,
        hyperparameters=hp,
        train_options=opts,
        classifier={"preset": args.classifier_preset},
        mode_tolerance=args.mode_tolerance,
        speed_batch=args.speed_batch,
        workdir=args.output,
        device=args.device,
        log=None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True)),
    )
    print(result.text())
    print()
    print("\n".join(result.legend()))
    if args.output:
        paths = result.save(args.output)
        print(f"\ntable saved to {paths['json']} and {paths['markdown']}")
    return 0
