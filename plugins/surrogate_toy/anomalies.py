"""``toy.off_ring``: ring events moved off the ring, and the score that is nearly optimal
for them.

The shift is in units of the modes' width ``sigma``, not of the radius: how detectable
an event moved by ``d`` is depends on ``d / sigma`` only (its radial offset is a
``d``-sigma departure whatever the ring's radius, which is a per-event condition from 1
to 4 in the conditional ring), so one shift means one difficulty at every condition.

:func:`radial_score` is ``|r - R| / sigma``, the event's radial distance from the ring in
units of sigma.  Moving an event radially by ``d`` shifts its radial offset from
(nearly: the modes are isotropic Gaussians, curvature ``sigma/R <= 0.1`` aside)
``N(0, 1)`` to ``N(d, 1)`` and leaves the tangential offset as it was, so by the
Neyman-Pearson lemma the one-sided ``(r - R) / sigma`` is the most powerful test for a
known outward shift; the two-sided score gives up a factor of two in background for not
knowing the direction (the threshold at a background efficiency ``e`` moves from
``z_(1-e)`` to ``z_(1-e/2)``).  No learned score can do better than that bound.
"""

from __future__ import annotations

import copy

import numpy as np

from surrogate.anomaly import EventTransform
from surrogate.errors import SpecError
from surrogate.events import Events
from surrogate.interfaces import Simulator

from .gmm2d import GaussianRing


def _ring(simulator: Simulator, where: str) -> GaussianRing:
    if not isinstance(simulator, GaussianRing):
        raise SpecError(
            f"{where}: needs the toy.gmm2d ring, not {simulator.name or type(simulator).__name__!r}"
        )
    return simulator


def ring_radius(simulator: GaussianRing, events: Events) -> np.ndarray:
    """The ring's radius at each event (its condition, or the fixed radius)."""
    if simulator.conditional:
        return np.asarray(events.conditions["radius"], dtype=np.float64)
    return np.full(len(events), simulator.radius)


def radial_score(simulator: Simulator, events: Events) -> np.ndarray:
    """``|r - R| / sigma`` of each event (module docstring): the baseline of the toy."""
    ring = _ring(simulator, "radial_score")
    r = np.linalg.norm(np.asarray(events["x"], dtype=np.float64), axis=1)
    return np.abs(r - ring_radius(ring, events)) / ring.sigma


class OffRing(EventTransform):
    """Every event moved radially by ``shift`` sigma (outwards for ``shift > 0``, default
    3: a three-sigma departure; inwards for ``shift < 0``)."""

    name = "toy.off_ring"
    description = "events moved off the ring radially by shift x sigma"
    sigma: float | None = None

    def __init__(self, shift: float = 3.0) -> None:
        super().__init__(shift=shift)
        try:
            self.shift = float(shift)
        except (TypeError, ValueError):
            raise SpecError(f"{self.name}: shift must be a number, not {shift!r}") from None
        if isinstance(shift, bool) or not np.isfinite(self.shift) or self.shift == 0:
            raise SpecError(f"{self.name}: shift must be a finite number, not 0, not {shift!r}")

    def check(self, simulator: Simulator) -> None:
        _ring(simulator, self.name)

    def bind(self, simulator: Simulator) -> OffRing:
        """A copy that knows ``simulator``'s sigma, the unit of the shift."""
        bound = copy.copy(self)
        bound.sigma = _ring(simulator, self.name).sigma
        return bound

    def transform(self, events: Events, rng: np.random.Generator) -> Events:
        if self.sigma is None:
            raise SpecError(f"{self.name}: bind(simulator) first (the shift is in its sigma)")
        x = np.asarray(events["x"], dtype=np.float64)
        r = np.linalg.norm(x, axis=1, keepdims=True)
        unit = np.where(r > 0, x / np.where(r > 0, r, 1.0), [1.0, 0.0])
        moved = x + self.shift * self.sigma * unit
        return Events({"x": moved.astype(np.float32)}, events.conditions, events.spec)
