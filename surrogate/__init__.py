"""surrogate: generative surrogates for physics simulation.

Analysis code asks for events with one call, ``sample(n, conditions)``, whether they come
from the reference Monte Carlo or from a trained generator::

    import surrogate
    sim = surrogate.simulator("toy.gmm2d")
    model = surrogate.load("models/flow")          # or sim itself
    events = model.sample(10_000, {"radius": 2.0}, seed=1)

Importing this package is cheap: plugins are discovered on first use and heavy
dependencies (torch) are imported only by the plugins that need them.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from .errors import (
    CheckpointError,
    EventFileError,
    PluginError,
    SpecError,
    SurrogateError,
    TrainingError,
)
from .events import Events
from .hookspecs import hookimpl
from .interfaces import Simulator, Surrogate
from .registry import PluginInfo, get_registry
from .spec import Condition, EventSpec, Field

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "Condition",
    "EventFileError",
    "EventSpec",
    "Events",
    "Field",
    "PluginError",
    "PluginInfo",
    "Simulator",
    "SpecError",
    "Surrogate",
    "SurrogateError",
    "TrainingError",
    "hookimpl",
    "load",
    "plugins",
    "simulator",
    "surrogate",
]


def _check_options(kind: str, name: str, factory: Any, options: dict[str, Any]) -> None:
    """Refuse options the factory does not take, naming them (rather than a TypeError)."""
    from .errors import check_known

    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [k for k, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    check_known(options, allowed, f"{kind} {name!r}", error=PluginError)


def simulator(name: str, **options: Any) -> Simulator:
    """Build the registered simulator ``name`` with its factory options."""
    factory = get_registry().get("simulator", name)
    _check_options("simulator", name, factory, options)
    sim = factory(**options)
    if not isinstance(sim, Simulator):
        raise PluginError(
            f"simulator {name!r} factory returned {type(sim).__name__}, not a Simulator"
        )
    sim.name = name  # the registry name is the one files and reports record
    return sim


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
    from .checkpoint import load_model

    return load_model(Path(path))


def plugins() -> list[PluginInfo]:
    """Every discovered plugin with its package, version, status and registered names."""
    return sorted(get_registry().plugins.values(), key=lambda p: p.name)
