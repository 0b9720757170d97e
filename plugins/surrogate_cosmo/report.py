"""The density-field section of the validation report (issue #11, item 6): what a
cosmologist looks at before trusting an emulator.

- **Maps**: the first few reference and generated fields side by side (for cubes, the
  mid-plane slice), ``log10(1 + delta)`` on one colour scale shared by all panels, so a
  brighter map is a denser one and not a rescaled colour bar.
- **P(k)**: the mean spectra of reference A and of the model, with a ratio panel
  ``gen / ref - 1`` in %; the reference's cosmic-variance band is drawn twice: the
  standard error of its mean (per-bin scatter over fields / sqrt(n), what a sample of
  this size resolves) and the scatter of one field (what one simulation of this box
  varies by).  Reference B's ratio shows what agreement looks like at this ``n``.
- **PDF** of ``log10(1 + delta)``, **peak counts** against ``nu = height / sigma`` and,
  for maps, the three **Minkowski functionals** against the threshold: the mean per
  field, with a panel of ``(mean_gen - mean_ref) / sigma_ref`` in units of the
  reference's field-to-field scatter (the ``cosmo.*`` metrics' scatter pull: within
  +-1 is issue #11's target).
- **Response to each condition**: the sample split at the reference's median of the
  condition; ``P_high(k) / P_low(k)`` for the reference and the model side by side,
  and a table of the response over ``k <= k_Nyq / 2``: a surrogate whose spectra match
  on average can still ignore its conditions, and this is where it shows.

Estimators and bins follow :mod:`.metrics` (the CIC-deconvolved Pylians ``P(k)``, the
box from the simulator's options, ``k`` in units of ``k_F`` when it is unknown), so the
figures show what the metric table's rows summarise.  Bad data for one statistic (a
constant map has no peaks) leaves that figure out with a note; the others are drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from surrogate import EventSpec
from surrogate.errors import SurrogateError
from surrogate.validation.sections import (
    COLORS,
    ReportSection,
    SectionData,
    SectionWriter,
    new_figure,
)

from . import statistics as st
from .metrics import LOG_FLOOR, FieldGeometry, field_geometry, mean_and_error

Array = np.ndarray

#: reference and generated fields shown as maps
N_MAPS = 4
#: fields per estimator call: bounds the memory of a batch of cubes' transforms
CHUNK = 32
#: bins of the log-density PDF over the reference's 0.1-99.9 % range
PDF_BINS = 40
PDF_QUANTILES = (0.001, 0.999)
#: width of the peak-count bins in nu
PEAK_STEP = 0.5
#: thresholds (in units of the map's standard deviation) of the Minkowski functionals
MF_THRESHOLDS = np.linspace(-2.0, 3.0, 21)
MF_LABELS = ("V0: area fraction", "V1: boundary length / 4 area", "V2: Euler characteristic")
#: the part of the spectrum a CIC grid resolves (the power-spectrum metric's headline range)
KMAX_FRACTION = 0.5


@dataclass(frozen=True)
class _Stat:
    """One statistic of the three samples, per field: ``(n_fields, n_bins)`` each."""

    reference: Array
    floor: Array
    generated: Array


def _chunked(fn: Callable[[Array], Array], fields: Array) -> Array:
    """``fn`` on consecutive batches of fields, concatenated: the estimators hold a
    batch's transforms in memory, and a validation may hold thousands of cubes."""
    return np.concatenate([fn(fields[s : s + CHUNK]) for s in range(0, len(fields), CHUNK)])


def _stat(data: SectionData, fn: Callable[[Array], Array]) -> _Stat:
    def of(events: Any) -> Array:
        return _chunked(fn, np.asarray(events["delta"]))

    return _Stat(of(data.reference), of(data.floor_reference), of(data.generated))


def _log_density(delta: Array) -> Array:
    return np.log10(np.maximum(1.0 + np.asarray(delta, dtype=np.float64), LOG_FLOOR))


