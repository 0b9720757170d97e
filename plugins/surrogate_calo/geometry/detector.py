"""Detector files: the small YAML description of a calorimeter (a binning XML or
Cartesian layers, the material stack, the layer depths, the energy range) that
:func:`load_geometry` turns into a :class:`~.calorimeter.Geometry`.  The built-in ones
live in the package's ``data/`` folder.

A detector file is data, not a program: it is read with ``yaml.safe_load`` (no tag
that builds an object or runs code), up to a size (:mod:`.limits`), and what it holds
must be plain values (text, numbers, lists, mappings) of at most :data:`MAX_VALUES`,
counted as the aliases expand, so an alias "billion laughs" is refused before
anything walks it.  Every entry is checked for its type where it is read, and a
geometry of more voxels than :data:`~.limits.MAX_VOXELS` is refused from its counts.
"""

from __future__ import annotations

import math
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
from .limits import check_voxel_count, read_limited, shown

#: the most values a detector description may hold (aliases counted as they expand):
#: the built-in ones hold under a hundred
MAX_VALUES = 100_000
#: the longest quotation of a YAML parser's message
REASON_CHARS = 200
PLAIN = (str, int, float, bool, type(None))


# -- typed entries: each names the entry and what it must be -------------------------------
def _number(value: Any, what: str) -> float:
    """A finite number (not a boolean: ``yes`` is no thickness)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryError(f"{what} must be a number, not {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise GeometryError(f"{what} must be a finite number, not {shown(value)}") from None
    if not math.isfinite(number):
        raise GeometryError(f"{what} must be a finite number, not {shown(value)}")
    return number


def _numbers(value: Any, what: str) -> list[float]:
    if not isinstance(value, list):
        raise GeometryError(f"{what} must be a list of numbers, not {shown(value)}")
    return [_number(v, f"{what}[{i}]") for i, v in enumerate(value)]


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GeometryError(f"{what} must be an integer, not {shown(value)}")
    return value


def _text(value: Any, what: str) -> str:
    """Text, or a number written unquoted (``name: 2``)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise GeometryError(f"{what} must be text, not {shown(value)}")
    return str(value)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    """A mapping with text keys (the keys checked against the known ones are)."""
    if not isinstance(value, Mapping):
        raise GeometryError(f"{what} must be a mapping, not {shown(value)}")
    odd = [k for k in value if not isinstance(k, str)]
    if odd:
        raise GeometryError(f"{what}: key {shown(odd[0])} is not text")
    return value


# -- the parts of a description ------------------------------------------------------------
def _depth(spec: Any, layer_ids: Sequence[int], stack: Stack, where: str) -> dict[int, tuple]:
    """Layer depths from a detector file's ``depth`` entry (see :func:`load_geometry`)."""
    spec = _mapping(spec, f"{where}: 'depth'")
    unit = spec.get("unit", "mm")
    if unit not in ("mm", "X0"):
        raise GeometryError(f"{where}: depth unit must be 'mm' or 'X0', not {shown(unit)}")
    scale = stack.parameters().x0 if unit == "X0" else 1.0
    depth_keys = ("unit", "front", "thickness", "layers")
    check_known(spec, depth_keys, f"{where}: depth", noun="key", error=GeometryError)
    if "layers" in spec:
        return _depth_layers(spec["layers"], scale, where)
    if "thickness" not in spec:
        raise GeometryError(f"{where}: depth needs 'layers' or 'thickness'")
    given, what = spec["thickness"], f"{where}: depth.thickness"
    if isinstance(given, list):
        thick = _numbers(given, what)
    else:  # one thickness for every layer
        thick = [_number(given, what)] * len(layer_ids)
    if len(thick) != len(layer_ids):
        raise GeometryError(
            f"{where}: depth.thickness lists {len(thick)} values for {len(layer_ids)} layers"
        )
    z = _number(spec.get("front", 0.0), f"{where}: depth.front") * scale
    out = {}
    for lid, t in zip(layer_ids, thick, strict=True):
        out[lid] = (z, z + t * scale)
        z += t * scale
    return out


