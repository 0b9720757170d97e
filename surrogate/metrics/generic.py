"""The generic metrics of the core: per-observable histogram separation power,
Wasserstein-1 and Kolmogorov-Smirnov; multivariate FPD, KPD and MMD.  (The classifier
test is in :mod:`.classifier`.)  Conventions are in :mod:`.functional`.

Separation power, W1, KS and FPD also merge (:mod:`.accumulate`): at scale they see every
event through histograms and moments summed over shards; W1 and KS are then binned (on
:data:`BINNED_EDGES` quantile bins of a pilot shard), each with its discretisation bound
in the details.  KPD and MMD need events and run on a subsample there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import functional as F
from .accumulate import FeatureMoments, Moments, ObservableHistograms
from .base import Metric, MetricError, MetricResult, Observable, Sample, summarise

#: bins (quantiles of the pilot shard) of the merged histograms of W1 and KS at scale
BINNED_EDGES = 1000


def observable_edges(
    obs: Observable, reference: np.ndarray, n_bins: int
) -> tuple[np.ndarray, bool]:
    """(edges, overflow) for an observable: its fixed edges (no overflow, as the
    CaloChallenge histograms), else automatic edges over the reference with overflow."""
    if obs.bins is not None and not isinstance(obs.bins, (int, np.integer)):
        return np.asarray(obs.bins), False
    nb = int(obs.bins) if obs.bins is not None else int(n_bins)
    return F.auto_edges(reference, nb, log=obs.log), True


class PerObservableMetric(Metric):
    """One value per observable (present in both samples); the summary is the worst group
    mean.  ``bootstrap``: the error is the standard deviation over that many bootstrap
    resamplings of both samples (0: no error).

    At scale (:meth:`accumulator`, :meth:`finalize`) the values come from histograms
    merged over shards, on edges fixed on a pilot shard of the reference
    (:meth:`_pilot_edges`); a bootstrap resampling of a histogram is a multinomial draw
    of its counts, which is what resampling its events would give."""

    inputs = "observables"
    defaults = {"bootstrap": 10, "observables": None}

    def _names(self, reference: Sample, generated: Sample) -> list[str]:
        wanted = self.options.get("observables")
        names = list(reference.observables) if wanted is None else list(wanted)
        missing = [
            n for n in names if n not in reference.observables or n not in generated.observables
        ]
        if missing:
            raise MetricError(
                f"metric {self.name!r}: observable {missing[0]!r} missing in a sample"
            )
        if not names:
            raise MetricError(f"metric {self.name!r}: no observables")
        return names

    def _statistic(self, obs: Observable, x: np.ndarray, y: np.ndarray) -> Callable:
        """Return f(ix, iy) -> value for bootstrap index arrays (None: the full samples)."""
        raise NotImplementedError

    def _details(self, obs: Observable, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        return {}

    def _pilot_edges(self, obs: Observable) -> tuple[np.ndarray, bool]:
        """(edges, overflow) of the merged histogram of ``obs``, from the pilot's values."""
        return F.quantile_edges(obs.values, BINNED_EDGES), True

    def _binned(
        self, reference: ObservableHistograms, generated: ObservableHistograms, name: str
    ) -> Callable:
        """Return f(a, b) -> value for two histograms' counts of ``name`` on its edges
        (resampled counts in the bootstrap: ``generated`` gives what else is needed)."""
        raise NotImplementedError

    def _binned_details(
        self, reference: ObservableHistograms, generated: ObservableHistograms, name: str
    ) -> dict[str, Any]:
        return {}

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        rng = np.random.default_rng(seed)
        names = self._names(reference, generated)
        for name in names:
            if (
                len(reference.observables[name].values) == 0
                or len(generated.observables[name].values) == 0
            ):
                raise MetricError(f"metric {self.name!r}: empty sample for {name!r}")

        def statistic(name: str) -> tuple[Callable, Callable[[], tuple]]:
            obs = reference.observables[name]
            x, y = obs.values, generated.observables[name].values
            return self._statistic(obs, x, y), lambda: (
                rng.integers(0, len(x), len(x)),
                rng.integers(0, len(y), len(y)),
            )

        def details(name: str) -> dict[str, Any]:
            obs = reference.observables[name]
            return self._details(obs, obs.values, generated.observables[name].values)

        groups_of = {k: reference.observables[k].group for k in names}
        return self._evaluate(names, statistic, details, groups_of)

    def accumulator(self, pilot: Sample) -> ObservableHistograms:
        names = self._names(pilot, pilot)
        return ObservableHistograms(
            {k: self._pilot_edges(pilot.observables[k]) for k in names},
            {k: pilot.observables[k].group for k in names},
        )

    def finalize(self, reference, generated, *, seed=0, device="cpu"):
        rng = np.random.default_rng(seed)
        for name in reference.names:
            if not reference.moments[name].n or not generated.moments[name].n:
                raise MetricError(f"metric {self.name!r}: empty sample for {name!r}")

        def statistic(name: str) -> tuple[Callable, Callable[[], tuple]]:
            a, b = reference.histograms[name].counts, generated.histograms[name].counts
            binned = self._binned(reference, generated, name)

            def stat(ra: np.ndarray | None, rb: np.ndarray | None) -> float:
                return binned(a if ra is None else ra, b if rb is None else rb)

            return stat, lambda: (
                rng.multinomial(int(a.sum()), a / a.sum()).astype(np.float64),
                rng.multinomial(int(b.sum()), b / b.sum()).astype(np.float64),
            )

        def details(name: str) -> dict[str, Any]:
            return self._binned_details(reference, generated, name)

        result = self._evaluate(reference.names, statistic, details, reference.groups)
        result.details["binned"] = (
            "from histograms merged over shards, on edges fixed on a pilot shard of the "
            "reference; details per observable give the discretisation bound"
        )
        return result

    def _evaluate(
        self,
        names: list[str],
        statistic: Callable[[str], tuple[Callable, Callable[[], tuple]]],
        details_of: Callable[[str], dict[str, Any]],
        groups_of: dict[str, str | None],
    ) -> MetricResult:
        """Each observable's value (``stat(None, None)``) and bootstrap error (``stat``
        on ``resample()``'s draws), then the summary: the worst group mean."""
        per, err, details = {}, {}, {}
        nb = int(self.options.get("bootstrap") or 0)
        for name in names:
            stat, resample = statistic(name)
            per[name] = stat(None, None)
            if nb > 1:
                err[name] = float(np.std([stat(*resample()) for _ in range(nb)], ddof=1))
            extra = details_of(name)
            if extra:
                details[name] = extra
        value, groups = summarise(per, groups_of)
        # the summary's error: that of the worst group's mean (bootstrap errors combined)
        worst = max(groups, key=lambda g: groups[g])
        members = [k for k in per if (groups_of[k] or k) == worst]
        error = None
        if all(k in err for k in members):
            error = float(np.sqrt(sum(err[k] ** 2 for k in members)) / len(members))
        return MetricResult(
            value,
            error,
            per_observable=per,
            per_observable_error=err,
            groups=groups if any(groups_of.values()) else {},
            details={"observables": details} if details else {},
            ideal=0.0,
        )