# -- maps ----------------------------------------------------------------------------------
def _planes(delta: Array, geo: FieldGeometry) -> Array:
    """The fields as images: maps as they are, cubes by their mid-plane slice."""
    return delta if geo.ndim == 2 else delta[..., geo.n // 2]


def _condition_label(data: SectionData, events: Any, i: int) -> str:
    return ", ".join(f"{c}={events[c][i]:.3g}" for c in data.spec.condition_names)


def _maps(data: SectionData, geo: FieldGeometry, out: SectionWriter) -> None:
    k = min(N_MAPS, len(data.reference), len(data.generated))
    rows = [("reference A", data.reference), (data.model_label, data.generated)]
    images = [_log_density(_planes(np.asarray(ev["delta"][:k]), geo)) for _, ev in rows]
    vmin, vmax = np.percentile(np.concatenate([im.ravel() for im in images]), [0.5, 99.5])
    extent = (0.0, geo.box, 0.0, geo.box) if geo.box else None
    fig = new_figure((2.3 * k + 1.0, 5.0))
    axes = fig.subplots(2, k, squeeze=False, sharex=True, sharey=True)
    shown = None
    for row, ((label, events), image) in enumerate(zip(rows, images, strict=True)):
        for i in range(k):
            ax = axes[row, i]
            shown = ax.imshow(
                image[i].T, origin="lower", cmap="magma", vmin=vmin, vmax=vmax, extent=extent
            )
            ax.set_title(_condition_label(data, events, i), fontsize=7)
            ax.tick_params(labelsize=6)
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.colorbar(shown, ax=axes, shrink=0.8, label="log10(1 + delta)")
    what = "maps" if geo.ndim == 2 else "mid-plane slices of the cubes"
    unit = "Mpc/h" if geo.box else "cells"
    out.figure(
        fig,
        "maps",
        f"the first {k} {what}, reference A (top) and the model (bottom), one colour scale "
        f"(0.5-99.5 % of all panels); axes in {unit}",
        wide=True,
    )


# -- power spectrum -----------------------------------------------------------------------
def _spectra(data: SectionData, geo: FieldGeometry) -> tuple[_Stat, Array, float]:
    """(per-field P(k) of the three samples, the bins' mean k, k_Nyq)."""
    first = st.power_spectrum(np.asarray(data.reference["delta"][:1]), geo.length, ndim=geo.ndim)

    def power(x: Array) -> Array:
        return st.power_spectrum(x, geo.length, ndim=geo.ndim).power

    return _stat(data, power), first.k, first.k_nyquist


def _bands(ax: Any, x: Array, centre: Array, sigma: Array, n: int, *, label: bool = True) -> None:
    """The reference's two bands around ``centre``: one field's scatter (light) and the
    standard error of the mean of ``n`` fields (dark); ``label``: named in the legend."""
    names = ("reference: scatter of one field", "reference: sigma / sqrt(n)")
    for width, alpha, name in ((sigma, 0.18, names[0]), (sigma / np.sqrt(n), 0.45, names[1])):
        ax.fill_between(
            x,
            centre - width,
            centre + width,
            color=COLORS["reference"],
            alpha=alpha,
            lw=0,
            label=name if label else None,
        )


def _log_k(ax: Any) -> None:
    """A logarithmic k axis labelled at the decades only (the minor labels collide)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())


def _pk_figure(pk: _Stat, k: Array, k_nyq: float, geo: FieldGeometry, label: str) -> Any:
    mr, sr, _ = mean_and_error(pk.reference)
    mg, _, eg = mean_and_error(pk.generated)
    mf, _, ef = mean_and_error(pk.floor)
    fig = new_figure((5.6, 4.8))
    ax, rx = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1.6)})
    _bands(ax, k, mr, sr, len(pk.reference))
    ax.plot(k, mr, color=COLORS["reference"], lw=1.4, label="reference A")
    ax.errorbar(k, mg, yerr=eg, fmt="o", ms=2.5, lw=0.8, color=COLORS["model"], label=label)
    _log_k(ax)
    ax.set(yscale="log", ylabel=f"P(k) [(Mpc/h)^{geo.ndim}]" if geo.box else "P(k)")
    ax.legend(fontsize=7, frameon=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        _bands(rx, k, np.zeros_like(k), 100 * sr / mr, len(pk.reference), label=False)
        rx.errorbar(
            k,
            100 * (mf / mr - 1),
            yerr=100 * ef / mr,
            fmt=".",
            ms=2,
            lw=0.6,
            color=COLORS["floor"],
            label="reference B",
        )
        rx.errorbar(
            k,
            100 * (mg / mr - 1),
            yerr=100 * eg / mr,
            fmt="o",
            ms=2.5,
            lw=0.8,
            color=COLORS["model"],
        )
        lim = np.nanmax(np.abs(np.r_[100 * (mg / mr - 1), 100 * sr / mr])) * 1.15
    rx.axhline(0.0, color=COLORS["reference"], lw=0.8)
    rx.axvline(KMAX_FRACTION * k_nyq, color="#1565c0", lw=0.8, ls=":")
    rx.set_ylim(-min(lim, 100.0), min(lim, 100.0))
    rx.set(xlabel=f"k [{geo.k_units}]", ylabel="gen / ref - 1 [%]")
    rx.legend(fontsize=6, frameon=False, loc="lower left")
    return fig


def _power(data: SectionData, geo: FieldGeometry, out: SectionWriter) -> tuple[_Stat, Array]:
    pk, k, k_nyq = _spectra(data, geo)
    out.figure(
        _pk_figure(pk, k, k_nyq, geo, data.model_label),
        "power_spectrum",
        "mean P(k) (CIC deconvolved, Pylians bins); below, mean generated / mean reference "
        "- 1 in % with the model's standard error; bands: the reference's sigma / sqrt(n) "
        "(dark) and one field's scatter (light); dotted: k_Nyq / 2",
    )
    return pk, k


# -- PDF, peaks, Minkowski functionals: a mean per field with a scatter-pull panel ----------
def _pull_panels(ax: Any, rx: Any, x: Array, stat: _Stat, label: str) -> None:
    """The mean per field of the three samples over ``x`` (the reference with its bands)
    and, below, ``(mean - mean_ref) / sigma_ref`` with the model's standard error."""
    mr, sr, _ = mean_and_error(stat.reference)
    mg, _, eg = mean_and_error(stat.generated)
    mf, _, ef = mean_and_error(stat.floor)
    _bands(ax, x, mr, sr, len(stat.reference))
    ax.plot(x, mr, color=COLORS["reference"], lw=1.4, label="reference A")
    ax.errorbar(x, mg, yerr=eg, fmt="o", ms=2.5, lw=0.8, color=COLORS["model"], label=label)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sr > 0, sr, np.nan)
        _bands(rx, x, np.zeros_like(x), np.ones_like(x), len(stat.reference), label=False)
        rx.errorbar(
            x,
            (mf - mr) / scale,
            yerr=ef / scale,
            fmt=".",
            ms=2,
            lw=0.6,
            color=COLORS["floor"],
            label="reference B",
        )
        rx.errorbar(
            x, (mg - mr) / scale, yerr=eg / scale, fmt="o", ms=2.5, lw=0.8, color=COLORS["model"]
        )
    rx.axhline(0.0, color=COLORS["reference"], lw=0.8)
    rx.set_ylabel("pull [sigma_ref]", fontsize=8)


