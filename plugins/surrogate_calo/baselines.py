"""Cut-based anomaly scores of showers: what a calorimeter group checks before any learned
model, and what a learned score must beat to be worth its cost.

- :class:`ResponseCut`: the energy response ``E_tot / E_inc`` (a miscalibration, a dead
  region, a leak all move it), scored as its two-sided distance from the background's
  median at the shower's incident energy in units of the background's spread there;
- :class:`LayerCut`: the longitudinal profile, ``log(E_layer / E_inc)`` per layer, each
  standardised the same way, the score the largest ``|z|`` over the layers: an event
  passes a box cut at ``z`` on every layer exactly when its score is below ``z``.

Both are conditional on the incident energy (the response's spread falls like
``1/sqrt(E)``, the layer fractions move with the shower maximum ``~ ln E``): the mean
and the standard deviation of each feature are estimated in bins of ``log E_inc`` of the
background sample (one bin per energy where the energies are discrete, as in dataset 1)
and interpolated linearly in ``log E_inc`` between the bins' centres.  Not the median
and a quantile spread: the deep layers of many showers are empty (a point mass at
``log 1e-8``), which gives a quantile spread of zero and background scores of 1e8.  An
empty layer is ``E_layer + 1e-8 MeV``, the challenge's ``log10(E_layer + 1e-8)``.
Features are the challenge's (:func:`~surrogate_calo.features.high_level_features`, with
the geometry's cut).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from surrogate.errors import SurrogateError
from surrogate.events import Events

from .features import EPS_LOG, high_level_features
from .geometry import Geometry, get_geometry

#: bins of log E_inc the bands are estimated in (fewer where the energies are discrete)
BINS = 10
#: a spread below this (relative to the mean's size) is taken as this: a constant
#: feature would otherwise give infinite scores
MIN_SPREAD = 1e-9


@dataclass(frozen=True)
class ConditionalBands:
    """Mean and spread (standard deviation) of per-event features (columns) against
    ``log E_inc``."""

    log_e: np.ndarray  # (B,) bin centres
    mean: np.ndarray  # (B, K)
    spread: np.ndarray  # (B, K)

    @classmethod
    def fit(cls, values: np.ndarray, e_inc: np.ndarray, bins: int = BINS) -> ConditionalBands:
        """The bands of ``values`` (N, K) over ``bins`` quantile bins of ``log e_inc``."""
        x, log_e = np.asarray(values, np.float64), np.log(np.asarray(e_inc, np.float64))
        groups = _bins(log_e, bins)
        centres = np.array([np.median(log_e[g]) for g in groups])
        mean = np.stack([x[g].mean(axis=0) for g in groups])
        std = np.stack([x[g].std(axis=0) for g in groups])
        return cls(centres, mean, np.maximum(std, MIN_SPREAD * (np.abs(mean) + 1)))

    def z(self, values: np.ndarray, e_inc: np.ndarray) -> np.ndarray:
        """Standardised deviations ``(x - mean(E)) / spread(E)``, (N, K)."""
        x, log_e = np.asarray(values, np.float64), np.log(np.asarray(e_inc, np.float64))
        at = [self._at(log_e, a) for a in (self.mean, self.spread)]
        return (x - at[0]) / at[1]

    def _at(self, log_e: np.ndarray, table: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(log_e, self.log_e, col) for col in table.T], axis=1)


def _bins(log_e: np.ndarray, bins: int) -> list[np.ndarray]:
    """Indices of each bin: one per distinct energy when there are at most ``bins``,
    else ``bins`` quantile bins."""
    if len(log_e) < 2 * bins:
        raise SurrogateError(f"a cut baseline needs at least {2 * bins} background showers")
    values = np.unique(log_e)
    if len(values) <= bins:
        return [np.flatnonzero(log_e == v) for v in values]
    edges = np.quantile(log_e, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, log_e, side="right") - 1, 0, bins - 1)
    return [np.flatnonzero(which == b) for b in range(bins) if np.any(which == b)]


def response(events: Events, geometry: Geometry) -> np.ndarray:
    """``E_tot / E_inc`` of each shower, (N, 1)."""
    hlf = high_level_features(events["showers"], events["incident_energies"], geometry)
    return (hlf.e_tot / hlf.e_inc)[:, None]


def layer_fractions(events: Events, geometry: Geometry) -> np.ndarray:
    """``log((E_layer + 1e-8 MeV) / E_inc)`` per layer holding voxels, (N, L)."""
    hlf = high_level_features(events["showers"], events["incident_energies"], geometry)
    cols = [np.log((hlf.e_layer[i] + EPS_LOG) / hlf.e_inc) for i in geometry.relevant_layers]
    return np.stack(cols, axis=1)


class CutBaseline:
    """A cut on features of the showers, fitted on a background sample (:meth:`fit`),
    scoring events by the largest standardised distance of their features (:meth:`score`:
    higher is more anomalous, as a model's ``anomaly_score``)."""

    name = ""
    features: Callable[[Events, Geometry], np.ndarray]

    def __init__(self, geometry: str | Geometry, bins: int = BINS) -> None:
        self.geometry = get_geometry(geometry)
        self.bins = int(bins)
        self.bands: ConditionalBands | None = None

    def fit(self, background: Events) -> CutBaseline:
        values = type(self).features(background, self.geometry)
        self.bands = ConditionalBands.fit(values, background["incident_energies"], self.bins)
        return self

    def score(self, events: Events) -> np.ndarray:
        if self.bands is None:
            raise SurrogateError(f"the {self.name} baseline: fit it on a background first")
        z = self.bands.z(type(self).features(events, self.geometry), events["incident_energies"])
        return np.abs(z).max(axis=1)


class ResponseCut(CutBaseline):
    """``|E_tot/E_inc - mean(E_inc)| / spread(E_inc)`` (module docstring)."""

    name = "E_tot/E_inc"
    features = staticmethod(response)


class LayerCut(CutBaseline):
    """The largest ``|z|`` of ``log(E_layer/E_inc)`` over the layers (module docstring)."""

    name = "layers"
    features = staticmethod(layer_fractions)


#: the baselines by the name the benchmark gives them
BASELINES: dict[str, type[CutBaseline]] = {c.name: c for c in (ResponseCut, LayerCut)}
