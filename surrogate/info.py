"""Human-readable descriptions of registered names (``surrogate info NAME``)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .errors import PluginError
from .factories import simulator, surrogate_class
from .registry import Entry, get_registry


def find(name: str, kind: str | None = None) -> Entry:
    """The entry registered as ``name`` (under ``kind`` when given, else the only one)."""
    registry = get_registry()
    if kind is not None:
        return registry.entry(kind, name)
    found = [k for k in registry.kinds if name in registry.entries.get(k, {})]
    if len(found) > 1:
        raise PluginError(f"{name!r} is registered as {' and '.join(found)}: pass --kind")
    if not found:
        registry.entry("simulator", name)  # raises with the hints of an unknown name
    return registry.entry(found[0], name)


def describe(
    name: str, *, kind: str | None = None, options: Mapping[str, Any] | None = None
) -> str:
    """What ``name`` is, who registers it, and how it is configured."""
    entry = find(name, kind)
    lines = [f"{name}: {entry.kind} from plugin {entry.plugin!r} (package {entry.package})"]
    if entry.kind == "simulator":
        lines += _simulator(name, entry, dict(options or {}))
    elif entry.kind == "surrogate":
        lines += _family(name)
    else:
        doc = inspect.getdoc(entry.resolve())
        lines += [f"  {doc.splitlines()[0]}"] if doc else []
    return "\n".join(lines)


def _simulator(name: str, entry: Entry, options: dict[str, Any]) -> list[str]:
    factory = entry.resolve()
    lines = ["options (--option KEY=VALUE; values are JSON where they parse, else strings):"]
    for pname, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = "required" if param.default is param.empty else f"default {param.default!r}"
        lines.append(f"  {pname}: {default}")
    sim = simulator(name, **options)
    lines += [f"events{' with ' + str(options) if options else ''}:", sim.spec.describe()]
    return lines


def _family(name: str) -> list[str]:
    cls = surrogate_class(name)
    lines = [f"density: {cls.density}; hyper-parameters (--option KEY=VALUE):"]
    lines += [f"  {k}: default {v!r}" for k, v in cls.defaults.items()]
    return lines
