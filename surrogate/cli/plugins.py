"""``surrogate plugins``: what is installed, what failed to load, and name conflicts."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plugins",
        help="list plugins and what they register",
        description="List the installed plugins, the names each registers, plugins that "
        "failed to load (with their package and error) and name conflicts.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..registry import get_registry

    registry = get_registry()
    plugins = sorted(registry.plugins.values(), key=lambda p: p.name)
    conflicts = {
        f"{kind} {name}": [e.package for e in entries]
        for (kind, name), entries in registry.conflicts.items()
    }
    if args.json:
        print(
            json.dumps({"plugins": [asdict(p) for p in plugins], "conflicts": conflicts}, indent=2)
        )
        return 0
    width = max((len(p.name) for p in plugins), default=6)
    for p in plugins:
        print(f"{p.name:<{width}}  {p.package} {p.version}  [{p.status}]")
        for kind, names in sorted(p.names.items()):
            print(f"{'':<{width}}    {registry.label(kind)}: {', '.join(sorted(names))}")
        if p.error:
            print(f"{'':<{width}}    error: {p.error}")
    for what, packages in conflicts.items():
        print(f"conflict: {what} is registered by {' and '.join(packages)}")
    if not plugins:
        print("no plugins found")
    return 0
