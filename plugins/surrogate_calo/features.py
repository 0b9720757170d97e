"""Shower observables with the CaloChallenge's conventions exactly (``code/evaluate.py``,
``HighLevelFeatures.py``, ``evaluate_plotting_helper.py``), in the same arithmetic.

- Voxels below the dataset's cut (1 MeV for ds1, 0.5 keV / 0.033 = 15.15 keV for ds2/3,
  the geometry's ``cut``) are set to 0 first.
- Arithmetic: ``evaluate.py`` works on the arrays as ``h5py`` reads them, so on the float32
  showers this toolkit writes its sums (``E_tot``, ``E_layer``, the denominators of the
  centres and widths) are numpy float32 sums, and the numerators float64 sums of float64
  coordinate x float32 energy products.  The same numpy operations are done here, in the
  showers' own dtype (float32 stays float32, float64 stays float64), so that events on a
  bin edge (``EC_r`` at a ring centre, ``E_tot/E_inc`` of exactly 1) and the log bins'
  top edge (``log10`` of a float32 maximum) land where they land there.
- Per layer with voxels: ``E_layer``; ``EC_r``, ``W_r`` (bin-centre r); the sparsity
  ``1 - mean(e > 0)``; for layers binned in alpha (or 2D) also ``EC_eta``, ``EC_phi``,
  ``W_eta``, ``W_phi`` with ``EC = sum(x e) / (sum e + 1e-16)`` and
  ``W = sqrt(max(0, sum(x^2 e) / (sum e + 1e-16) - EC^2))`` (mm).
- Classifier inputs: ``low`` = [log10 E_inc, voxels / E_inc]; ``low_normed`` =
  [log10 E_inc, voxel / (E_layer + 1e-16), log10(E_layer + 1e-8)] (as ``evaluate.py``,
  the voxels here are *not* cut while the layer energies are); ``high`` = [log10 E_inc,
  log10(E_layer + 1e-8), EC_eta/100, EC_phi/100, W_eta/100, W_phi/100,
  log10(E_tot + 1e-8), sparsity, EC_r/100, W_r/100] (EC/W in eta, phi from alpha-binned
  layers only), which is also the FPD/KPD input.
- Histogram binnings for the separation power: :func:`histogram_edges`.

CaloGAN's own features (``analysis/feats1d.py``): :func:`calogan_features`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Geometry, get_geometry

EPS_EC = 1e-16
EPS_LOG = 1e-8


@dataclass
class HighLevelFeatures:
    """The challenge's high-level features of a batch of showers (dicts keyed by layer id)."""

    geometry: Geometry
    e_inc: np.ndarray
    e_tot: np.ndarray
    e_layer: dict[int, np.ndarray]
    ec_eta: dict[int, np.ndarray]
    ec_phi: dict[int, np.ndarray]
    w_eta: dict[int, np.ndarray]
    w_phi: dict[int, np.ndarray]
    ec_r: dict[int, np.ndarray]
    w_r: dict[int, np.ndarray]
    sparsity: dict[int, np.ndarray]

    def matrix(self) -> np.ndarray:
        """The ``cls-high`` input (and FPD/KPD features), ``(N, d)``."""
        g = self.geometry
        cols = [np.log10(self.e_inc)[:, None]]
        cols += [np.log10(self.e_layer[i] + EPS_LOG)[:, None] for i in g.relevant_layers]
        for d in (self.ec_eta, self.ec_phi, self.w_eta, self.w_phi):
            cols += [d[i][:, None] / 1e2 for i in g.alpha_layers]
        cols.append(np.log10(self.e_tot + EPS_LOG)[:, None])
        cols += [self.sparsity[i][:, None] for i in g.relevant_layers]
        cols += [self.ec_r[i][:, None] / 1e2 for i in g.relevant_layers]
        cols += [self.w_r[i][:, None] / 1e2 for i in g.relevant_layers]
        return np.concatenate(cols, axis=1)

    def names(self) -> list[str]:
        """Column names of :meth:`matrix`."""
        g = self.geometry
        out = ["log10 E_inc"] + [f"log10 E_layer_{i}" for i in g.relevant_layers]
        for key in ("EC_eta", "EC_phi", "W_eta", "W_phi"):
            out += [f"{key}_{i}/100" for i in g.alpha_layers]
        out.append("log10 E_tot")
        out += [f"sparsity_{i}" for i in g.relevant_layers]
        out += [f"EC_r_{i}/100" for i in g.relevant_layers]
        out += [f"W_r_{i}/100" for i in g.relevant_layers]
        return out

    def scalars(self) -> dict[str, np.ndarray]:
        """Every per-event feature by name (``E_layer_2``, ``EC_eta_1``, ...)."""
        out = {"E_tot": self.e_tot, "E_tot/E_inc": self.e_tot / self.e_inc}
        for key, d in (
            ("E_layer", self.e_layer),
            ("EC_eta", self.ec_eta),
            ("EC_phi", self.ec_phi),
            ("W_eta", self.w_eta),
            ("W_phi", self.w_phi),
            ("EC_r", self.ec_r),
            ("W_r", self.w_r),
            ("sparsity", self.sparsity),
        ):
            out |= {f"{key}_{i}": v for i, v in d.items()}
        return out


