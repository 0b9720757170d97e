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

from . import latent
from ._version import __version__
from .api import sample, score, simulate, train, validate
from .errors import (
    CheckpointError,
    EventFileError,
    PluginError,
    SpecError,
    SurrogateError,
    TrainingError,
)
from .events import Events
from .factories import load, plugins, simulator, surrogate, surrogate_class
from .guided import GuidedResult, guided_sample
from .hookspecs import hookimpl
from .interfaces import Simulator, Surrogate
from .registry import PluginInfo
from .spec import Condition, EventSpec, Field

__all__ = [
    "CheckpointError",
    "Condition",
    "EventFileError",
    "EventSpec",
    "Events",
    "Field",
    "GuidedResult",
    "PluginError",
    "PluginInfo",
    "Simulator",
    "SpecError",
    "Surrogate",
    "SurrogateError",
    "TrainingError",
    "__version__",
    "guided_sample",
    "hookimpl",
    "latent",
    "load",
    "plugins",
    "sample",
    "score",
    "simulate",
    "simulator",
    "surrogate",
    "surrogate_class",
    "train",
    "validate",
]
