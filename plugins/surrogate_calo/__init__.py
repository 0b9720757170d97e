"""Calorimeter showers: CaloChallenge geometries, the GFlash reference simulator, the
challenge's file format, shower observables and metrics.

    import surrogate
    sim = surrogate.simulator("calo.gflash", geometry="2")          # or "1-photons", "calogan"
    showers = sim.sample(1000, {"incident_energies": 50_000.0}, seed=1)

    from surrogate_calo import get_geometry, read_challenge
    geo = get_geometry("2")                                          # X0, R_M, E_c, F_s...
    events = read_challenge("dataset_2_1.hdf5", geometry="2")        # real Geant4 showers
"""

from __future__ import annotations

from .geometry import (
    CartesianLayer,
    Geometry,
    GeometryError,
    PolarLayer,
    geometry_from_dict,
    geometry_names,
    get_geometry,
    load_geometry,
    parse_binning,
    register_geometry,
)
from .materials import MATERIALS, Material, MaterialError, Stack, get_material, register_material


def gflash_for(geometry, **defaults):
    """A ``calo.gflash`` factory bound to ``geometry`` (a name, detector-file path or
    :class:`Geometry`): what a third-party detector plugin registers::

        @hookimpl
        def register_simulators(register):
            register("mydet.gflash", gflash_for(Path(__file__).with_name("mydet.yaml")))

    Other options (``particle``, ``parity``...) stay available to the caller.
    """
    import functools
    import os

    from .gflash import GFlash

    if isinstance(geometry, os.PathLike):
        geometry = str(geometry)
    return functools.partial(GFlash, geometry=geometry, **defaults)


__all__ = [
    "MATERIALS",
    "CartesianLayer",
    "Geometry",
    "GeometryError",
    "Material",
    "MaterialError",
    "PolarLayer",
    "Stack",
    "geometry_from_dict",
    "geometry_names",
    "get_geometry",
    "get_material",
    "gflash_for",
    "load_geometry",
    "parse_binning",
    "register_geometry",
    "register_material",
]
