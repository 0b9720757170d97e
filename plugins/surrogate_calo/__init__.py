"""Calorimeter showers: CaloChallenge geometries, the GFlash reference simulator, the
challenge's file format, shower observables and metrics.

    import surrogate
    sim = surrogate.simulator("calo.gflash", geometry="2")          # or "1-photons", "calogan"
    showers = sim.sample(1000, {"incident_energies": 50_000.0}, seed=1)

    from surrogate_calo import get_geometry
    from surrogate_calo.io import read_challenge
    geo = get_geometry("2")                                          # X0, R_M, E_c, F_s...
    events = read_challenge("dataset_2_1.hdf5", geometry="2")        # real Geant4 showers

A detector package adds geometries and materials through this plugin's hooks
(:mod:`surrogate_calo.hookspecs`), and ``gflash_for`` makes ``calo.gflash`` simulate them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from surrogate import Simulator

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
)
from .materials import Material, MaterialError, Stack, compound, get_material


def gflash_for(
    geometry: str | os.PathLike[str] | Geometry, **defaults: Any
) -> Callable[..., Simulator]:
    """A ``calo.gflash`` factory bound to ``geometry`` (a name, detector-file path or
    :class:`Geometry`): what a third-party detector plugin registers as its simulator::

        @hookimpl
        def register_calo_geometries(register):
            register("mydet", Path(__file__).with_name("mydet.yaml"))

        @hookimpl
        def register_simulators(register):
            register("mydet.gflash", gflash_for("mydet"))

    Other options (``particle``, ``parity``...) stay available to the caller.
    """
    from .gflash import GFlash  # imports scipy: only when a plugin registers a simulator

    if isinstance(geometry, os.PathLike):
        geometry = str(geometry)
    return functools.partial(GFlash, geometry=geometry, **defaults)


__all__ = [
    "CartesianLayer",
    "Geometry",
    "GeometryError",
    "Material",
    "MaterialError",
    "PolarLayer",
    "Stack",
    "compound",
    "geometry_from_dict",
    "geometry_names",
    "get_geometry",
    "get_material",
    "gflash_for",
    "load_geometry",
    "parse_binning",
]
