"""Argument types shared by the commands (a bad value is a usage error: exit 2)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def parse_value(text: str) -> Any:
    """JSON where it parses (numbers, booleans, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(value)


def add_key_value(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A repeatable ``--flag KEY=VALUE``; ``dict(args.<flag>)`` gives the mapping."""
    parser.add_argument(
        flag, action="append", type=key_value, metavar="KEY=VALUE", default=[], help=help
    )


def count(text: str) -> int:
    """A positive event count; accepts ``1e5``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value != int(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text!r}")
    return int(value)


def add_execution(parser: argparse.ArgumentParser) -> None:
    """The fan-out options every long command takes (see :mod:`surrogate.generation`)."""
    group = parser.add_argument_group(
        "where the work runs",
        "The work is cut into shards of --shard-size events, seeded so that the output is "
        "the same on every backend and worker count. Dask needs `pip install "
        "'surrogate[dask]'`.",
    )
    group.add_argument(
        "--backend",
        choices=("serial", "processes", "dask"),
        help="serial (this process), processes (a local pool), dask (a LocalCluster, "
        "--scheduler or --cluster); default: processes when --workers > 1, else serial",
    )
    group.add_argument("--workers", type=count, default=1, help="local worker processes")
    group.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler")
    group.add_argument(
        "--cluster",
        metavar="FILE",
        help="a Dask cluster file (YAML: type slurm|pbs|htcondor|..., jobs, and the "
        "cluster's options)",
    )
    group.add_argument("--shard-size", type=count, help="events per shard (default 100000)")


def execution_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments :func:`add_execution`'s options give a library function."""
    keys = ("backend", "workers", "scheduler", "cluster", "shard_size")
    return {k: getattr(args, k) for k in keys}


def add_join(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--join",
        choices=("copy", "virtual"),
        default="copy",
        help="copy the shards into the output (default), or write HDF5 virtual datasets "
        "over OUTPUT.shards/, which then stays beside it",
    )