class SeparationPower(PerObservableMetric):
    description = (
        "histogram separation power (triangular discrimination) per observable, "
        "CaloChallenge convention; summary: worst group mean"
    )
    defaults = {**PerObservableMetric.defaults, "bins": 50}

    def _statistic(self, obs, x, y):
        edges, overflow = observable_edges(obs, x, self.options["bins"])
        nb = len(edges) + 1 if overflow else len(edges) - 1
        ix_all = F.bin_index(x, edges, overflow=overflow)
        iy_all = F.bin_index(y, edges, overflow=overflow)

        def stat(ix, iy):
            a = ix_all if ix is None else ix_all[ix]
            b = iy_all if iy is None else iy_all[iy]
            return F.separation_power(F.counts(a, nb), F.counts(b, nb))

        return stat

    def _details(self, obs, x, y):
        edges, overflow = observable_edges(obs, x, self.options["bins"])
        return {"n_bins": len(edges) - 1, "overflow_bins": overflow}

    def _pilot_edges(self, obs):
        """The bins of the in-memory path, here over the pilot's values."""
        return observable_edges(obs, obs.values, self.options["bins"])

    def _binned(self, reference, generated, name):
        return F.separation_power

    def _binned_details(self, reference, generated, name):
        hist = reference.histograms[name]
        return {"n_bins": len(hist.edges) - 1, "overflow_bins": hist.overflow}


