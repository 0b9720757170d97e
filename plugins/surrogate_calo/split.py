"""``calo.layers``: showers split into their layer energies and the shapes within layers.

CaloFlow's design (arXiv:2106.05285, 2110.11377; CaloINN and CaloDREAM split alike):
Flow I learns the layer energies given the incident energy, Flow II the voxels
normalised by their layer's energy given both.  A one-stage model adds the independent
errors of hundreds of voxels up in every layer sum, which is why its E_layer and
E_tot/E_inc are what it misses most; a two-stage model gets them from a model of a
handful of numbers, and the inverse below keeps them exactly.

Summary: ``layer_energies`` (L,), MeV, >= 0, one per layer holding voxels (geometry
order).  Rest: ``fractions`` (V - L,), each voxel over its layer's energy, in [0, 1],
with one voxel per layer left out: the anchor, the voxel nearest the shower axis
(chosen as :class:`~surrogate_calo.preprocessing.LayerFractions` chooses it), which
holds most of a layer's energy and is the fraction-sum's complement.  Dropping it makes
the map a bijection of the V voxel energies, with the exact Jacobian

    log|det d(E, f)/d(x)| = -sum_l (n_l - 1) log E_l

(``n_l`` voxels in layer ``l``: ``x_i = f_i E_l`` for the kept voxels, the anchor is
``E_l (1 - sum f)``; ``tests/test_calo_split.py`` checks it by finite differences).

**Empty layers** (``E_l = 0``, common in the back layers at low energy) have no
fractions: they are set to 0 and their layer is left out of the log-determinant (the
map is not differentiable there: all the layer's voxels collapse onto one point).  A
two-stage ``log_prob`` of a shower with empty layers is therefore the density of its
non-empty layers' voxels, times the models' densities at the encoding of the empty ones
(``E_l = 0``, fractions 0): a density on the non-empty configuration, comparable between
models using this split, not a density of the V voxels (which have none there: the
layer's energies are a point mass at 0).

**Inverse** (generation): voxels = fractions x E_l, the anchor = E_l minus the others,
clipped at 0 when they overshoot (the layer is then scaled down to E_l); then the
readout threshold (voxels below it set to exactly 0, as ``calo.gflash`` reads out) and
every layer rescaled so that its energy is stage 1's ``E_l`` exactly, as the issue asks
of the challenge's threshold.  That last rescaling only scales up, so no voxel falls
back under the threshold.  A layer whose every voxel falls under the threshold gets its
whole energy in the anchor, so the layer energies are stage 1's in every case; stage 1
itself reads its layer energies out at the threshold (:meth:`LayerSplit.preprocessing`),
so that anchor is over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from surrogate.errors import SpecError
from surrogate.settings import require
from surrogate.spec import EventSpec, Field
from surrogate.splits import Chain, Conds, Fields, Split

from .geometry import GeometryError, get_geometry
from .io import challenge_spec
from .preprocessing import LayerFractions, preprocessing_chain, stored_threshold

SUMMARY = "layer_energies"
REST = "fractions"
#: the logit's alpha for the fractions (as the shower chains': 1e-6)
FRACTION_ALPHA = 1e-6
#: the smallest spread (logit units) the fractions are standardised by: a voxel empty in
#: most showers has a spread of ~0.1 about logit(alpha), so per-voxel standardisation put
#: its rare hits 10-55 spreads out, past the flows' spline range, and the models never
#: drew them (CaloGAN's layer-0 side rows stayed empty: W_phi_0 at 0 in every shower)
FRACTION_MIN_STD = 2.0


@dataclass(frozen=True)
class LayerSplitSettings:
    """``geometry``: a geometry name or detector-file path (needed); ``threshold``: the
    readout threshold in MeV applied on generation (``None``: the geometry's);
    ``field``: the showers' field."""

    geometry: str | None = None
    threshold: float | None = None
    field: str = "showers"

    def __post_init__(self) -> None:
        require(
            isinstance(self.geometry, str) and bool(self.geometry),
            f"needs 'geometry' (a geometry name or detector-file path), not {self.geometry!r}",
        )
        if self.threshold is not None:
            try:
                threshold = float(self.threshold)
            except (TypeError, ValueError):
                threshold = -1.0
            require(threshold >= 0, f"threshold must be >= 0 MeV, not {self.threshold!r}")
            object.__setattr__(self, "threshold", threshold)


class LayerSplit(Split):
    """Layer energies, then the energy-normalised voxels given them (module docstring)."""

    settings_class: ClassVar[type | None] = LayerSplitSettings
    type: ClassVar[str] = "calo.layers"
    settings: LayerSplitSettings

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        try:
            geo = get_geometry(str(self.settings.geometry))
        except GeometryError as exc:
            raise SpecError(f"{self.where}: {exc}") from None
        self.geometry = geo
        self.threshold = (
            geo.readout_threshold if self.settings.threshold is None else self.settings.threshold
        )
        #: the threshold as the showers' float32 holds it: no stored voxel falls under it
        self.cut = stored_threshold(self.threshold, np.float32)
        # the layers' voxel ranges and anchors, as the shower chain's step picks them
        layers = LayerFractions(
            {"type": LayerFractions.type, "geometry": geo}, challenge_spec(geo), 0
        )
        self.slices: list[slice] = layers.slices
        self.anchors: list[int] = layers.anchors
        self.sizes = np.array([sl.stop - sl.start for sl in self.slices])
        self.layer_of = np.repeat(np.arange(len(self.slices)), self.sizes)
        kept = np.ones(geo.n_voxels, dtype=bool)
        kept[self.anchors] = False
        self.kept = np.flatnonzero(kept)
        #: ``kept`` as contiguous runs: (voxels, positions in the rest), so the inverse
        #: copies slices (a column fancy index over 10^4 showers cost ~10x more)
        self.kept_runs = _runs(self.kept)

    # -- the two parts ------------------------------------------------------------------
    def _check(self, spec: EventSpec) -> None:
        name = self.settings.field
        if spec.field_names != (name,):
            raise SpecError(
                f"{self.where}: applies to events of one field {name!r} (the showers), "
                f"not fields {list(spec.field_names)}"
            )
        size = spec.field(name).size
        if size != self.geometry.n_voxels:
            raise SpecError(
                f"{self.where}: field {name!r} has {size} values, geometry "
                f"{self.geometry.name!r} {self.geometry.n_voxels} voxels"
            )

    def summary_fields(self, spec: EventSpec) -> tuple[Field, ...]:
        self._check(spec)
        return (
            Field(
                SUMMARY,
                (len(self.slices),),
                "float32",
                "MeV",
                low=0.0,
                description=f"energy per layer, geometry {self.geometry.name}",
            ),
        )

    def rest_fields(self, spec: EventSpec) -> tuple[Field, ...]:
        self._check(spec)
        return (
            Field(
                REST,
                (len(self.kept),),
                "float32",
                low=0.0,
                high=1.0,
                description="voxel / layer energy, each layer's anchor voxel left out",
            ),
        )

    # -- the maths ----------------------------------------------------------------------
    def forward(
        self, fields: Mapping[str, Any], conditions: Conds
    ) -> tuple[Fields, Fields, np.ndarray]:
        x = np.asarray(fields[self.settings.field], dtype=np.float64)
        energies = np.stack([x[:, sl].sum(axis=1) for sl in self.slices], axis=1)
        per_voxel = energies[:, self.layer_of]
        fractions = np.divide(x, per_voxel, out=np.zeros_like(x), where=per_voxel > 0)
        # empty layers: no fractions and no Jacobian (module docstring)
        logs = np.log(np.where(energies > 0, energies, 1.0))
        logdet = -(logs * (self.sizes - 1)).sum(axis=1)
        return {SUMMARY: energies}, {REST: fractions[:, self.kept]}, logdet

    def inverse(
        self, summary: Mapping[str, Any], rest: Mapping[str, Any], conditions: Conds
    ) -> Fields:
        energies = np.maximum(np.asarray(summary[SUMMARY], dtype=np.float64), 0.0)
        n = len(energies)
        # in place on one array: no temporary of the showers' size (see Step.inverse_field)
        x = np.zeros((n, self.geometry.n_voxels))
        fractions = np.asarray(rest[REST])
        for voxels, positions in self.kept_runs:
            x[:, voxels] = fractions[:, positions]
        np.maximum(x, 0.0, out=x)
        for k, (sl, anchor) in enumerate(zip(self.slices, self.anchors, strict=True)):
            e_layer = energies[:, k]
            block = x[:, sl]  # a view: the layer's voxels
            block *= e_layer[:, None]
            x[:, anchor] = np.maximum(e_layer - block.sum(axis=1), 0.0)
            _rescale(block, e_layer)  # down, where the others overshot
            np.multiply(block, block >= self.cut, out=block)  # under the threshold: 0
            lost = _rescale(block, e_layer)  # up: no voxel falls under the threshold
            x[lost, anchor] = e_layer[lost]
        return {self.settings.field: x}

    def preprocessing(self, spec: EventSpec) -> tuple[Chain, Chain]:
        """Layer energies: the shower chain's ``logit`` of E_l / E_inc, read out at the
        split's threshold (a layer under it cannot hold a voxel over it: stage 1 makes it
        empty); fractions: a logit over their bounds [0, 1], then standardised, with a
        spread of at least ``FRACTION_MIN_STD``."""
        rest = [
            {"type": "logit", "field": REST, "alpha": FRACTION_ALPHA},
            {"type": "standardise", "min_std": FRACTION_MIN_STD},
        ]
        summary = preprocessing_chain(
            self.geometry, "logit", field=SUMMARY, threshold=self.threshold
        )
        return summary, rest


def _runs(indices: np.ndarray) -> list[tuple[slice, slice]]:
    """Sorted ``indices`` as runs of consecutive values: ``(slice of the values, slice of
    their positions in indices)``."""
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks]).astype(int)
    stops = np.concatenate([breaks, [len(indices)]]).astype(int)
    return [
        (slice(int(indices[a]), int(indices[b - 1]) + 1), slice(int(a), int(b)))
        for a, b in zip(starts, stops, strict=True)
        if b > a
    ]


def _rescale(block: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Scale each row of ``block`` (in place) to add up to ``energy``; the rows that hold
    nothing to scale although their energy is not 0."""
    total = block.sum(axis=1)
    block *= np.divide(energy, total, out=np.zeros(len(total)), where=total > 0)[:, None]
    return (total == 0) & (energy > 0)
