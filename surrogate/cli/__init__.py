"""The ``surrogate`` command line.

Each command is a module of this package with ``add_parser(subparsers)`` and ``run(args)``;
plugins add theirs through ``register_commands``.  Modules are imported when the parser is
built, so they must stay light (no torch at import time), and ``run`` parses arguments and
calls one library function (:mod:`surrogate.api`).  Errors a user can cause
(:class:`~surrogate.errors.SurrogateError`) are printed as one line with exit status 1, and
so are memory or disk space running out (a ``MemoryError``, ``ENOSPC``); usage errors exit
with 2 (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import SurrogateError
from ..registry import get_registry

COMMANDS = ("plugins", "info", "simulate", "train", "sample", "validate", "score")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surrogate",
        description="Generative surrogates for physics simulation: simulate, train, sample, "
        "validate.",
    )
    parser.add_argument("--version", action="version", version=f"surrogate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    registry = get_registry()
    for name in registry.names("command"):
        try:
            registry.get("command", name)(sub)
        except SurrogateError as exc:  # a broken plugin command must not break the others
            print(f"surrogate: command {name!r} unavailable: {exc}", file=sys.stderr)
    return parser


def _limit_error(exc: Exception, args: argparse.Namespace) -> SurrogateError | None:
    """The one-line error for memory or disk space that ran out where no writer said so
    (an allocation anywhere, a write outside :func:`~surrogate.io.atomic.atomic_path`);
    ``None``: ``exc`` is a bug, whose traceback is worth seeing.  The file is the one
    the error names, else the command's output."""
    from ..io.atomic import DiskFullError, space_problem
    from ..memory import out_of_memory

    oom = out_of_memory(exc)
    if oom is not None or not isinstance(exc, OSError):
        return oom
    path = exc.filename or getattr(args, "output", None) or getattr(args, "out", None) or "."
    why = space_problem(exc, path)
    return None if why is None else DiskFullError(path, why)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SurrogateError as exc:
        print(f"surrogate {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (MemoryError, OSError, RuntimeError) as exc:
        error = _limit_error(exc, args)
        if error is None:
            raise
        print(f"surrogate {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"surrogate {args.command}: interrupted (no incomplete output is left; the "
            "finished shards of a sharded run are kept for the same command to continue)",
            file=sys.stderr,
        )
        return 130