class Wasserstein1(PerObservableMetric):
    description = (
        "1-D Wasserstein-1 distance per observable, in units of the reference's standard "
        "deviation (raw value in the details); summary: worst group mean"
    )

    def _statistic(self, obs, x, y):
        scale = float(np.std(x)) or 1.0

        def stat(ix, iy):
            a = x if ix is None else x[ix]
            b = y if iy is None else y[iy]
            return F.wasserstein1(a, b) / scale

        return stat

    def _details(self, obs, x, y):
        return {"w1_raw": F.wasserstein1(x, y), "reference_std": float(np.std(x))}

    def _binned(self, reference, generated, name):
        hist, scale = reference.histograms[name], reference.std(name) or 1.0
        tails = (hist.tails(), generated.histograms[name].tails())

        def stat(a, b):
            w1 = F.binned_wasserstein1(hist.edges, a, b, overflow=hist.overflow, tails=tails)
            return w1[0] / scale

        return stat

    def _binned_details(self, reference, generated, name):
        hist, std = reference.histograms[name], reference.std(name)
        a, b = hist.counts, generated.histograms[name].counts
        tails = (hist.tails(), generated.histograms[name].tails())
        raw, bound = F.binned_wasserstein1(hist.edges, a, b, overflow=hist.overflow, tails=tails)
        return {
            "w1_raw": raw,
            "reference_std": std,
            "bin_bound": bound / (std or 1.0),
            "outside_edges": _outside(a, b),
            "n_bins": len(hist.edges) - 1,
        }


class KolmogorovSmirnov(PerObservableMetric):
    description = (
        "two-sample Kolmogorov-Smirnov statistic D per observable (asymptotic p-value in "
        "the details); summary: worst group mean"
    )

    def _statistic(self, obs, x, y):
        def stat(ix, iy):
            a = x if ix is None else x[ix]
            b = y if iy is None else y[iy]
            return F.ks_statistic(a, b)[0]

        return stat

    def _details(self, obs, x, y):
        return {"p_value": F.ks_statistic(x, y)[1]}

    def _binned(self, reference, generated, name):
        overflow = reference.histograms[name].overflow
        return lambda a, b: F.binned_ks(a, b, overflow=overflow)[0]

    def _binned_details(self, reference, generated, name):
        hist = reference.histograms[name]
        a, b = hist.counts, generated.histograms[name].counts
        d, bound = F.binned_ks(a, b, overflow=hist.overflow)
        return {
            "p_value": F.ks_p_value(d, int(a.sum()), int(b.sum())),
            "bin_bound": bound,
            "n_bins": len(hist.edges) - 1,
        }


