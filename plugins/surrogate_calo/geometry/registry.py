"""Geometries by name or by detector-file path.

Names are those registered through the ``register_calo_geometries`` hook
(:mod:`surrogate_calo.hookspecs`): this plugin's built-in detector files and any a
third-party package adds, read from the toolkit's registry, so every plugin's geometries
are found the same way and two packages claiming one name is reported as such.  Each is
built once per registry (parsing a binning XML is not free, and identity lets callers
compare geometries).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from surrogate.registry import get_registry

from ..hookspecs import GEOMETRY_KIND
from ..registered import instance, lookup
from .calorimeter import Geometry
from .detector import load_geometry
from .layers import GeometryError

DATA = Path(__file__).parents[1] / "data"
#: The detector files shipped in ``data/``, registered by this plugin under these names.
BUILTIN = {
    "1-photons": DATA / "dataset_1_photons.yaml",
    "1-pions": DATA / "dataset_1_pions.yaml",
    "2": DATA / "dataset_2.yaml",
    "3": DATA / "dataset_3.yaml",
    "calogan": DATA / "calogan.yaml",
    "test": DATA / "test.yaml",
}
#: Other spellings of the built-in names (the challenge's file names, ``dsN``).
ALIASES = {
    "1_photons": "1-photons",
    "ds1-photons": "1-photons",
    "dataset_1_photons": "1-photons",
    "1_pions": "1-pions",
    "ds1-pions": "1-pions",
    "dataset_1_pions": "1-pions",
    "ds2": "2",
    "dataset_2": "2",
    "ds3": "3",
    "dataset_3": "3",
}


def geometry_names() -> list[str]:
    """Every geometry name :func:`get_geometry` knows (built-in and registered)."""
    return get_registry().names(GEOMETRY_KIND)


def get_geometry(spec: str | os.PathLike[str] | Geometry) -> Geometry:
    """A geometry by name (built-in or registered), by detector-file path, or as given."""
    if isinstance(spec, Geometry):
        return spec
    key, names = str(spec), geometry_names()
    if key in ALIASES:
        if key in names:
            raise GeometryError(
                f"geometry name {key!r} is registered, but it stands for the built-in "
                f"{ALIASES[key]!r}: the package registering it must choose another"
            )
        key = ALIASES[key]
    if key not in names and (key.endswith((".yaml", ".yml")) or os.sep in key):
        return load_geometry(key)
    return lookup(GEOMETRY_KIND, key, functools.partial(_geometry, name=key), GeometryError)


def _geometry(factory: Any, name: str) -> Geometry:
    """The geometry a registered factory stands for (see ``register_calo_geometries``)."""
    if isinstance(factory, os.PathLike):
        factory = load_geometry(factory)
    return instance(factory, name, Geometry, GeometryError)
