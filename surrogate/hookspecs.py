"""The hooks a plugin implements.  Each receives a ``register`` callback (the llm pattern):
plugins only call ``register(name, factory)``; the host owns validation, name conflicts
and laziness, and plugins never see the registry itself.

Names are dotted and lower-case (``toy.gmm2d``, ``calo.gflash``, ``flow``).  A factory may
be the object itself or an import path ``"package.module:attribute"``, resolved on first
use, so listing plugins never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("surrogate")
hookimpl = pluggy.HookimplMarker("surrogate")

Register = Callable[[str, Any], None]


@hookspec
def register_simulators(register: Register) -> None:
    """Register reference simulators.

    Call ``register(name, factory)`` once per simulator, where ``factory(**options)``
    returns a :class:`surrogate.Simulator` (options come from ``--option KEY=VALUE``, e.g.
    a geometry).  ``factory`` may be an import path string to keep plugin loading cheap.
    """


@hookspec
def register_surrogates(register: Register) -> None:
    """Register generator families.

    Call ``register(name, cls)`` where ``cls`` is a :class:`surrogate.Surrogate` subclass
    (or its import path) whose ``name`` attribute equals ``name``; ``cls(**options)`` builds
    an untrained model and ``cls.load(path)`` a trained one.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register validation metrics for the validation harness.

    Call ``register(name, metric)`` where ``metric`` follows
    :class:`surrogate.validation.Metric` (or is its import path).
    """
