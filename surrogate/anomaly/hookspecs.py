"""The registration hook of anomaly samples, declared by the core's plugin
(:mod:`surrogate.builtins`) so that a domain ships the faults and signals its community
tests a detector or a search with::

    @hookimpl
    def register_anomalies(register):
        register("mydet.dead_cell", "my_detector.anomalies:DeadCell")
"""

from __future__ import annotations

from ..hookspecs import Register, registration_hook


@registration_hook("anomaly", "anomalies", example="mydet.dead_cell")
def register_anomalies(register: Register) -> None:
    """Register anomalies: labelled departures from a simulator's events.

    Call ``register(name, cls)`` with a :class:`surrogate.anomaly.Anomaly` subclass (or
    its import path).  ``cls(**options)`` builds it (``--anomaly-option KEY=VALUE``; the
    toolkit refuses options the constructor does not take); ``check(simulator)`` raises a
    :class:`~surrogate.errors.SpecError` when the anomaly does not apply to that
    simulator's events; ``bind(simulator)`` returns it resolved for the simulator (a
    default cell chosen from its showers, recorded in its ``options`` so that files say
    which); ``sample(simulator, n, conditions, seed)`` returns ``n`` anomalous events.
    Most anomalies change the simulator's own events (a dead cell, a shifted energy
    scale): subclass :class:`~surrogate.anomaly.EventTransform` and implement
    ``transform(events, rng)``.  Others draw from another configuration (electrons among
    photons): implement ``sample``.  ``surrogate simulate SIM --anomaly NAME`` writes a
    labelled anomaly sample, which ``surrogate validate --anomalies FILE`` and the
    anomaly benchmark read.
    """
