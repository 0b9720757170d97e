"""The density-field statistics as observables and metrics of the validation harness.

Everything applies to data with a field ``delta`` on a square 2-D or cubic 3-D grid of
even size (the spec of ``cosmo.pm``, ``cosmo.lpt`` and ``cosmo.lognormal``).

- ``cosmo.fields`` (observable set, replaces the generic one): per field, ``log10 P(k)``
  in (at most 24) bins up to ``k_Nyq``, summaries of the ``log10(1 + delta)`` PDF, peak
  counts in bins of ``nu`` and, for maps, Minkowski functionals: so the generic W1, KS,
  separation power and classifier compare physical quantities, not pixel sums.
- ``cosmo.power_spectrum``: the ratio of the mean spectra, generated / reference - 1 in %
  per bin, with the error of that ratio from both samples' field-to-field scatter and the
  reference's scatter of one field; headline: the worst ``|ratio - 1|`` (%) over
  ``k <= k_Nyq / 2`` (``kmax_fraction``), the range a CIC grid resolves.
- ``cosmo.pdf``, ``cosmo.peaks``, ``cosmo.minkowski`` (maps only), ``cosmo.bispectrum``
  (equilateral ``Q``): per bin the *scatter pull* ``|mean_gen - mean_ref| / sigma_ref``,
  with ``sigma_ref`` the reference's standard deviation over fields (the scatter of one
  field, cosmic variance included).  Headline: the largest scatter pull; issue #11's
  target, "within one standard deviation of the reference sample's scatter in every
  bin", is a headline ``<= 1``.  ``details["bins_beyond_one_sigma"]`` counts the bins
  that miss it; ``error`` is the headline's sampling error (the standard error of the
  difference of means in units of ``sigma_ref``) and ``details["max_significance"]`` the
  largest ``|difference| / standard error``, which says whether a difference is resolved
  at all by samples of this size.  A bin where every reference field has the same value
  has ``sigma_ref = 0``: its pull is 0 when the means agree and infinite otherwise.

The box side (Mpc/h) sets the units of ``k``: ``context["simulator_options"]["box"]``
when the harness gives it (the cosmology simulators' default, 256, when the data come
from one without that option), else the metric option ``box``, else none is known and
``k`` is in units of the fundamental frequency ``k_F = 2 pi / box`` (the estimators run
with ``box = 2 pi``; ratios, pulls and ``Q`` do not depend on the box).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import pi
from typing import Any, ClassVar

import numpy as np

from surrogate.metrics import MetricError, MetricResult, Observable, ObservableSet
from surrogate.metrics.base import Metric, default_features

from . import statistics as st

Array = np.ndarray

#: The cosmology simulators' default box (``FieldSettings.box``), for runs that left it.
DEFAULT_BOX = 256.0
#: Thresholds (in units of the map's standard deviation) of the observables' MFs.
MF_THRESHOLDS = (-1.0, 0.0, 1.0, 2.0)
#: The most ``log10 P(k)`` observables: finer bins are merged, log-spaced.
MAX_PK_OBSERVABLES = 24
#: Quantiles of the pooled reference's peak heights that make the ``nu`` bins.
PEAK_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 1.0)
#: ``log10(1 + delta)`` floor of the MFs on log-density maps (empty cells have none).
LOG_FLOOR = 1e-3


# -- the data's grid ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldGeometry:
    """One field's grid: ``ndim`` (2 or 3), ``n`` cells per side and the box side in
    Mpc/h (``None``: unknown, ``k`` in units of ``k_F``)."""

    ndim: int
    n: int
    box: float | None

    @property
    def length(self) -> float:
        """The box the estimators use: the side, or ``2 pi`` (``k_F = 1``) when unknown."""
        return self.box if self.box else 2 * pi

    @property
    def k_units(self) -> str:
        return "h/Mpc" if self.box else "k_F"


def _grid_of(shape: Sequence[int]) -> tuple[int, int] | None:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or len(set(shape)) != 1 or shape[0] < 4 or shape[0] % 2:
        return None
    return len(shape), shape[0]


def box_from(context: Mapping[str, Any] | None, option: float | None = None) -> float | None:
    """The box side: the simulator's option, the cosmology simulators' default when the
    data come from one of them, else ``option``, else ``None``."""
    ctx = dict(context or {})
    opts = dict(ctx.get("simulator_options") or {})
    if opts.get("box") is not None:
        return float(opts["box"])
    if str(ctx.get("simulator") or "").startswith("cosmo."):
        return DEFAULT_BOX
    return None if option is None else float(option)


def field_geometry(
    spec: Any, context: Mapping[str, Any] | None = None, box: float | None = None
) -> FieldGeometry | None:
    """The grid of the ``delta`` field of ``spec``, or ``None`` when there is none (or it
    is not an even square/cubic grid)."""
    if spec is None or "delta" not in getattr(spec, "field_names", ()):
        return None
    grid = _grid_of(spec.field("delta").shape)
    if grid is None:
        return None
    return FieldGeometry(grid[0], grid[1], box_from(context, box))


def _deltas(sample: Any, what: str) -> Array:
    events = sample.events
    if events is None or "delta" not in events.fields:
        raise MetricError(f"{what} needs the density fields (a sample built from events)")
    return np.asarray(events["delta"])


def _geometry_of(delta: Array, box: float | None, what: str) -> FieldGeometry:
    grid = _grid_of(delta.shape[1:])
    if grid is None:
        raise MetricError(f"{what}: delta of shape {delta.shape[1:]} is no even square grid")
    return FieldGeometry(grid[0], grid[1], box)


# -- observables -------------------------------------------------------------------------------
def _merged_bins(n_bins: int, most: int) -> Array:
    """Start indices of at most ``most`` groups of consecutive bins, log-spaced."""
    if n_bins <= most:
        return np.arange(n_bins)
    return np.unique(np.round(np.geomspace(1, n_bins + 1, most + 1)[:-1]).astype(int) - 1)


def _pk_observables(delta: Array, geo: FieldGeometry) -> dict[str, Observable]:
    ps = st.power_spectrum(delta, geo.length, ndim=geo.ndim)
    starts = _merged_bins(len(ps.k), MAX_PK_OBSERVABLES)
    pn = np.add.reduceat(ps.power * ps.n_modes, starts, axis=1)
    n_modes = np.add.reduceat(ps.n_modes, starts)
    k = np.add.reduceat(ps.k * ps.n_modes, starts) / n_modes
    logp = np.log10(np.maximum(pn / n_modes, 1e-300))
    return {
        f"log10_P[{i:02d}]": Observable(
            logp[:, i], f"log10 P(k={k[i]:.3g} {geo.k_units})", "", group="log10_P"
        )
        for i in range(len(k))
    }


def _pdf_observables(delta: Array) -> dict[str, Observable]:
    rho = 1.0 + delta.reshape(len(delta), -1).astype(np.float64)
    empty = (rho <= 0).mean(axis=1)
    logs = np.log10(np.where(rho > 0, rho, np.nan))
    mean = np.nanmean(logs, axis=1)
    std = np.nanstd(logs, axis=1)
    skew = np.nanmean((logs - mean[:, None]) ** 3, axis=1) / np.maximum(std, 1e-300) ** 3
    q01, q50, q99 = np.nanpercentile(logs, [1, 50, 99], axis=1)
    values = {
        "mean": mean,
        "std": std,
        "skewness": skew,
        "q01": q01,
        "median": q50,
        "q99": q99,
    }
    out = {
        f"log_density.{k}": Observable(v, f"{k} of log10(1 + delta)", group="log_density")
        for k, v in values.items()
    }
    out["empty_fraction"] = Observable(empty, "fraction of cells with 1 + delta <= 0")
    out["delta_variance"] = Observable(rho.var(axis=1), "variance of delta")
    return out


def _peak_observables(delta: Array, geo: FieldGeometry) -> dict[str, Observable]:
    edges = (-np.inf, 0.0, 1.0, 2.0, 3.0, 5.0, np.inf)
    counts = st.peak_counts(delta, edges, ndim=geo.ndim)
    names = ["<0", "0-1", "1-2", "2-3", "3-5", ">5"]
    return {
        f"peaks[nu{name}]": Observable(counts[:, i], f"peaks with nu {name}", group="peaks")
        for i, name in enumerate(names)
    }


def _mf_observables(delta: Array) -> dict[str, Observable]:
    mf = st.minkowski_2d(delta, MF_THRESHOLDS)
    out = {}
    for key in ("v0", "v1", "v2"):
        values = getattr(mf, key)
        for i, nu in enumerate(MF_THRESHOLDS):
            name = f"{key.upper()}[nu={nu:+g}]"
            out[name] = Observable(values[:, i], f"{key.upper()} at nu = {nu:+g}", group=key)
    return out


def field_observables(delta: Array, geo: FieldGeometry) -> dict[str, Observable]:
    """The ``cosmo.fields`` observables of a batch of fields ``(n, N, ..., N)``."""
    out = _pk_observables(delta, geo) | _pdf_observables(delta) | _peak_observables(delta, geo)
    if geo.ndim == 2:
        out |= _mf_observables(delta)
    return out


class _LastFields:
    """The observables of the last few batches: the harness asks a set for observables
    and then for features of the same events.  An entry hits only while its very array is
    alive (an ``id`` alone is reused for new arrays once the old one is freed)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: list[tuple[weakref.ref, FieldGeometry, dict[str, Observable]]] = []

    def get(self, delta: Array, geo: FieldGeometry) -> dict[str, Observable]:
        self._entries = [e for e in self._entries if e[0]() is not None]
        for ref, g, obs in self._entries:
            if ref() is delta and g == geo:
                return obs
        obs = field_observables(delta, geo)
        self._entries = [*self._entries[-(self.size - 1) :], (weakref.ref(delta), geo, obs)]
        return obs


