"""Argument types shared by the commands (a bad value is a usage error: exit 2)."""

from __future__ import annotations

import argparse
import json
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
    if value != int(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text!r}")
    return int(value)