def _comparison(
    x: Array, stat: _Stat, label: str, *, xlabel: str, ylabel: str, logy: bool = False
) -> Any:
    fig = new_figure((5.2, 4.6))
    ax, rx = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1.4)})
    _pull_panels(ax, rx, x, stat, label)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False)
    rx.set_xlabel(xlabel)
    return fig


def _pdf(data: SectionData, geo: FieldGeometry, out: SectionWriter) -> None:
    rho = 1.0 + np.asarray(data.reference["delta"], dtype=np.float64).ravel()
    lo, hi = np.quantile(np.log10(rho[rho > 0]), PDF_QUANTILES)
    edges = np.linspace(lo, hi, PDF_BINS + 1)
    stat = _stat(data, lambda x: st.log_density_pdf(x, edges, ndim=geo.ndim).density)
    fig = _comparison(
        0.5 * (edges[1:] + edges[:-1]),
        stat,
        data.model_label,
        xlabel="log10(1 + delta)",
        ylabel="PDF per field",
        logy=True,
    )
    out.figure(
        fig,
        "log_density_pdf",
        "one-point PDF of log10(1 + delta) per field over the reference's 0.1-99.9 % range "
        "(cells with 1 + delta <= 0 are in no bin); below, the scatter pull",
    )


def _peak_edges(data: SectionData, geo: FieldGeometry) -> Array:
    """Bins of ``PEAK_STEP`` in nu over the 0.1-99.9 % of the peak heights of the first
    reference fields (a range to draw, not a statistic: a batch of fields gives it)."""
    heights = np.concatenate(
        st.peak_heights(np.asarray(data.reference["delta"][:CHUNK]), ndim=geo.ndim)
    )
    if heights.size < 10:
        raise SurrogateError("the reference has too few peaks to bin")
    lo, hi = np.quantile(heights, (0.001, 0.999))
    return np.arange(np.floor(lo / PEAK_STEP), np.ceil(hi / PEAK_STEP) + 1) * PEAK_STEP


