"""Calorimeter anomalies: the detector faults and the wrong particle a search for
anomalous showers is tried on (registered through ``register_anomalies``).

- ``calo.dead_cell``: one voxel reads 0 (a dead channel);
- ``calo.noisy_cell``: one voxel carries extra energy, a fixed pedestal or noise;
- ``calo.dead_layer``: every voxel of one layer reads 0 (a dead readout plane);
- ``calo.energy_scale``: every voxel times ``1 + shift`` (a miscalibration: the
  calibration constant multiplies what is read out, so the readout threshold is not
  applied again);
- ``calo.electrons``: electron showers where the simulator makes photons.

The faults (:class:`ShowerTransform`) change the simulator's own showers of the seed, so
a sample differs from the normal showers of that seed in the faulted voxels only.  They
apply to any simulator whose events are showers binned in a calorimeter geometry (a
``showers`` field of the geometry's voxel count, a ``geometry`` attribute: ``calo.gflash``
and a detector package's ``gflash_for`` simulators); anything else is refused before an
event is made.

**Default cells and layers.**  A fault in a cell nobody hits is no test, so the defaults
are read off the simulator's own mean shower (:func:`reference_mean`: a fixed-seed
sample at its own energy spectrum, so the choice is deterministic): the dead cell is in
the layer holding the most energy (the shower maximum's), in its ring of the largest mean
energy per voxel; the noisy cell in the same layer's ring of the smallest (where extra
energy is most out of place).  Rings are averaged over alpha because the alpha bins are
equivalent (GFlash draws phi uniformly); the cell taken is the ring's alpha bin 0.  The
dead layer is that layer.

**Electrons among photons.**  In GFlash a photon first converts after an exponential
depth of mean 9/7 X0 (the pair-production mean free path, PDG "Passage of particles
through matter", sec. 34.4.2), an electron showers from the front face: electron showers
start, peak and end earlier (the shower maximum ``t_max = ln(E/E_c) + C`` with ``C =
-0.5`` for electrons and ``+0.5`` for photons, Rossi's approximation B, PDG eq. 34.36).
The anomaly draws them with the simulator's own options and geometry, and only the
particle changed, which ``calo.gflash`` allows in any geometry for ``electron`` and
``positron`` (the geometry's own particle is only its default).
"""

from __future__ import annotations

import copy
import json
import math
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from surrogate.anomaly import Anomaly, EventTransform
from surrogate.errors import SpecError
from surrogate.events import Events
from surrogate.interfaces import Conditions, Seed, Simulator

from .geometry import CartesianLayer, Geometry

if TYPE_CHECKING:
    from .gflash import GFlash

#: showers of the fixed-seed sample the default cells and layers are read off
REFERENCE_SHOWERS = 1000
REFERENCE_SEED = 0
FIELD = "showers"
NOISE_MODES = ("pedestal", "noise")
_MEANS: dict[str, np.ndarray] = {}


def shower_geometry(simulator: Simulator, where: str) -> Geometry:
    """The geometry ``simulator``'s showers are binned in; a simulator that makes no
    calorimeter showers is refused (a one-line :class:`SpecError`)."""
    geo = getattr(simulator, "geometry", None)
    spec = simulator.spec
    shape = spec.field(FIELD).shape if FIELD in spec.field_names else None
    if not isinstance(geo, Geometry) or shape != (geo.n_voxels,):
        raise SpecError(
            f"{where}: simulator {simulator.name or type(simulator).__name__!r} makes no "
            f"calorimeter showers (needs a {FIELD!r} field binned in a calo geometry, as "
            "calo.gflash's)"
        )
    return geo


def reference_mean(simulator: Simulator) -> np.ndarray:
    """Mean energy per voxel (MeV) of :data:`REFERENCE_SHOWERS` showers of ``simulator``
    at seed :data:`REFERENCE_SEED`, at its own energy spectrum; cached per simulator
    name and options."""
    key = json.dumps([simulator.name, simulator.options], sort_keys=True, default=str)
    if key not in _MEANS:
        events = simulator.sample(REFERENCE_SHOWERS, seed=REFERENCE_SEED)
        _MEANS[key] = np.asarray(events[FIELD]).mean(axis=0, dtype=np.float64)
    return _MEANS[key]


def hottest_layer(geo: Geometry, mean: np.ndarray) -> int:
    """The id of the layer holding the most of the mean shower's energy."""
    return max(geo.relevant_layers, key=lambda i: float(mean[geo.layer_slice(i)].sum()))


def ring_voxel(geo: Geometry, mean: np.ndarray, layer_id: int, hottest: bool) -> int:
    """The flat index of the voxel at alpha bin 0 of ``layer_id``'s ring with the largest
    (``hottest``) or smallest mean energy per voxel; in a Cartesian layer, its cell of
    the largest or smallest mean energy."""
    sl = geo.layer_slice(layer_id)
    pick = np.argmax if hottest else np.argmin
    if isinstance(geo.layer(layer_id), CartesianLayer):
        return sl.start + int(pick(mean[sl]))
    rings = geo.layer_grid(mean, layer_id).mean(axis=0)  # (n_r,): alpha bins are equivalent
    return sl.start + int(pick(rings))  # voxel order (alpha, r), r fastest: alpha 0 first


