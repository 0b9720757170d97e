"""The Boltzmann section of the validation report: what reweighting does to the model's
samples, drawn for a person to judge before trusting a number.

- **Energy**: the histogram of the energy (physical energy for particle systems) of
  reference A, of the model's samples as drawn and of the same samples reweighted by
  ``w = p / q``: a model whose reweighted histogram meets the reference's is usable as a
  sampler even where its raw one is off; one whose reweighted histogram is jagged rests
  on a few weights.
- **Marginals**: the same three for the first coordinates (the magnetisation per site
  for lattice models, whose single spins say nothing).
- **Weights**: the distribution of ``log w`` with the Kish ESS and the largest
  normalised weight written on it, and a table of the ESS, ``ln Z`` and the free-energy
  differences of the target's named states (raw, reweighted, exact, reference A).

Reweighting needs the model's log-density of its events, which the harness computes for
a model with an exact density (``needs_log_density``); without it, or when temperatures
vary and ``ln Z(T)`` is unknown, the raw histograms are drawn with a note.  Weights are
those of :func:`.metrics.normalised_log_weights`, so the figures show what the
``boltzmann.ess`` and ``boltzmann.log_z`` rows summarise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from surrogate import Events, EventSpec
from surrogate.errors import SurrogateError
from surrogate.metrics import Sample
from surrogate.validation.sections import (
    COLORS,
    ReportSection,
    SectionData,
    SectionWriter,
    new_figure,
)

from . import estimators as est
from .evaluate import is_lattice, physical_energy, state_free_energies
from .metrics import normalised_log_weights, target_from_context
from .target import Target

Array = np.ndarray

#: histogram bins over the reference's central range
BINS = 50
RANGE_QUANTILES = (0.005, 0.995)
#: coordinates whose marginals are drawn
N_MARGINALS = 3
#: colour of the reweighted model sample
REWEIGHTED = "#1f77b4"


def _edges(values: Array) -> Array:
    finite = values[np.isfinite(values)]
    lo, hi = np.quantile(finite, RANGE_QUANTILES) if finite.size else (0.0, 1.0)
    return np.linspace(lo, hi if hi > lo else lo + 1.0, BINS + 1)


def _histograms(
    ax: Any, ref: Array, gen: Array, wbar: Array | None, label: str, xlabel: str
) -> None:
    """Reference A, the model as drawn and reweighted, as densities on shared bins."""
    edges = _edges(ref)
    style = {"bins": edges, "density": True, "histtype": "step"}
    ax.hist(ref[np.isfinite(ref)], color=COLORS["reference"], lw=2, label="reference A", **style)
    ok = np.isfinite(gen)
    ax.hist(gen[ok], color=COLORS["model"], lw=1.2, label=f"{label}, raw", **style)
    if wbar is not None and wbar[ok].sum() > 0:
        ax.hist(
            gen[ok],
            weights=wbar[ok],
            color=REWEIGHTED,
            lw=1.2,
            ls="--",
            label=f"{label}, reweighted",
            **style,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")


def _energy(target: Target, data: SectionData, wbar: Array | None, out: SectionWriter) -> None:
    fig = new_figure((5.4, 4.0))
    ax = fig.add_subplot()
    e_ref = physical_energy(target, data.reference)
    e_gen = physical_energy(target, data.generated)
    _histograms(ax, e_ref, e_gen, wbar, data.model_label, "energy U (the target's units, k = 1)")
    ax.legend(fontsize=7, frameon=False)
    off = int((~np.isfinite(e_gen)).sum())
    note = f"; {off} model samples have an infinite energy" if off else ""
    out.figure(
        fig,
        "energy",
        "energy of reference A and of the model's samples as drawn (solid) and reweighted "
        f"by p / q (dashed), over the reference's 0.5-99.5 % range{note}",
    )


def _marginal_values(target: Target, events: Events) -> dict[str, Array]:
    """The quantities whose marginals are drawn: the first coordinates, or for spins the
    magnetisation per site."""
    x = np.asarray(events["x"], np.float64)
    if is_lattice(target):
        return {"magnetisation per site": x.reshape(len(x), -1).mean(axis=1)}
    flat = x.reshape(len(x), -1)
    return {f"x[{i}]": flat[:, i] for i in range(min(N_MARGINALS, flat.shape[1]))}


def _marginals(target: Target, data: SectionData, wbar: Array | None, out: SectionWriter) -> None:
    ref = _marginal_values(target, data.reference)
    gen = _marginal_values(target, data.generated)
    fig = new_figure((4.0 * len(ref), 3.4))
    axes = fig.subplots(1, len(ref), squeeze=False)[0]
    for ax, name in zip(axes, ref, strict=True):
        _histograms(ax, ref[name], gen[name], wbar, data.model_label, name)
    axes[0].legend(fontsize=7, frameon=False)
    out.figure(
        fig,
        "marginals",
        "marginals of reference A and of the model's samples, raw (solid) and reweighted (dashed)",
        wide=len(ref) > 1,
    )


def _weights(log_w: Array, out: SectionWriter) -> est.ESS:
    ess = est.kish_ess(log_w)
    top = est.top_weights(log_w, 1)[0]
    finite = log_w[np.isfinite(log_w)]
    fig = new_figure((5.0, 3.6))
    ax = fig.add_subplot()
    ax.hist(finite - finite.max(), bins=BINS, color=COLORS["model"], histtype="stepfilled")
    ax.set(xlabel="log w - max log w", ylabel="samples", yscale="log")
    ax.text(
        0.03,
        0.95,
        f"Kish ESS {100 * ess.fraction:.2f} % ({ess.count:.1f} of {ess.n})\n"
        f"largest normalised weight {top:.3g}",
        transform=ax.transAxes,
        va="top",
        fontsize=8,
    )
    zero = log_w.size - finite.size
    note = f"; {zero} samples of zero weight (infinite energy) left out" if zero else ""
    out.figure(fig, "log_weights", f"log importance weights of the model's samples{note}")
    return ess


def _free_energy_rows(target: Target, data: SectionData, log_w: Array) -> list[list[Any]] | None:
    """One row per pair of the target's named states, at one temperature only."""
    t = np.asarray(data.generated["temperature"], np.float64)
    if np.ptp(t) > 0 or not callable(getattr(target, "states", None)):
        return None
    fe = state_free_energies(target, data.generated, log_w, float(t[0]), data.reference, None)
    keys = ("raw", "raw_error", "reweighted", "reweighted_error", "exact", "reference")
    return [
        [pair, *(row.get(k) for k in keys), row.get("reference_error")] for pair, row in fe.items()
    ]


