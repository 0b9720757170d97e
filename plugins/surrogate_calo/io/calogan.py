"""CaloGAN's HDF5 files: ``energy`` (GeV) and one ``layer_i`` array ``(N, n_y, n_x)`` per
layer of the ``calogan`` geometry."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from surrogate import Events
from surrogate.errors import EventFileError, SurrogateError
from surrogate.io.hdf5 import H5_DAMAGE, numeric_dataset

from ..geometry import Geometry, get_geometry
from .challenge import challenge_spec, check_fits, check_hdf5


def read_calogan(
    path: str | os.PathLike[str], *, energy_scale: float = 1000.0, scale: float = 1.0
) -> Events:
    """Read a CaloGAN HDF5 file (``energy``, ``layer_0`` (N,3,96), ``layer_1`` (N,12,12),
    ``layer_2`` (N,12,6); ``overflow`` ignored) as showers of the ``calogan`` geometry.

    ``energy_scale`` converts the incident energy to MeV (CaloGAN stores GeV) and ``scale``
    the cell energies (assumed MeV, **unverified**: check against your file).  Every
    dataset's shape is checked before anything is read, and what is read must fit in
    memory: a file may claim more events than it holds.
    """
    import h5py

    geo = get_geometry("calogan")
    path = Path(path)
    check_hdf5(path)
    try:
        with h5py.File(path, "r") as f:
            datasets = _calogan_datasets(f, path, geo)
            check_fits(datasets[0].shape[0] * (geo.n_voxels + 1), path)
            arrays = [ds[:] for ds in datasets]
    except SurrogateError:
        raise
    except H5_DAMAGE as exc:  # h5py's error for a damaged header, datatype or chunk
        raise EventFileError(f"{path}: unreadable HDF5 file, truncated? ({exc})") from exc
    e = np.asarray(arrays[0], dtype=np.float64).reshape(-1) * energy_scale
    blocks = [a.reshape(len(e), math.prod(a.shape[1:])) for a in arrays[1:]]
    showers = np.concatenate(blocks, axis=1) * scale
    return Events.checked(
        {"showers": showers}, {"incident_energies": e}, challenge_spec(geo), what=str(path)
    )


def _calogan_datasets(f: Any, path: Path, geo: Geometry) -> list[Any]:
    """``energy`` (N,) or (N, 1) and the ``layer_i`` (N, n_y, n_x) datasets, checked."""
    needed = ["energy", *(f"layer_{i}" for i in range(len(geo.layers)))]
    missing = [k for k in needed if k not in f]
    if missing:
        raise EventFileError(f"{path}: not a CaloGAN file: no dataset {missing[0]!r}")
    datasets = [numeric_dataset(f, name, path) for name in needed]
    energy = datasets[0]
    if energy.ndim not in (1, 2) or energy.shape[1:] not in ((), (1,)):
        raise EventFileError(f"{path}: energy has shape {energy.shape}, expected (N,)")
    for layer, ds in zip(geo.layers, datasets[1:], strict=True):
        if ds.shape != (energy.shape[0], layer.n_y, layer.n_x):
            raise EventFileError(
                f"{path}: layer_{layer.id} has shape {ds.shape}, "
                f"expected ({energy.shape[0]}, {layer.n_y}, {layer.n_x}) as energy"
            )
    return datasets


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
