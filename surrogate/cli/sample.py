"""``surrogate sample``: generate events with a trained model."""

from __future__ import annotations

import argparse

from .options import add_execution, add_join, add_key_value, count, execution_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="generate events with a trained model",
        description="Generate N events with the model in MODEL_DIR into an HDF5 file (or a "
        "ROOT TTree for a .root suffix), written atomically with provenance. Conditions not "
        "given are drawn from the model's training conditions (the model card says which); "
        "--conditions-from FILE generates at the conditions of FILE's events, in order (the "
        "CaloChallenge's workflow: showers at a reference file's incident energies).",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="directory written by `train`")
    p.add_argument(
        "-n",
        type=count,
        help="number of events (required, unless --conditions-from: then the file's first N "
        "events, default all of them)",
    )
    p.add_argument("-o", "--output", required=True, help="output file (.h5 or .root)")
    add_key_value(p, "--condition", "fixed condition for every event (default: drawn)")
    p.add_argument(
        "--conditions-from",
        metavar="FILE",
        help="event file (.h5/.root, foreign files read with the model's spec) whose events' "
        "conditions are used, in order (not with --condition)",
    )
    p.add_argument("--seed", type=int, help="random seed (default: fresh, recorded in the file)")
    p.add_argument("--chunk-size", type=count, default=10_000, help="events per chunk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_join(p)
    add_execution(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import sample
    from ..io import open_events

    path = sample(
        args.model_dir,
        args.n,
        args.output,
        conditions=dict(args.condition) or None,
        conditions_from=args.conditions_from,
        seed=args.seed,
        chunk_size=args.chunk_size,
        join=args.join,
        progress=False if args.no_progress else None,
        **execution_options(args),
    )
    with open_events(path) as written:
        n = len(written)
    print(f"wrote {n} events of the model in {args.model_dir} to {path}")
    return 0
