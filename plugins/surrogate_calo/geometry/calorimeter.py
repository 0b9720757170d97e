"""The calorimeter a simulator deposits into and the observables read: :class:`Geometry`.

It holds the readout layers in file order (:mod:`.layers`), the voxel order of a flat
shower ``(N, V)`` (layers one after the other, each in its own order), the longitudinal
extent of every layer along the shower axis (mm from the front face), the material stack
(:class:`~surrogate_calo.materials.Stack`) and the incident-energy range the geometry is
valid for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..materials import Stack, StackParameters
from .layers import CartesianLayer, GeometryError, Layer

PARTICLES = {"photon": 22, "electron": 11, "positron": -11, "pion": 211}


class Geometry:
    """A calorimeter: readout layers, their depths, the material stack and energy range.

    Parameters
    ----------
    name: registry name (``"2"``, ``"calogan"``...).
    layers: every layer in file order, empty ones included (they keep the challenge's
        layer numbering; they hold no voxels).
    depth: layer id -> ``(z_start, z_end)`` in mm along the shower axis, from the front
        face, for every layer holding voxels.  Gaps are dead material.
    stack: the material stack (homogeneous or sampling).
    energy_range: ``(low, high)`` incident energies in MeV the geometry is valid for.
    particle: the particle the geometry is binned for (``photon``, ``electron``...).
    energy_prior: ``"loguniform"`` or ``"uniform"`` over the range.
    discrete_energies: optional ``(values, weights)``: the default energies a simulator
        draws (dataset 1's 15 powers of two, with the challenge's event counts).
    cut: the challenge's evaluation threshold in MeV (voxels below are set to 0).
    readout_threshold: the threshold a simulator applies by default (MeV).
    stochastic_term: sampling resolution in GeV^1/2 (GFlash's ``sigma``: 0.11 = 11%/sqrt E).
    challenge: the CaloChallenge dataset name (``"1-photons"``, ``"2"``...) or ``None``.
    """

    def __init__(
        self,
        name: str,
        layers: Sequence[Layer],
        depth: Mapping[int, tuple[float, float]],
        stack: Stack,
        energy_range: tuple[float, float],
        *,
        particle: str = "electron",
        pid: int | None = None,
        energy_prior: str = "loguniform",
        discrete_energies: tuple[Sequence[float], Sequence[float]] | None = None,
        cut: float = 0.0,
        readout_threshold: float = 0.0,
        stochastic_term: float = 0.11,
        challenge: str | None = None,
        description: str = "",
        source: str = "",
    ) -> None:
        where = f"geometry {name!r}"
        self.name = str(name)
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.stack = stack
        self.particle = str(particle)
        self.pid = pid if pid is not None else PARTICLES.get(self.particle)
        self.energy_prior = energy_prior
        self.cut = float(cut)
        self.readout_threshold = float(readout_threshold)
        self.stochastic_term = float(stochastic_term)
        self.challenge = challenge
        self.description = description
        self.source = source
        _check_layers(self.layers, where)
        self.energy_range = _energy_range(energy_range, where)
        if energy_prior not in ("loguniform", "uniform"):
            raise GeometryError(f"{where}: energy_prior must be 'loguniform' or 'uniform'")
        if not (self.stochastic_term >= 0 and self.cut >= 0 and self.readout_threshold >= 0):
            raise GeometryError(f"{where}: cut, readout_threshold, stochastic_term must be >= 0")
        self.depth = _checked_depth(depth, self.layers, where)
        self.discrete_energies: tuple[np.ndarray, np.ndarray] | None = (
            None
            if discrete_energies is None
            else _discrete(discrete_energies, self.energy_range, where)
        )

    # -- layout ---------------------------------------------------------------------------
    @cached_property
    def n_voxels(self) -> int:
        return sum(layer.n_voxels for layer in self.layers)

    @cached_property
    def bin_edges(self) -> np.ndarray:
        """Voxel offsets per layer position, length ``n_layers + 1`` (the challenge's
        ``GetBinEdges``): layer ``i`` is ``showers[:, bin_edges[i]:bin_edges[i+1]]``."""
        return np.concatenate([[0], np.cumsum([layer.n_voxels for layer in self.layers])])

    @cached_property
    def relevant_layers(self) -> tuple[int, ...]:
        """Ids of the layers that hold voxels."""
        return tuple(layer.id for layer in self.layers if layer.n_voxels > 0)

    @cached_property
    def alpha_layers(self) -> tuple[int, ...]:
        """Ids of the layers binned in alpha (or 2D): they get EC/width in eta and phi."""
        return tuple(layer.id for layer in self.layers if layer.n_voxels > 0 and layer.n_alpha > 1)

    def layer(self, layer_id: int) -> Layer:
        return self.layers[layer_id]

    def layer_slice(self, layer_id: int) -> slice:
        return slice(int(self.bin_edges[layer_id]), int(self.bin_edges[layer_id + 1]))

    @cached_property
    def coordinates(self) -> dict[str, np.ndarray]:
        """Per-voxel ``layer`` id, ``r``, ``alpha``, ``eta``, ``phi`` (float64, length V)."""
        parts = [layer.coordinates() for layer in self.layers if layer.n_voxels]
        out = {k: np.concatenate([p[k] for p in parts]) for k in ("r", "alpha", "eta", "phi")}
        out["layer"] = np.concatenate(
            [np.full(layer.n_voxels, layer.id) for layer in self.layers if layer.n_voxels]
        )
        return out

    def layer_grid(self, showers: np.ndarray, layer_id: int) -> np.ndarray:
        """One layer of flat showers as ``(N, n_alpha, n_r)`` (polar) or ``(N, n_y, n_x)``."""
        layer = self.layers[layer_id]
        block = np.asarray(showers)[..., self.layer_slice(layer_id)]
        if isinstance(layer, CartesianLayer):
            return block.reshape(*block.shape[:-1], layer.n_y, layer.n_x)
        return block.reshape(*block.shape[:-1], layer.n_alpha, layer.n_r)

    # -- physics --------------------------------------------------------------------------
    def parameters(self, parity: str = "paper") -> StackParameters:
        """Effective X0, R_M, E_c, F_s, e_hat... of the stack (see :mod:`.materials`)."""
        return self.stack.parameters(parity)

    @property
    def z_start(self) -> float:
        return min(z0 for z0, _ in self.depth.values())

    @property
    def z_end(self) -> float:
        """Back face of the last layer, mm: energy beyond leaks out."""
        return max(z1 for _, z1 in self.depth.values())

    def depth_x0(self) -> float:
        """Total depth in effective radiation lengths."""
        return self.z_end / self.stack.parameters().x0

    def summary(self, parity: str = "paper") -> dict[str, Any]:
        p = self.parameters(parity)
        return {
            "name": self.name,
            "particle": self.particle,
            "voxels": self.n_voxels,
            "layers": len(self.relevant_layers),
            "stack": self.stack.describe(),
            "energy_range_MeV": self.energy_range,
            "depth_X0": self.depth_x0(),
            **{f"{k}": v for k, v in p.to_dict().items()},
        }

    def __repr__(self) -> str:
        return (
            f"<Geometry {self.name}: {len(self.relevant_layers)} layers, {self.n_voxels} voxels, "
            f"{self.stack.describe()}>"
        )

    # -- validation helpers ---------------------------------------------------------------
    def check_voxels(self, n_voxels: int, where: str) -> None:
        """Raise naming the problem when data has ``n_voxels`` voxels per shower, and the
        known geometry that has that many (the file is likely from that dataset)."""
        from .registry import geometry_names, get_geometry  # it imports this module

        if n_voxels == self.n_voxels:
            return
        hint = ""
        for name in geometry_names():
            try:
                other = get_geometry(name)
            except GeometryError:
                continue
            if other.n_voxels == n_voxels:
                hint = f" (that is the voxel count of geometry {name!r})"
                break
        raise GeometryError(
            f"{where}: showers have {n_voxels} voxels but geometry {self.name!r} has "
            f"{self.n_voxels}{hint}"
        )


# -- checks of the constructor's arguments, each naming the geometry ----------------------
def _check_layers(layers: tuple[Layer, ...], where: str) -> None:
    if not layers:
        raise GeometryError(f"{where}: no layers")
    ids = [layer.id for layer in layers]
    if ids != list(range(len(ids))):
        raise GeometryError(f"{where}: layer ids must be 0..{len(ids) - 1} in order: {ids}")
    if sum(layer.n_voxels for layer in layers) == 0:
        raise GeometryError(f"{where}: no voxels")


def _energy_range(energy_range: tuple[float, float], where: str) -> tuple[float, float]:
    lo, hi = (float(x) for x in energy_range)
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise GeometryError(f"{where}: energy range must be 0 < low <= high: {energy_range}")
    return lo, hi


def _checked_depth(
    depth: Mapping[int, tuple[float, float]], layers: tuple[Layer, ...], where: str
) -> dict[int, tuple[float, float]]:
    """The depths by layer id, in id order: one per layer holding voxels, no overlaps."""
    depth = {int(k): (float(v[0]), float(v[1])) for k, v in depth.items()}
    need = [layer.id for layer in layers if layer.n_voxels > 0]
    missing = [i for i in need if i not in depth]
    if missing:
        raise GeometryError(f"{where}: no depth for layer {missing[0]} (it holds voxels)")
    extra = sorted(set(depth) - set(need))
    if extra:
        raise GeometryError(f"{where}: depth given for layer {extra[0]}, which has no voxels")
    for i, (z0, z1) in depth.items():
        if not (math.isfinite(z0) and math.isfinite(z1) and 0 <= z0 < z1):
            raise GeometryError(f"{where}: layer {i} depth must be 0 <= start < end: {z0, z1}")
    ordered = sorted(depth.items(), key=lambda kv: kv[1][0])
    for (i, (_, e0)), (j, (s1, _)) in itertools.pairwise(ordered):
        if s1 < e0 - 1e-9:
            raise GeometryError(f"{where}: layers {i} and {j} overlap in depth")
    return dict(sorted(depth.items()))


def _discrete(
    discrete_energies: tuple[Sequence[float], Sequence[float]],
    energy_range: tuple[float, float],
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """``(values, weights)`` as arrays, the weights normalised to 1."""
    values = np.asarray(discrete_energies[0], dtype=np.float64)
    weights = np.asarray(discrete_energies[1], dtype=np.float64)
    if values.shape != weights.shape or values.ndim != 1 or not len(values):
        raise GeometryError(f"{where}: discrete energies and weights differ in length")
    lo, hi = energy_range
    if values.min() < lo or values.max() > hi or weights.min() < 0 or weights.sum() <= 0:
        raise GeometryError(f"{where}: discrete energies outside the range or bad weights")
    return values, weights / weights.sum()
