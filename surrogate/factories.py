"""Look-ups by registered name: build a simulator, a model family, load a model directory.

These are the toolkit's entry points for analysis code (re-exported as
``surrogate.simulator``, ``surrogate.load``...); the pipeline functions built on them
(``simulate``, ``train``, ``sample``, ``validate``) are in :mod:`surrogate.api`.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, TypeVar

from .checkpoint import read_config
from .errors import CheckpointError, PluginError, SurrogateError, check_known
from .interfaces import Simulator, Surrogate
from .registry import PluginInfo, get_registry


def _check_options(kind: str, name: str, factory: Any, options: dict[str, Any]) -> None:
    """Refuse options the factory does not take, naming them (rather than a TypeError)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [k for k, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    check_known(options, allowed, f"{kind} {name!r}", error=PluginError)


T = TypeVar("T")


def build_registered(kind: str, name: str, expected: type[T], options: dict[str, Any]) -> T:
    """Build the registered ``kind`` ``name`` with ``options``: unknown options and a
    factory's own ValueError or TypeError become one-line errors naming the plugin, and
    what it returns must be an ``expected``."""
    entry = get_registry().entry(kind, name)
    factory = entry.resolve()
    _check_options(kind, name, factory, options)
    try:
        obj = factory(**options)
    except (ValueError, TypeError) as exc:  # a plugin's own check of a bad option value
        if isinstance(exc, SurrogateError):
            raise
        raise PluginError(f"{kind} {name!r} (plugin {entry.plugin!r}): {exc}") from exc
    if not isinstance(obj, expected):
        raise PluginError(
            f"{kind} {name!r} factory returned {type(obj).__name__}, not a {expected.__name__}"
        )
    obj.name = name  # type: ignore[attr-defined]  # the registry name is the one files record
    return obj


def simulator(name: str, **options: Any) -> Simulator:
    """Build the registered simulator ``name`` with its factory options."""
    return build_registered("simulator", name, Simulator, options)  # type: ignore[type-abstract]


def surrogate_class(name: str) -> type[Surrogate]:
    """The registered generator family ``name`` (a ``Surrogate`` subclass)."""
    cls = get_registry().get("surrogate", name)
    if not (isinstance(cls, type) and issubclass(cls, Surrogate)):
        raise PluginError(f"surrogate {name!r} is registered as {cls!r}, not a Surrogate subclass")
    if cls.name != name:
        raise PluginError(f"surrogate {name!r} is registered with a class named {cls.name!r}")
    return cls


def surrogate(name: str, **options: Any) -> Surrogate:
    """An untrained model of the registered family ``name`` with hyper-parameters ``options``."""
    return surrogate_class(name)(**options)


def load(path: str | os.PathLike[str]) -> Surrogate:
    """Load a trained model directory, whichever plugin wrote it."""
    path = Path(path)
    plugin = read_config(path)["plugin"]
    try:
        cls = surrogate_class(plugin)
    except PluginError as exc:
        raise CheckpointError(f"{path}: needs the plugin that provides {plugin!r}: {exc}") from exc
    return cls.load(path)


def plugins() -> list[PluginInfo]:
    """Every discovered plugin with its package, version, status and registered names."""
    return sorted(get_registry().plugins.values(), key=lambda p: p.name)
