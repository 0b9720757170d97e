"""``surrogate simulate``: run a reference simulator into an event file."""

from __future__ import annotations

import argparse

from .options import add_execution, add_join, add_key_value, count, execution_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate events with a reference simulator",
        description="Simulate N events into an HDF5 file (or a ROOT TTree for a .root "
        "suffix). The file is written under a temporary name and renamed when complete. "
        "Events are made in chunks seeded from --seed, so the output depends on the seed "
        "and chunk size only, not on the backend or --workers. A run of more than one "
        "shard keeps them in OUTPUT.shards/ until they are joined: a killed run rerun with "
        "the same command makes only the shards that are missing.",
    )
    p.add_argument("name", help="registered simulator name, e.g. toy.gmm2d")
    p.add_argument("-n", type=count, required=True, help="number of events (1e5 accepted)")
    p.add_argument("-o", "--output", required=True, help="output file (.h5 or .root)")
    add_key_value(p, "--option", "simulator factory option, e.g. geometry=1-photons")
    add_key_value(p, "--condition", "fixed condition for every event (default: drawn)")
    p.add_argument(
        "--anomaly",
        metavar="NAME",
        help="apply a registered anomaly to every event (a labelled anomaly sample, e.g. "
        "for `surrogate validate --anomalies`; `surrogate plugins` lists them)",
    )
    add_key_value(p, "--anomaly-option", "option of the anomaly, e.g. layer=2")
    p.add_argument("--seed", type=int, help="random seed (default: fresh, recorded in the file)")
    p.add_argument("--chunk-size", type=count, default=10_000, help="events per chunk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_join(p)
    add_execution(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import simulate

    path = simulate(
        args.name,
        args.n,
        args.output,
        options=dict(args.option),
        conditions=dict(args.condition) or None,
        seed=args.seed,
        chunk_size=args.chunk_size,
        join=args.join,
        progress=False if args.no_progress else None,
        anomaly=args.anomaly,
        anomaly_options=dict(args.anomaly_option),
        **execution_options(args),
    )
    what = f"{args.name} with the anomaly {args.anomaly}" if args.anomaly else args.name
    print(f"wrote {args.n} events of {what} to {path}")
    return 0
