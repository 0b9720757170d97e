"""Shower preprocessing for the generators: the plugin's transform chains.

Chains are lists of :mod:`surrogate.preprocessing` steps, saved with a model and inverted
on generation, so a model trained on ``calo.gflash`` output generates showers in MeV:

``logit`` (default; CaloDiffusion, arXiv:2308.03876)
    voxel / E_inc, then ``logit(alpha + (1 - 2 alpha) x / 3)`` with alpha = 1e-6, then per-voxel
    standardisation.
``log``
    voxel / E_inc, ``log(x + 1e-7)``, per-voxel standardisation; the inverse is capped at
    voxel / E_inc = 3 (the logit's range), so an outlier of a short training cannot come
    back as a cell of many times the beam energy.
``layers`` (CaloFlow, arXiv:2106.05285 / 2110.11377: layer energies are modelled
    explicitly, the shapes as energy-normalised voxels)
    the step ``calo.layer_fractions`` replaces, in every layer, the anchor voxel (the one
    nearest the shower axis: the first r bin of a polar layer, a centre cell of a
    Cartesian one) by the layer energy over E_inc and the other voxels by their fraction
    of the layer energy; then logit (alpha = 1e-6) and per-voxel standardisation.  The
    transform keeps the shape (V values per shower) and is exactly invertible: the anchor
    is recovered as the layer energy minus the others, so a generated layer keeps its
    generated energy unless the others overshoot it (the anchor is then clipped at 0 by
    the field's bound; the axis voxel, which holds most of a layer's energy, is the one
    least likely to be).

Every chain of a geometry (or simulator) with a readout threshold starts with
``calo.readout_threshold``: its inverse, the last thing a generated shower goes through,
sets the voxels below the threshold to exactly 0, so a model's showers have the sparsity
and the voxel spectrum near the threshold that the detector's (and ``calo.gflash``'s)
showers have, instead of a continuous tail of tiny voxels.

All steps report their Jacobian, so flows' ``log_prob`` is in the units of raw MeV; for
the readout step, see :class:`ReadoutThreshold` for what that means.

No chain knows that the alpha bins are equivalent: every voxel is its own input
dimension.  :func:`augment_alpha` adds rotated copies of training showers (rotations
about the shower axis by whole alpha bins of every alpha-binned layer at once), the
augmentation for data that have that symmetry (``calo.gflash``: phi uniform).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from surrogate import Events
from surrogate.errors import SpecError
from surrogate.preprocessing import Step

from .geometry import CartesianLayer, Geometry, GeometryError, get_geometry

CHAINS = ("logit", "log", "layers")
# upper end of the logit's range for voxel / E_inc and E_layer / E_inc (fixed, not fitted,
# so that held-out showers never fall outside it; E_tot / E_inc above 3 does not occur)
LOGIT_HIGH = 3.0


def stored_threshold(threshold: float, dtype: Any) -> float:
    """The smallest value of ``dtype`` that is >= ``threshold``: zeroing what lies below it
    leaves no non-zero voxel under the threshold once the showers are stored as ``dtype``
    (float32 rounds some thresholds down, which would keep a voxel 1 ulp below them)."""
    kind = np.dtype(dtype).type
    t = kind(threshold)
    if float(t) < threshold:  # compared as Python floats: numpy would compare as ``dtype``
        t = np.nextafter(t, kind(np.inf))
    return float(t)


class ReadoutThreshold(Step):
    """The detector's readout threshold: voxels below ``threshold`` (MeV) -> exactly 0.

    ``inverse`` (generation) zeroes the voxels below the threshold, as the readout of
    ``calo.gflash`` and of the challenge's Geant4 files does, so generated showers have
    exact zeros where the reference has them.  ``forward`` applies the same readout,
    which is the identity on data read out at this threshold (what the chains of
    :func:`preprocessing_chain` are built for: the simulator's own threshold): its
    log-determinant is 0, exactly, there.  On data with values below the threshold it
    zeroes them too (a projection, with no Jacobian): the model is trained on the showers
    as this detector reads them out.  ``log_prob`` stays the model's continuous density at
    the read-out shower; it is not the likelihood of the thresholded law, whose voxels
    have a point mass ``P(x_i < threshold)`` at 0 that no density describes.
    """

    type = "calo.readout_threshold"
    params: ClassVar[dict[str, Any]] = {"threshold": None}

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        try:
            threshold = float(self.options["threshold"])
        except (TypeError, ValueError):
            threshold = float("nan")
        if not threshold > 0:
            raise SpecError(
                f"{self.where}: threshold must be a number > 0 (MeV), not "
                f"{self.options['threshold']!r}"
            )
        self.cut = {n: stored_threshold(threshold, spec.field(n).dtype) for n in self.fields}

    def forward_field(self, name, x, conds):
        return self.inverse_field(name, x, conds), np.zeros(len(x))

    def inverse_field(self, name, y, conds):
        return np.where(y < self.cut[name], 0.0, y)


class LayerFractions(Step):
    """Per layer: anchor voxel -> E_layer / E_inc, others -> voxel / (E_layer + eps)."""

    type = "calo.layer_fractions"
    params: ClassVar[dict[str, Any]] = {
        "geometry": None,
        "condition": "incident_energies",
        "eps": 1e-3,
    }

    def __init__(self, config, spec, index):
        super().__init__(config, spec, index)
        if len(self.fields) != 1:
            raise SpecError(f"{self.where}: applies to one field (the showers)")
        if self.options["geometry"] is None:
            raise SpecError(f"{self.where}: needs 'geometry'")
        try:
            geo = get_geometry(self.options["geometry"])
        except GeometryError as exc:
            raise SpecError(f"{self.where}: {exc}") from None
        size = spec.field(self.fields[0]).size
        if size != geo.n_voxels:
            raise SpecError(
                f"{self.where}: field {self.fields[0]!r} has {size} values, geometry "
                f"{geo.name!r} {geo.n_voxels} voxels"
            )
        if self.options["condition"] not in spec.condition_names:
            raise SpecError(f"{self.where}: unknown condition {self.options['condition']!r}")
        self.slices = [geo.layer_slice(i) for i in geo.relevant_layers]
        r = geo.coordinates["r"]
        #: per layer, the voxel nearest the axis (the first of equals)
        self.anchors = [sl.start + int(np.argmin(r[sl])) for sl in self.slices]
        self.eps = float(self.options["eps"])
        if not self.eps > 0:
            raise SpecError(f"{self.where}: eps must be > 0")

    def _e_inc(self, conds) -> np.ndarray:
        return np.asarray(conds[self.options["condition"]], dtype=np.float64).reshape(-1, 1)

    def forward_field(self, name, x, conds):
        x = np.asarray(x, dtype=np.float64)
        e_inc = self._e_inc(conds)
        y = np.empty_like(x)
        logdet = np.zeros(len(x))
        for sl, anchor in zip(self.slices, self.anchors, strict=True):
            block = x[:, sl]
            e_layer = block.sum(axis=1, keepdims=True)
            y[:, sl] = block / (e_layer + self.eps)
            y[:, anchor] = e_layer[:, 0] / e_inc[:, 0]
            k = sl.stop - sl.start
            logdet -= (k - 1) * np.log(e_layer[:, 0] + self.eps) + np.log(e_inc[:, 0])
        return y, logdet

    def inverse_field(self, name, y, conds):
        y = np.asarray(y, dtype=np.float64)
        e_inc = self._e_inc(conds)
        x = np.empty_like(y)
        for sl, anchor in zip(self.slices, self.anchors, strict=True):
            e_layer = y[:, anchor : anchor + 1] * e_inc
            x[:, sl] = y[:, sl] * (e_layer + self.eps)
            x[:, anchor] = 0.0  # so that the sum below is over the others
            x[:, anchor] = e_layer[:, 0] - x[:, sl].sum(axis=1)
        return x


def preprocessing_chain(
    geometry: str | Geometry,
    kind: str = "logit",
    *,
    field: str = "showers",
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """The transform chain ``kind`` (``logit``, ``log`` or ``layers``) for showers of
    ``geometry``, read out at ``threshold`` MeV (default the geometry's
    ``readout_threshold``; 0: none, no readout step); see the module docstring."""
    geo = get_geometry(geometry)
    if kind not in CHAINS:
        raise SpecError(f"unknown calo preprocessing {kind!r} (known: {', '.join(CHAINS)})")
    threshold = geo.readout_threshold if threshold is None else float(threshold)
    readout = (
        [{"type": "calo.readout_threshold", "field": field, "threshold": threshold}]
        if threshold > 0
        else []
    )
    return readout + _transforms(geo, kind, field)


def _transforms(geo: Geometry, kind: str, field: str) -> list[dict[str, Any]]:
    """The chain ``kind`` after the readout step."""
    norm = {
        "type": "normalise_by_condition",
        "field": field,
        "condition": "incident_energies",
    }
    if kind == "log":
        # high: a generated outlier in log space comes back at most LOGIT_HIGH x E_inc
        log = {"type": "log", "field": field, "eps": 1e-7, "high": LOGIT_HIGH}
        return [norm, log, {"type": "standardise"}]
    first = (
        norm
        if kind == "logit"
        else {"type": "calo.layer_fractions", "field": field, "geometry": geo.name}
    )
    return [
        first,
        {"type": "logit", "field": field, "low": 0.0, "high": LOGIT_HIGH, "alpha": 1e-6},
        {"type": "standardise"},
    ]


def default_chain(
    geometry: str | Geometry, *, threshold: float | None = None
) -> list[dict[str, Any]]:
    """What ``calo.gflash`` offers generators by default: the ``logit`` chain, read out at
    the simulator's threshold."""
    return preprocessing_chain(geometry, "logit", threshold=threshold)


# -- the alpha symmetry ---------------------------------------------------------------------
def alpha_period(geometry: str | Geometry) -> int:
    """``P``: rotations about the shower axis by ``2 pi / P`` map every alpha-binned layer's
    bins onto bins (``P`` = gcd of their ``n_alpha``; 1 without such layers).  Polar layers
    only: a Cartesian grid (CaloGAN) is not binned in alpha."""
    geo = get_geometry(geometry)
    if any(isinstance(layer, CartesianLayer) for layer in geo.layers):
        raise GeometryError(f"geometry {geo.name!r} has Cartesian layers: no alpha bins to rotate")
    return math.gcd(*(geo.layers[i].n_alpha for i in geo.alpha_layers)) if geo.alpha_layers else 1


def rotate_alpha(showers: np.ndarray, geometry: str | Geometry, shifts: np.ndarray) -> np.ndarray:
    """Each shower rotated about its axis by ``shifts[i] * 2 pi / P`` (:func:`alpha_period`):
    in a layer of ``n_alpha`` bins, bin ``a`` moves to ``(a + shifts[i] n_alpha / P) mod
    n_alpha``; layers with one alpha bin are unchanged.  E_layer, EC_r, W_r and sparsity
    are invariant; (EC_eta, EC_phi) turn by the same angle."""
    geo = get_geometry(geometry)
    period = alpha_period(geo)
    x = np.array(showers, copy=True)
    shifts = np.broadcast_to(np.asarray(shifts, dtype=np.int64), (len(x),))
    rows = np.arange(len(x))[:, None]
    for layer_id in geo.alpha_layers:
        grid = geo.layer_grid(x, layer_id)  # (N, n_alpha, n_r)
        n_alpha = grid.shape[1]
        source = (np.arange(n_alpha)[None, :] - shifts[:, None] * (n_alpha // period)) % n_alpha
        x[:, geo.layer_slice(layer_id)] = grid[rows, source].reshape(len(x), -1)
    return x


def augment_alpha(
    events: Events, geometry: str | Geometry, *, copies: int = 1, seed: int | None = None
) -> Events:
    """``events`` followed by ``copies`` copies of them, each shower rotated by a uniformly
    drawn multiple of ``2 pi / P`` (:func:`rotate_alpha`): training data for a model of
    showers whose distribution has that symmetry.  ``calo.gflash``'s has it exactly (phi is
    uniform); the challenge's datasets 2 and 3 up to the cylinder's curvature; for Geant4
    dataset-1 showers it is not to be assumed (ATLAS's eta and phi directions need not be
    equivalent: the accordion, the magnetic field)."""
    geo = get_geometry(geometry)
    period = alpha_period(geo)
    if copies < 0:
        raise SpecError(f"augment_alpha: copies must be >= 0, not {copies}")
    rng = np.random.default_rng(seed)
    parts = [events]
    for _ in range(copies):
        shifts = rng.integers(0, period, len(events))
        fields = dict(events.fields) | {"showers": rotate_alpha(events["showers"], geo, shifts)}
        parts.append(Events(fields, dict(events.conditions), events.spec))
    return Events.concatenate(parts)
