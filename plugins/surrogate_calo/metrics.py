"""The CaloChallenge observables and metrics, registered to the validation harness.

- ``calo.observables`` (an observable set, replaces the generic one on shower data):
  the per-event high-level features (``E_tot/E_inc``, ``E_layer_<l>``, ``EC_eta_<l>``,
  ``W_r_<l>``, ``sparsity_<l>``...) with the challenge's fixed binnings where it has them,
  and the feature matrices ``default``/``high`` (the ``cls-high`` input, also what FPD and
  KPD use, so the generic ``fpd``/``kpd`` metrics are the challenge's).
- ``calo.separation_power``: every histogram the challenge's ``hist-chi`` mode writes, with
  its binning (reference-derived log bins for E_layer and the voxel spectrum, dataset 1's
  per-E_inc E_tot/E_inc), the separation power from :mod:`surrogate.metrics.functional`;
  summary: the worst group mean (groups: E_layer, EC_eta, ...; NaN when a histogram has
  no generated event in range, as ``evaluate.py`` writes it), details: the largest single
  histogram.  EC_r, W_r and sparsity, which ``hist-chi`` does not run, are reported apart.
- ``calo.cls_low``, ``calo.cls_low_normed``, ``calo.cls_high``: the challenge's DNN
  classifier (:class:`surrogate.metrics.classifier.ClassifierTest` with this plugin's
  preset ``calochallenge``, the challenge's recipe; float64, no standardisation: the inputs
  are the challenge's hand-scaled ones) with the dataset's train/test/validation split.

A metric applies to ``calochallenge``-layout data whose geometry is known: from the
simulator options (``geometry=``) or, for reference files, from the voxel count.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from surrogate import Events
from surrogate.metrics import MetricError, MetricResult, Observable, ObservableSet
from surrogate.metrics.base import Metric, summarise
from surrogate.metrics.classifier import ClassifierTest

from .features import (
    HighLevelFeatures,
    apply_cut,
    ds1_energy_bins,
    high_level_features,
    histogram_edges,
    log_edges,
    low_level_features,
    low_level_normed_features,
)
from .geometry import Geometry, GeometryError, geometry_names, get_geometry

# the challenge's per-class train/test/validation counts, as fractions of its file sizes
SPLITS = {
    "1-photons": [80 / 121, 20 / 121, 21 / 121],
    "1-pions": [80 / 120.8, 20 / 120.8, 20.8 / 120.8],
    "2": [0.6, 0.2, 0.2],
    "3": [0.6, 0.2, 0.2],
}


def geometry_for(spec: Any, context: Mapping[str, Any] | None = None) -> Geometry | None:
    """The geometry of shower data: ``simulator_options["geometry"]`` when given (and
    consistent with the voxel count), else the first known geometry with that many voxels;
    ``None`` when the data are not showers."""
    if spec is None or getattr(spec, "layout", None) != "calochallenge":
        return None
    n_vox = spec.field("showers").shape[0]
    opts = dict((context or {}).get("simulator_options") or {})
    if opts.get("geometry") is not None:
        try:
            geo = get_geometry(opts["geometry"])
        except GeometryError:
            geo = None
        if geo is not None and geo.n_voxels == n_vox:
            return geo
    for name in geometry_names():
        try:
            geo = get_geometry(name)
        except GeometryError:
            continue
        if geo.n_voxels == n_vox:
            return geo
    return None


class _FeatureCache:
    """High-level features of the last few batches of showers: the observable set, its
    feature matrix and the ``cls-high`` classifier read the same events one after another.

    An entry holds weak references to the arrays it was computed from and hits only while
    those very arrays are alive: an ``id()`` alone is handed to a new array once the old
    one is freed, which would give a new batch of the same shape the old batch's features.
    Arrays changed in place are not noticed; events are not modified once made.
    """

    def __init__(self, size: int = 6) -> None:
        self.size = size
        self._entries: list[tuple[weakref.ref, weakref.ref, HighLevelFeatures]] = []

    def features(
        self, showers: np.ndarray, e_inc: np.ndarray, geometry: Geometry
    ) -> HighLevelFeatures:
        self._entries = [e for e in self._entries if e[0]() is not None and e[1]() is not None]
        for ref_showers, ref_e_inc, hlf in self._entries:
            if ref_showers() is showers and ref_e_inc() is e_inc and hlf.geometry is geometry:
                return hlf
        hlf = high_level_features(showers, e_inc, geometry)
        entry = (weakref.ref(showers), weakref.ref(e_inc), hlf)
        self._entries = [*self._entries[-(self.size - 1) :], entry]
        return hlf


_FEATURES = _FeatureCache()


def features_of(events: Events, geometry: Geometry) -> HighLevelFeatures:
    """High-level features of ``events`` (cached for the last few batches)."""
    return _FEATURES.features(events["showers"], events["incident_energies"], geometry)


def _events(sample: Any, what: str) -> Any:
    if sample.events is None:
        raise MetricError(f"{what} needs the showers (a sample built from events)")
    return sample.events


# -- observables ------------------------------------------------------------------------------
class ShowerObservables(ObservableSet):
    name = "calo.observables"
    description = "CaloChallenge high-level shower features (per layer), challenge binnings"
    replaces_generic = True

    def __init__(self, geometry: Geometry | None = None) -> None:
        self.geometry = geometry

    def bind(self, spec, context):
        geo = geometry_for(spec, context)
        return None if geo is None else ShowerObservables(geo)

    def _geo(self, events) -> Geometry:
        if self.geometry is not None:
            return self.geometry
        geo = geometry_for(events.spec, {})
        if geo is None:
            raise MetricError("calo.observables: unknown geometry for these showers")
        return geo

    def observables(self, events) -> dict[str, Observable]:
        geo = self._geo(events)
        f = features_of(events, geo)
        out = {
            "E_tot/E_inc": Observable(
                f.e_tot / f.e_inc, "E_tot / E_inc", "", histogram_edges("E_tot/E_inc", geo)
            )
        }
        for i in geo.relevant_layers:
            out[f"E_layer_{i}"] = Observable(
                f.e_layer[i], f"E layer {i}", "MeV", 40, log=True, group="E_layer"
            )
        for key, d, unit in (
            ("EC_eta", f.ec_eta, "mm"),
            ("EC_phi", f.ec_phi, "mm"),
            ("W_eta", f.w_eta, "mm"),
            ("W_phi", f.w_phi, "mm"),
        ):
            for i in geo.alpha_layers:
                out[f"{key}_{i}"] = Observable(
                    d[i], f"{key} layer {i}", unit, histogram_edges(f"{key}_{i}", geo), group=key
                )
        for key, d, unit in (
            ("EC_r", f.ec_r, "mm"),
            ("W_r", f.w_r, "mm"),
            ("sparsity", f.sparsity, ""),
        ):
            for i in geo.relevant_layers:
                out[f"{key}_{i}"] = Observable(
                    d[i], f"{key} layer {i}", unit, histogram_edges(f"{key}_{i}", geo), group=key
                )
        return out

    def features(self, events) -> dict[str, np.ndarray]:
        high = features_of(events, self._geo(events)).matrix()
        return {"default": high, "high": high}


# -- separation power -------------------------------------------------------------------------
class _GeometryBound:
    """A metric that needs the calorimeter's geometry: :meth:`bind` finds it from the event
    spec or the run's context (or the ``geometry`` option), and declines other data."""

    geometry: Geometry | None = None
    options: dict[str, Any]

    def bind(self, spec, context):
        ctx = dict(context or {})
        if self.options.get("geometry"):
            ctx["simulator_options"] = {"geometry": self.options["geometry"]}
        geo = geometry_for(spec, ctx)
        if geo is None:
            return None
        new = self.configured()
        new.geometry = geo
        return new

    def configured(self, **options):
        new = super().configured(**options)  # type: ignore[misc]
        new.geometry = self.geometry
        return new


