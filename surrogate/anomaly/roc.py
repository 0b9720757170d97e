"""The figures of merit of an anomaly search: how well a score separates a labelled
anomaly sample (signal) from the background, higher scores meaning more anomalous.

The AUC is the Mann-Whitney statistic with its Hanley-McNeil error
(:func:`surrogate.metrics.classifier.roc_auc`); a search quotes instead the signal
efficiency at a fixed background efficiency (1e-2, 1e-3: a trigger or a cut keeps that
fraction of the background).  Its error comes from a bootstrap of both samples, because
the threshold is itself a background quantile with its own uncertainty; a working point
with fewer than :data:`MIN_BACKGROUND` background events above the threshold is not
quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import SurrogateError
from ..metrics.classifier import auc_error, roc_auc

#: background events the threshold of a working point must leave above it to be quoted
MIN_BACKGROUND = 10
WORKING_POINTS = (1e-2, 1e-3)


def _scores(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise SurrogateError(f"{what}: no scores")
    if not np.isfinite(arr).all():
        raise SurrogateError(f"{what}: NaN scores (a score of +inf is allowed, NaN is not)")
    return arr


def efficiency_at(background: np.ndarray, signal: np.ndarray, working_point: float) -> float:
    """The fraction of ``signal`` above the threshold that keeps the fraction
    ``working_point`` of ``background`` (ties at the threshold are not kept, so the
    background kept is at most the working point)."""
    threshold = np.quantile(background, 1 - working_point, method="higher")
    return float(np.mean(signal > threshold))


def roc_curve(background: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background and signal efficiencies at every threshold, from keeping nothing to
    keeping everything (for plotting)."""
    b, s = _scores(background, "background"), _scores(signal, "signal")
    thresholds = np.unique(np.concatenate([b, s]))[::-1]
    bkg = np.searchsorted(np.sort(b), thresholds, side="left")
    sig = np.searchsorted(np.sort(s), thresholds, side="left")
    return (
        np.concatenate([[0.0], 1 - bkg / len(b)]),
        np.concatenate([[0.0], 1 - sig / len(s)]),
    )


@dataclass(frozen=True)
class RocSummary:
    """AUC and signal efficiencies at fixed background efficiencies, with errors;
    ``efficiency[wp]`` is ``None`` where the background sample is too small to say."""

    auc: float
    auc_error: float
    n_background: int
    n_signal: int
    efficiency: dict[float, float | None] = field(default_factory=dict)
    efficiency_error: dict[float, float | None] = field(default_factory=dict)

    def row(self) -> dict[str, float | int | None]:
        """Flat values for a table or JSON."""
        out: dict[str, float | int | None] = {
            "auc": self.auc,
            "auc_error": self.auc_error,
            "n_background": self.n_background,
            "n_signal": self.n_signal,
        }
        for wp, eff in self.efficiency.items():
            out[f"eff_sig@{wp:g}"] = eff
            out[f"eff_sig@{wp:g}_error"] = self.efficiency_error[wp]
        return out


def roc_summary(
    background: np.ndarray,
    signal: np.ndarray,
    *,
    working_points: Sequence[float] = WORKING_POINTS,
    bootstraps: int = 200,
    seed: int = 0,
) -> RocSummary:
    """How well the scores separate ``signal`` from ``background`` (see the module)."""
    b, s = _scores(background, "background"), _scores(signal, "signal")
    labels = np.concatenate([np.zeros(len(b), bool), np.ones(len(s), bool)])
    auc = roc_auc(labels, np.concatenate([b, s]))
    rng = np.random.default_rng(seed)
    eff: dict[float, float | None] = {}
    err: dict[float, float | None] = {}
    for wp in working_points:
        if wp * len(b) < MIN_BACKGROUND:
            eff[wp] = err[wp] = None
            continue
        eff[wp] = efficiency_at(b, s, wp)
        draws = [
            efficiency_at(rng.choice(b, len(b)), rng.choice(s, len(s)), wp)
            for _ in range(int(bootstraps))
        ]
        err[wp] = float(np.std(draws, ddof=1)) if len(draws) > 1 else None
    return RocSummary(auc, auc_error(auc, len(s), len(b)), len(b), len(s), eff, err)