_CACHE = _LastFields()


class FieldObservables(ObservableSet):
    name = "cosmo.fields"
    description = (
        "density-field statistics per field: log10 P(k) bins, log10(1+delta) PDF summaries, "
        "peak counts, Minkowski functionals (maps)"
    )
    replaces_generic = True

    def __init__(self, geometry: FieldGeometry | None = None) -> None:
        self.geometry = geometry

    def bind(self, spec, context):
        geo = field_geometry(spec, context)
        return None if geo is None else FieldObservables(geo)

    def _geo(self, delta: Array) -> FieldGeometry:
        return self.geometry or _geometry_of(delta, None, "cosmo.fields")

    def observables(self, events) -> dict[str, Observable]:
        delta = np.asarray(events["delta"])
        return dict(_CACHE.get(delta, self._geo(delta)))

    def features(self, events) -> dict[str, np.ndarray]:
        return {"default": default_features(self.observables(events), events)}


# -- metrics -----------------------------------------------------------------------------------
class _FieldMetric(Metric):
    """A metric on the ``delta`` fields: :meth:`bind` finds the grid and the box (module
    docstring) and declines other data (and grids of other dimensions than ``dims``)."""

    inputs = "events"
    dims: ClassVar[tuple[int, ...]] = (2, 3)
    geometry: FieldGeometry | None = None

    def bind(self, spec, context):
        geo = field_geometry(spec, context, self.options.get("box"))
        if geo is None or geo.ndim not in self.dims:
            return None
        new = self.configured()
        new.geometry = geo
        return new

    def configured(self, **options):
        new = super().configured(**options)
        new.geometry = self.geometry
        return new

    def _pair(self, reference, generated) -> tuple[Array, Array, FieldGeometry]:
        what = self.name or type(self).__name__
        ref, gen = _deltas(reference, what), _deltas(generated, what)
        if ref.shape[1:] != gen.shape[1:]:
            raise MetricError(f"{what}: grids differ: {ref.shape[1:]} vs {gen.shape[1:]}")
        if len(ref) < 2 or len(gen) < 1:
            raise MetricError(f"{what}: needs >= 2 reference fields (their scatter) and 1 more")
        geo = self.geometry or _geometry_of(ref, self.options.get("box"), what)
        if geo.ndim not in self.dims:
            raise MetricError(f"{what}: applies to {' or '.join(map(str, self.dims))}-D fields")
        return ref, gen, geo