def _peaks(data: SectionData, geo: FieldGeometry, out: SectionWriter) -> None:
    edges = _peak_edges(data, geo)
    stat = _stat(data, lambda x: st.peak_counts(x, edges, ndim=geo.ndim).astype(np.float64))
    fig = _comparison(
        0.5 * (edges[1:] + edges[:-1]),
        stat,
        data.model_label,
        xlabel="nu = (delta - mean) / sigma",
        ylabel="peaks per field",
        logy=True,
    )
    neighbours = 3**geo.ndim - 1
    out.figure(
        fig,
        "peak_counts",
        f"local maxima (above all {neighbours} periodic neighbours) per field in bins of "
        f"{PEAK_STEP} in nu, no smoothing; below, the scatter pull",
    )


def _minkowski(data: SectionData, out: SectionWriter) -> None:
    def functionals(x: Array) -> Array:
        mf = st.minkowski_2d(x, MF_THRESHOLDS)
        return np.concatenate([mf.v0, mf.v1, mf.v2], axis=1)

    stat = _stat(data, functionals)
    nt = len(MF_THRESHOLDS)
    fig = new_figure((13.0, 4.4))
    axes = fig.subplots(2, 3, sharex=True, gridspec_kw={"height_ratios": (3, 1.4)})
    for j, title in enumerate(MF_LABELS):
        part = slice(j * nt, (j + 1) * nt)
        one = _Stat(stat.reference[:, part], stat.floor[:, part], stat.generated[:, part])
        _pull_panels(axes[0, j], axes[1, j], MF_THRESHOLDS, one, data.model_label)
        axes[0, j].set_title(title, fontsize=9)
        axes[1, j].set_xlabel("threshold nu [sigma of the map]")
    axes[0, 0].legend(fontsize=7, frameon=False)
    out.figure(
        fig,
        "minkowski",
        "Minkowski functionals of the excursion sets {delta > nu sigma} per pixel area "
        "(Crofton lattice counting); below, the scatter pull",
        wide=True,
    )


# -- response to the conditions -------------------------------------------------------------
@dataclass(frozen=True)
class _Response:
    """``mean P_high / mean P_low`` of one sample, per k bin and over the resolved band."""

    ratio: Array
    error: Array
    band: float
    band_error: float