def _tables(
    target: Target, data: SectionData, log_w: Array, ess: est.ESS, out: SectionWriter
) -> None:
    lz = est.log_z_estimate(log_w)
    known = target.has_log_prob
    rows = [
        ["Kish ESS [%]", 100 * ess.fraction, None],
        ["ln Z_hat - ln Z" if known else "ln Z_hat", lz.value, lz.error],
    ]
    varying = np.ptp(np.asarray(data.generated["temperature"], np.float64)) > 0
    out.table(
        ["estimate", "value", "±"],
        rows,
        "reverse estimators on the model's samples"
        + (
            " (each weight normalised by its ln Z(T): averages over the temperatures)"
            if varying
            else ""
        ),
    )
    fe = _free_energy_rows(target, data, log_w)
    if fe:
        out.table(
            ["F_B - F_A", "raw", "±", "reweighted", "±", "exact", "reference A", "±"],
            fe,
            "free-energy differences of the target's named states (energy units), from the "
            "model's samples as drawn and reweighted, the exact value and reference A's counts",
        )


class WeightsSection(ReportSection):
    """``boltzmann.weights``: the section described in the module docstring, for data of
    a Boltzmann target."""

    title = "Boltzmann target: energies and importance weights"
    description = (
        "Energy and marginal histograms of reference A and of the model's samples, raw and "
        "reweighted by p / q; the distribution of the log-weights with the effective "
        "sample size; free-energy differences of the named states."
    )
    needs_log_density = True

    def __init__(self, target: Target | None = None) -> None:
        self.target = target

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> WeightsSection | None:
        target = target_from_context(context)
        return None if target is None else WeightsSection(target)

    def render(self, data: SectionData, out: SectionWriter) -> None:
        if self.target is None:
            raise SurrogateError("the section is not bound to a Boltzmann target")
        sample = Sample(data.generated, log_density=data.generated_log_density)
        log_w, note = normalised_log_weights(self.target, sample)
        wbar = None if log_w is None else est.normalised_weights(log_w)
        _energy(self.target, data, wbar, out)
        _marginals(self.target, data, wbar, out)
        if log_w is None:
            out.text(f"Not reweighted: {note}.")
            return
        ess = _weights(log_w, out)
        _tables(self.target, data, log_w, ess, out)
