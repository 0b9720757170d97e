"""Voxel geometries: the CaloChallenge binning XML, its material stack and layer depths.

A :class:`Geometry` is what the simulator deposits into and what the observables read:

- the readout layers in file order, each :class:`PolarLayer` (r bins x alpha bins, the
  CaloChallenge format) or :class:`CartesianLayer` (x bins x y bins, CaloGAN);
- the voxel order of a flat shower ``(N, V)``: layers one after the other; inside a polar
  layer the alpha slices follow each other, each holding its r bins (r fastest); inside a
  Cartesian layer the y rows follow each other, each holding its x cells (CaloGAN's
  ``layer_i`` arrays ``(N, n_y, n_x)`` flattened);
- voxel coordinates as the challenge's ``XMLHandler`` computes them: r = bin midpoint (mm),
  alpha = midpoints of ``linspace(-pi, pi, n_alpha + 1)``, eta = r cos alpha,
  phi = r sin alpha (Cartesian: eta = x, phi = y, r = hypot(x, y));
- the longitudinal extent of every layer along the shower axis (mm from the front face),
  the material stack (:class:`~surrogate_calo.materials.Stack`) and the incident-energy
  range the geometry is valid for.

Geometries are described by a small YAML *detector file* naming a binning XML (or
listing Cartesian layers), the stack and the depths; the built-in ones live in this
package's ``data/`` folder.  :func:`get_geometry` finds one by name (built-in or
registered by a third-party plugin with :func:`register_geometry`) or by path.
"""

from __future__ import annotations

import itertools
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.errors import SurrogateError, check_known, suggest

from .materials import MaterialError, Stack, StackParameters

DATA = Path(__file__).parent / "data"
PARTICLES = {"photon": 22, "electron": 11, "positron": -11, "pion": 211}


class GeometryError(SurrogateError, ValueError):
    """A binning or detector file is malformed or inconsistent, or a geometry is unknown."""


# -- layers -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PolarLayer:
    """A CaloChallenge layer: ``r_edges`` (mm, from 0) x ``n_alpha`` equal angular bins."""

    id: int
    r_edges: tuple[float, ...]
    n_alpha: int = 1

    kind = "polar"

    @property
    def n_r(self) -> int:
        return max(len(self.r_edges) - 1, 0)

    @property
    def n_voxels(self) -> int:
        return self.n_r * self.n_alpha

    @property
    def r_max(self) -> float:
        return self.r_edges[-1] if self.r_edges else 0.0

    def coordinates(self) -> dict[str, np.ndarray]:
        """Per-voxel r, alpha, eta, phi in the challenge's order (alpha outer, r inner)."""
        edges = np.asarray(self.r_edges, dtype=np.float64)
        r_mid = edges[:-1] + (edges[1:] - edges[:-1]) / 2.0
        a_edges = np.linspace(-math.pi, math.pi, self.n_alpha + 1)
        a_mid = a_edges[:-1] + (a_edges[1:] - a_edges[:-1]) / 2.0
        r = np.tile(r_mid, self.n_alpha)
        alpha = np.repeat(a_mid, self.n_r)
        return {"r": r, "alpha": alpha, "eta": r * np.cos(alpha), "phi": r * np.sin(alpha)}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "r_edges": list(self.r_edges), "n_alpha": self.n_alpha}


@dataclass(frozen=True)
class CartesianLayer:
    """A rectangular grid (CaloGAN): ``x_edges`` x ``y_edges`` in mm, centred on the axis.

    Voxels are stored y-major (rows of x cells), as CaloGAN's ``(n_y, n_x)`` arrays.
    """

    id: int
    x_edges: tuple[float, ...]
    y_edges: tuple[float, ...]

    kind = "cartesian"

    @property
    def n_x(self) -> int:
        return len(self.x_edges) - 1

    @property
    def n_y(self) -> int:
        return len(self.y_edges) - 1

    @property
    def n_voxels(self) -> int:
        return self.n_x * self.n_y

    @property
    def n_alpha(self) -> int:  # a 2D layer: centres of energy in eta/phi are defined
        return self.n_y

    def coordinates(self) -> dict[str, np.ndarray]:
        x = np.asarray(self.x_edges, dtype=np.float64)
        y = np.asarray(self.y_edges, dtype=np.float64)
        xc = np.tile((x[:-1] + x[1:]) / 2.0, self.n_y)
        yc = np.repeat((y[:-1] + y[1:]) / 2.0, self.n_x)
        return {"r": np.hypot(xc, yc), "alpha": np.arctan2(yc, xc), "eta": xc, "phi": yc}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "x_edges": list(self.x_edges), "y_edges": list(self.y_edges)}


