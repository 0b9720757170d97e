"""Geant4 ROOT ntuples, read with a declared mapping of branches:

- dense: ``voxels`` is one array branch ``(N, V)``, a list of V scalar branches, or a
  pattern such as ``"e_{layer}_{alpha}_{r}"`` expanded in the geometry's voxel order;
- sparse hits (Par04 style, one entry per hit): ``hits={"energy": "EnergyCell",
  "layer": "zCell", "alpha": "phiCell", "r": "rhoCell"}`` (or ``"voxel"`` for flat
  indices; ``"x"``/``"y"`` for Cartesian layers), summed into voxels.

``scale`` multiplies voxel energies (1/0.033 for Par04's visible energy, as the
challenge did), ``energy_scale`` the incident energy (1000 for GeV).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from surrogate import Events
from surrogate.errors import EventFileError, SpecError
from surrogate.io.root import guarded, object_names

from ..geometry import CartesianLayer, Geometry, get_geometry
from .challenge import challenge_spec


def voxel_branch_names(geometry: str | Geometry, pattern: str) -> list[str]:
    """Branch names for every voxel in the geometry's order from a pattern with
    ``{i}`` (flat index), ``{layer}``, ``{alpha}``, ``{r}`` (polar) or ``{x}``, ``{y}``."""
    geo = get_geometry(geometry)
    names = []
    i = 0
    for layer in geo.layers:
        if isinstance(layer, CartesianLayer):
            for y in range(layer.n_y):
                for x in range(layer.n_x):
                    names.append(pattern.format(i=i, layer=layer.id, x=x, y=y))
                    i += 1
        else:
            for a in range(layer.n_alpha):
                for r in range(layer.n_r):
                    names.append(pattern.format(i=i, layer=layer.id, alpha=a, r=r))
                    i += 1
    return names


def read_root(
    path: str | os.PathLike[str],
    geometry: str | Geometry,
    *,
    tree: str = "events",
    energy: str = "incident_energies",
    voxels: str | Sequence[str] | None = None,
    hits: Mapping[str, str] | None = None,
    scale: float = 1.0,
    energy_scale: float = 1.0,
    start: int = 0,
    stop: int | None = None,
) -> Events:
    """Read showers from a ROOT ntuple with a declared mapping of branches to voxels.

    ``energy``: the incident-energy branch.  Either ``voxels`` (dense: an array branch,
    a list of scalar branches, or a pattern with ``{layer}``/``{alpha}``/``{r}``/``{i}``)
    or ``hits`` (sparse: ``energy`` plus ``voxel`` or ``layer``+``alpha``+``r`` (polar) /
    ``layer``+``x``+``y`` (Cartesian) index branches, one entry per hit).
    """
    geo = get_geometry(geometry)
    spec = challenge_spec(geo)
    if (voxels is None) == (hits is None):
        raise SpecError("read_root: give either voxels= (dense) or hits= (sparse)")
    if hits is None:
        from surrogate.io import RootEventFile

        if isinstance(voxels, str) and re.search(r"\{(i|layer|alpha|r|x|y)\}", voxels):
            voxels = voxel_branch_names(geo, voxels)
        elif not isinstance(voxels, str):
            voxels = list(voxels)
            if len(voxels) != geo.n_voxels:
                raise EventFileError(
                    f"{path}: {len(voxels)} voxel branches declared, geometry {geo.name!r} "
                    f"has {geo.n_voxels} voxels"
                )
        with RootEventFile(
            path,
            spec,
            tree=tree,
            branches={"showers": voxels, "incident_energies": energy},
            scale={"showers": scale, "incident_energies": energy_scale},
        ) as f:
            n = len(f)
            stop = n if stop is None else min(stop, n)
            raw = f._read("showers", start, stop)
            if raw.ndim != 2 or raw.shape[1] != geo.n_voxels:
                raise EventFileError(
                    f"{path}: branch(es) for showers give shape {raw.shape}, geometry "
                    f"{geo.name!r} has {geo.n_voxels} voxels"
                )
            e = f._read("incident_energies", start, stop)
        return Events.checked({"showers": raw}, {"incident_energies": e}, spec, what=str(path))
    return _read_hits(path, geo, spec, tree, energy, hits, scale, energy_scale, start, stop)


def _read_hits(path, geo, spec, tree, energy, hits, scale, energy_scale, start, stop):
    hits = dict(hits)
    if "energy" not in hits:
        raise SpecError("read_root: hits= needs an 'energy' branch")
    cartesian = any(isinstance(layer, CartesianLayer) for layer in geo.layers)
    index_keys = (
        ["voxel"]
        if "voxel" in hits
        else (["layer", "x", "y"] if cartesian else ["layer", "alpha", "r"])
    )
    missing = [k for k in index_keys if k not in hits]
    if missing:
        raise SpecError(
            f"read_root: hits= needs 'voxel' or {', '.join(repr(k) for k in index_keys)} "
            f"(missing {missing[0]!r})"
        )
    wanted = [energy, hits["energy"], *(hits[k] for k in index_keys)]
    arrays = _read_branches(path, tree, wanted, start, stop)
    e_inc = _flatten(arrays[energy], np.float64, path, energy) * energy_scale
    n = len(e_inc)
    if len(arrays[hits["energy"]]) != n:
        raise EventFileError(f"{path}: branch {hits['energy']!r} is not one list per event")
    counts = np.array([np.size(x) for x in arrays[hits["energy"]]], dtype=np.int64)
    flat_e = _flatten(arrays[hits["energy"]], np.float64, path, hits["energy"]) * scale
    idx = {k: _flatten(arrays[hits[k]], np.int64, path, hits[k]) for k in index_keys}
    for k, v in idx.items():
        if len(v) != len(flat_e):
            raise EventFileError(
                f"{path}: branch {hits[k]!r} and {hits['energy']!r} differ in length"
            )
    voxel = _hit_voxels(geo, idx, path, hits)
    event = np.repeat(np.arange(n), counts)
    dense = np.bincount(event * geo.n_voxels + voxel, weights=flat_e, minlength=n * geo.n_voxels)
    return Events.checked(
        {"showers": dense.reshape(n, geo.n_voxels)},
        {"incident_energies": e_inc},
        spec,
        what=str(path),
    )


def _read_branches(path, tree: str, wanted: list[str], start: int, stop: int | None) -> dict:
    """The branches ``wanted`` of ``tree``, entries ``[start, stop)``, as numpy arrays
    (jagged ones as object arrays); every uproot call is :func:`guarded`."""
    import uproot

    f = guarded(path, "not a readable ROOT file", lambda: uproot.open(path))
    with f:
        keys = object_names(path, f)
        if tree not in keys:
            raise EventFileError(f"{path}: no tree {tree!r} (has {', '.join(sorted(keys))})")
        t = guarded(path, f"unreadable tree {tree!r}", lambda: f[tree])
        branches = guarded(path, f"unreadable tree {tree!r}", lambda: set(t.keys()))
        absent = [b for b in wanted if b not in branches]
        if absent:
            raise EventFileError(f"{path}: no branch {absent[0]!r} in tree {tree!r}")
        return guarded(
            path,
            f"cannot read tree {tree!r}",
            lambda: t.arrays(wanted, entry_start=start, entry_stop=stop, library="np"),
        )


def _flatten(jagged: Any, dtype, path, branch: str) -> np.ndarray:
    """Every value of a (jagged) branch in one flat array of ``dtype``; a branch of
    another type (strings, or NaN where indices are) is refused naming it."""
    try:
        if isinstance(jagged, np.ndarray) and jagged.dtype != object:
            return jagged.reshape(-1).astype(dtype)
        parts = [np.asarray(x, dtype=dtype).reshape(-1) for x in jagged]
    except (TypeError, ValueError):
        raise EventFileError(f"{path}: branch {branch!r} does not hold {np.dtype(dtype)}") from None
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _hit_voxels(geo: Geometry, idx: dict[str, np.ndarray], path, hits) -> np.ndarray:
    if "voxel" in idx:
        v = idx["voxel"]
        bad = (v < 0) | (v >= geo.n_voxels)
        if bad.any():
            raise EventFileError(
                f"{path}: branch {hits['voxel']!r} has voxel index {v[bad][0]} outside "
                f"0..{geo.n_voxels - 1}"
            )
        return v
    layer = idx["layer"]
    if ((layer < 0) | (layer >= len(geo.layers))).any():
        bad = layer[(layer < 0) | (layer >= len(geo.layers))][0]
        raise EventFileError(f"{path}: branch {hits['layer']!r} has layer {bad}, no such layer")
    offset = geo.bin_edges[layer]
    if "alpha" in idx:
        n_a = np.array([lay.n_alpha for lay in geo.layers])[layer]
        n_r = np.array([getattr(lay, "n_r", 0) for lay in geo.layers])[layer]
        a, r = idx["alpha"], idx["r"]
        for name, val, hi in (("alpha", a, n_a), ("r", r, n_r)):
            bad = (val < 0) | (val >= hi)
            if bad.any():
                raise EventFileError(
                    f"{path}: branch {hits[name]!r} has index {val[bad][0]} outside its layer's "
                    f"{name} bins (layer {layer[bad][0]})"
                )
        return offset + a * n_r + r
    n_x = np.array([getattr(lay, "n_x", 0) for lay in geo.layers])[layer]
    n_y = np.array([getattr(lay, "n_y", 0) for lay in geo.layers])[layer]
    x, y = idx["x"], idx["y"]
    for name, val, hi in (("x", x, n_x), ("y", y, n_y)):
        bad = (val < 0) | (val >= hi)
        if bad.any():
            raise EventFileError(
                f"{path}: branch {hits[name]!r} has index {val[bad][0]} out of range"
            )
    return offset + y * n_x + x
