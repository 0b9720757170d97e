"""``surrogate score``: one anomaly score per event of a file, from a trained model."""

from __future__ import annotations

import argparse

from .options import add_key_value, count


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="anomaly scores of a file's events under a trained model",
        description="Score every event of --data with the model in MODEL_DIR into an HDF5 "
        "file: dataset `score`, one per event in the file's order, higher meaning more "
        "anomalous, each event compared with what the model expects at its own conditions "
        "(read from the file). --list shows the model's score kinds; the first is the "
        "default. The output is written atomically.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="directory written by `train`")
    p.add_argument("--data", help="event file to score (.h5 or .root)")
    p.add_argument("-o", "--output", help="score file (.h5)")
    p.add_argument("--kind", help="score kind (see --list; default: the model's first)")
    p.add_argument(
        "--per-field",
        action="store_true",
        help="also one score per field (dataset per_field/NAME), for kinds that have one",
    )
    add_key_value(p, "--option", "option of the score kind, e.g. draws=128 for knn")
    p.add_argument("--seed", type=int, default=0, help="seed of the kinds that draw (knn)")
    p.add_argument("--chunk-size", type=count, default=4096, help="events scored at a time")
    p.add_argument("--list", action="store_true", help="list the model's score kinds and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import score
    from ..errors import SurrogateError
    from ..factories import load

    if args.list:
        model = load(args.model_dir)
        for name, what in model.score_kinds().items():
            extra = " (also per field)" if name in model.per_field_kinds() else ""
            print(f"{name:16} {what}{extra}")
        return 0
    if not args.data or not args.output:
        raise SurrogateError("give the events to score (--data FILE) and the output (-o FILE)")
    path = score(
        args.model_dir,
        args.data,
        args.output,
        kind=args.kind,
        per_field=args.per_field,
        seed=args.seed,
        chunk_size=args.chunk_size,
        options=dict(args.option),
        progress=False if args.no_progress else None,
    )
    print(f"wrote the anomaly scores of {args.data} under the model in {args.model_dir} to {path}")
    return 0
