"""``surrogate info NAME``: what a registered name is and how to use it."""

from __future__ import annotations

import argparse

from .options import add_key_value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="describe a registered simulator, model family, metric or other plugin item",
        description="Describe NAME: the plugin and package that register it and, for a "
        "simulator, its factory options with their defaults and its event spec (fields, "
        "conditions with their units, valid ranges and priors); for a model family, its "
        "hyper-parameters with their defaults.",
    )
    p.add_argument("name", help="a registered name, e.g. calo.gflash or flow")
    p.add_argument("--kind", help="the kind, when NAME is registered under several")
    add_key_value(p, "--option", "simulator option for the spec shown, e.g. geometry=calogan")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..info import describe

    print(describe(args.name, kind=args.kind, options=dict(args.option)))
    return 0
