"""The CaloChallenge file format, Geant4 ROOT ntuples and CaloGAN files.

CaloChallenge HDF5 (exactly): two datasets at the root, ``incident_energies`` ``(N, 1)``
and ``showers`` ``(N, V)``, both in MeV, gzip-compressed; the voxel order is the binning
XML's (layer, alpha, r).  Real challenge files carry no metadata, so they are read with
the geometry's spec; files this toolkit writes add provenance as root *attributes*,
which the challenge's ``evaluate.py`` ignores (``metadata=False`` writes none).

Geant4 ROOT ntuples are read with a declared mapping of branches:

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
from pathlib import Path
from typing import Any

import numpy as np

from surrogate import Condition, Events, EventSpec, Field
from surrogate.errors import EventFileError, SpecError
from surrogate.layouts import Layout

from .geometry import CartesianLayer, Geometry, GeometryError, get_geometry

#: The challenge's HDF5 layout: ``incident_energies`` (N, 1) and ``showers`` (N, V) at the
#: root, as the 2022 Fast Calorimeter Simulation Challenge files, so files written here
#: open in its evaluation code.
CHALLENGE_LAYOUT = Layout(
    "calochallenge",
    "CaloChallenge 2022: showers (N, V) and incident_energies (N, 1), MeV",
    fields=("showers",),
    conditions=("incident_energies",),
    field_ndim=1,
    condition_shape=(1,),
)

# events per class the challenge's classifier split needs (train + test + validation)
CLASSIFIER_EVENTS = {"1-photons": 121_000, "1-pions": 120_800, "2": 100_000, "3": 100_000}


def challenge_spec(geometry: str | Geometry, particle: str | None = None) -> EventSpec:
    """The event spec of showers in ``geometry``: ``showers`` (V,) MeV >= 0 and the
    condition ``incident_energies`` in MeV over the geometry's valid range (``particle``:
    the one named in the description, default the geometry's)."""
    geo = get_geometry(geometry)
    low, high = geo.energy_range
    return EventSpec(
        fields=(
            Field(
                "showers",
                (geo.n_voxels,),
                "float32",
                "MeV",
                low=0.0,
                description=f"voxel energies, geometry {geo.name}",
            ),
        ),
        conditions=(
            Condition(
                "incident_energies",
                "MeV",
                low,
                high,
                prior=geo.energy_prior,
                description=f"incident {particle or geo.particle} energy",
            ),
        ),
        layout="calochallenge",
    )