def mean_and_error(x: Array) -> tuple[Array, Array, Array]:
    """(mean, standard deviation over fields, standard error of the mean) per column."""
    n = len(x)
    std = x.std(axis=0, ddof=1) if n > 1 else np.full(x.shape[1:], np.nan)
    return x.mean(axis=0), std, std / np.sqrt(n)


class PowerSpectrumMetric(_FieldMetric):
    description = (
        "P(k) of the fields (Pylians convention, CIC deconvolved): mean generated / mean "
        "reference - 1 per bin in %; headline: worst |ratio - 1| (%) for k <= k_Nyq / 2"
    )
    defaults = {"box": None, "window": "cic", "kmax_fraction": 0.5}

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref, gen, geo = self._pair(reference, generated)
        window = self.options["window"]
        pr = st.power_spectrum(ref, geo.length, window=window, ndim=geo.ndim)
        pg = st.power_spectrum(gen, geo.length, window=window, ndim=geo.ndim)
        mr, sr, er = mean_and_error(pr.power)
        mg, _, eg = mean_and_error(pg.power)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = mg / mr
            err = ratio * np.sqrt((er / mr) ** 2 + np.nan_to_num(eg / mg) ** 2)
        cut = pr.k <= float(self.options["kmax_fraction"]) * pr.k_nyquist * (1 + 1e-9)
        if not cut.any():
            raise MetricError(f"{self.name}: no bin below kmax_fraction x k_Nyq")
        dev = np.abs(ratio - 1)[cut]
        worst = int(np.argmax(dev))
        names = [f"P(k={k:.4g})" for k in pr.k]
        return MetricResult(
            100 * float(dev[worst]),
            100 * float(err[cut][worst]),
            per_observable={n: 100 * float(r - 1) for n, r in zip(names, ratio, strict=True)},
            per_observable_error={n: 100 * float(e) for n, e in zip(names, err, strict=True)},
            details={
                "k": pr.k,
                "k_units": geo.k_units,
                "box": geo.box,
                "ratio_minus_1_percent": 100 * (ratio - 1),
                "error_percent": 100 * err,
                "reference_scatter_percent": 100 * sr / mr,
                "n_modes": pr.n_modes,
                "k_max": float(pr.k[cut][-1]),
                "worst_k": float(pr.k[cut][worst]),
                "n_reference": len(ref),
                "n_generated": len(gen),
            },
            ideal=0.0,
        )