Layer = PolarLayer | CartesianLayer


# -- the binning XML ----------------------------------------------------------------------
@dataclass(frozen=True)
class Binning:
    """What a CaloChallenge binning XML holds for one particle."""

    particle: str
    pid: int | None
    layers: tuple[PolarLayer, ...]
    eta_min: float | None = None
    eta_max: float | None = None
    source: str = ""


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(s) for s in text.split(",") if s.strip() != ""]
    except ValueError:
        raise GeometryError(f"{what}: not a comma-separated list of numbers: {text!r}") from None
    if not values:
        raise GeometryError(f"{what}: empty list")
    if not all(math.isfinite(v) for v in values):
        raise GeometryError(f"{what}: non-finite value in {text!r}")
    return values


def parse_binning(
    source: str | os.PathLike[str], particle: str | None = None, *, text: str | None = None
) -> Binning:
    """Read a CaloChallenge binning XML (``<Bins><Bin name pid><Layer id r_edges
    n_bin_alpha/>``) with the checks the challenge's own reader does not make.

    ``particle`` picks the ``<Bin name=...>`` (the only one when ``None``).  Layer ids must
    be 0, 1, 2... in file order: the challenge's code indexes layers by position, so a
    file that numbers them otherwise would be read inconsistently.
    """
    where = f"binning file {source}"
    try:
        root = ET.fromstring(text) if text is not None else ET.parse(source).getroot()
    except ET.ParseError as exc:
        raise GeometryError(f"{where}: not valid XML ({exc})") from None
    except OSError as exc:
        raise GeometryError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if root.tag != "Bins":
        raise GeometryError(f"{where}: root element is <{root.tag}>, expected <Bins>")
    bins = [b for b in root if b.tag == "Bin"]
    if not bins:
        raise GeometryError(f"{where}: no <Bin> element")
    names = [b.attrib.get("name", "") for b in bins]
    if particle is None:
        if len(bins) > 1:
            raise GeometryError(f"{where}: several particles ({', '.join(names)}): name one")
        chosen = bins[0]
    else:
        matches = [b for b in bins if b.attrib.get("name") == particle]
        if not matches:
            raise GeometryError(
                f"{where}: no <Bin name={particle!r}> (has {', '.join(map(repr, names))})"
            )
        chosen = matches[0]
    name = chosen.attrib.get("name", "")
    pid = chosen.attrib.get("pid")
    try:
        pid_int = None if pid is None else int(pid)
    except ValueError:
        raise GeometryError(f"{where}: pid {pid!r} is not an integer") from None

    layers: list[PolarLayer] = []
    for pos, elem in enumerate(e for e in chosen if e.tag == "Layer"):
        missing = [k for k in ("id", "r_edges", "n_bin_alpha") if k not in elem.attrib]
        if missing:
            raise GeometryError(f"{where}: layer #{pos} lacks attribute {missing[0]!r}")
        what = f"{where}, layer id={elem.attrib['id']}"
        try:
            lid = int(elem.attrib["id"])
            n_alpha = int(elem.attrib["n_bin_alpha"])
        except ValueError:
            raise GeometryError(f"{what}: id and n_bin_alpha must be integers") from None
        if lid != pos:
            raise GeometryError(
                f"{where}: layer #{pos} has id {lid}; ids must be 0, 1, 2... in file order "
                "(the challenge indexes layers by position)"
            )
        if n_alpha < 1:
            raise GeometryError(f"{what}: n_bin_alpha must be >= 1, not {n_alpha}")
        edges = _floats(elem.attrib["r_edges"], f"{what} r_edges")
        if edges[0] != 0.0:
            raise GeometryError(f"{what}: r_edges must start at 0, not {edges[0]:g}")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise GeometryError(f"{what}: r_edges must increase strictly: {edges}")
        layers.append(PolarLayer(lid, tuple(edges) if len(edges) > 1 else (), n_alpha))
    if not layers:
        raise GeometryError(f"{where}: <Bin name={name!r}> has no <Layer>")
    if sum(layer.n_voxels for layer in layers) == 0:
        raise GeometryError(f"{where}: every layer is empty (r_edges='0')")

    def opt(key: str) -> float | None:
        return float(chosen.attrib[key]) if key in chosen.attrib else None

    return Binning(name, pid_int, tuple(layers), opt("etaMin"), opt("etaMax"), str(source))


