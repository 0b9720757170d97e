"""Detector files: the small YAML description of a calorimeter (a binning XML or
Cartesian layers, the material stack, the layer depths, the energy range) that
:func:`load_geometry` turns into a :class:`~.calorimeter.Geometry`.  The built-in ones
live in the package's ``data/`` folder."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.errors import check_known

from ..materials import MaterialError, Stack
from .binning import parse_binning
from .calorimeter import Geometry
from .layers import CartesianLayer, GeometryError, Layer


def _depth(spec: Any, layer_ids: Sequence[int], stack: Stack, where: str) -> dict[int, tuple]:
    """Layer depths from a detector file's ``depth`` entry (see :func:`load_geometry`)."""
    if not isinstance(spec, Mapping):
        raise GeometryError(f"{where}: 'depth' must be a mapping")
    unit = spec.get("unit", "mm")
    if unit not in ("mm", "X0"):
        raise GeometryError(f"{where}: depth unit must be 'mm' or 'X0', not {unit!r}")
    scale = stack.parameters().x0 if unit == "X0" else 1.0
    depth_keys = ("unit", "front", "thickness", "layers")
    check_known(spec, depth_keys, f"{where}: depth", noun="key", error=GeometryError)
    if "layers" in spec:
        layers = spec["layers"]
        if not isinstance(layers, Mapping):
            raise GeometryError(f"{where}: depth.layers must map layer id -> [start, end]")
        try:
            return {int(k): (float(v[0]) * scale, float(v[1]) * scale) for k, v in layers.items()}
        except (TypeError, ValueError, IndexError):
            raise GeometryError(f"{where}: depth.layers entries must be [start, end]") from None
    if "thickness" not in spec:
        raise GeometryError(f"{where}: depth needs 'layers' or 'thickness'")
    thick = spec["thickness"]
    thick = [thick] * len(layer_ids) if isinstance(thick, (int, float)) else list(thick)
    if len(thick) != len(layer_ids):
        raise GeometryError(
            f"{where}: depth.thickness lists {len(thick)} values for {len(layer_ids)} layers"
        )
    z = float(spec.get("front", 0.0)) * scale
    out = {}
    for lid, t in zip(layer_ids, thick, strict=True):
        out[lid] = (z, z + float(t) * scale)
        z += float(t) * scale
    return out


def _cartesian_layers(spec: Any, where: str) -> list[CartesianLayer]:
    if not isinstance(spec, list) or not spec:
        raise GeometryError(f"{where}: 'cartesian_layers' must be a non-empty list")
    out = []
    for i, entry in enumerate(spec):
        try:
            nx, ny = int(entry["n_x"]), int(entry["n_y"])
            wx, wy = float(entry["width_mm"]), float(entry["height_mm"])
        except (KeyError, TypeError, ValueError):
            raise GeometryError(
                f"{where}: cartesian layer {i} needs n_x, n_y, width_mm, height_mm"
            ) from None
        if nx < 1 or ny < 1 or wx <= 0 or wy <= 0:
            raise GeometryError(f"{where}: cartesian layer {i}: sizes must be positive")
        xe = tuple(np.linspace(-wx / 2, wx / 2, nx + 1).tolist())
        ye = tuple(np.linspace(-wy / 2, wy / 2, ny + 1).tolist())
        out.append(CartesianLayer(i, xe, ye))
    return out


GEOMETRY_KEYS = {
    "name",
    "description",
    "binning",
    "particle",
    "cartesian_layers",
    "stack",
    "depth",
    "energy_range_mev",
    "energy_prior",
    "discrete_energies_mev",
    "cut_mev",
    "readout_threshold_mev",
    "stochastic_term",
    "challenge",
    "expected_voxels",
}


def geometry_from_dict(
    data: Mapping[str, Any], base: str | os.PathLike[str] | None = None, where: str = "geometry"
) -> Geometry:
    """Build a geometry from a detector description (the parsed YAML of a detector file).

    ``base`` is the folder relative ``binning`` paths are resolved against.
    """
    if not isinstance(data, Mapping):
        raise GeometryError(f"{where}: a detector description must be a mapping")
    check_known(data, GEOMETRY_KEYS, where, noun="key", error=GeometryError)
    for key in ("name", "stack", "depth", "energy_range_mev"):
        if key not in data:
            raise GeometryError(f"{where}: missing {key!r}")
    try:
        stack = Stack.from_dict(data["stack"])
    except MaterialError as exc:
        raise GeometryError(f"{where}: {exc}") from None
    particle = data.get("particle")
    pid = None
    if ("binning" in data) == ("cartesian_layers" in data):
        raise GeometryError(f"{where}: give either 'binning' (an XML file) or 'cartesian_layers'")
    if "binning" in data:
        path = Path(str(data["binning"]))
        if not path.is_absolute():
            path = Path(base or ".") / path
        binning = parse_binning(path, particle)
        layers: list[Layer] = list(binning.layers)
        particle, pid = binning.particle, binning.pid
    else:
        layers = list(_cartesian_layers(data["cartesian_layers"], where))
    expected = data.get("expected_voxels")
    n_vox = sum(layer.n_voxels for layer in layers)
    if expected is not None and int(expected) != n_vox:
        raise GeometryError(f"{where}: the binning has {n_vox} voxels, expected {expected}")
    relevant = [layer.id for layer in layers if layer.n_voxels]
    depth = _depth(data["depth"], relevant, stack, where)
    rng = data["energy_range_mev"]
    if not (isinstance(rng, (list, tuple)) and len(rng) == 2):
        raise GeometryError(f"{where}: energy_range_mev must be [low, high]")
    discrete = data.get("discrete_energies_mev")
    if discrete is not None:
        if isinstance(discrete, Mapping):
            discrete = (
                discrete["values"],
                discrete.get("weights", [1.0] * len(discrete["values"])),
            )
        else:
            discrete = (discrete, [1.0] * len(discrete))
    particle = particle or "electron"
    # a photon/pion name from the XML ("photon", "pion") or a detector file's own
    return Geometry(
        str(data["name"]),
        layers,
        depth,
        stack,
        (float(rng[0]), float(rng[1])),
        particle=str(particle),
        pid=pid,
        energy_prior=str(data.get("energy_prior", "loguniform")),
        discrete_energies=discrete,
        cut=float(data.get("cut_mev", 0.0)),
        readout_threshold=float(data.get("readout_threshold_mev", 0.0)),
        stochastic_term=float(data.get("stochastic_term", 0.11)),
        challenge=data.get("challenge"),
        description=str(data.get("description", "")),
        source=str(where),
    )


def load_geometry(path: str | os.PathLike[str]) -> Geometry:
    """Read a detector file (YAML)::

        name: mydet
        binning: binning_mydet.xml          # CaloChallenge XML, relative to this file
        particle: electron                  # <Bin name=...> in the XML
        stack:
          absorber: {material: W, thickness_mm: 1.4}
          active: {material: Si, thickness_mm: 0.3}
        depth: {unit: mm, front: 0, thickness: 3.4}   # or layers: {0: [z0, z1], ...}
        energy_range_mev: [1000, 1000000]

    Materials are names (built in, or registered with ``register_calo_materials``) or
    mappings ``{name, z, a, density, x0}``.  Instead of ``binning``, ``cartesian_layers`` lists
    ``{n_x, n_y, width_mm, height_mm}`` grids (CaloGAN).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise GeometryError(f"detector file {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise GeometryError(f"detector file {path}: not valid YAML ({exc})") from None
    return geometry_from_dict(data, base=path.parent, where=f"detector file {path}")
