"""Anomaly detection with trained generators: labelled anomaly samples, per-event
scores and the figures of merit a search quotes.

A physicist looking for new physics, or for a detector fault, asks how unlike the
background an event is.  A trained generator answers through
:meth:`surrogate.Surrogate.anomaly_score` (its exact density, a bound, a reconstruction
error, or a distance to its own draws), always at the event's own conditions.  The
pieces here:

- :mod:`.samples`: an :class:`Anomaly` (registered by a domain through
  ``register_anomalies``) turns a simulator into an :class:`AnomalousSimulator`, whose
  files are labelled anomaly samples;
- :mod:`.scores`: the score kinds every model has (``knn``) and score files
  (:func:`score_file`, ``surrogate score``);
- :mod:`.roc`: ROC AUC and the signal efficiency at a fixed background efficiency, with
  their errors.
"""

from __future__ import annotations

from .roc import RocSummary, efficiency_at, roc_curve, roc_summary
from .samples import AnomalousSimulator, Anomaly, EventTransform, anomalous, anomaly_label
from .scores import ScoreFile, read_scores, score_file

__all__ = [
    "AnomalousSimulator",
    "Anomaly",
    "EventTransform",
    "RocSummary",
    "ScoreFile",
    "anomalous",
    "anomaly_label",
    "efficiency_at",
    "read_scores",
    "roc_curve",
    "roc_summary",
    "score_file",
]