def _response(power: Array, values: Array, cut: float, band: Array, n_modes: Array) -> _Response:
    high = values > cut
    if high.sum() < 2 or (~high).sum() < 2:
        raise SurrogateError("fewer than two fields on one side of the median")
    mh, _, eh = mean_and_error(power[high])
    ml, _, el = mean_and_error(power[~high])
    w = n_modes * band  # band power per field: the mode-weighted mean over k <= the cut
    bh, _, ebh = mean_and_error((power[high] @ w)[:, None] / w.sum())
    bl, _, ebl = mean_and_error((power[~high] @ w)[:, None] / w.sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # empty fields: NaN, a dash
        ratio = mh / ml
        error = ratio * np.hypot(eh / mh, el / ml)
        band_ratio = float(bh[0] / bl[0])
        band_error = band_ratio * float(np.hypot(ebh[0] / bh[0], ebl[0] / bl[0]))
    return _Response(ratio, error, band_ratio, band_error)


def _response_axes(ax: Any, k: Array, ref: _Response, gen: _Response, label: str) -> None:
    ax.fill_between(
        k, ref.ratio - ref.error, ref.ratio + ref.error, lw=0, alpha=0.35, color=COLORS["reference"]
    )
    ax.plot(k, ref.ratio, color=COLORS["reference"], lw=1.4, label="reference A")
    ax.errorbar(
        k, gen.ratio, yerr=gen.error, fmt="o", ms=2.5, lw=0.8, color=COLORS["model"], label=label
    )
    ax.axhline(1.0, color=COLORS["floor"], lw=0.6, ls=":")
    _log_k(ax)


def _response_row(name: str, cut: float, ref: _Response, gen: _Response) -> list[Any]:
    """A row of the response table: the band responses in % and their difference in
    units of its error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = (gen.band - ref.band) / np.hypot(gen.band_error, ref.band_error)
    return [
        name,
        cut,
        100 * (ref.band - 1),
        100 * ref.band_error,
        100 * (gen.band - 1),
        100 * gen.band_error,
        pull,
    ]


def _responses(
    data: SectionData, geo: FieldGeometry, pk: _Stat, k: Array, out: SectionWriter
) -> None:
    names = data.spec.condition_names
    if not names:
        return
    n_modes = st.power_spectrum(
        np.asarray(data.reference["delta"][:1]), geo.length, ndim=geo.ndim
    ).n_modes
    k_nyq = np.pi * geo.n / geo.length
    band = (k <= KMAX_FRACTION * k_nyq * (1 + 1e-9)).astype(np.float64)
    fig = new_figure((4.6 * len(names), 3.2))
    axes = fig.subplots(1, len(names), sharey=True, squeeze=False)[0]
    rows, skipped = [], []
    for ax, name in zip(axes, names, strict=True):
        cut = float(np.median(data.reference[name]))
        try:
            ref = _response(pk.reference, data.reference[name], cut, band, n_modes)
            gen = _response(pk.generated, data.generated[name], cut, band, n_modes)
        except SurrogateError as exc:
            skipped.append(f"{name}: {exc}")
            ax.set_axis_off()
            continue
        _response_axes(ax, k, ref, gen, data.model_label)
        ax.set(title=f"{name} > {cut:.3g} vs below", xlabel=f"k [{geo.k_units}]")
        rows.append(_response_row(name, cut, ref, gen))
    axes[0].set_ylabel("P_high(k) / P_low(k)")
    axes[0].legend(fontsize=7, frameon=False)
    if rows:
        out.figure(fig, "response", _RESPONSE_CAPTION, wide=True)
        out.table(_RESPONSE_COLUMNS, rows, _RESPONSE_TABLE)
    if skipped:
        out.text("P(k) response not drawn for " + "; ".join(skipped))


_RESPONSE_CAPTION = (
    "how P(k) responds to each condition: the fields split at the reference's median of "
    "the condition, mean P of the upper half / mean P of the lower half, reference A "
    "(band: its standard error) and the model"
)
_RESPONSE_COLUMNS = [
    "condition",
    "split at",
    "reference: response [%]",
    "± [%]",
    "model: response [%]",
    "± [%]",
    "(model - reference) / error",
]
_RESPONSE_TABLE = (
    "the response over k <= k_Nyq / 2: the ratio of the mode-weighted band power of the "
    "upper and the lower half, minus one; errors from the field-to-field scatter"
)


# -- the section ------------------------------------------------------------------------------
class FieldSection(ReportSection):
    """``cosmo.fields``: the section described in the module docstring, for data with
    a field ``delta`` on an even square or cubic grid."""

    title = "Density fields"
    description = (
        "Maps, power spectrum with its cosmic-variance band, log-density PDF, peak counts, "
        "Minkowski functionals (maps) and the response of P(k) to each condition, reference "
        "A against the model; reference B shows what agreement looks like at this sample "
        "size."
    )

    def __init__(self, geometry: FieldGeometry | None = None) -> None:
        self.geometry = geometry

    def bind(self, spec: EventSpec, context: Mapping[str, Any]) -> FieldSection | None:
        geo = field_geometry(spec, context)
        return None if geo is None else FieldSection(geo)

    def render(self, data: SectionData, out: SectionWriter) -> None:
        geo = self.geometry or field_geometry(data.spec, data.context)
        if geo is None:
            raise SurrogateError("no delta field on an even square or cubic grid")
        _maps(data, geo, out)
        pk, k = _power(data, geo, out)
        _guarded(out, "PDF", lambda: _pdf(data, geo, out))
        _guarded(out, "peak counts", lambda: _peaks(data, geo, out))
        if geo.ndim == 2:
            _guarded(out, "Minkowski functionals", lambda: _minkowski(data, out))
        _guarded(out, "P(k) response", lambda: _responses(data, geo, pk, k, out))
        out.text(_caveat(geo))


def _guarded(out: SectionWriter, what: str, draw: Callable[[], None]) -> None:
    """Draw one figure; data it cannot be drawn from (a constant map has no peaks) leave
    a note in its place, and the other figures are still drawn."""
    try:
        draw()
    except SurrogateError as exc:
        out.text(f"{what}: not drawn ({exc})")


def _caveat(geo: FieldGeometry) -> str:
    text = (
        "Bands and error bars come from the scatter over fields, as if the fields were independent."
    )
    if geo.ndim == 2:
        text += (
            " Maps cut from one simulation run (maps_per_run of them) share its cosmology "
            "and initial phases, so they understate the scatter between runs."
        )
    if not geo.box:
        text += " The box is unknown: k is in units of the fundamental frequency k_F."
    return text