# -- the geometry -------------------------------------------------------------------------
class Geometry:
    """A calorimeter: readout layers, their depths, the material stack and energy range.

    Parameters
    ----------
    name: registry name (``"2"``, ``"calogan"``...).
    layers: every layer in file order, empty ones included (they keep the challenge's
        layer numbering; they hold no voxels).
    depth: layer id -> ``(z_start, z_end)`` in mm along the shower axis, from the front
        face, for every layer holding voxels.  Gaps are dead material.
    stack: the material stack (homogeneous or sampling).
    energy_range: ``(low, high)`` incident energies in MeV the geometry is valid for.
    particle: the particle the geometry is binned for (``photon``, ``electron``...).
    energy_prior: ``"loguniform"`` or ``"uniform"`` over the range.
    discrete_energies: optional ``(values, weights)``: the default energies a simulator
        draws (dataset 1's 15 powers of two, with the challenge's event counts).
    cut: the challenge's evaluation threshold in MeV (voxels below are set to 0).
    readout_threshold: the threshold a simulator applies by default (MeV).
    stochastic_term: sampling resolution in GeV^1/2 (GFlash's ``sigma``: 0.11 = 11%/sqrt E).
    challenge: the CaloChallenge dataset name (``"1-photons"``, ``"2"``...) or ``None``.
    """

    def __init__(
        self,
        name: str,
        layers: Sequence[Layer],
        depth: Mapping[int, tuple[float, float]],
        stack: Stack,
        energy_range: tuple[float, float],
        *,
        particle: str = "electron",
        pid: int | None = None,
        energy_prior: str = "loguniform",
        discrete_energies: tuple[Sequence[float], Sequence[float]] | None = None,
        cut: float = 0.0,
        readout_threshold: float = 0.0,
        stochastic_term: float = 0.11,
        challenge: str | None = None,
        description: str = "",
        source: str = "",
    ) -> None:
        where = f"geometry {name!r}"
        self.name = str(name)
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.stack = stack
        self.particle = str(particle)
        self.pid = pid if pid is not None else PARTICLES.get(self.particle)
        self.energy_prior = energy_prior
        self.cut = float(cut)
        self.readout_threshold = float(readout_threshold)
        self.stochastic_term = float(stochastic_term)
        self.challenge = challenge
        self.description = description
        self.source = source
        if not self.layers:
            raise GeometryError(f"{where}: no layers")
        ids = [layer.id for layer in self.layers]
        if ids != list(range(len(ids))):
            raise GeometryError(f"{where}: layer ids must be 0..{len(ids) - 1} in order: {ids}")
        if self.n_voxels == 0:
            raise GeometryError(f"{where}: no voxels")
        lo, hi = (float(x) for x in energy_range)
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise GeometryError(f"{where}: energy range must be 0 < low <= high: {energy_range}")
        self.energy_range = (lo, hi)
        if energy_prior not in ("loguniform", "uniform"):
            raise GeometryError(f"{where}: energy_prior must be 'loguniform' or 'uniform'")
        if not (self.stochastic_term >= 0 and self.cut >= 0 and self.readout_threshold >= 0):
            raise GeometryError(f"{where}: cut, readout_threshold, stochastic_term must be >= 0")
        # depths
        depth = {int(k): (float(v[0]), float(v[1])) for k, v in depth.items()}
        need = [layer.id for layer in self.layers if layer.n_voxels > 0]
        missing = [i for i in need if i not in depth]
        if missing:
            raise GeometryError(f"{where}: no depth for layer {missing[0]} (it holds voxels)")
        extra = sorted(set(depth) - set(need))
        if extra:
            raise GeometryError(f"{where}: depth given for layer {extra[0]}, which has no voxels")
        for i, (z0, z1) in depth.items():
            if not (math.isfinite(z0) and math.isfinite(z1) and 0 <= z0 < z1):
                raise GeometryError(f"{where}: layer {i} depth must be 0 <= start < end: {z0, z1}")
        ordered = sorted(depth.items(), key=lambda kv: kv[1][0])
        for (i, (_, e0)), (j, (s1, _)) in itertools.pairwise(ordered):
            if s1 < e0 - 1e-9:
                raise GeometryError(f"{where}: layers {i} and {j} overlap in depth")
        self.depth = dict(sorted(depth.items()))
        if discrete_energies is not None:
            values = np.asarray(discrete_energies[0], dtype=np.float64)
            weights = np.asarray(discrete_energies[1], dtype=np.float64)
            if values.shape != weights.shape or values.ndim != 1 or not len(values):
                raise GeometryError(f"{where}: discrete energies and weights differ in length")
            if values.min() < lo or values.max() > hi or weights.min() < 0 or weights.sum() <= 0:
                raise GeometryError(f"{where}: discrete energies outside the range or bad weights")
            self.discrete_energies: tuple[np.ndarray, np.ndarray] | None = (
                values,
                weights / weights.sum(),
            )
        else:
            self.discrete_energies = None

    # -- layout ---------------------------------------------------------------------------
    @cached_property
    def n_voxels(self) -> int:
        return sum(layer.n_voxels for layer in self.layers)

    @cached_property
    def bin_edges(self) -> np.ndarray:
        """Voxel offsets per layer position, length ``n_layers + 1`` (the challenge's
        ``GetBinEdges``): layer ``i`` is ``showers[:, bin_edges[i]:bin_edges[i+1]]``."""
        return np.concatenate([[0], np.cumsum([layer.n_voxels for layer in self.layers])])

    @cached_property
    def relevant_layers(self) -> tuple[int, ...]:
        """Ids of the layers that hold voxels."""
        return tuple(layer.id for layer in self.layers if layer.n_voxels > 0)

    @cached_property
    def alpha_layers(self) -> tuple[int, ...]:
        """Ids of the layers binned in alpha (or 2D): they get EC/width in eta and phi."""
        return tuple(layer.id for layer in self.layers if layer.n_voxels > 0 and layer.n_alpha > 1)

    def layer(self, layer_id: int) -> Layer:
        return self.layers[layer_id]

    def layer_slice(self, layer_id: int) -> slice:
        return slice(int(self.bin_edges[layer_id]), int(self.bin_edges[layer_id + 1]))

    @cached_property
    def coordinates(self) -> dict[str, np.ndarray]:
        """Per-voxel ``layer`` id, ``r``, ``alpha``, ``eta``, ``phi`` (float64, length V)."""
        parts = [layer.coordinates() for layer in self.layers if layer.n_voxels]
        out = {k: np.concatenate([p[k] for p in parts]) for k in ("r", "alpha", "eta", "phi")}
        out["layer"] = np.concatenate(
            [np.full(layer.n_voxels, layer.id) for layer in self.layers if layer.n_voxels]
        )
        return out

    def layer_grid(self, showers: np.ndarray, layer_id: int) -> np.ndarray:
        """One layer of flat showers as ``(N, n_alpha, n_r)`` (polar) or ``(N, n_y, n_x)``."""
        layer = self.layers[layer_id]
        block = np.asarray(showers)[..., self.layer_slice(layer_id)]
        if isinstance(layer, CartesianLayer):
            return block.reshape(*block.shape[:-1], layer.n_y, layer.n_x)
        return block.reshape(*block.shape[:-1], layer.n_alpha, layer.n_r)

    # -- physics --------------------------------------------------------------------------
    def parameters(self, parity: str = "paper") -> StackParameters:
        """Effective X0, R_M, E_c, F_s, e_hat... of the stack (see :mod:`.materials`)."""
        return self.stack.parameters(parity)

    @property
    def z_start(self) -> float:
        return min(z0 for z0, _ in self.depth.values())

    @property
    def z_end(self) -> float:
        """Back face of the last layer, mm: energy beyond leaks out."""
        return max(z1 for _, z1 in self.depth.values())

    def depth_x0(self) -> float:
        """Total depth in effective radiation lengths."""
        return self.z_end / self.stack.parameters().x0

    def summary(self, parity: str = "paper") -> dict[str, Any]:
        p = self.parameters(parity)
        return {
            "name": self.name,
            "particle": self.particle,
            "voxels": self.n_voxels,
            "layers": len(self.relevant_layers),
            "stack": self.stack.describe(),
            "energy_range_MeV": self.energy_range,
            "depth_X0": self.depth_x0(),
            **{f"{k}": v for k, v in p.to_dict().items()},
        }

    def __repr__(self) -> str:
        return (
            f"<Geometry {self.name}: {len(self.relevant_layers)} layers, {self.n_voxels} voxels, "
            f"{self.stack.describe()}>"
        )

    # -- validation helpers ---------------------------------------------------------------
    def check_voxels(self, n_voxels: int, where: str) -> None:
        """Raise naming the problem when data has ``n_voxels`` voxels per shower."""
        if n_voxels == self.n_voxels:
            return
        hint = ""
        for name in builtin_geometry_names():
            try:
                other = get_geometry(name)
            except GeometryError:
                continue
            if other.n_voxels == n_voxels:
                hint = f" (that is the voxel count of geometry {name!r})"
                break
        raise GeometryError(
            f"{where}: showers have {n_voxels} voxels but geometry {self.name!r} has "
            f"{self.n_voxels}{hint}"
        )


