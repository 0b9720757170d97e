"""The validation harness: compare a trained surrogate with ground truth (a reference
simulator or a file of reference events), every metric beside its reference-vs-reference
floor, pass/fail bounds from a config, timing, and a JSON + HTML report.

    from surrogate.validation import validate
    report = validate("models/flow", simulator="toy.gmm2d", n=100_000, out="val/")
    report.status        # "pass", "fail" or "no-bounds"

The metric interface lives in :mod:`surrogate.metrics`.
"""

from __future__ import annotations

from ..metrics.base import Metric, MetricResult, Observable, ObservableSet, Sample
from .harness import EXIT_FAILED, Report, ValidationError, validate

__all__ = [
    "EXIT_FAILED",
    "Metric",
    "MetricResult",
    "Observable",
    "ObservableSet",
    "Report",
    "Sample",
    "ValidationError",
    "validate",
]
