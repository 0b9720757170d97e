"""CaloGAN's HDF5 files: ``energy`` (GeV) and one ``layer_i`` array ``(N, n_y, n_x)`` per
layer of the ``calogan`` geometry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from surrogate import Events
from surrogate.errors import EventFileError

from ..geometry import get_geometry
from .challenge import challenge_spec


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
