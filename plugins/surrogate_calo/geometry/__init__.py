"""Voxel geometries: the CaloChallenge binning XML, its material stack and layer depths.

A :class:`Geometry` is what the simulator deposits into and what the observables read:

- the readout layers in file order, each :class:`PolarLayer` (r bins x alpha bins, the
  CaloChallenge format) or :class:`CartesianLayer` (x bins x y bins, CaloGAN), with the
  challenge's voxel order and coordinates (:mod:`.layers`);
- the longitudinal extent of every layer along the shower axis (mm from the front face),
  the material stack (:class:`~surrogate_calo.materials.Stack`) and the incident-energy
  range the geometry is valid for (:mod:`.calorimeter`).

Geometries are described by a small YAML *detector file* naming a binning XML
(:mod:`.binning`) or listing Cartesian layers, the stack and the depths
(:mod:`.detector`); the built-in ones live in this package's ``data/`` folder.
:func:`get_geometry` finds one by name (built-in, or registered by a third-party plugin
through the ``register_calo_geometries`` hook) or by path (:mod:`.registry`).
"""

from .binning import Binning, parse_binning
from .calorimeter import PARTICLES, Geometry
from .detector import GEOMETRY_KEYS, geometry_from_dict, load_geometry
from .layers import CartesianLayer, GeometryError, Layer, PolarLayer
from .registry import ALIASES, BUILTIN, DATA, geometry_names, get_geometry

__all__ = [
    "ALIASES",
    "BUILTIN",
    "DATA",
    "GEOMETRY_KEYS",
    "PARTICLES",
    "Binning",
    "CartesianLayer",
    "Geometry",
    "GeometryError",
    "Layer",
    "PolarLayer",
    "geometry_from_dict",
    "geometry_names",
    "get_geometry",
    "load_geometry",
    "parse_binning",
]
