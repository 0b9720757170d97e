"""Histograms of each observable (model, reference A, reference B) with a ratio panel and
statistical error bars; matplotlib with the Agg backend, written as PNG and PDF."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import functional as F
from ..metrics.base import Observable
from ..metrics.generic import observable_edges

COLORS = {"reference": "#7f7f7f", "floor": "#222222", "model": "#d62728"}


def safe_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "observable"
    out, i = base, 1
    while out in taken:
        i += 1
        out = f"{base}_{i}"
    taken.add(out)
    return out


def new_figure(figsize: tuple[float, float] = (5.2, 4.4)) -> Any:
    """A matplotlib ``Figure`` on the Agg backend with constrained layout, the report's
    every figure: no pyplot, so no window, no global state and nothing to close (a
    figure is freed with its last reference), which a long validation needs."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _hist(values: np.ndarray, edges: np.ndarray, overflow: bool):
    nb = len(edges) + 1 if overflow else len(edges) - 1
    c = F.counts(F.bin_index(values, edges, overflow=overflow), nb)
    inside = c[1:-1] if overflow else c
    under = c[0] if overflow else 0.0
    over = c[-1] if overflow else 0.0
    width = np.diff(edges)
    total = max(len(values), 1)
    return inside / (total * width), np.sqrt(inside) / (total * width), under / total, over / total


def plot_observable(
    name: str,
    obs: Observable,
    reference: np.ndarray,
    floor_reference: np.ndarray,
    generated: np.ndarray,
    *,
    n_bins: int,
    model_label: str,
    annotation: str = "",
) -> Any:
    """A figure: normalised histograms (fraction of events per unit) and the ratio to
    reference A, with Poisson error bars."""
    edges, overflow = observable_edges(obs, reference, n_bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    if obs.log:
        centres = np.sqrt(edges[1:] * edges[:-1])
    h_ref, e_ref, u_ref, o_ref = _hist(reference, edges, overflow)
    h_flo, e_flo, _, _ = _hist(floor_reference, edges, overflow)
    h_gen, e_gen, u_gen, o_gen = _hist(generated, edges, overflow)

    fig = new_figure(figsize=(5.2, 4.4))
    gs = fig.add_gridspec(2, 1, height_ratios=(3, 1.2))
    ax = fig.add_subplot(gs[0])
    rx = fig.add_subplot(gs[1], sharex=ax)
    ax.stairs(h_ref, edges, fill=True, color=COLORS["reference"], alpha=0.35, label="reference A")
    ax.stairs(h_ref, edges, color=COLORS["reference"], lw=1.0)
    ax.stairs(h_flo, edges, color=COLORS["floor"], lw=1.0, ls="--", label="reference B (floor)")
    ax.stairs(h_gen, edges, color=COLORS["model"], lw=1.4, label=model_label)
    ax.errorbar(centres, h_gen, yerr=e_gen, fmt="none", ecolor=COLORS["model"], lw=0.8)
    ax.errorbar(centres, h_ref, yerr=e_ref, fmt="none", ecolor=COLORS["reference"], lw=0.8)
    positive = np.concatenate([h_ref[h_ref > 0], h_gen[h_gen > 0]])
    if len(positive) and positive.max() / positive.min() > 1e3:
        ax.set_yscale("log")
    if obs.log:
        ax.set_xscale("log")
    ax.set_ylabel("fraction of events / unit")
    title = obs.label or name
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="best")
    text = annotation
    if overflow and max(u_ref, o_ref, u_gen, o_gen) > 0:
        text += (
            f"\noutside range: ref {100 * (u_ref + o_ref):.2g}%, model {100 * (u_gen + o_gen):.2g}%"
        )
    if text:
        ax.text(0.02, 0.97, text.strip(), transform=ax.transAxes, fontsize=7, va="top", ha="left")
    ax.tick_params(labelbottom=False)

    with np.errstate(divide="ignore", invalid="ignore"):
        r_gen = h_gen / h_ref
        r_flo = h_flo / h_ref
        er_gen = r_gen * np.sqrt((e_gen / h_gen) ** 2 + (e_ref / h_ref) ** 2)
        er_flo = r_flo * np.sqrt((e_flo / h_flo) ** 2 + (e_ref / h_ref) ** 2)
    lo, hi = 0.5, 1.5
    rx.axhline(1.0, color=COLORS["reference"], lw=0.8)
    rx.errorbar(centres, r_flo, yerr=er_flo, fmt=".", ms=2, color=COLORS["floor"], lw=0.6)
    rx.errorbar(centres, r_gen, yerr=er_gen, fmt="o", ms=2.5, color=COLORS["model"], lw=0.8)
    # ratios off the panel (or where the reference is empty) are marked at its edge
    above = (r_gen > hi) | ((h_ref == 0) & (h_gen > 0))
    below = r_gen < lo
    rx.plot(centres[above], np.full(above.sum(), hi - 0.03), "^", ms=4, color=COLORS["model"])
    rx.plot(centres[below], np.full(below.sum(), lo + 0.03), "v", ms=4, color=COLORS["model"])
    rx.set_ylim(lo, hi)
    rx.set_ylabel("ratio to A", fontsize=8)
    unit = f" [{obs.unit}]" if obs.unit else ""
    rx.set_xlabel(f"{title}{unit}")
    return fig


def save_figure(fig: Any, folder: Path, stem: str) -> dict[str, str]:
    """Write ``stem.png`` and ``stem.pdf``; returns their paths relative to the report."""
    folder.mkdir(parents=True, exist_ok=True)
    png, pdf = folder / f"{stem}.png", folder / f"{stem}.pdf"
    fig.savefig(png, dpi=96)
    fig.savefig(pdf)
    return {"png": f"{folder.name}/{png.name}", "pdf": f"{folder.name}/{pdf.name}"}
