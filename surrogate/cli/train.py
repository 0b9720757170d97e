"""``surrogate train``: fit a generator family to an event file, a target's energy, or both.

Under ``torchrun --nproc_per_node=N -m surrogate train ...`` every process runs this
command and trains data-parallel (:mod:`surrogate.training.distributed`); rank 0 alone
writes the model directory and prints.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from .options import add_key_value, count

# Command-line flag -> training-loop option, passed only when given.
LOOP_OPTIONS = ("epochs", "batch_size", "lr", "device", "val_fraction", "patience", "objective")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a generator on an event file or a target's energy",
        description="Train the generator family MODEL on the events in --data, on the energy "
        "of the simulator --target (a Boltzmann generator: no data needed), or on both, and "
        "save the model directory -o DIR (config.json, model.safetensors, README.md model "
        "card, training log and loss plot). With --simulator NAME the simulator's "
        "preprocessing chain is used; by default it is taken from the target, or from the "
        "file's producer when registered.",
    )
    p.add_argument("model", metavar="MODEL", help="generator family, e.g. flow, vae, gaussian")
    p.add_argument("--data", help="training event file (.h5 or .root)")
    p.add_argument(
        "--target",
        metavar="NAME",
        help="a simulator that knows its energy (boltzmann.double_well): train on it",
    )
    add_key_value(p, "--target-option", "option of the target, e.g. convention=fab")
    add_key_value(p, "--condition", "fixed condition of the target's draws, e.g. temperature=1")
    p.add_argument(
        "--objective",
        choices=("auto", "likelihood", "energy", "mixed"),
        help="what is minimised (default auto: likelihood with --data, energy with --target, "
        "mixed with both)",
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="model directory")
    p.add_argument("--simulator", help="simulator whose preprocessing chain to use")
    add_key_value(p, "--option", "model hyper-parameter, e.g. hidden=128")
    p.add_argument("--seed", type=int, help="random seed (default 0, or the resumed run's)")
    p.add_argument("--epochs", type=count)
    p.add_argument("--batch-size", type=count)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("--val-fraction", type=float, help="held-out fraction for early stopping")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument(
        "--resume",
        action="store_true",
        help="resume from DIR's last checkpoint, with the hyper-parameters and seed it was "
        "started with (an --option that contradicts them is an error)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model in DIR (its checkpoints are deleted)",
    )
    p.add_argument(
        "--max-time",
        type=float,
        metavar="SECONDS",
        help="wall-clock budget: stop at the last epoch that fits and save that model",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_key_value(
        p, "--train-option", "any other training-loop option, e.g. ema=0.999 or clip_grad=5"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import train
    from ..training.distributed import World

    world = World.from_env()
    main = world.is_main
    if world.distributed and main:
        _show_training_notes()
    loop: dict[str, Any] = dict(args.train_option)
    loop |= {k: getattr(args, k) for k in LOOP_OPTIONS if getattr(args, k) is not None}
    model = train(
        args.model,
        args.data,
        args.output,
        hyperparameters=dict(args.option),
        simulator=args.simulator,
        target=args.target,
        target_options=dict(args.target_option),
        conditions=dict(args.condition) or None,
        seed=args.seed,
        resume=args.resume,
        overwrite=args.overwrite,
        max_time=args.max_time,
        progress=False if args.no_progress else None,
        **loop,
    )
    if not main:
        return 0
    n_events = model.provenance.get("n_events", "?")
    sources = [f"{n_events} events from {args.data}"] if args.data else []
    sources += [f"the energy of {args.target}"] if args.target else []
    print(f"trained {args.model} on {' and '.join(sources)}; model saved to {args.output}")
    return 0


def _show_training_notes() -> None:
    """Print the loop's one-line notes (the processes it trains on, a resume on another
    number of them) on stderr, where torchrun shows rank 0's output."""
    notes = logging.getLogger("surrogate.training")
    if not notes.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        notes.addHandler(handler)
        notes.setLevel(logging.INFO)
