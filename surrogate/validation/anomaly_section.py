"""The report's anomaly section: how the model's anomaly score sees reference events,
its own events and a labelled anomaly sample (``surrogate validate --anomalies FILE``).

Three things a person checks before trusting a score in a search: the reference and the
model's own events should score alike (a model whose events score lower than real ones
flatters itself: the ROC AUC of generated against reference, ideally 0.5, says how
much), the anomaly sample should score higher, and the working points of the search
(signal efficiency at background efficiencies 1e-2 and 1e-3, :mod:`surrogate.anomaly.roc`)
have the errors their sample sizes allow.  The anomaly events are read from the file,
as many as the reference has, at their own conditions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..anomaly.roc import RocSummary, roc_curve, roc_summary
from ..anomaly.samples import anomaly_label
from ..anomaly.scores import check_kind
from ..errors import SpecError, SurrogateError
from ..events import Events
from ..io import open_events
from ..spec import EventSpec
from .plots import COLORS, new_figure
from .sections import ReportSection, SectionData, SectionWriter

ANOMALY_COLOR = "#1f77b4"


def anomaly_context(
    model: Any, spec: EventSpec, path: str | os.PathLike[str] | None, kind: str | None
) -> dict[str, Any]:
    """What the validation's context carries for this section: the anomaly sample, its
    label and the score kind, all checked before any sampling (an unlabelled file, events
    of another spec, a kind the model lacks: one-line errors)."""
    if path is None:
        if kind is not None:
            raise SurrogateError("an anomaly score (--anomaly-score) needs --anomalies FILE")
        return {}
    with open_events(path) as f:
        label = anomaly_label(f.metadata, str(path))
        if not spec.compatible_with(f.spec):
            raise SpecError(
                f"{path}: its events do not fit the model ({'; '.join(f.spec.difference(spec))})"
            )
    return {
        "anomalies": str(path),
        "anomaly_label": label,
        "anomaly_score": check_kind(model, kind, per_field=False),
    }


class AnomalySection(ReportSection):
    """Bound when the validation was given an anomaly sample (``anomalies`` in the
    context, with its label and the score kind, checked by the harness before any
    sampling)."""

    title = "Anomaly score"
    description = (
        "The model's anomaly score of reference events, of its own events and of the "
        "labelled anomaly sample; the ROC curves and working points of reference against "
        "anomaly, and of reference against the model's own events (ideally no separation)."
    )

    def __init__(self, path: str = "", label: str = "", kind: str = "") -> None:
        self.path, self.label, self.kind = path, label, kind

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> AnomalySection | None:
        if not context.get("anomalies"):
            return None
        return AnomalySection(
            str(context["anomalies"]), str(context["anomaly_label"]), str(context["anomaly_score"])
        )

    def render(self, data: SectionData, out: SectionWriter) -> None:
        if data.model is None:
            raise SurrogateError("the anomaly section needs the model (SectionData.model)")
        anomalies = _read(Path(self.path), data.spec, len(data.reference))
        scores = {
            "reference": data.model.anomaly_score(data.reference, self.kind),
            "model": data.model.anomaly_score(data.generated, self.kind),
            "anomaly": data.model.anomaly_score(anomalies, self.kind),
        }
        against = {
            f"anomaly ({self.label})": roc_summary(scores["reference"], scores["anomaly"]),
            f"own events of {data.model_label}": roc_summary(scores["reference"], scores["model"]),
        }
        _histograms(scores, data.model_label, self, out)
        _rocs(scores, against, out)
        _table(against, out)
        out.text(
            f"Score: {self.kind} ({data.model.score_kinds()[self.kind]}; higher is more "
            f"anomalous). Anomaly sample: {self.path}, {len(anomalies)} events labelled "
            f"{self.label!r}. A working point is not quoted where fewer than 10 reference "
            "events lie above its threshold."
        )


def _read(path: Path, spec: EventSpec, n: int) -> Events:
    with open_events(path, spec) as f:
        return f[0 : min(n, len(f))]


def _histograms(
    scores: dict[str, np.ndarray], model_label: str, section: AnomalySection, out: SectionWriter
) -> None:
    fig = new_figure()
    ax = fig.add_subplot()
    finite = np.concatenate([s[np.isfinite(s)] for s in scores.values()])
    lo, hi = np.quantile(finite, [0.001, 0.999])
    bins = np.linspace(lo, hi, 60)
    styles = {
        "reference": ("reference", COLORS["reference"]),
        "model": (model_label, COLORS["model"]),
        "anomaly": (f"anomaly ({section.label})", ANOMALY_COLOR),
    }
    for key, values in scores.items():
        label, color = styles[key]
        ax.hist(
            np.clip(values, lo, hi), bins, histtype="step", density=True, label=label, color=color
        )
    ax.set_xlabel(f"{section.kind} score")
    ax.set_ylabel("density")
    ax.set_yscale("log")
    ax.legend()
    out.figure(fig, "scores", "The score of each sample (clipped to the central 99.8 %).")


def _rocs(
    scores: dict[str, np.ndarray], against: dict[str, RocSummary], out: SectionWriter
) -> None:
    fig = new_figure()
    ax = fig.add_subplot()
    for (label, summary), key, color in zip(
        against.items(), ("anomaly", "model"), (ANOMALY_COLOR, COLORS["model"]), strict=True
    ):
        bkg, sig = roc_curve(scores["reference"], scores[key])
        ax.plot(bkg, sig, color=color, label=f"{label}: AUC {summary.auc:.3f}")
    ax.plot([1e-4, 1], [1e-4, 1], color=COLORS["floor"], linestyle=":", label="no separation")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("reference efficiency (background kept)")
    ax.set_ylabel("efficiency of the other sample")
    ax.legend(loc="lower right")
    out.figure(fig, "roc", "ROC curves against the reference events, higher scores kept.")


def _table(against: dict[str, RocSummary], out: SectionWriter) -> None:
    rows = []
    for label, s in against.items():
        rows.append(
            [
                label,
                s.auc,
                s.auc_error,
                s.efficiency[1e-2],
                s.efficiency_error[1e-2],
                s.efficiency[1e-3],
                s.efficiency_error[1e-3],
            ]
        )
    out.table(
        ["against reference", "AUC", "error", "eff @ 1e-2", "error", "eff @ 1e-3", "error"],
        rows,
        "Errors: Hanley-McNeil for the AUC, a bootstrap of both samples for the efficiencies.",
    )