def _integer(value: Any, name: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(f"{where}: {name} must be an integer, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise SpecError(f"{where}: {name} must be an integer, not {value!r}") from None
    if not number.is_integer():
        raise SpecError(f"{where}: {name} must be an integer, not {value!r}")
    return int(number)


def _number(value: Any, name: str, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: {name} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise SpecError(f"{where}: {name} must be a finite number, not {value!r}")
    return number


def _check_layer(geo: Geometry, layer: int, where: str) -> None:
    if layer not in geo.relevant_layers:
        raise SpecError(
            f"{where}: geometry {geo.name!r} has no layer {layer} with voxels (layers: "
            f"{', '.join(map(str, geo.relevant_layers))})"
        )


class ShowerTransform(EventTransform):
    """A fault of the simulator's own showers.  The geometry, and the cell or layer a
    default picks, are the simulator's: :meth:`bind` resolves them into a copy, which
    :meth:`transform` uses and whose options record them."""

    geometry: Geometry | None = None

    def check(self, simulator: Simulator) -> None:
        self._check_geometry(shower_geometry(simulator, self.name))

    def _check_geometry(self, geo: Geometry) -> None:
        """Refuse options the geometry cannot take (a layer or voxel it lacks)."""

    def bind(self, simulator: Simulator) -> ShowerTransform:
        """A copy of this fault resolved for ``simulator``'s showers (:meth:`check`ed)."""
        geo = shower_geometry(simulator, self.name)
        bound = copy.copy(self)
        bound.geometry = geo
        bound.options = {**self.options, **bound._resolve(simulator, geo)}
        return bound

    def _resolve(self, simulator: Simulator, geo: Geometry) -> dict[str, Any]:
        """Fill in what the options leave to the simulator (the default cell...); returns
        the options that now say so."""
        return {}

    def transform(self, events: Events, rng: np.random.Generator) -> Events:
        if self.geometry is None:
            raise SpecError(f"{self.name}: bind(simulator) first (the fault needs its geometry)")
        showers = np.array(events[FIELD], dtype=np.float32, copy=True)
        fields = {**events.fields, FIELD: self._fault(showers, rng)}
        return Events(fields, events.conditions, events.spec)

    @abstractmethod
    def _fault(self, showers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The faulted showers (``showers`` is a copy: change it in place or not)."""


class _CellFault(ShowerTransform):
    """One voxel, chosen by ``voxel`` (flat index), or by ``layer`` (id) and ``index``
    (within the layer, the challenge's (alpha, r) order), else by the default rule."""

    hottest: bool = True

    def __init__(
        self, voxel: int | None = None, layer: int | None = None, index: int | None = None
    ) -> None:
        super().__init__(voxel=voxel, layer=layer, index=index)
        where = type(self).name
        self.voxel = _integer(voxel, "voxel", where)
        self.layer = _integer(layer, "layer", where)
        self.index = _integer(index, "index", where)
        if self.voxel is not None and (self.layer is not None or self.index is not None):
            raise SpecError(f"{where}: give voxel (a flat index) or layer and index, not both")
        if (self.layer is None) != (self.index is None):
            raise SpecError(f"{where}: layer and index go together (or give voxel)")

    def _check_geometry(self, geo: Geometry) -> None:
        if self.voxel is not None and not 0 <= self.voxel < geo.n_voxels:
            raise SpecError(
                f"{self.name}: voxel {self.voxel} is outside geometry {geo.name!r} "
                f"(0..{geo.n_voxels - 1})"
            )
        if self.layer is not None:
            _check_layer(geo, self.layer, self.name)
            size = geo.layer(self.layer).n_voxels
            if not 0 <= int(self.index or 0) < size:
                raise SpecError(
                    f"{self.name}: index {self.index} is outside layer {self.layer} of "
                    f"geometry {geo.name!r} (0..{size - 1})"
                )

    def _resolve(self, simulator: Simulator, geo: Geometry) -> dict[str, Any]:
        if self.layer is not None:
            self.voxel = geo.layer_slice(self.layer).start + int(self.index or 0)
        elif self.voxel is None:
            mean = reference_mean(simulator)
            self.voxel = ring_voxel(geo, mean, hottest_layer(geo, mean), self.hottest)
        self.layer = self.index = None  # the voxel says it all
        return {"voxel": int(self.voxel), "layer": None, "index": None}

    def cell(self, simulator: Simulator) -> int:
        """The flat index of the voxel this fault hits in ``simulator``'s showers."""
        return int(self.bind(simulator).voxel)  # type: ignore[attr-defined]


class DeadCell(_CellFault):
    """One voxel reads 0; by default the most-hit ring's (module docstring)."""

    name = "calo.dead_cell"
    description = "one voxel reads 0 (a dead channel)"

    def _fault(self, showers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        showers[:, self.voxel] = 0.0
        return showers


class NoisyCell(_CellFault):
    """One voxel carries ``energy`` MeV more: exactly that (``mode="pedestal"``, a shifted
    pedestal) or ``energy`` times the absolute value of a standard normal (``"noise"``,
    noise above a zero suppression); by default in the hottest layer's least-hit ring."""

    name = "calo.noisy_cell"
    description = "one voxel carries extra energy (a shifted pedestal or a noisy channel)"
    hottest = False

    def __init__(
        self,
        energy: float = 50.0,
        mode: str = "pedestal",
        voxel: int | None = None,
        layer: int | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(voxel, layer, index)
        self.options |= {"energy": energy, "mode": mode}
        self.energy = _number(energy, "energy", self.name)
        if self.energy <= 0:
            raise SpecError(f"{self.name}: energy must be > 0 MeV, not {energy!r}")
        if mode not in NOISE_MODES:
            raise SpecError(f"{self.name}: mode must be one of {NOISE_MODES}, not {mode!r}")
        self.mode = mode

    def _fault(self, showers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        extra = np.full(len(showers), self.energy)
        if self.mode == "noise":
            extra = self.energy * np.abs(rng.standard_normal(len(showers)))
        showers[:, self.voxel] = (showers[:, self.voxel] + extra).astype(np.float32)
        return showers


class DeadLayer(ShowerTransform):
    """Every voxel of layer ``layer`` (an id) reads 0; by default the layer holding the
    most energy."""

    name = "calo.dead_layer"
    description = "every voxel of one layer reads 0 (a dead readout plane)"

    def __init__(self, layer: int | None = None) -> None:
        super().__init__(layer=layer)
        self.layer = _integer(layer, "layer", self.name)

    def _check_geometry(self, geo: Geometry) -> None:
        if self.layer is not None:
            _check_layer(geo, self.layer, self.name)

    def _resolve(self, simulator: Simulator, geo: Geometry) -> dict[str, Any]:
        if self.layer is None:
            self.layer = hottest_layer(geo, reference_mean(simulator))
        return {"layer": int(self.layer)}

    def _fault(self, showers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        assert self.geometry is not None and self.layer is not None
        showers[:, self.geometry.layer_slice(self.layer)] = 0.0
        return showers


class EnergyScale(ShowerTransform):
    """Every voxel times ``1 + shift`` (default 0.05: a 5% miscalibration, a few times
    the percent-level scale uncertainty of a calibrated calorimeter)."""

    name = "calo.energy_scale"
    description = "every voxel times (1 + shift): a miscalibrated energy scale"

    def __init__(self, shift: float = 0.05) -> None:
        super().__init__(shift=shift)
        self.shift = _number(shift, "shift", self.name)
        if self.shift <= -1 or self.shift == 0:
            raise SpecError(
                f"{self.name}: shift must be > -1 and not 0 (the scale is 1 + shift), not {shift!r}"
            )

    def _fault(self, showers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (showers.astype(np.float64) * (1.0 + self.shift)).astype(np.float32)


class Electrons(Anomaly):
    """Electron (or positron) showers from a ``calo.gflash`` simulator of photons, at the
    same incident energies as its photons of the seed (module docstring)."""

    name = "calo.electrons"
    description = "electron showers among photons (they start at the front face)"

    def __init__(self, particle: str = "electron") -> None:
        super().__init__(particle=particle)
        if particle not in ("electron", "positron"):
            raise SpecError(
                f"{self.name}: particle must be 'electron' or 'positron', not {particle!r}"
            )
        self.particle = particle

    def check(self, simulator: Simulator) -> None:
        self._photons(simulator)

    def _photons(self, simulator: Simulator) -> GFlash:
        """``simulator`` as the ``calo.gflash`` of photons it must be."""
        from .gflash import GFlash

        shower_geometry(simulator, self.name)
        if not isinstance(simulator, GFlash):
            raise SpecError(f"{self.name}: needs a calo.gflash simulator, not {simulator.name!r}")
        if simulator.particle != "photon":
            raise SpecError(
                f"{self.name}: the simulator already showers {simulator.particle}s; pass "
                "particle=photon for the background"
            )
        return simulator

    def electron_simulator(self, simulator: Simulator) -> GFlash:
        """``simulator`` with the particle changed, in its own geometry, given
        explicitly (``calo.gflash`` would otherwise take the geometry's particle)."""
        from .gflash import GFlash

        photons = self._photons(simulator)
        options = {**photons.options, "geometry": photons.geometry, "particle": self.particle}
        electrons = GFlash(**options)
        electrons.name = photons.name
        return electrons

    def sample(self, simulator: Simulator, n: int, conditions: Conditions, seed: Seed) -> Events:
        events = self.electron_simulator(simulator).sample(n, conditions, seed=seed)
        return Events(events.fields, events.conditions, simulator.spec)
