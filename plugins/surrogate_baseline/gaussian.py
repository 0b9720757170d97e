"""``gaussian``: a conditional multivariate Gaussian fitted in closed form.

x = W [1, c] + e with e ~ N(0, Σ): the mean is linear in the conditions and Σ is the
residual covariance.  Least squares is solved from running sums (XᵀX, XᵀY, YᵀY) so a file
larger than memory is fitted in one streaming pass.  ``log_prob`` is the exact density of
this Gaussian; samples are clipped to the spec's field bounds (voxel energies >= 0, say),
so for bounded fields the sampled density differs from ``log_prob`` at the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrogate import Surrogate
from surrogate.errors import SurrogateError
from surrogate.settings import require

#: the most the float64 copies of one batch of the fit take
FIT_BATCH_BYTES = 256 * 2**20


@dataclass(frozen=True)
class GaussianSettings:
    #: added to the covariance's diagonal, relative to its mean variance (a singular
    #: covariance, from constant voxels, would have no density)
    jitter: float = 1e-6
    #: events per streaming batch of the fit
    batch_size: int = 65536
    #: regress on log c rather than c (conditions spanning decades, like energies)
    log_conditions: bool = False

    def __post_init__(self) -> None:
        require(float(self.jitter) >= 0, f"jitter must be >= 0, not {self.jitter!r}")
        require(
            int(self.batch_size) == self.batch_size and self.batch_size >= 1,
            f"batch_size must be an integer >= 1, not {self.batch_size!r}",
        )
        require(isinstance(self.log_conditions, bool), "log_conditions must be true or false")


class GaussianSurrogate(Surrogate):
    name = "gaussian"
    version = "1.0"
    density = "exact"
    baseline = True
    settings_class = GaussianSettings

    def _design(self, conditions: dict[str, np.ndarray], n: int) -> np.ndarray:
        names = self.spec.condition_names
        cols = [np.ones(n)]
        for name in names:
            c = conditions[name]
            cols.append(np.log(c) if self.settings.log_conditions else c)
        return np.stack(cols, axis=1)

    def _fit(self, data, *, seed=None, workdir=None, progress=None, max_time=None, **options):
        # one closed-form pass over the data: no bar and no budget are needed, and the
        # training-loop options (epochs, lr...) do not apply
        if options:
            raise SurrogateError(
                "model 'gaussian' is fitted in closed form in one pass: training-loop "
                f"options do not apply ({', '.join(sorted(options))})"
            )
        xtx = xty = yty = None
        n_total = 0
        size = self._fit_batch()
        for start in range(0, len(data), size):
            batch = data[start : start + size]
            n = len(batch)
            X = self._design(batch.conditions, n)
            Y = self.spec.flatten(batch.fields).astype(np.float64)
            if xtx is None:
                xtx, xty, yty = X.T @ X, X.T @ Y, Y.T @ Y
            else:
                xtx += X.T @ X
                xty += X.T @ Y
                yty += Y.T @ Y
            n_total += n
        if n_total < 2:
            raise SurrogateError("model 'gaussian' needs at least 2 training events")
        W = np.linalg.lstsq(xtx, xty, rcond=None)[0]
        cov = (yty - W.T @ xtx @ W) / max(n_total - X.shape[1], 1)
        cov = 0.5 * (cov + cov.T)
        scale = float(np.mean(np.diag(cov))) or 1.0
        cov += float(self.settings.jitter) * scale * np.eye(len(cov))
        self._set(W, cov)

    def _fit_batch(self) -> int:
        """Events per batch of the fit: ``batch_size``, or fewer where their float64
        copies would pass :data:`FIT_BATCH_BYTES` (65536 showers of 6480 voxels would take
        3.4 GB).  A fixed cap, not the memory free at the time, so the same data give the
        same model to the last bit, which only this batching's rounding could change."""
        per_event = 16 * (self.spec.event_size + len(self.spec.condition_names) + 1)
        return max(1, min(int(self.settings.batch_size), FIT_BATCH_BYTES // per_event))

    def _set(self, W: np.ndarray, cov: np.ndarray) -> None:
        self.W, self.cov = W, cov
        self.chol = np.linalg.cholesky(cov)
        self.logdet = 2 * np.log(np.diag(self.chol)).sum()

    def _sample(self, n, conditions, rng):
        mean = self._design(conditions, n) @ self.W
        flat = mean + rng.standard_normal((n, len(self.cov))) @ self.chol.T
        out = self.spec.unflatten(flat)
        for f in self.spec.fields:
            if f.low is not None or f.high is not None:
                out[f.name] = np.clip(out[f.name], f.low, f.high)
        return out

    def _log_prob(self, events):
        n = len(events)
        flat = self.spec.flatten(events.fields).astype(np.float64)
        resid = flat - self._design(events.conditions, n) @ self.W
        z = np.linalg.solve(self.chol, resid.T)
        d = len(self.cov)
        return -0.5 * (z**2).sum(0) - 0.5 * self.logdet - 0.5 * d * np.log(2 * np.pi)

    def _state(self):
        return {"W": self.W, "cov": self.cov}

    def _load_state(self, state):
        self._set(state["W"], state["cov"])