#: The groups of histograms ``evaluate.py``'s ``hist-chi`` mode fills (its
#: ``plot_histograms`` and ``plot_cell_dist``); the summary is over these only.
PER_ENERGY = "E_tot/E_inc per E_inc"
CHALLENGE_GROUPS = ("E_tot/E_inc", "E_layer", "EC_eta", "EC_phi", "W_eta", "W_phi", PER_ENERGY)
#: Histograms ``evaluate_plotting_helper.py`` defines (``plot_sparsity``, ``plot_ECR``,
#: ``plot_ECWidthR``) but ``hist-chi`` never runs: reported apart from the summary.
EXTRA_GROUPS = ("EC_r", "W_r", "sparsity")


class CaloSeparationPower(_GeometryBound, Metric):
    description = (
        "CaloChallenge separation powers (hist-chi): E_tot/E_inc, E_layer, EC/W in eta and "
        "phi, voxel spectrum (and ds1 per-E_inc E_tot/E_inc) with the challenge's binnings; "
        "summary: worst group mean (NaN when a histogram has no generated event in range); "
        "EC_r, W_r, sparsity reported apart"
    )
    inputs = "observables"
    defaults = {"bootstrap": 0, "voxels": True, "per_energy": True, "geometry": None}

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        ref_ev = _events(reference, "calo.separation_power")
        gen_ev = _events(generated, "calo.separation_power")
        geo = self.geometry or geometry_for(ref_ev.spec, {})
        if geo is None:
            raise MetricError("calo.separation_power: unknown geometry for these showers")
        return separation_powers(
            ref_ev["showers"],
            ref_ev["incident_energies"],
            gen_ev["showers"],
            gen_ev["incident_energies"],
            geo,
            voxels=bool(self.options["voxels"]),
            per_energy=bool(self.options["per_energy"]),
            bootstrap=int(self.options["bootstrap"] or 0),
            seed=seed,
        )