def scatter_pulls(
    reference: Array, generated: Array, names: Sequence[str], details: dict[str, Any]
) -> MetricResult:
    """The pull comparison of two samples of per-field statistics ``(n_fields, n_bins)``
    (module docstring): headline the largest ``|mean_gen - mean_ref| / sigma_ref``."""
    mr, sr, er = mean_and_error(np.asarray(reference, dtype=np.float64))
    mg, _, eg = mean_and_error(np.asarray(generated, dtype=np.float64))
    diff = np.abs(mg - mr)
    se = np.sqrt(er**2 + np.nan_to_num(eg) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(sr > 0, diff / sr, np.where(diff > 0, np.inf, 0.0))
        pull_error = np.where(sr > 0, se / sr, 0.0)
        significance = np.where(se > 0, diff / se, np.where(diff > 0, np.inf, 0.0))
    worst = int(np.argmax(pull))
    return MetricResult(
        float(pull[worst]),
        float(pull_error[worst]),
        per_observable={n: float(p) for n, p in zip(names, pull, strict=True)},
        per_observable_error={n: float(e) for n, e in zip(names, pull_error, strict=True)},
        details={
            **details,
            "bins": list(names),
            "worst_bin": names[worst],
            "bins_beyond_one_sigma": int((pull > 1).sum()),
            "max_significance": float(significance.max()),
            "reference_mean": mr,
            "generated_mean": mg,
            "reference_scatter": sr,
            "n_reference": len(reference),
            "n_generated": len(generated),
        },
        ideal=0.0,
    )


class PDFMetric(_FieldMetric):
    description = (
        "one-point PDF of log10(1 + delta) per field; headline: the largest per-bin "
        "|mean_gen - mean_ref| / reference scatter (<= 1: within one sigma everywhere)"
    )
    defaults = {"box": None, "bins": 30, "edges": None, "quantiles": [0.001, 0.999]}

    def _edges(self, ref: Array) -> Array:
        if self.options["edges"] is not None:
            return np.asarray(self.options["edges"], dtype=np.float64)
        rho = 1.0 + ref.reshape(-1).astype(np.float64)
        logs = np.log10(rho[rho > 0])
        lo, hi = np.quantile(logs, self.options["quantiles"])
        return np.linspace(lo, hi, int(self.options["bins"]) + 1)

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref, gen, geo = self._pair(reference, generated)
        edges = self._edges(ref)
        pr = st.log_density_pdf(ref, edges, ndim=geo.ndim)
        pg = st.log_density_pdf(gen, edges, ndim=geo.ndim)
        names = [f"log10(1+delta)={c:.3g}" for c in pr.centres]
        details = {
            "edges": edges,
            "nonpositive_fraction": [float(pr.nonpositive.mean()), float(pg.nonpositive.mean())],
        }
        return scatter_pulls(pr.density, pg.density, names, details)


class PeakCountsMetric(_FieldMetric):
    description = (
        "peak counts per field against nu = height / sigma (bins: quantiles of the "
        "reference's peaks); headline: the largest per-bin |mean_gen - mean_ref| / "
        "reference scatter"
    )
    defaults = {"box": None, "nu_edges": None, "smoothing": None}

    def _edges(self, ref: Array, geo: FieldGeometry) -> Array:
        if self.options["nu_edges"] is not None:
            return np.asarray(self.options["nu_edges"], dtype=np.float64)
        heights = np.concatenate(st.peak_heights(ref, self.options["smoothing"], ndim=geo.ndim))
        if heights.size < 2 * len(PEAK_QUANTILES):
            raise MetricError(f"{self.name}: the reference has too few peaks to bin")
        edges = np.unique(np.quantile(heights, PEAK_QUANTILES))
        edges[0], edges[-1] = -np.inf, np.inf  # the generated peaks beyond count too
        return edges

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref, gen, geo = self._pair(reference, generated)
        edges = self._edges(ref, geo)
        smoothing = self.options["smoothing"]
        cr = st.peak_counts(ref, edges, smoothing, ndim=geo.ndim)
        cg = st.peak_counts(gen, edges, smoothing, ndim=geo.ndim)
        names = [f"nu=[{lo:.3g},{hi:.3g})" for lo, hi in itertools.pairwise(edges)]
        return scatter_pulls(cr, cg, names, {"nu_edges": edges, "smoothing": smoothing})


class MinkowskiMetric(_FieldMetric):
    description = (
        "2-D Minkowski functionals V0, V1, V2 of the maps' excursion sets at thresholds "
        "nu sigma; headline: the largest |mean_gen - mean_ref| / reference scatter"
    )
    dims = (2,)
    defaults = {
        "box": None,
        "thresholds": [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
        "smoothing": None,
        "log": False,
    }

    def _maps(self, delta: Array) -> Array:
        """The maps the functionals see: ``log10(1 + delta)`` (floored) with ``log``, then
        smoothed by ``smoothing`` cells."""
        u = np.asarray(delta, dtype=np.float64)
        if self.options["log"]:
            u = np.log10(np.maximum(1.0 + u, LOG_FLOOR))
        if self.options["smoothing"]:
            u = st.gaussian_smooth(u, float(self.options["smoothing"]), ndim=2)
        return u

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref, gen, _ = self._pair(reference, generated)
        nu = np.asarray(self.options["thresholds"], dtype=np.float64)
        mr = st.minkowski_2d(self._maps(ref), nu)
        mg = st.minkowski_2d(self._maps(gen), nu)
        keys = ("v0", "v1", "v2")
        names = [f"{key.upper()}[nu={t:+g}]" for key in keys for t in nu]
        stack_r = np.concatenate([getattr(mr, key) for key in keys], axis=1)
        stack_g = np.concatenate([getattr(mg, key) for key in keys], axis=1)
        details = {k: self.options[k] for k in ("thresholds", "smoothing", "log")}
        return scatter_pulls(stack_r, stack_g, names, details)


class BispectrumMetric(_FieldMetric):
    description = (
        "equilateral reduced bispectrum Q(k) (Scoccimarro 2015 FFT shells); headline: the "
        "largest |mean Q_gen - mean Q_ref| / reference scatter"
    )
    defaults = {
        "box": None,
        "k": None,
        "nyquist_fractions": [0.1, 0.2, 0.3, 0.4],
        "dk": None,
        "window": "cic",
    }

    def _k(self, geo: FieldGeometry) -> Array:
        """The shells: ``k`` as given, else the multiples of ``k_F`` nearest the
        ``nyquist_fractions`` of ``k_Nyq``."""
        if self.options["k"] is not None:
            return np.atleast_1d(np.asarray(self.options["k"], dtype=np.float64))
        k_f = 2 * pi / geo.length
        steps = np.round(np.asarray(self.options["nyquist_fractions"]) * geo.n / 2)
        return np.unique(np.maximum(steps, 1)) * k_f

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref, gen, geo = self._pair(reference, generated)
        k = self._k(geo)
        kwargs = {"window": self.options["window"], "ndim": geo.ndim}
        br = st.bispectrum_equilateral(ref, geo.length, k, self.options["dk"], **kwargs)
        bg = st.bispectrum_equilateral(gen, geo.length, k, self.options["dk"], **kwargs)
        names = [f"Q(k={x:.4g})" for x in k]
        with np.errstate(divide="ignore", invalid="ignore"):
            b_ratio = bg.bispectrum.mean(axis=0) / br.bispectrum.mean(axis=0)
        details = {
            "k": k,
            "k_units": geo.k_units,
            "box": geo.box,
            "b_ratio": b_ratio,
            "n_triangles": br.n_triangles,
        }
        return scatter_pulls(br.q, bg.q, names, details)
