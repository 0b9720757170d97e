"""Readout layers: the cells a calorimeter layer is divided into, and their coordinates.

- :class:`PolarLayer` (r bins x alpha bins, the CaloChallenge format): the alpha slices
  follow each other, each holding its r bins (r fastest);
- :class:`CartesianLayer` (x bins x y bins, CaloGAN): the y rows follow each other, each
  holding its x cells (CaloGAN's ``layer_i`` arrays ``(N, n_y, n_x)`` flattened).

Voxel coordinates are those the challenge's ``XMLHandler`` computes: r = bin midpoint
(mm), alpha = midpoints of ``linspace(-pi, pi, n_alpha + 1)``, eta = r cos alpha,
phi = r sin alpha (Cartesian: eta = x, phi = y, r = hypot(x, y)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from surrogate.errors import SurrogateError


class GeometryError(SurrogateError, ValueError):
    """A binning or detector file is malformed or inconsistent, or a geometry is unknown."""


@dataclass(frozen=True)
class PolarLayer:
    """A CaloChallenge layer: ``r_edges`` (mm, from 0) x ``n_alpha`` equal angular bins."""

    id: int
    r_edges: tuple[float, ...]
    n_alpha: int = 1

    kind = "polar"

    @property
    def n_r(self) -> int:
        return max(len(self.r_edges) - 1, 0)

    @property
    def n_voxels(self) -> int:
        return self.n_r * self.n_alpha

    @property
    def r_max(self) -> float:
        return self.r_edges[-1] if self.r_edges else 0.0

    def coordinates(self) -> dict[str, np.ndarray]:
        """Per-voxel r, alpha, eta, phi in the challenge's order (alpha outer, r inner)."""
        edges = np.asarray(self.r_edges, dtype=np.float64)
        r_mid = edges[:-1] + (edges[1:] - edges[:-1]) / 2.0
        a_edges = np.linspace(-math.pi, math.pi, self.n_alpha + 1)
        a_mid = a_edges[:-1] + (a_edges[1:] - a_edges[:-1]) / 2.0
        r = np.tile(r_mid, self.n_alpha)
        alpha = np.repeat(a_mid, self.n_r)
        return {"r": r, "alpha": alpha, "eta": r * np.cos(alpha), "phi": r * np.sin(alpha)}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "r_edges": list(self.r_edges), "n_alpha": self.n_alpha}


@dataclass(frozen=True)
class CartesianLayer:
    """A rectangular grid (CaloGAN): ``x_edges`` x ``y_edges`` in mm, centred on the axis.

    Voxels are stored y-major (rows of x cells), as CaloGAN's ``(n_y, n_x)`` arrays.
    """

    id: int
    x_edges: tuple[float, ...]
    y_edges: tuple[float, ...]

    kind = "cartesian"

    @property
    def n_x(self) -> int:
        return len(self.x_edges) - 1

    @property
    def n_y(self) -> int:
        return len(self.y_edges) - 1

    @property
    def n_voxels(self) -> int:
        return self.n_x * self.n_y

    @property
    def n_alpha(self) -> int:  # a 2D layer: centres of energy in eta/phi are defined
        return self.n_y

    def coordinates(self) -> dict[str, np.ndarray]:
        x = np.asarray(self.x_edges, dtype=np.float64)
        y = np.asarray(self.y_edges, dtype=np.float64)
        xc = np.tile((x[:-1] + x[1:]) / 2.0, self.n_y)
        yc = np.repeat((y[:-1] + y[1:]) / 2.0, self.n_x)
        return {"r": np.hypot(xc, yc), "alpha": np.arctan2(yc, xc), "eta": xc, "phi": yc}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "x_edges": list(self.x_edges), "y_edges": list(self.y_edges)}


Layer = PolarLayer | CartesianLayer