def _depth_layers(layers: Any, scale: float, where: str) -> dict[int, tuple[float, float]]:
    """``depth.layers``: layer id -> ``[start, end]``."""
    what = f"{where}: depth.layers"
    if not isinstance(layers, Mapping):
        raise GeometryError(f"{what} must map layer id -> [start, end]")
    out = {}
    for key, value in layers.items():
        try:
            lid = int(key) if isinstance(key, (int, str)) and not isinstance(key, bool) else None
        except ValueError:
            lid = None
        if lid is None or not (isinstance(value, list) and len(value) == 2):
            raise GeometryError(f"{what} entries must be layer id: [start, end]")
        start, end = (_number(v, f"{what}[{lid}]") * scale for v in value)
        out[lid] = (start, end)
    return out


CARTESIAN_KEYS = ("n_x", "n_y", "width_mm", "height_mm")


def _cartesian_layers(spec: Any, where: str) -> list[CartesianLayer]:
    if not isinstance(spec, list) or not spec:
        raise GeometryError(f"{where}: 'cartesian_layers' must be a non-empty list")
    grids = [_grid(entry, f"{where}: cartesian layer {i}") for i, entry in enumerate(spec)]
    check_voxel_count(sum(nx * ny for nx, ny, _, _ in grids), where)  # before any is built
    out = []
    for i, (nx, ny, wx, wy) in enumerate(grids):
        xe = tuple(np.linspace(-wx / 2, wx / 2, nx + 1).tolist())
        ye = tuple(np.linspace(-wy / 2, wy / 2, ny + 1).tolist())
        out.append(CartesianLayer(i, xe, ye))
    return out


def _grid(entry: Any, what: str) -> tuple[int, int, float, float]:
    """``(n_x, n_y, width, height)`` of one Cartesian layer entry, checked."""
    if not isinstance(entry, Mapping) or any(k not in entry for k in CARTESIAN_KEYS):
        raise GeometryError(f"{what} needs n_x, n_y, width_mm, height_mm")
    nx, ny = _count(entry["n_x"], f"{what}: n_x"), _count(entry["n_y"], f"{what}: n_y")
    wx = _number(entry["width_mm"], f"{what}: width_mm")
    wy = _number(entry["height_mm"], f"{what}: height_mm")
    if nx < 1 or ny < 1 or wx <= 0 or wy <= 0:
        raise GeometryError(f"{what}: sizes must be positive")
    return nx, ny, wx, wy


