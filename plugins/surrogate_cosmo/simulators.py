"""The cosmology simulators: ``cosmo.pm`` (the reference) and two cheap siblings.

All three share one event spec, so a model trained on one is compared with any other:

- field ``delta``, the density contrast on ``grid`` cells per side: a cube
  (``output="cube"``), or 2D maps (``output="maps"``) of the mean of ``1 + delta`` through
  ``maps_per_run`` slabs along the last axis, minus one;
- conditions ``omega_m`` in [0.1, 0.5] and ``sigma8`` in [0.6, 1.0] (flat LCDM; omega_b,
  h and n_s are options), drawn uniformly when not given.

Maps of one run share its cosmology and its initial phases: a call's events are cut into
runs of consecutive events with equal conditions, at most ``maps_per_run`` each.
Conditions left to their priors, or given as scalars, are drawn once per run, so event
``j`` is slab ``j % maps_per_run`` of run ``j // maps_per_run``; conditions given per
event start a new run wherever they change (events at all-different conditions cost one
run each: the other slabs are dropped).  With ``paired_fixed=True`` the initial amplitudes are fixed
and runs come in pairs of opposite phases (Angulo & Pontzen 2016).

``cosmo.pm`` evolves 2LPT initial conditions with the FastPM scheme (:mod:`.pm`);
``cosmo.lpt`` moves the particles by 2LPT straight to the final time (no force: right on
large scales, far too little power at k >~ 0.2 h/Mpc); ``cosmo.lognormal`` draws a lognormal
field with the linear spectrum at the final time (the right one-point shape, none of the
structure of a cosmic web).  Both are baselines a learned surrogate must beat.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from surrogate import Condition, Events, EventSpec, Field, Simulator
from surrogate.errors import SpecError
from surrogate.interfaces import Conditions, Seed, make_rng

from .fields import gaussian_modes, lognormal_field
from .linear import TRANSFERS, Cosmology, LinearPower, growth
from .lpt import displacements, lpt_state
from .mesh import check_grid, density_contrast
from .pm import PMConfig, run_pm
from .preprocessing import LOG_DENSITY_CHAIN

OUTPUTS = ("cube", "maps")
CONDITIONS = (
    Condition("omega_m", "", 0.1, 0.5, description="matter density today, Omega_m"),
    Condition("sigma8", "", 0.6, 1.0, description="rms linear overdensity in 8 Mpc/h spheres"),
)


@dataclass(frozen=True)
class FieldSettings:
    """The options every cosmology simulator takes (``--option KEY=VALUE``)."""

    box: float = 256.0
    particles: int = 64
    mesh: int | None = None  # None: 2 x particles
    grid: int | None = None  # None: particles
    steps: int = 10
    z_start: float = 9.0
    z: float = 0.0
    output: str = "cube"
    maps_per_run: int = 4
    paired_fixed: bool = False
    omega_b: float = 0.049
    h: float = 0.6711
    n_s: float = 0.9624
    transfer: str = "eh"

    def __post_init__(self) -> None:
        for name in ("box", "z_start", "z", "omega_b", "h", "n_s"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("particles", "steps", "maps_per_run"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "mesh", int(self.mesh or 2 * self.particles))
        object.__setattr__(self, "grid", int(self.grid or self.particles))
        object.__setattr__(self, "paired_fixed", self.paired_fixed in (True, "true", "True", 1))
        if self.output not in OUTPUTS:
            raise SpecError(f"output must be one of {', '.join(OUTPUTS)}, not {self.output!r}")
        if self.transfer not in TRANSFERS:
            raise SpecError(
                f"transfer must be one of {', '.join(TRANSFERS)}, not {self.transfer!r}"
            )
        check_grid(self.grid, "grid (per side)")
        if self.output == "maps" and (self.maps_per_run < 1 or self.grid % self.maps_per_run):
            raise SpecError(
                f"maps_per_run ({self.maps_per_run}) must divide the grid ({self.grid}): "
                "each map is a slab of grid / maps_per_run cells"
            )
        if not self.z_start > self.z >= 0:
            raise SpecError(f"need z_start > z >= 0 (z_start {self.z_start}, z {self.z})")
        PMConfig(self.box, self.particles, self.mesh, self.steps, self.a_start, self.a_end)

    @property
    def a_start(self) -> float:
        return 1.0 / (1.0 + self.z_start)

    @property
    def a_end(self) -> float:
        return 1.0 / (1.0 + self.z)

    @property
    def events_per_run(self) -> int:
        return self.maps_per_run if self.output == "maps" else 1

    def pm_config(self) -> PMConfig:
        return PMConfig(self.box, self.particles, self.mesh, self.steps, self.a_start, self.a_end)


def project_slabs(cube: np.ndarray, slabs: int) -> np.ndarray:
    """``slabs`` 2D maps of the mean of ``1 + delta`` through equal slabs along the last
    axis, minus one: ``(slabs, n, n)``."""
    n = cube.shape[-1]
    return (1.0 + cube).reshape(n, n, slabs, n // slabs).mean(axis=-1).transpose(2, 0, 1) - 1.0


def _runs(conditions: Mapping[str, np.ndarray], n: int, m: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run: consecutive events with equal conditions, at most
    ``m`` of them."""
    if n == 0:
        return []
    table = np.stack([np.asarray(v, float) for v in conditions.values()], axis=1)
    change = np.flatnonzero((table[1:] != table[:-1]).any(axis=1)) + 1
    runs = []
    for a, b in zip(np.r_[0, change], np.r_[change, n], strict=True):
        runs += [(int(s), int(min(s + m, b))) for s in range(a, b, m)]
    return runs


