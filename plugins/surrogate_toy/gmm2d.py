"""``toy.gmm2d``: the 2D Gaussian mixture of the lecture demo, 8 modes on a ring.

Mode k sits at ``radius * (cos 2πk/K, sin 2πk/K)`` with isotropic width ``sigma`` and
weight 1/K.  The density is known in closed form, so a generator's log-likelihood and its
mode coverage can be checked exactly.  With ``conditional=True`` the ring radius is a
per-event condition (the simplest conditional problem: generators must learn to scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from surrogate import Condition, Events, EventSpec, Field, Simulator
from surrogate.errors import SpecError


class GaussianRing(Simulator):
    name = "toy.gmm2d"
    version = "1.0"

    def __init__(
        self,
        n_modes: int = 8,
        radius: float = 2.0,
        sigma: float = 0.1,
        conditional: bool = False,
        radius_min: float = 1.0,
        radius_max: float = 4.0,
    ) -> None:
        n_modes, radius, sigma = int(n_modes), float(radius), float(sigma)
        conditional = conditional in (True, "true", "True", "1", 1)
        if n_modes < 1 or sigma <= 0 or radius < 0:
            raise SpecError("toy.gmm2d needs n_modes >= 1, sigma > 0 and radius >= 0")
        super().__init__(
            n_modes=n_modes,
            radius=radius,
            sigma=sigma,
            conditional=conditional,
            radius_min=radius_min,
            radius_max=radius_max,
        )
        self.n_modes, self.radius, self.sigma, self.conditional = (
            n_modes,
            radius,
            sigma,
            conditional,
        )
        conditions = (
            (
                Condition(
                    "radius",
                    "",
                    float(radius_min),
                    float(radius_max),
                    description="radius of the ring of modes",
                ),
            )
            if conditional
            else ()
        )
        self.spec = EventSpec(
            fields=(Field("x", (2,), "float32", "", description="position in the plane"),),
            conditions=conditions,
        )

    def _radius(self, conditions: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        return conditions["radius"] if self.conditional else np.full(n, self.radius)

    def centres(self, radius: np.ndarray | float) -> np.ndarray:
        """Mode centres, shape (len(radius), K, 2) (or (K, 2) for a scalar radius)."""
        angles = 2 * np.pi * np.arange(self.n_modes) / self.n_modes
        unit = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        r = np.asarray(radius, dtype=np.float64)
        return r[..., None, None] * unit

    def _sample(self, n, conditions, rng):
        r = self._radius(conditions, n)
        k = rng.integers(0, self.n_modes, n)
        centres = self.centres(r)[np.arange(n), k] if n else np.zeros((0, 2))
        return {"x": centres + self.sigma * rng.standard_normal((n, 2))}

    def _energy(self, fields, conditions):
        """``-log p`` of the mixture (normalised, so ``ln Z = 0``): the exact density goes
        through the core's energy interface like any target's."""
        import torch

        x = fields["x"]
        r = conditions["radius"] if self.conditional else torch.full_like(x[:, 0], self.radius)
        k = torch.arange(self.n_modes, dtype=x.dtype, device=x.device)
        angles = 2 * torch.pi * k / self.n_modes
        unit = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
        d2 = ((x[:, None, :] - r[:, None, None] * unit) ** 2).sum(-1)
        log_comp = -0.5 * d2 / self.sigma**2 - math.log(2 * math.pi * self.sigma**2)
        return math.log(self.n_modes) - torch.logsumexp(log_comp, dim=1)

    def _log_normalizer(self, conditions):
        return 0.0

    def mode_labels(self, events: Events) -> np.ndarray:
        """The mode of each event, -1 for events farther than 3 sigma from every mode."""
        return self.mode_of(events["x"], events.conditions.get("radius"))

    def mode_of(self, x: np.ndarray, radius: np.ndarray | float | None = None) -> np.ndarray:
        """Index of the nearest mode, or -1 for points farther than 3 sigma from every mode."""
        x = np.asarray(x, dtype=np.float64)
        r = np.broadcast_to(self.radius if radius is None else radius, (len(x),))
        d2 = ((x[:, None, :] - self.centres(r)) ** 2).sum(-1)
        nearest = d2.argmin(axis=1)
        far = d2[np.arange(len(x)), nearest] > (3 * self.sigma) ** 2
        return np.where(far, -1, nearest)
