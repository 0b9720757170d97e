"""``surrogate train``: fit a generator family to an event file."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from .options import add_key_value, count

# Command-line flag -> training-loop option, passed only when given.
LOOP_OPTIONS = ("epochs", "batch_size", "lr", "device", "val_fraction", "patience")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a generator on an event file",
        description="Train the generator family MODEL on the events in --data and save the "
        "model directory -o DIR (config.json, model.safetensors, README.md model card, "
        "training log and loss plot). With --simulator NAME the simulator's preprocessing "
        "chain is used; by default it is taken from the file's producer when registered.",
    )
    p.add_argument("model", metavar="MODEL", help="generator family, e.g. flow, vae, gaussian")
    p.add_argument("--data", required=True, help="training event file (.h5 or .root)")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_key_value(
        p, "--train-option", "any other training-loop option, e.g. ema=0.999 or clip_grad=5"
    )
    p.set_defaults(run=run)


def _preprocessing(args: argparse.Namespace, metadata: dict[str, Any]) -> Any:
    """The simulator's transform chain; built with the file's options when it made the file."""
    import surrogate

    from ..errors import PluginError

    producer = metadata.get("producer") if metadata.get("producer_kind") == "simulator" else None
    name = args.simulator or producer
    if name is None:
        return None
    options = metadata.get("options", {}) if name == producer else {}
    try:
        sim = surrogate.simulator(name, **options)
    except PluginError:
        if args.simulator:
            raise
        return None  # the file's producer is not installed here: the model's default
    return sim.preprocessing()


def run(args: argparse.Namespace) -> int:
    import surrogate

    from ..errors import SurrogateError
    from ..io import open_events
    from ..training.loop import CHECKPOINT_DIR, checkpoint_settings

    out = Path(args.output)
    if (out / "config.json").exists() and not (args.resume or args.overwrite):
        raise SurrogateError(f"{out} already holds a model: pass --overwrite or --resume")
    if out.exists() and not out.is_dir():
        raise SurrogateError(f"{out} exists and is not a directory")
    with open_events(args.data) as data:  # checks the file before any model is built
        metadata, n_events = data.metadata, len(data)
    cls = surrogate.surrogate_class(args.model)
    options = dict(args.option)
    seed = args.seed
    if args.resume:
        saved = checkpoint_settings(out)
        if saved.get("family") != args.model:
            raise SurrogateError(
                f"{out} holds a run of {saved.get('family')!r}, not {args.model!r}"
            )
        options = {**saved["hyperparameters"], **options}
        seed = saved.get("seed") if seed is None else seed
    elif args.overwrite:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
    if "preprocessing" in cls.defaults and "preprocessing" not in options:
        options["preprocessing"] = _preprocessing(args, metadata)
    model = cls(**options)
    loop: dict[str, Any] = dict(args.train_option)
    loop |= {k: getattr(args, k) for k in LOOP_OPTIONS if getattr(args, k) is not None}
    if args.resume:
        loop["resume"] = True
    if args.no_progress:
        loop["progress"] = False
    model.fit(args.data, seed=0 if seed is None else seed, workdir=out, **loop)
    model.save(out)
    print(f"trained {args.model} on {n_events} events from {args.data}; model saved to {out}")
    return 0
