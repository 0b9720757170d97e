"""The mode-coverage check a generator family's tests make on ``toy.gmm2d``."""

from __future__ import annotations

from typing import Any

import numpy as np

import surrogate
from surrogate_generators.compare import mode_shares


def toy_mode_coverage(
    model: surrogate.Surrogate,
    fit_options: dict[str, Any] | None = None,
    *,
    n_train: int = 20_000,
    n_samples: int = 20_000,
    **sample_options: Any,
) -> tuple[np.ndarray, float]:
    """Train ``model`` on ``toy.gmm2d`` (seed 0) and return ``(shares, off_mode)`` of
    ``n_samples`` generated events (seed 1): each mode's share of the on-mode events and
    the fraction off every mode, as :func:`surrogate_generators.compare.mode_shares`
    counts them (1/8 per mode is perfect)."""
    sim = surrogate.simulator("toy.gmm2d")
    model.fit(sim.sample(n_train, seed=0), seed=0, progress=False, **(fit_options or {}))
    result = mode_shares(sim, model.sample(n_samples, seed=1, **sample_options))
    assert result is not None  # toy.gmm2d labels its modes
    shares, off = result
    return np.asarray(shares), off
