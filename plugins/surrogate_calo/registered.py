"""Reading the plugin's own kinds (geometries, materials) from the toolkit's registry.

Both kinds accept the same factories (the object, a zero-argument callable, an import
path) and both must come back named as registered, so the two lookups share this code;
the errors they raise stay the domain's (``GeometryError``, ``MaterialError``), which
callers such as the metrics catch to skip a geometry that does not load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from surrogate.errors import PluginError
from surrogate.registry import get_registry

T = TypeVar("T")


def lookup(
    kind: str, name: str, build: Callable[[Any], T], error: type[Exception], unknown: str = ""
) -> T:
    """``build(factory)`` of the entry registered as ``name``, computed once per entry.

    The registry's errors (an unknown name with its suggestions, a name two packages
    register, a factory that fails to import) are raised as ``error``; ``unknown`` is
    appended to the message of an unknown name.
    """
    registry = get_registry()
    try:
        return registry.entry(kind, name).build(build)
    except PluginError as exc:
        hint = unknown if name not in registry.names(kind) else ""
        raise error(f"{exc}{hint}") from None


def instance(factory: Any, name: str, cls: type[T], error: type[Exception]) -> T:
    """``factory`` itself or what calling it returns, checked to be a ``cls`` called
    ``name`` (files and stacks refer to it by that name later)."""
    what = cls.__name__
    obj = factory if isinstance(factory, cls) or not callable(factory) else factory()
    if not isinstance(obj, cls):
        raise error(
            f"{what.lower()} {name!r}: registered {type(obj).__name__}, not a {what} "
            f"(or a factory of one)"
        )
    if obj.name != name:  # type: ignore[attr-defined]
        raise error(
            f"{what.lower()} registered as {name!r} is named {obj.name!r}: "  # type: ignore[attr-defined]
            f"register it under its own name"
        )
    return obj