def _stack(spec: Any, where: str) -> Stack:
    """The material stack, with its effective quantities computed once here: a material
    of implausible Z or A (a file's typo) makes them fail or come out unphysical (a
    negative radiation length), which is the file's fault, not a later caller's."""
    try:
        stack = Stack.from_dict(_mapping(spec, f"{where}: 'stack'"))
        p = stack.parameters()
        quantities = (p.x0, p.moliere_radius, p.critical_energy, p.density)
    except MaterialError as exc:
        raise GeometryError(f"{where}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
        raise GeometryError(f"{where}: stack: malformed ({shown(str(exc))})") from None
    if not all(isinstance(q, float) and math.isfinite(q) and q > 0 for q in quantities):
        raise GeometryError(f"{where}: stack: its materials give unphysical quantities")
    return stack


def _layers(data: Mapping[str, Any], base: Any, where: str) -> tuple[list[Layer], Any, Any]:
    """The readout layers (from the binning XML or the Cartesian list), the particle and
    its PDG id."""
    particle = data.get("particle")
    particle = None if particle is None else _text(particle, f"{where}: particle")
    if ("binning" in data) == ("cartesian_layers" in data):
        raise GeometryError(f"{where}: give either 'binning' (an XML file) or 'cartesian_layers'")
    if "cartesian_layers" in data:
        return list(_cartesian_layers(data["cartesian_layers"], where)), particle, None
    path = Path(_text(data["binning"], f"{where}: binning"))
    if not path.is_absolute():
        path = Path(base or ".") / path
    binning = parse_binning(path, particle)
    return list(binning.layers), binning.particle, binning.pid


def _discrete(value: Any, where: str) -> tuple[list[float], list[float]] | None:
    """``discrete_energies_mev``: a list of energies, or ``{values, weights}``."""
    what = f"{where}: discrete_energies_mev"
    if value is None:
        return None
    if isinstance(value, Mapping):
        if "values" not in value:
            raise GeometryError(f"{what} needs 'values'")
        values = _numbers(value["values"], f"{what}.values")
        weights = value.get("weights", [1.0] * len(values))
        return values, _numbers(weights, f"{what}.weights")
    values = _numbers(value, what)
    return values, [1.0] * len(values)


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
    data = _mapping(data, f"{where}: a detector description")
    check_known(data, GEOMETRY_KEYS, where, noun="key", error=GeometryError)
    for key in ("name", "stack", "depth", "energy_range_mev"):
        if key not in data:
            raise GeometryError(f"{where}: missing {key!r}")
    stack = _stack(data["stack"], where)
    layers, particle, pid = _layers(data, base, where)
    expected = data.get("expected_voxels")
    n_vox = sum(layer.n_voxels for layer in layers)
    if expected is not None and _count(expected, f"{where}: expected_voxels") != n_vox:
        raise GeometryError(f"{where}: the binning has {n_vox} voxels, expected {expected}")
    relevant = [layer.id for layer in layers if layer.n_voxels]
    depth = _depth(data["depth"], relevant, stack, where)
    rng = _numbers(data["energy_range_mev"], f"{where}: energy_range_mev")
    if len(rng) != 2:
        raise GeometryError(f"{where}: energy_range_mev must be [low, high]")

    def number(key: str, default: float) -> float:
        return _number(data.get(key, default), f"{where}: {key}")

    challenge = data.get("challenge")
    return Geometry(
        _text(data["name"], f"{where}: name"),
        layers,
        depth,
        stack,
        (rng[0], rng[1]),
        # a photon/pion name from the XML ("photon", "pion") or a detector file's own
        particle=particle or "electron",
        pid=pid,
        energy_prior=_text(data.get("energy_prior", "loguniform"), f"{where}: energy_prior"),
        discrete_energies=_discrete(data.get("discrete_energies_mev"), where),
        cut=number("cut_mev", 0.0),
        readout_threshold=number("readout_threshold_mev", 0.0),
        stochastic_term=number("stochastic_term", 0.11),
        challenge=None if challenge is None else _text(challenge, f"{where}: challenge"),
        description=_text(data.get("description", ""), f"{where}: description"),
        source=str(where),
    )


# -- the file ------------------------------------------------------------------------------
def _check_plain(data: Any, where: str) -> None:
    """Refuse what a detector description cannot hold: more than :data:`MAX_VALUES`
    values as the aliases expand (or a recursive alias), or a value that is not text, a
    number, a list or a mapping with text or integer keys (a date, binary, a set)."""
    todo, seen = [data], 0
    while todo:
        node = todo.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise GeometryError(
                f"{where}: more than {MAX_VALUES} values (aliases that multiply, or refer "
                "to themselves?)"
            )
        if isinstance(node, dict):
            odd = [k for k in node if isinstance(k, bool) or not isinstance(k, (str, int))]
            if odd:
                raise GeometryError(f"{where}: key {shown(odd[0])} is neither text nor a number")
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
        elif not isinstance(node, PLAIN):
            raise GeometryError(
                f"{where}: a {type(node).__name__} ({shown(node)}), where a detector file "
                "holds text, numbers, lists and mappings (quote it)"
            )


def _yaml_problem(exc: Exception) -> str:
    """A YAML parser's message on one line: its problem and where (line, column)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        text = f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


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
    where = f"detector file {path}"
    raw = read_limited(path, where)
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise GeometryError(f"{where}: not UTF-8 text") from None
    except RecursionError:
        raise GeometryError(f"{where}: nested too deeply") from None
    # ValueError, OverflowError: a tagged value its constructor refuses (!!timestamp of
    # month 13, say); YAMLError: the rest, tags that would build objects included
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise GeometryError(f"{where}: not valid YAML ({_yaml_problem(exc)})") from None
    _check_plain(data, where)
    return geometry_from_dict(data, base=path.parent, where=where)