def _histograms(geo: Geometry, fr: HighLevelFeatures) -> dict[str, tuple[np.ndarray, str]]:
    """feature name -> (reference values, group)."""
    out = {"E_tot/E_inc": (fr.e_tot / fr.e_inc, "E_tot/E_inc")}
    for key, d, layers in (
        ("E_layer", fr.e_layer, geo.relevant_layers),
        ("EC_eta", fr.ec_eta, geo.alpha_layers),
        ("EC_phi", fr.ec_phi, geo.alpha_layers),
        ("W_eta", fr.w_eta, geo.alpha_layers),
        ("W_phi", fr.w_phi, geo.alpha_layers),
        ("EC_r", fr.ec_r, geo.relevant_layers),
        ("W_r", fr.w_r, geo.relevant_layers),
        ("sparsity", fr.sparsity, geo.relevant_layers),
    ):
        for i in layers:
            out[f"{key}_{i}"] = (d[i], key)
    return out


def separation_powers(
    ref_showers: np.ndarray,
    ref_energies: np.ndarray,
    gen_showers: np.ndarray,
    gen_energies: np.ndarray,
    geometry: str | Geometry,
    *,
    voxels: bool = True,
    per_energy: bool = True,
    bootstrap: int = 0,
    seed: int = 0,
) -> MetricResult:
    """The challenge's separation powers between a reference and a generated sample
    (arrays in MeV).

    A histogram the generated sample leaves empty in range is NaN, as ``evaluate.py``
    writes it (``density=True`` of no entries), listed in ``details["failed"]``, and makes
    the summary NaN: a model that misses an energy fails instead of looking better.  What
    the *reference* cannot fill (a layer without energy above the cut, a dataset-1 energy
    it does not hold) is left out and listed in ``details["skipped"]``.  The summary is the
    worst group mean over the ``hist-chi`` groups (:data:`CHALLENGE_GROUPS` and the voxel
    spectrum); the groups of :data:`EXTRA_GROUPS` are in ``per_observable`` and ``groups``
    too but only in ``details["extra"]``'s largest, never in the summary.
    """
    geo = get_geometry(geometry)
    fr = high_level_features(ref_showers, ref_energies, geo)
    fg = high_level_features(gen_showers, gen_energies, geo)
    rng = np.random.default_rng(seed)
    per: dict[str, float] = {}
    err: dict[str, float] = {}
    groups_of: dict[str, str] = {}
    skipped: list[str] = []
    for name, x, y, edges, group in _histogram_pairs(geo, fr, fg, per_energy, skipped):
        per[name], error = _separation(x, y, edges, bootstrap, rng)
        groups_of[name] = group
        if error is not None:
            err[name] = error
    if voxels:
        edges = _voxel_edges(ref_showers, geo)
        if edges is None:
            skipped.append("voxel")
        else:
            per["voxel"] = _voxel_separation(ref_showers, gen_showers, geo, edges)
            groups_of["voxel"] = "voxel"
    _, groups = summarise(per, groups_of)
    challenge = [v for g, v in groups.items() if g not in EXTRA_GROUPS]
    failed = [name for name, v in per.items() if not np.isfinite(v)]
    return MetricResult(
        max(challenge) if np.isfinite(challenge).all() else float("nan"),
        None,
        per_observable=per,
        per_observable_error=err,
        groups=groups,
        details={
            "largest": _largest(per, groups_of, extra=False),
            "extra": {
                "groups": [g for g in EXTRA_GROUPS if g in groups],
                "largest": _largest(per, groups_of, extra=True),
            },
            "failed": failed,
            "skipped": skipped,
        },
        ideal=0.0,
    )