# -- detector files -----------------------------------------------------------------------
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

    Materials are names of :data:`~surrogate_calo.materials.MATERIALS` or mappings
    ``{name, z, a, density, x0}``.  Instead of ``binning``, ``cartesian_layers`` lists
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


# -- the geometry registry ----------------------------------------------------------------
BUILTIN = {
    "1-photons": "dataset_1_photons.yaml",
    "1-pions": "dataset_1_pions.yaml",
    "2": "dataset_2.yaml",
    "3": "dataset_3.yaml",
    "calogan": "calogan.yaml",
    "test": "test.yaml",
}
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
_REGISTERED: dict[str, Geometry | Callable[[], Geometry] | str] = {}
_CACHE: dict[str, Geometry] = {}


def builtin_geometry_names() -> list[str]:
    return list(BUILTIN)


def geometry_names() -> list[str]:
    """Every geometry name :func:`get_geometry` knows (built-in and registered)."""
    return [*BUILTIN, *sorted(_REGISTERED)]


def register_geometry(
    name: str, geometry: Geometry | Callable[[], Geometry] | str | os.PathLike[str]
) -> None:
    """Make a geometry known by ``name`` to :func:`get_geometry` and ``calo.gflash``.

    ``geometry``: a :class:`Geometry`, a zero-argument factory, or a detector-file path.
    A third-party plugin calls this from its plugin module (loaded with the entry points)
    or wraps ``calo.gflash`` in a simulator of its own; see ``examples/detector_plugin``.
    """
    if name in BUILTIN or name in ALIASES:
        raise GeometryError(f"geometry name {name!r} is built in; choose another")
    if isinstance(geometry, os.PathLike):
        geometry = str(geometry)
    previous = _REGISTERED.get(name)
    if previous is not None and previous is not geometry and previous != geometry:
        raise GeometryError(f"geometry {name!r} is already registered")
    _REGISTERED[name] = geometry
    _CACHE.pop(name, None)


