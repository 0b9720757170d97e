"""The CaloChallenge HDF5 format, exactly: two datasets at the root, ``incident_energies``
``(N, 1)`` and ``showers`` ``(N, V)``, both in MeV, gzip-compressed; the voxel order is
the binning XML's (layer, alpha, r).  Real challenge files carry no metadata, so they are
read with the geometry's spec; files this toolkit writes add provenance as root
*attributes*, which the challenge's ``evaluate.py`` ignores (``metadata=False`` writes
none)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from surrogate import Condition, Events, EventSpec, Field
from surrogate.errors import EventFileError, SpecError, SurrogateError
from surrogate.io.hdf5 import H5_DAMAGE, numeric_dataset
from surrogate.layouts import Layout

from ..geometry import Geometry, GeometryError, get_geometry

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
    check_hdf5(path)
    try:
        with h5py.File(path, "r") as f:
            showers, _ = _challenge_datasets(f, path)
            n, v, dtype = showers.shape[0], showers.shape[1], str(showers.dtype)
    except SurrogateError:
        raise
    except H5_DAMAGE as exc:  # h5py's error for a damaged header or datatype
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


def check_hdf5(path: Path) -> None:
    """Raise unless ``path`` is an HDF5 file."""
    import h5py

    if not path.is_file():
        raise EventFileError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise EventFileError(f"{path}: not an HDF5 file")


def _challenge_datasets(f: Any, path: Path) -> tuple[Any, Any]:
    """The ``showers`` (N, V) and ``incident_energies`` (N, 1) datasets, checked."""
    missing = [k for k in ("incident_energies", "showers") if k not in f]
    if missing:
        raise EventFileError(
            f"{path}: not a CaloChallenge file: no dataset {missing[0]!r} "
            f"(has {', '.join(sorted(f.keys())) or 'nothing'})"
        )
    showers = numeric_dataset(f, "showers", path)
    energies = numeric_dataset(f, "incident_energies", path)
    if showers.ndim != 2:
        raise EventFileError(f"{path}: 'showers' has shape {showers.shape}, not (N, V)")
    if energies.ndim != 2 or energies.shape[1] != 1:
        raise EventFileError(f"{path}: 'incident_energies' has shape {energies.shape}, not (N, 1)")
    if energies.shape[0] != showers.shape[0]:
        raise EventFileError(
            f"{path}: {energies.shape[0]} incident energies but {showers.shape[0]} showers"
        )
    return showers, energies


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
        part = range(len(reader))[start:stop]
        check_fits(len(part) * (reader.spec.field("showers").size + 1), path)
        return reader[start:stop]
    finally:
        reader.close()


def check_fits(values: int, path: str | os.PathLike[str]) -> None:
    """Refuse to read ``values`` numbers at once where the process could not hold them
    (as float64, the widest a reader makes): a file may claim more events than the
    memory holds, and the allocation would fail (or, overcommitted, be killed) midway."""
    from surrogate.memory import OutOfMemoryError, memory_available

    need = 8 * values
    left, source = memory_available()
    if need > left:
        raise OutOfMemoryError(
            f"{path}: reading it takes {need / 2**20:.0f} MB, more than the "
            f"{left / 2**20:.0f} MB {source} leaves this process: read a part (start, stop)"
        )


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
