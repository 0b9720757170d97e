"""Isotonic regression (pool-adjacent-violators), enough of scikit-learn's
``IsotonicRegression(out_of_bounds="clip", y_min, y_max)`` for classifier calibration.

Written here rather than adding scikit-learn (a large dependency) for one function:
duplicate x values are pooled first (weighted mean), then PAV gives the non-decreasing
least-squares fit, clipped to ``[y_min, y_max]``; ``predict`` interpolates linearly
between the fitted points and clips outside them, as scikit-learn does.
"""

from __future__ import annotations

import numpy as np


def pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted non-decreasing least-squares fit of ``y`` (in the given order)."""
    vals: list[float] = []
    wts: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, w2, s2 = vals.pop(), wts.pop(), sizes.pop()
            wsum = wts[-1] + w2
            vals[-1] = (vals[-1] * wts[-1] + v2 * w2) / wsum
            wts[-1] = wsum
            sizes[-1] += s2
    return np.repeat(np.asarray(vals), sizes)


class IsotonicRegression:
    def __init__(self, y_min: float | None = None, y_max: float | None = None) -> None:
        self.y_min, self.y_max = y_min, y_max

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        x = np.asarray(x, np.float64).reshape(-1)
        y = np.asarray(y, np.float64).reshape(-1)
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if len(x) != len(y) or len(x) == 0:
            raise ValueError("isotonic regression needs x and y of equal, non-zero length")
        order = np.lexsort((y, x))
        x, y, w = x[order], y[order], w[order]
        ux, start = np.unique(x, return_index=True)
        wsum = np.add.reduceat(w, start)
        ymean = np.add.reduceat(y * w, start) / wsum
        fitted = pav(ymean, wsum)
        lo = -np.inf if self.y_min is None else self.y_min
        hi = np.inf if self.y_max is None else self.y_max
        self.x_thresholds_ = ux
        self.y_thresholds_ = np.clip(fitted, lo, hi)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).reshape(-1)
        if len(self.x_thresholds_) == 1:
            return np.full(len(x), self.y_thresholds_[0])
        return np.interp(x, self.x_thresholds_, self.y_thresholds_)
