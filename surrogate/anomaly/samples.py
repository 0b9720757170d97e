"""Labelled anomaly samples: a simulator's events with a known departure.

An :class:`Anomaly` is what a domain registers (``register_anomalies``): a dead cell, a
shifted energy scale, another particle.  :func:`anomalous` wraps a simulator and an
anomaly into an :class:`AnomalousSimulator`, an ordinary
:class:`~surrogate.interfaces.Simulator` (so files, seeds, shards and backends work as
for any simulator) whose files record the anomaly in their metadata: the label that
makes a file an anomaly sample (:func:`anomaly_label`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import PluginError, SpecError
from ..events import Events
from ..interfaces import Conditions, Seed, Simulator, check_n, checked_output
from ..registry import get_registry

#: the registry kind of ``register_anomalies``
KIND = "anomaly"


class Anomaly(ABC):
    """A labelled departure from a simulator's events (see ``register_anomalies``).

    ``options`` are the constructor's keyword arguments, recorded in the files made with
    it, so a sample says exactly which fault it holds."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __new__(cls, *args: Any, **options: Any) -> Anomaly:
        obj = super().__new__(cls)
        obj.options = dict(options)  # recorded even if a subclass's __init__ forgets
        return obj

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = dict(options)

    def check(self, simulator: Simulator) -> None:
        """Raise :class:`~surrogate.errors.SpecError` when the anomaly does not apply to
        ``simulator``'s events (a field it changes is missing); called before any event is
        made.  By default an anomaly applies to every simulator."""
        return None

    def bind(self, simulator: Simulator) -> Anomaly:
        """This anomaly resolved for ``simulator``'s events (which :meth:`check` accepted):
        a copy that knows what its options leave to the simulator (a geometry, a default
        cell chosen from its showers), with those values in its ``options``, which files
        record and which rebuild the same fault.  By default the anomaly itself."""
        return self

    @abstractmethod
    def sample(self, simulator: Simulator, n: int, conditions: Conditions, seed: Seed) -> Events:
        """``n`` anomalous events at ``conditions`` (as ``Simulator.sample`` takes them)."""

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


class EventTransform(Anomaly):
    """An anomaly that changes the simulator's own events (the most common kind): the
    simulator draws from the seed's first child, :meth:`transform` from its second, so
    the anomalous events are the same showers as the normal ones of that seed, faulted.
    :meth:`transform` is called on the anomaly bound to the simulator (:meth:`bind`)."""

    def sample(self, simulator: Simulator, n: int, conditions: Conditions, seed: Seed) -> Events:
        events_seed, fault_seed = np.random.SeedSequence(_entropy(seed)).spawn(2)
        events = simulator.sample(n, conditions, seed=events_seed)
        bound = self.bind(simulator)
        if not isinstance(bound, EventTransform):
            raise PluginError(f"anomaly {self.name!r}: bind() returned {bound!r}, not a transform")
        return bound.transform(events, np.random.default_rng(fault_seed))

    @abstractmethod
    def transform(self, events: Events, rng: np.random.Generator) -> Events:
        """The events with the fault applied (new arrays: ``events`` is not changed)."""


def _entropy(seed: Seed) -> Any:
    """A seed as SeedSequence entropy (a SeedSequence keeps its own spawn key)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed.generate_state(4)
    return seed


class AnomalousSimulator(Simulator):
    """``base``'s events with ``anomaly`` applied: a simulator like any other, named
    ``BASE+ANOMALY``, whose options record the anomaly as bound to ``base`` (the sample's
    label, with the defaults it resolved: which cell is dead)."""

    version = "1"

    def __init__(self, base: Simulator, anomaly: Anomaly) -> None:
        anomaly.check(base)
        bound = anomaly.bind(base)
        super().__init__(**base.options, anomaly=bound.name, anomaly_options=dict(bound.options))
        self.base, self.anomaly, self.spec = base, bound, base.spec
        self.name = f"{base.name}+{anomaly.name}"

    def sample(self, n: int, conditions: Conditions = None, *, seed: Seed = None) -> Events:
        n = check_n(n)
        events = self.anomaly.sample(self.base, n, conditions, seed)
        if len(events) != n:
            raise PluginError(f"anomaly {self.anomaly.name!r} gave {len(events)} events, not {n}")
        return checked_output(
            self.spec, events.fields, dict(events.conditions), f"anomaly {self.name!r} output"
        )

    def _sample(
        self, n: int, conditions: dict[str, np.ndarray], rng: np.random.Generator
    ) -> Mapping[str, np.ndarray]:
        raise NotImplementedError("an AnomalousSimulator samples through its anomaly")


def anomaly(name: str, **options: Any) -> Anomaly:
    """Build the registered anomaly ``name`` with its options."""
    from ..factories import build_registered

    return build_registered(KIND, name, Anomaly, options)  # type: ignore[type-abstract]


def anomalous(
    simulator: Simulator, name: str, options: Mapping[str, Any] | None = None
) -> AnomalousSimulator:
    """``simulator`` with the registered anomaly ``name`` applied."""
    return AnomalousSimulator(simulator, anomaly(name, **dict(options or {})))


def anomaly_label(metadata: Mapping[str, Any], where: str) -> str:
    """The anomaly an event file's events hold, from its metadata; a file without one is
    not an anomaly sample, and scoring it against a background would mean nothing."""
    options = metadata.get("options") or {}
    label = options.get("anomaly") if isinstance(options, Mapping) else None
    if not isinstance(label, str) or not label:
        names = ", ".join(get_registry().names(KIND)) or "none installed"
        raise SpecError(
            f"{where}: not a labelled anomaly sample (its metadata names no anomaly); make "
            f"one with `surrogate simulate SIM --anomaly NAME` (anomalies: {names})"
        )
    return label