def _outside(reference: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """The shares of each sample in the overflow bins (outside the pilot's range)."""
    return {
        "reference": float((reference[0] + reference[-1]) / reference.sum()),
        "generated": float((generated[0] + generated[-1]) / generated.sum()),
    }


class FeatureMetric(Metric):
    inputs = "features"

    def _pair(self, reference: Sample, generated: Sample) -> tuple[np.ndarray, np.ndarray]:
        name = self.options.get("features", "default")
        x, y = reference.feature_matrix(name), generated.feature_matrix(name)
        if x.shape[1] != y.shape[1]:
            raise MetricError(
                f"metric {self.name!r}: feature set {name!r} has {x.shape[1]} columns in the "
                f"reference and {y.shape[1]} in the generated sample"
            )
        return x, y

    def _function_options(self) -> dict[str, Any]:
        """The options passed on to the metric's function (all but the feature set's
        name): the option names are the function's keyword arguments."""
        return {k: v for k, v in self.options.items() if k != "features"}


class FrechetPhysicsDistance(FeatureMetric):
    description = (
        "Fréchet physics distance (arXiv:2211.10295, JetNet conventions, CaloChallenge "
        "min_samples=10000): extrapolated to infinite sample size, with its fit error; x10^3"
    )
    defaults = {
        "features": "default",
        "min_samples": 10_000,
        "max_samples": 50_000,
        "num_batches": 20,
        "num_points": 10,
        "normalise": True,
        "seed": 42,
    }

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        x, y = self._pair(reference, generated)
        value, err, details = F.fpd(x, y, **self._function_options(), device=device)
        details["n_features"] = int(x.shape[1])
        return MetricResult(value, err, details=details, ideal=0.0, display_scale=1e3)

    def accumulator(self, pilot: Sample) -> FeatureMoments:
        name = self.options.get("features", "default")
        return FeatureMoments(name, pilot.feature_matrix(name).shape[1])

    def finalize(self, reference, generated, *, seed=0, device="cpu"):
        """The Fréchet distance of the whole samples' Gaussians and of each of their
        :data:`~surrogate.metrics.accumulate.FPD_GROUPS` interleaved groups (N/10
        events each), a line in 1/N fitted through them as JetNet fits its batches, and
        extrapolated to N -> infinity.  The error is the groups' batch-means error,
        their standard deviation over the square root of their number: the spread of
        independent sub-samples says how much the whole samples' distance would move
        (the fit's own error, which takes the groups as independent of the whole, and
        JetNet's, from batches redrawn from one sample, do not)."""
        if reference.d != generated.d:
            raise MetricError(
                f"metric {self.name!r}: feature set {reference.features!r} has {reference.d} "
                f"columns in the reference and {generated.d} in the generated sample"
            )
        scale = np.ones(reference.d)
        if self.options["normalise"]:
            scale = np.where(reference.absmax > 0, reference.absmax, 1.0)
        pairs = [
            (a, b)
            for a, b in zip(reference.parts, generated.parts, strict=True)
            if min(a.n, b.n) >= 2
        ]
        pairs.append((reference.total, generated.total))
        inverse = np.array([0.5 * (1 / a.n + 1 / b.n) for a, b in pairs])
        values = np.array([_frechet(a, b, scale) for a, b in pairs])
        details: dict[str, Any] = {
            "n_reference": reference.total.n,
            "n_generated": generated.total.n,
            "fd_whole": float(values[-1]),
            "n_features": reference.d,
            "normalise": self.options["normalise"],
        }
        if len(pairs) < 4:  # too few events for groups: the whole samples' distance
            return MetricResult(float(values[-1]), None, details=details, display_scale=1e3)
        value, slope, _ = F._line_fit(inverse, values)
        groups = values[:-1]
        err = float(np.std(groups, ddof=1) / np.sqrt(len(groups)))
        details |= {"slope": slope, "group_fd": groups.tolist()}
        return MetricResult(value, err, details=details, ideal=0.0, display_scale=1e3)


def _frechet(a: Moments, b: Moments, scale: np.ndarray) -> float:
    """The Fréchet distance of two moments' Gaussians, features divided by ``scale``."""
    s2 = np.outer(scale, scale)
    return F.frechet_distance(a.mean / scale, a.covariance / s2, b.mean / scale, b.covariance / s2)


class KernelPhysicsDistance(FeatureMetric):
    description = (
        "kernel physics distance (arXiv:2211.10295, JetNet conventions, CaloChallenge "
        "batch_size=10000): unbiased MMD^2, polynomial kernel of degree 4, gamma = 1/d; "
        "median and half the 16-84% spread over batches; x10^3"
    )
    defaults = {
        "features": "default",
        "num_batches": 10,
        "batch_size": 10_000,
        "degree": 4,
        "normalise": True,
        "seed": 42,
    }

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        x, y = self._pair(reference, generated)
        value, err, details = F.kpd(x, y, **self._function_options(), device=device)
        return MetricResult(value, err, details=details, ideal=0.0, display_scale=1e3)


class MaximumMeanDiscrepancy(FeatureMetric):
    description = (
        "unbiased MMD^2 with a Gaussian kernel (features standardised by the reference, "
        "median-heuristic bandwidth); median and half the 16-84% spread over batches"
    )
    defaults = {
        "features": "default",
        "num_batches": 10,
        "batch_size": 5_000,
        "bandwidth": None,
        "seed": 42,
    }

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        x, y = self._pair(reference, generated)
        value, err, details = F.mmd(x, y, **self._function_options(), device=device)
        return MetricResult(value, err, details=details, ideal=0.0)