def _options_signature() -> inspect.Signature:
    """The keyword options of :class:`FieldSettings` as a signature, so the toolkit checks
    and lists them (``surrogate info cosmo.pm``) as for any simulator's ``__init__``."""
    kw = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [inspect.Parameter(f.name, kw, default=f.default) for f in fields(FieldSettings)]
    )


class FieldSimulator(Simulator):
    """What the three simulators share: options, spec, runs, output (module docstring)."""

    name: ClassVar[str] = ""
    version = "1.0"
    __signature__ = _options_signature()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.settings = FieldSettings(**options)
        s = self.settings
        dim = 2 if s.output == "maps" else 3
        self.spec = EventSpec(
            fields=(
                Field(
                    "delta",
                    (s.grid,) * dim,
                    "float32",
                    "",
                    low=-1.0,
                    description="density contrast rho / mean(rho) - 1 (CIC)",
                ),
            ),
            conditions=CONDITIONS,
        )

    def sample(self, n: int, conditions: Conditions = None, *, seed: Seed = None) -> Events:
        """As :meth:`Simulator.sample`; conditions not given per event are drawn once per
        run (see the module docstring)."""
        m = self.settings.events_per_run
        given = dict(conditions or {})
        if m == 1 or any(np.ndim(v) > 0 for v in given.values()):
            return super().sample(n, conditions, seed=seed)
        rng = make_rng(seed)
        per_run = self.spec.resolve_conditions(-(-int(n) // m), given, rng)
        return super().sample(n, {k: np.repeat(v, m)[:n] for k, v in per_run.items()}, seed=rng)

    def preprocessing(self) -> list[dict[str, Any]]:
        """``log(1 + delta)``, one scale per field (:mod:`surrogate_cosmo.preprocessing`)."""
        return [dict(step) for step in LOG_DENSITY_CHAIN]

    def split(self) -> dict[str, Any]:
        """The log field's lowest band powers first, then the field (:mod:`.split`): four
        bands, or as many as the grid has below Nyquist."""
        return {"type": "cosmo.bands", "bands": min(4, self.spec.fields[0].shape[0] // 2 - 1)}

    def cosmology(self, omega_m: float, sigma8: float) -> Cosmology:
        s = self.settings
        return Cosmology(float(omega_m), s.omega_b, s.h, s.n_s, float(sigma8))

    def _sample(
        self, n: int, conditions: dict[str, np.ndarray], rng: np.random.Generator
    ) -> Mapping[str, np.ndarray]:
        s = self.settings
        runs = _runs(conditions, n, s.events_per_run)
        seeds = rng.integers(0, 2**63, size=len(runs))
        out = np.empty((n, *self.spec.fields[0].shape), np.float32)
        for r, (first, stop) in enumerate(runs):
            paired = s.paired_fixed and r % 2 == 1
            seed = seeds[r - 1] if paired else seeds[r]
            cosmo = self.cosmology(conditions["omega_m"][first], conditions["sigma8"][first])
            cube = self.run(cosmo, np.random.default_rng(seed), paired=paired)
            fields = project_slabs(cube, s.maps_per_run) if s.output == "maps" else cube[None]
            out[first:stop] = fields[: stop - first]
        return {"delta": out}

    def run(
        self, cosmo: Cosmology, rng: np.random.Generator, *, paired: bool = False
    ) -> np.ndarray:
        """The density contrast cube of one run, ``(grid,) * 3``."""
        raise NotImplementedError

    def _initial_modes(
        self, cosmo: Cosmology, rng: np.random.Generator, paired: bool
    ) -> np.ndarray:
        """The linear field at a = 1 on the particle grid (``rfftn`` modes)."""
        s = self.settings
        power = LinearPower(cosmo, s.transfer)
        shape = (s.particles,) * 3
        return gaussian_modes(shape, s.box, power, rng, fixed=s.paired_fixed, paired=paired)


class ParticleMesh(FieldSimulator):
    """``cosmo.pm``: FastPM kick-drift-kick particle mesh from 2LPT initial conditions."""

    name = "cosmo.pm"

    def run(
        self, cosmo: Cosmology, rng: np.random.Generator, *, paired: bool = False
    ) -> np.ndarray:
        s = self.settings
        modes = self._initial_modes(cosmo, rng, paired)
        x, _ = run_pm(modes, growth(cosmo.omega_m), s.pm_config())
        return density_contrast(x, s.grid, s.box)


class LagrangianPT(FieldSimulator):
    """``cosmo.lpt``: 2LPT displacements taken straight to the final time (a baseline)."""

    name = "cosmo.lpt"

    def run(
        self, cosmo: Cosmology, rng: np.random.Generator, *, paired: bool = False
    ) -> np.ndarray:
        s = self.settings
        modes = self._initial_modes(cosmo, rng, paired)
        disp = displacements(modes, s.particles, s.box, order=2)
        offset = s.pm_config().lattice_offset  # the PM's lattice: the same phases, the same start
        x, _ = lpt_state(disp, s.particles, s.box, growth(cosmo.omega_m), s.a_end, offset)
        return density_contrast(x, s.grid, s.box)


class Lognormal(FieldSimulator):
    """``cosmo.lognormal``: a lognormal field with the final linear spectrum (a baseline)."""

    name = "cosmo.lognormal"

    def run(
        self, cosmo: Cosmology, rng: np.random.Generator, *, paired: bool = False
    ) -> np.ndarray:
        s = self.settings
        power = LinearPower(cosmo, s.transfer)

        def p_final(k: np.ndarray) -> np.ndarray:
            return power(k, s.a_end)

        shape = (s.grid,) * 3
        return lognormal_field(shape, s.box, p_final, rng, fixed=s.paired_fixed, paired=paired)