def _largest(per: dict[str, float], groups_of: dict[str, str], *, extra: bool) -> dict | None:
    """The largest finite separation power of the challenge's (or the extra) histograms."""
    mine = {
        k: v for k, v in per.items() if (groups_of[k] in EXTRA_GROUPS) == extra and np.isfinite(v)
    }
    if not mine:
        return None
    name = max(mine, key=mine.__getitem__)
    return {"name": name, "value": mine[name]}


Pair = tuple[str, np.ndarray, np.ndarray, np.ndarray, str]


def _histogram_pairs(
    geo: Geometry,
    fr: HighLevelFeatures,
    fg: HighLevelFeatures,
    per_energy: bool,
    skipped: list[str],
) -> Iterator[Pair]:
    """Every histogram the challenge fills, as ``(name, reference values, generated
    values, bin edges, group)``; names the reference cannot fill are appended to
    ``skipped``."""
    gen_h = _histograms(geo, fg)
    for name, (x, group) in _histograms(geo, fr).items():
        try:
            edges = histogram_edges(name, geo, x if group == "E_layer" else None)
        except ValueError:
            skipped.append(name)
            continue
        if group == "E_layer" and edges[-1] <= edges[0]:
            skipped.append(name)
            continue
        yield name, x, gen_h[name][0], edges, group
    if per_energy and geo.challenge in ("1-photons", "1-pions"):
        ratio_r, ratio_g = fr.e_tot / fr.e_inc, fg.e_tot / fg.e_inc
        for lo, hi, edges in ds1_energy_bins(geo.particle):
            name = f"E_tot/E_inc@{lo:g}MeV"
            sr = (fr.e_inc >= lo) & (fr.e_inc < hi)
            if not sr.any():
                skipped.append(name)
                continue
            sg = (fg.e_inc >= lo) & (fg.e_inc < hi)
            yield name, ratio_r[sr], ratio_g[sg], edges, PER_ENERGY


def _separation(
    x: np.ndarray, y: np.ndarray, edges: np.ndarray, bootstrap: int, rng: np.random.Generator
) -> tuple[float, float | None]:
    """The separation power of two samples in ``edges`` (NaN when either has no entry in
    range) and, with ``bootstrap > 1`` resamplings of both, its standard error (``None``
    otherwise)."""
    from surrogate.metrics.functional import bin_index, counts
    from surrogate.metrics.functional import separation_power as sep

    ix, iy = bin_index(x, edges, overflow=False), bin_index(y, edges, overflow=False)
    nb = len(edges) - 1
    value = sep(counts(ix, nb), counts(iy, nb))
    if not np.isfinite(value) or bootstrap <= 1:
        return value, None
    boots = [
        sep(
            counts(ix[rng.integers(0, len(ix), len(ix))], nb),
            counts(iy[rng.integers(0, len(iy), len(iy))], nb),
        )
        for _ in range(bootstrap)
    ]
    return value, float(np.nanstd(boots, ddof=1))