def inspect_challenge_file(path: str | os.PathLike[str], geometry: str | Geometry) -> dict:
    """Check a CaloChallenge HDF5 file's structure against ``geometry`` without reading
    the showers; raise :class:`EventFileError` naming the problem.

    Returns ``{"n_events", "n_voxels", "dtype", "enough_for_classifier"}``; the last says
    whether the file has as many events per class as the challenge's classifier split
    takes (``evaluate.py`` needs at least as many generated as reference events).
    """
    import h5py

    geo = get_geometry(geometry)
    path = Path(path)
    if not path.is_file():
        raise EventFileError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise EventFileError(f"{path}: not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("incident_energies", "showers") if k not in f]
            if missing:
                raise EventFileError(
                    f"{path}: not a CaloChallenge file: no dataset {missing[0]!r} "
                    f"(has {', '.join(sorted(f.keys())) or 'nothing'})"
                )
            showers, energies = f["showers"], f["incident_energies"]
            if showers.ndim != 2:
                raise EventFileError(f"{path}: 'showers' has shape {showers.shape}, not (N, V)")
            if energies.ndim != 2 or energies.shape[1] != 1:
                raise EventFileError(
                    f"{path}: 'incident_energies' has shape {energies.shape}, not (N, 1)"
                )
            if energies.shape[0] != showers.shape[0]:
                raise EventFileError(
                    f"{path}: {energies.shape[0]} incident energies but {showers.shape[0]} showers"
                )
            n, v, dtype = showers.shape[0], showers.shape[1], str(showers.dtype)
    except OSError as exc:
        raise EventFileError(f"{path}: unreadable HDF5 file, truncated? ({exc})") from exc
    try:
        geo.check_voxels(v, str(path))
    except GeometryError as exc:  # a file problem: report it as one
        raise EventFileError(str(exc)) from None
    need = CLASSIFIER_EVENTS.get(geo.challenge or "")
    return {
        "n_events": n,
        "n_voxels": v,
        "dtype": dtype,
        "enough_for_classifier": None if need is None else n >= need,
    }


def open_challenge(path: str | os.PathLike[str], geometry: str | Geometry):
    """A lazy reader (``len``, ``f[a:b]`` -> Events, ``batches``) of a CaloChallenge file,
    checked against ``geometry`` first (voxel count, dataset shapes)."""
    from surrogate.io import EventFile

    inspect_challenge_file(path, geometry)
    return EventFile(path, challenge_spec(geometry))


def read_challenge(
    path: str | os.PathLike[str],
    geometry: str | Geometry,
    *,
    start: int = 0,
    stop: int | None = None,
) -> Events:
    """Read showers ``[start:stop]`` of a CaloChallenge file (real Geant4 data or ours).

    Negative or NaN voxel energies and incident energies outside the geometry's range are
    refused with an error naming the file, the dataset and the first bad event.
    """
    reader = open_challenge(path, geometry)
    try:
        return reader[start:stop]
    finally:
        reader.close()


def write_challenge(
    path: str | os.PathLike[str],
    events: Events,
    geometry: str | Geometry | None = None,
    *,
    metadata: bool = True,
    producer: str = "surrogate_calo.write_challenge",
    producer_kind: str = "external",
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Write events as a CaloChallenge file ``evaluate.py`` accepts.

    ``events`` need a ``showers`` field and an ``incident_energies`` condition (MeV).  With
    ``metadata`` the toolkit's provenance goes in root attributes (the file then reopens
    without a spec; ``producer``/``producer_kind``/``options`` are recorded: name the
    simulator and its options so ``surrogate validate`` can rebuild it); without, the file
    holds exactly the challenge's two datasets.
    """
    geo = get_geometry(geometry) if geometry is not None else None
    if "showers" not in events.fields or "incident_energies" not in events.conditions:
        raise SpecError(
            "write_challenge: events need the field 'showers' and the condition 'incident_energies'"
        )
    showers = np.asarray(events["showers"])
    if showers.ndim != 2:
        raise SpecError(f"write_challenge: showers have shape {showers.shape}, not (N, V)")
    if geo is None:
        spec = events.spec
        if spec is None or spec.layout != "calochallenge":
            raise SpecError("write_challenge: give the geometry (events carry no challenge spec)")
    else:
        geo.check_voxels(showers.shape[1], "write_challenge")
        spec = challenge_spec(geo)
    checked = Events.checked(
        {"showers": showers},
        {"incident_energies": events["incident_energies"]},
        spec,
        what=f"showers for {Path(path).name}",
    )
    if metadata:
        from surrogate.io import make_metadata, write_events

        meta = make_metadata(
            spec,
            producer=producer,
            producer_kind=producer_kind,
            options=dict(options)
            if options is not None
            else {"geometry": geo.name if geo else None},
        )
        return write_events(path, checked, meta)
    import h5py

    from surrogate.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(
            "incident_energies",
            data=checked["incident_energies"].reshape(-1, 1),
            compression="gzip",
        )
        f.create_dataset("showers", data=checked["showers"], compression="gzip")
    return path


# -- ROOT ---------------------------------------------------------------------------------
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
    import uproot

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
    try:
        f = uproot.open(path)
    except Exception as exc:
        raise EventFileError(f"{path}: not a readable ROOT file ({exc})") from exc
    with f:
        keys = {k.split(";")[0] for k in f.keys()}  # noqa: SIM118
        if tree not in keys:
            raise EventFileError(f"{path}: no tree {tree!r} (has {', '.join(sorted(keys))})")
        t = f[tree]
        wanted = [energy, hits["energy"], *(hits[k] for k in index_keys)]
        branches = set(t.keys())
        absent = [b for b in wanted if b not in branches]
        if absent:
            raise EventFileError(f"{path}: no branch {absent[0]!r} in tree {tree!r}")
        arrays = t.arrays(wanted, entry_start=start, entry_stop=stop, library="np")
    e_inc = np.asarray(arrays[energy], dtype=np.float64).reshape(-1) * energy_scale
    n = len(e_inc)
    counts = np.array([len(x) for x in arrays[hits["energy"]]], dtype=np.int64)
    flat_e = _flatten(arrays[hits["energy"]], np.float64) * scale
    idx = {k: _flatten(arrays[hits[k]], np.int64) for k in index_keys}
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


def _flatten(jagged: Any, dtype) -> np.ndarray:
    if isinstance(jagged, np.ndarray) and jagged.dtype != object:
        return jagged.reshape(-1).astype(dtype)
    parts = [np.asarray(x, dtype=dtype).reshape(-1) for x in jagged]
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


# -- CaloGAN ------------------------------------------------------------------------------
def read_calogan(
    path: str | os.PathLike[str], *, energy_scale: float = 1000.0, scale: float = 1.0
) -> Events:
    """Read a CaloGAN HDF5 file (``energy``, ``layer_0`` (N,3,96), ``layer_1`` (N,12,12),
    ``layer_2`` (N,12,6); ``overflow`` ignored) as showers of the ``calogan`` geometry.

    ``energy_scale`` converts the incident energy to MeV (CaloGAN stores GeV) and ``scale``
    the cell energies (assumed MeV, **unverified**: check against your file).
    """
    import h5py

    geo = get_geometry("calogan")
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        raise EventFileError(f"{path}: no such HDF5 file")
    with h5py.File(path, "r") as f:
        needed = ["energy", "layer_0", "layer_1", "layer_2"]
        missing = [k for k in needed if k not in f]
        if missing:
            raise EventFileError(f"{path}: not a CaloGAN file: no dataset {missing[0]!r}")
        blocks = []
        for i in range(3):
            layer = geo.layers[i]
            arr = f[f"layer_{i}"][:]
            if arr.shape[1:] != (layer.n_y, layer.n_x):
                raise EventFileError(
                    f"{path}: layer_{i} has shape {arr.shape}, "
                    f"expected (N, {layer.n_y}, {layer.n_x})"
                )
            blocks.append(arr.reshape(len(arr), -1))
        e = np.asarray(f["energy"][:], dtype=np.float64).reshape(-1) * energy_scale
    showers = np.concatenate(blocks, axis=1) * scale
    return Events.checked(
        {"showers": showers}, {"incident_energies": e}, challenge_spec(geo), what=str(path)
    )


def write_calogan(
    path: str | os.PathLike[str],
    events: Events,
    *,
    energy_scale: float = 1000.0,
    scale: float = 1.0,
) -> Path:
    """Write ``calogan``-geometry showers in CaloGAN's layout (inverse of :func:`read_calogan`;
    ``overflow`` is written as zeros)."""
    import h5py

    from surrogate.io.atomic import atomic_path

    geo = get_geometry("calogan")
    showers = np.asarray(events["showers"], dtype=np.float64) / scale
    geo.check_voxels(showers.shape[1], "write_calogan")
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("energy", data=np.asarray(events["incident_energies"]) / energy_scale)
        for i in range(3):
            f.create_dataset(f"layer_{i}", data=geo.layer_grid(showers, i), compression="gzip")
        f.create_dataset("overflow", data=np.zeros((len(showers), 3)))
    return path