def get_geometry(spec: str | os.PathLike[str] | Geometry) -> Geometry:
    """A geometry by name (built-in or registered), by detector-file path, or as given."""
    if isinstance(spec, Geometry):
        return spec
    key = str(spec)
    key = ALIASES.get(key, key)
    if key in _CACHE:
        return _CACHE[key]
    if key in BUILTIN:
        geometry = load_geometry(DATA / BUILTIN[key])
    elif key in _REGISTERED or _load_plugins_for(key):
        entry = _REGISTERED[key]
        if isinstance(entry, Geometry):
            geometry = entry
        elif isinstance(entry, str):
            geometry = load_geometry(entry)
        else:
            geometry = entry()
            if not isinstance(geometry, Geometry):
                raise GeometryError(f"geometry {key!r}: factory returned {type(geometry)}")
    elif key.endswith((".yaml", ".yml")) or os.sep in key:
        return load_geometry(key)
    else:
        raise GeometryError(
            f"unknown geometry {key!r}"
            + (suggest(key, geometry_names()) or f" (known: {', '.join(geometry_names())})")
        )
    _CACHE[key] = geometry
    return geometry


def _load_plugins_for(name: str) -> bool:
    """Load the plugins (once) so that geometries they register become known."""
    from surrogate.registry import get_registry

    get_registry()
    return name in _REGISTERED