def _voxel_edges(ref: np.ndarray, geo: Geometry) -> np.ndarray | None:
    """The voxel spectrum's bins, ``logspace(log10 cut, log10 max_ref, 50)``
    (``plot_cell_dist``), or ``None`` when the reference has no voxel above the cut."""
    ref = np.asarray(ref)
    if not ref.size or np.max(ref) <= max(geo.cut, 0.0):
        return None
    edges = log_edges(ref, geo.cut, 50)
    return edges if edges[-1] > edges[0] else None


def _voxel_separation(ref: np.ndarray, gen: np.ndarray, geo: Geometry, edges: np.ndarray) -> float:
    """Separation power of the cut voxel energies of both samples in ``edges``, filled
    over chunks of events (dataset 3 does not fit in memory as float64)."""
    from surrogate.metrics.functional import bin_index, counts
    from surrogate.metrics.functional import separation_power as sep

    nb = len(edges) - 1
    hists = []
    for data in (ref, gen):
        total = np.zeros(nb)
        step = max(1, 20_000_000 // max(geo.n_voxels, 1))
        for s in range(0, len(data), step):
            block = apply_cut(data[s : s + step], geo.cut).reshape(-1)
            total += counts(bin_index(block, edges, overflow=False), nb)
        hists.append(total)
    return sep(hists[0], hists[1])


# -- classifiers ------------------------------------------------------------------------------
class _CaloClassifier(_GeometryBound, ClassifierTest):
    """The challenge's DNN classifier on calorimeter inputs (see module docstring)."""

    input_kind = "low"
    defaults = {
        **ClassifierTest.defaults,
        "preset": "calochallenge",
        "features": "low",
        "standardize": False,
        "dtype": "float64",
        "split": None,
        "geometry": None,
    }

    def _split(self) -> list[float]:
        if self.options.get("split") is not None:
            return list(self.options["split"])
        geo = self.geometry
        return SPLITS.get(geo.challenge or "", [0.6, 0.2, 0.2]) if geo else [0.6, 0.2, 0.2]

    def _inputs(self, sample, what: str) -> np.ndarray:
        name = self.options["features"]
        if name in sample.features and name not in ("low", "low_normed"):
            return sample.feature_matrix(name)
        ev = _events(sample, what)
        geo = self.geometry or geometry_for(ev.spec, {})
        if geo is None:
            raise MetricError(f"{what}: unknown geometry for these showers")
        if name == "low":
            return low_level_features(ev["showers"], ev["incident_energies"], geo)
        if name == "low_normed":
            return low_level_normed_features(ev["showers"], ev["incident_energies"], geo)
        if name in ("high", "default"):
            return features_of(ev, geo).matrix()
        raise MetricError(f"{what}: unknown input {name!r} (low, low_normed, high)")

    def _pair(self, reference, generated):
        x = self._inputs(reference, self.name or "calo classifier")
        y = self._inputs(generated, self.name or "calo classifier")
        if x.shape[1] != y.shape[1]:
            raise MetricError(f"{self.name}: inputs differ in width: {x.shape} vs {y.shape}")
        return x, y

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        saved = copy.deepcopy(self.options)
        self.options["split"] = self._split()
        try:
            return super().compute(reference, generated, seed=seed, device=device)
        finally:
            self.options = saved


class ClassifierLow(_CaloClassifier):
    description = "CaloChallenge cls-low: DNN on [log10 E_inc, voxels / E_inc]"
    defaults = {**_CaloClassifier.defaults, "features": "low"}


class ClassifierLowNormed(_CaloClassifier):
    description = (
        "CaloChallenge cls-low-normed: DNN on [log10 E_inc, voxels / E_layer, log10 E_layer]"
    )
    defaults = {**_CaloClassifier.defaults, "features": "low_normed"}


class ClassifierHigh(_CaloClassifier):
    description = "CaloChallenge cls-high: DNN on the high-level features"
    defaults = {**_CaloClassifier.defaults, "features": "high"}
