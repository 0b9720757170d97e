"""The generic metrics of the core: per-observable histogram separation power,
Wasserstein-1 and Kolmogorov-Smirnov; multivariate FPD, KPD and MMD.  (The classifier
test is in :mod:`.classifier`.)  Conventions are in :mod:`.functional`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import functional as F
from .base import Metric, MetricError, MetricResult, Observable, Sample, summarise


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
    resamplings of both samples (0: no error)."""

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

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        rng = np.random.default_rng(seed)
        per, err, details = {}, {}, {}
        for name in self._names(reference, generated):
            obs = reference.observables[name]
            x, y = obs.values, generated.observables[name].values
            if len(x) == 0 or len(y) == 0:
                raise MetricError(f"metric {self.name!r}: empty sample for {name!r}")
            stat = self._statistic(obs, x, y)
            per[name] = stat(None, None)
            nb = int(self.options.get("bootstrap") or 0)
            if nb > 1:
                boots = [
                    stat(rng.integers(0, len(x), len(x)), rng.integers(0, len(y), len(y)))
                    for _ in range(nb)
                ]
                err[name] = float(np.std(boots, ddof=1))
            extra = self._details(obs, x, y)
            if extra:
                details[name] = extra
        groups_of = {k: reference.observables[k].group for k in per}
        value, groups = summarise(per, groups_of)
        has_groups = any(groups_of.values())
        # the summary's error: that of the worst group's mean (bootstrap errors combined)
        worst = max(groups, key=groups.get)
        members = [k for k in per if (groups_of[k] or k) == worst]
        error = None
        if all(k in err for k in members):
            error = float(np.sqrt(sum(err[k] ** 2 for k in members)) / len(members))
        return MetricResult(
            value,
            error,
            per_observable=per,
            per_observable_error=err,
            groups=groups if has_groups else {},
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
