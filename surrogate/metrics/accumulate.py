"""Statistics that merge, for metrics computed shard by shard.

A validation of 10^7 events cannot hold its three samples; the metrics that reduce to
sums do not need to.  Two accumulators cover the generic ones:

- :class:`ObservableHistograms`: per observable, counts on edges fixed before the pass
  (from a pilot shard of the reference) with under/overflow bins, and the observable's
  mean and variance: the separation power, and the binned Wasserstein-1 and KS
  statistics (:func:`surrogate.metrics.functional.binned_wasserstein1`,
  :func:`~surrogate.metrics.functional.binned_ks`).
- :class:`FeatureMoments`: count, mean and covariance of a feature matrix, its
  per-feature max |x| (FPD's normalisation), and the same moments of
  :data:`FPD_GROUPS` interleaved groups of the events, from whose spread the Fréchet
  distance's finite-size bias and error are estimated.

Means and covariances merge with Chan, Golub and LeVeque's pairwise formulas in float64
(exact up to rounding, whatever the shard sizes); counts merge by addition, which is
exact.  The size of either is independent of the number of events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

import numpy as np

from . import functional as F
from .base import Accumulator, MetricError, Sample

#: interleaved groups of events whose moments FPD keeps beside the whole sample's
FPD_GROUPS = 10


@dataclass
class Moments:
    """Count, mean and the sum of squared deviations (``m2``: the covariance times
    ``n - 1``) of ``d`` features, in float64."""

    n: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def zeros(cls, d: int) -> Moments:
        return cls(0, np.zeros(d), np.zeros((d, d)))

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        """The moments of the rows of an ``(n, d)`` array (two passes: no cancellation)."""
        x = np.asarray(x, np.float64)
        if len(x) == 0:
            return cls.zeros(x.shape[1])
        mean = x.mean(0)
        c = x - mean
        return cls(len(x), mean, c.T @ c)

    def merge(self, other: Moments) -> None:
        """Chan et al.'s update: n = na + nb, mean += delta nb / n,
        m2 += m2b + delta delta^T na nb / n."""
        if other.n == 0:
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n)
        self.mean = self.mean + delta * (other.n / n)
        self.n = n

    @property
    def covariance(self) -> np.ndarray:
        """The covariance with ``ddof=1``, as ``np.cov``."""
        if self.n < 2:
            raise MetricError("a covariance needs two events")
        return self.m2 / (self.n - 1)


@dataclass
class Histogram:
    """Counts on fixed ``edges`` (``overflow``: two more bins for what lies outside, as
    :func:`surrogate.metrics.functional.bin_index` numbers them, and ``beyond``: the sum
    and sum of squares of the finite values' distances past the edge they crossed, below
    and above, so a distance can place that mass where it lies rather than at the edge)."""

    edges: np.ndarray
    overflow: bool
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    beyond: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))

    def __post_init__(self) -> None:
        if len(self.counts) == 0:
            self.counts = np.zeros(len(self.edges) + 1 if self.overflow else len(self.edges) - 1)

    def add(self, values: np.ndarray) -> None:
        index = F.bin_index(values, self.edges, overflow=self.overflow)
        self.counts = self.counts + F.counts(index, len(self.counts))
        if self.overflow:
            v = values[np.isfinite(values)]
            for side, d in enumerate(
                (self.edges[0] - v[v < self.edges[0]], v[v >= self.edges[-1]] - self.edges[-1])
            ):
                self.beyond[side] += (d.sum(), (d * d).sum())

    def merge(self, other: Histogram) -> None:
        self.counts = self.counts + other.counts
        self.beyond = self.beyond + other.beyond

    def tails(self) -> np.ndarray:
        """Mean and standard deviation of the distances past the lower and upper edge
        (rows), zero where nothing lies beyond."""
        n = np.maximum(self.counts[[0, -1]], 1.0)
        mean = self.beyond[:, 0] / n
        std = np.sqrt(np.maximum(self.beyond[:, 1] / n - mean**2, 0.0))
        return np.stack([mean, std], axis=1)


class ObservableHistograms(Accumulator):
    """Per observable, a :class:`Histogram` and the 1-D :class:`Moments`."""

    def __init__(
        self,
        edges: Mapping[str, tuple[np.ndarray, bool]],
        groups: Mapping[str, str | None],
    ) -> None:
        self.groups = dict(groups)
        self.histograms = {k: Histogram(np.asarray(e), o) for k, (e, o) in edges.items()}
        self.moments = {k: Moments.zeros(1) for k in edges}

    @property
    def names(self) -> list[str]:
        return list(self.histograms)

    def empty(self) -> Self:
        edges = {k: (h.edges, h.overflow) for k, h in self.histograms.items()}
        return type(self)(edges, self.groups)

    def add(self, sample: Sample) -> None:
        for name, hist in self.histograms.items():
            if name not in sample.observables:
                raise MetricError(f"observable {name!r} missing in sample {sample.label!r}")
            values = sample.observables[name].values
            hist.add(values)
            self.moments[name].merge(Moments.of(values[:, None]))

    def merge(self, other: Self) -> None:
        for name, hist in self.histograms.items():
            hist.merge(other.histograms[name])
            self.moments[name].merge(other.moments[name])

    def std(self, name: str) -> float:
        """The observable's standard deviation (``ddof=0``, as ``np.std``)."""
        m = self.moments[name]
        return float(np.sqrt(m.m2[0, 0] / m.n)) if m.n else 0.0


class FeatureMoments(Accumulator):
    """Moments of the feature matrix ``features``, of each of ``groups`` interleaved
    groups of its events (event ``j`` of a shard in group ``j mod groups``), and its
    per-feature max |x|."""

    def __init__(self, features: str, d: int, groups: int = FPD_GROUPS) -> None:
        self.features, self.d = features, int(d)
        self.total = Moments.zeros(self.d)
        self.parts = [Moments.zeros(self.d) for _ in range(int(groups))]
        self.absmax = np.zeros(self.d)

    def empty(self) -> Self:
        return type(self)(self.features, self.d, len(self.parts))

    def add(self, sample: Sample) -> None:
        x = sample.feature_matrix(self.features)
        if x.shape[1] != self.d:
            raise MetricError(
                f"feature set {self.features!r} has {x.shape[1]} columns in sample "
                f"{sample.label!r}, {self.d} in the pilot"
            )
        self.total.merge(Moments.of(x))
        for g, part in enumerate(self.parts):
            part.merge(Moments.of(x[g :: len(self.parts)]))
        if len(x):
            self.absmax = np.maximum(self.absmax, np.abs(x).max(0))

    def merge(self, other: Self) -> None:
        self.total.merge(other.total)
        for mine, theirs in zip(self.parts, other.parts, strict=True):
            mine.merge(theirs)
        self.absmax = np.maximum(self.absmax, other.absmax)