def _floating(x: np.ndarray) -> np.ndarray:
    """``x`` itself when it is a float array, else as float64."""
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def apply_cut(showers: np.ndarray, cut: float) -> np.ndarray:
    """``np.where(showers < cut, 0, showers)`` in the showers' own float dtype, as
    ``evaluate.py`` cuts the arrays it reads (non-float input becomes float64)."""
    x = _floating(np.asarray(showers))
    return np.where(x < cut, 0.0, x) if cut > 0 else x


def layer_centres_x0(geometry: Geometry) -> np.ndarray:
    """The depth of each layer's centre in the geometry's effective radiation lengths,
    in the order of ``relevant_layers``."""
    x0 = geometry.parameters().x0
    return np.array(
        [(geometry.depth[i][0] + geometry.depth[i][1]) / 2 / x0 for i in geometry.relevant_layers]
    )


def shower_depth(showers: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The longitudinal centroid of each shower, in X0: the layer-centre depths weighted
    by the layer energies after the geometry's cut (0 for an empty shower).  Not a
    challenge feature; the depth a rare-topology study selects on."""
    x = apply_cut(np.asarray(showers), geometry.cut).astype(np.float64)
    geometry.check_voxels(x.shape[1], "shower depth")
    layers = np.stack(
        [x[:, geometry.layer_slice(i)].sum(axis=1) for i in geometry.relevant_layers], 1
    )
    return layers @ layer_centres_x0(geometry) / np.maximum(layers.sum(axis=1), 1e-12)


def _check(showers: np.ndarray, e_inc: np.ndarray, geometry: Geometry) -> tuple:
    x = _floating(np.asarray(showers))
    if x.ndim != 2:
        raise ValueError(f"showers must be (N, V), got shape {x.shape}")
    geometry.check_voxels(x.shape[1], "features")
    e = _floating(np.asarray(e_inc)).reshape(-1)
    if len(e) != len(x):
        raise ValueError(f"{len(e)} incident energies for {len(x)} showers")
    return x, e


def high_level_features(
    showers: np.ndarray,
    incident_energies: np.ndarray,
    geometry: str | Geometry,
    *,
    cut: float | None = None,
    chunk_values: int = 20_000_000,
) -> HighLevelFeatures:
    """The challenge's features of ``showers`` (N, V) in MeV; ``cut`` defaults to the
    geometry's (``0`` to disable).  Computed in the showers' dtype as ``evaluate.py`` does
    (module docstring) over chunks of events (each event's sums are its own, so chunking
    changes no bit), so memory stays bounded for dataset 3."""
    geo = get_geometry(geometry)
    x, e_inc = _check(showers, incident_energies, geo)
    cut = geo.cut if cut is None else float(cut)
    step = max(1, int(chunk_values) // max(geo.n_voxels, 1))
    parts = [_features_block(x[s : s + step], geo, cut) for s in range(0, len(x), step)]
    if not parts:
        parts = [_features_block(x[:0], geo, cut)]
    merged = {
        key: {i: np.concatenate([p[key][i] for p in parts]) for i in parts[0][key]}
        for key in parts[0]
        if key != "e_tot"
    }
    return HighLevelFeatures(geo, e_inc, np.concatenate([p["e_tot"] for p in parts]), **merged)


def _features_block(showers: np.ndarray, geo: Geometry, cut: float) -> dict:
    x = apply_cut(showers, cut)
    coords = geo.coordinates
    out: dict = {k: {} for k in ("e_layer", "ec_eta", "ec_phi", "w_eta", "w_phi", "ec_r", "w_r")}
    out["sparsity"] = {}
    out["e_tot"] = x.sum(axis=1)
    for layer_id in geo.relevant_layers:
        sl = geo.layer_slice(layer_id)
        block = x[:, sl]
        total = block.sum(axis=1)
        out["e_layer"][layer_id] = total
        out["sparsity"][layer_id] = 1.0 - (block > 0).mean(axis=1)
        denom = total + EPS_EC  # in the showers' dtype, as HighLevelFeatures adds it
        out["ec_r"][layer_id], out["w_r"][layer_id] = _centre_and_width(
            coords["r"][sl], block, denom
        )
        if layer_id in geo.alpha_layers:
            for axis in ("eta", "phi"):
                out[f"ec_{axis}"][layer_id], out[f"w_{axis}"][layer_id] = _centre_and_width(
                    coords[axis][sl], block, denom
                )
    return out


def _centre_and_width(
    c: np.ndarray, block: np.ndarray, denom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``EC = sum(c e) / denom`` and ``W = sqrt(max(0, sum(c c e) / denom - EC^2))`` with
    HighLevelFeatures' operations (elementwise products, then numpy's row sums: a matrix
    product would sum in another order and move events that sit on a bin edge)."""
    ec = (c * block).sum(axis=1) / denom
    second = (c * c * block).sum(axis=1) / denom
    return ec, np.sqrt(np.clip(second - ec**2, 0, None))


def low_level_features(
    showers: np.ndarray, incident_energies: np.ndarray, geometry: str | Geometry, *, cut=None
) -> np.ndarray:
    """``cls-low`` input: [log10 E_inc, cut voxels / E_inc]."""
    geo = get_geometry(geometry)
    x, e = _check(showers, incident_energies, geo)
    x = apply_cut(x, geo.cut if cut is None else float(cut))
    return np.concatenate([np.log10(e)[:, None], x / e[:, None]], axis=1)


def low_level_normed_features(
    showers: np.ndarray, incident_energies: np.ndarray, geometry: str | Geometry, *, cut=None
) -> np.ndarray:
    """``cls-low-normed`` input: [log10 E_inc, voxel / (E_layer + 1e-16),
    log10(E_layer + 1e-8)]; like ``evaluate.py``, layer energies come from the cut showers
    while the normalised voxels are not cut (both in the showers' dtype)."""
    geo = get_geometry(geometry)
    x, e = _check(showers, incident_energies, geo)
    cut_x = apply_cut(x, geo.cut if cut is None else float(cut))
    parts, layer_e = [], []
    for layer_id in geo.relevant_layers:
        sl = geo.layer_slice(layer_id)
        el = cut_x[:, sl].sum(axis=1)
        parts.append(x[:, sl] / (el[:, None] + EPS_EC))
        layer_e.append(np.log10(el + EPS_LOG)[:, None])
    return np.concatenate([np.log10(e)[:, None], *parts, *layer_e], axis=1)


# -- the challenge's histogram binnings -------------------------------------------------------
DS1_TARGET_ENERGIES = 2.0 ** np.linspace(8, 23, 16)


def histogram_edges(
    feature: str, geometry: Geometry, reference: np.ndarray | None = None
) -> np.ndarray:
    """Edges of the challenge's histogram of ``feature`` (``E_tot/E_inc``, ``E_layer``,
    ``EC_eta``, ``EC_phi``, ``W_eta``, ``W_phi``, ``EC_r``, ``W_r``, ``sparsity``, ``voxel``,
    with ``_<layer id>`` where per layer).  ``E_layer`` and ``voxel`` use the reference
    sample's maximum (log bins from the cut; ``log10`` of the maximum in the reference's
    own dtype, as ``evaluate.py`` takes it, so a float32 maximum moves the top edge as
    there)."""
    name, lid = feature, ""
    for key in ("E_layer", "EC_eta", "EC_phi", "W_eta", "W_phi", "EC_r", "W_r", "sparsity"):
        if feature.startswith(key + "_"):
            name, lid = key, feature[len(key) + 1 :]
    layer = int(lid) if lid else None
    ds12 = geometry.challenge in ("2", "3")
    if name == "E_tot/E_inc":
        return np.linspace(0.5, 1.5, 101)
    if name in ("E_layer", "voxel"):
        if reference is None or not np.any(np.asarray(reference) > 0):
            raise ValueError(f"{feature}: log bins need a reference sample with energy")
        return log_edges(reference, geometry.cut, 40 if name == "E_layer" else 50)
    if name in ("EC_eta", "EC_phi"):
        lim = (-30.0, 30.0) if ds12 else (-500.0, 500.0) if layer in (12, 13) else (-100.0, 100.0)
        return np.linspace(*lim, 101)
    if name in ("W_eta", "W_phi"):
        lim = (0.0, 30.0) if ds12 else (0.0, 400.0) if layer in (12, 13) else (0.0, 100.0)
        return np.linspace(*lim, 101)
    if name in ("EC_r", "W_r"):
        if ds12:
            lim = (0.0, 42.0) if name == "EC_r" else (0.0, 20.0)
        else:
            lim = (0.0, 1500.0) if layer in (12, 13, 14) else (0.0, 500.0)
        return np.linspace(*lim, 101)
    if name == "sparsity":
        return np.linspace(0.0, 1.0, 21)
    raise ValueError(f"no challenge histogram for {feature!r}")


def log_edges(reference: np.ndarray, cut: float, n_edges: int) -> np.ndarray:
    """``logspace(log10 cut, log10 max(reference), n_edges)``, the top edge from the
    reference's maximum in its own dtype (``evaluate.py``'s ``np.log10(x.max())``); from
    the smallest positive value (at least 1e-6) where there is no cut."""
    ref = _floating(np.asarray(reference))
    low = cut if cut > 0 else max(float(np.min(ref[ref > 0])), 1e-6)
    return np.logspace(np.log10(low), np.log10(np.max(ref)), n_edges)


def ds1_energy_bins(particle: str) -> list[tuple[float, float, np.ndarray]]:
    """Dataset 1's per-E_inc E_tot/E_inc histograms: ``(E_low, E_high, edges)`` for the
    15 energies (photons above 4 GeV get the narrow linspace(0.9, 1.1, 21))."""
    out = []
    t = DS1_TARGET_ENERGIES
    for i in range(len(t) - 1):
        narrow = i > 3 and particle == "photon"
        edges = np.linspace(0.9, 1.1, 21) if narrow else np.linspace(0.4, 1.4, 21)
        out.append((float(t[i]), float(t[i + 1]), edges))
    return out


# -- CaloGAN ------------------------------------------------------------------------------------
def calogan_features(showers: np.ndarray) -> dict[str, np.ndarray]:
    """CaloGAN's 1-D shower shapes (``analysis/feats1d.py``) for ``calogan`` showers:
    ``E_i/E_tot`` per layer, ``depth = (E_1 + 2 E_2) / E_tot`` and per layer
    ``E_ratio = (E_max1 - E_max2) / (E_max1 + E_max2 + 1e-6)`` (two hottest cells)."""
    geo = get_geometry("calogan")
    x = np.asarray(showers, dtype=np.float64)
    geo.check_voxels(x.shape[1], "calogan_features")
    layers = [x[:, geo.layer_slice(i)] for i in range(3)]
    e = [layer.sum(axis=1) for layer in layers]
    total = e[0] + e[1] + e[2]
    safe = np.where(total > 0, total, 1.0)
    out = {f"E_{i}/E_tot": e[i] / safe for i in range(3)}
    out["depth"] = (e[1] + 2.0 * e[2]) / safe
    for i, layer in enumerate(layers):
        top = np.sort(layer, axis=1)[:, -2:]
        out[f"E_ratio_{i}"] = (top[:, 1] - top[:, 0]) / (top[:, 1] + top[:, 0] + 1e-6)
    return out
