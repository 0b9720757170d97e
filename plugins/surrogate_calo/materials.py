"""Materials and calorimeter stacks, with the quantities the GFlash parameterisation needs.

A :class:`Material` is given by Z, A (g/mol), density (g/cm^3) and, optionally, its
radiation length in g/cm^2 (PDG value); without one the PDG approximation
``X0 = 716.4 A / (Z (Z + 1) ln(287 / sqrt Z))`` g/cm^2 is used.  Compounds use
mass-fraction-weighted Z and A (as GFlash does) and ``1/X0 = sum w_i / X0_i``.

From these (Grindhammer & Peters, hep-ex/0001020; notes section 4):

- critical energy ``E_c = 2.66 (X0 Z / A)^1.1`` MeV with X0 in g/cm^2
  (W: 8.00 MeV, Pb: 7.36 MeV);
- Moliere radius ``R_M = X0 E_s / E_c`` with ``E_s = 21`` MeV (21.2 MeV in sampling mode).

A :class:`Stack` is one material (homogeneous calorimeter) or a periodic
absorber + active pair (sampling calorimeter), for which GFlash defines the effective
quantities (weights ``W_i = d_i rho_i / sum d_j rho_j``)::

    Z_eff = sum W_i Z_i          rho_eff = sum d_i rho_i / sum d_i
    1/X0_eff = sum W_i rho_eff / (X0_i rho_i)
    1/R_M,eff = sum (W_i E_c,i / X0_i) / E_s       E_c,eff = X0_eff sum W_i E_c,i / X0_i
    F_s = X0_eff / (d_1 + d_2)                     e_hat = 1 / (1 + 0.007 (Z_1 - Z_2))

``parity="geant4"`` reproduces Geant4's unit slip in the critical energy (X0 fed in mm
instead of g/cm^2: E_c(W) = 3.88 MeV), which also changes R_M,eff; the default
``"paper"`` uses the formula as published.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from surrogate.errors import SurrogateError, check_known

from .hookspecs import MATERIAL_KIND
from .registered import instance, lookup

E_S_HOMOGENEOUS = 21.0  # MeV
E_S_SAMPLING = 21.2  # MeV
PARITIES = ("paper", "geant4")


class MaterialError(SurrogateError, ValueError):
    """A material or stack description is incomplete or unphysical."""


def pdg_radiation_length(z: float, a: float) -> float:
    """X0 in g/cm^2 from the PDG approximation (good to ~2.5% except for helium)."""
    return 716.4 * a / (z * (z + 1.0) * math.log(287.0 / math.sqrt(z)))


@dataclass(frozen=True)
class Material:
    """A material: ``z``, ``a`` (g/mol), ``density`` (g/cm^3), ``x0`` (g/cm^2, optional).

    ``composition`` (element symbol -> mass fraction) is informative for compounds; Z and
    A are then the mass-fraction-weighted values.
    """

    name: str
    z: float
    a: float
    density: float
    x0: float | None = None
    composition: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("z", "a", "density"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise MaterialError(f"material {self.name!r}: {key} must be > 0, not {value!r}")
        if self.x0 is not None and not (math.isfinite(self.x0) and self.x0 > 0):
            raise MaterialError(f"material {self.name!r}: x0 must be > 0 g/cm^2")
        if self.x0 is None:
            object.__setattr__(self, "x0", pdg_radiation_length(self.z, self.a))

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0 / self.density

    def critical_energy(self, parity: str = "paper") -> float:
        """E_c in MeV: ``2.66 (X0 Z/A)^1.1`` with X0 in g/cm^2 (``"geant4"``: in mm)."""
        x0 = self.x0 if _parity(parity) == "paper" else self.x0_mm
        return 2.66 * (x0 * self.z / self.a) ** 1.1

    def moliere_radius(self, parity: str = "paper", e_s: float = E_S_HOMOGENEOUS) -> float:
        """R_M in mm."""
        return self.x0_mm * e_s / self.critical_energy(parity)

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "z": self.z, "a": self.a, "density": self.density}
        out["x0"] = self.x0
        if self.composition:
            out["composition"] = dict(self.composition)
        return out


def compound(
    name: str, density: float, fractions: Mapping[str, float], x0: float | None = None
) -> Material:
    """A compound from element symbols and mass fractions (normalised to 1)."""
    total = sum(fractions.values())
    if total <= 0:
        raise MaterialError(f"compound {name!r}: mass fractions must sum to > 0")
    w = {k: v / total for k, v in fractions.items()}
    missing = [k for k in w if k not in ELEMENTS]
    if missing:
        raise MaterialError(f"compound {name!r}: unknown element {missing[0]!r}")
    z = sum(w[k] * ELEMENTS[k][0] for k in w)
    a = sum(w[k] * ELEMENTS[k][1] for k in w)
    if x0 is None:
        x0 = 1.0 / sum(w[k] / pdg_radiation_length(*ELEMENTS[k]) for k in w)
    return Material(name, z, a, density, x0, composition=w)


# element symbol -> (Z, A g/mol); used for compounds
ELEMENTS: dict[str, tuple[float, float]] = {
    "H": (1, 1.008),
    "C": (6, 12.011),
    "N": (7, 14.007),
    "O": (8, 15.999),
    "Si": (14, 28.0855),
    "Ar": (18, 39.948),
    "Fe": (26, 55.845),
    "Cu": (29, 63.546),
    "W": (74, 183.84),
    "Pb": (82, 207.2),
}

# PDG "Atomic and nuclear properties of materials" values (X0 in g/cm^2), one module
# attribute each so that the plugin registers them by import path (``calo.material``)
W = Material("W", 74, 183.84, 19.30, 6.76)
Si = Material("Si", 14, 28.0855, 2.329, 21.82)
Pb = Material("Pb", 82, 207.2, 11.35, 6.37)
LAr = Material("LAr", 18, 39.948, 1.396, 19.55)
Fe = Material("Fe", 26, 55.845, 7.874, 13.84)
Cu = Material("Cu", 29, 63.546, 8.96, 12.86)
PbWO4 = compound("PbWO4", 8.30, {"Pb": 0.4553, "W": 0.4040, "O": 0.1407}, x0=7.39)
Scint = compound("Scint", 1.032, {"C": 0.9226, "H": 0.0774}, x0=43.72)


def get_material(spec: str | Material | Mapping[str, Any]) -> Material:
    """A material by name (built in or registered with ``register_calo_materials``), a
    :class:`Material`, or a mapping of its fields."""
    if isinstance(spec, Material):
        return spec
    if isinstance(spec, str):
        return lookup(
            MATERIAL_KIND,
            spec,
            functools.partial(instance, name=spec, cls=Material, error=MaterialError),
            MaterialError,
            unknown="; or give z, a, density and x0",
        )
    if isinstance(spec, Mapping):
        data = dict(spec)
        if "composition" in data and "z" not in data:
            return compound(
                str(data.get("name", "compound")),
                float(data["density"]),
                data["composition"],
                data.get("x0"),
            )
        try:
            return Material(
                str(data.get("name", "custom")),
                float(data["z"]),
                float(data["a"]),
                float(data["density"]),
                None if data.get("x0") is None else float(data["x0"]),
            )
        except KeyError as exc:
            raise MaterialError(f"material {data}: missing {exc.args[0]!r}") from None
    raise MaterialError(f"cannot make a material from {spec!r}")


def _parity(parity: str) -> str:
    if parity not in PARITIES:
        raise MaterialError(f"parity must be one of {PARITIES}, not {parity!r}")
    return parity


@dataclass(frozen=True)
class StackParameters:
    """The effective quantities of a stack that GFlash uses (lengths in mm, energies MeV)."""

    sampling: bool
    z: float
    a: float
    density: float
    x0: float
    moliere_radius: float
    critical_energy: float
    fs: float
    ehat: float

    def to_dict(self) -> dict[str, float | bool]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Stack:
    """A homogeneous block (``active`` only) or a periodic absorber/active sampling stack.

    Thicknesses in mm.  ``parameters(parity)`` gives the effective GFlash quantities.
    """

    active: Material
    active_thickness: float = 0.0
    absorber: Material | None = None
    absorber_thickness: float = 0.0

    def __post_init__(self) -> None:
        if self.absorber is not None:
            for key in ("absorber_thickness", "active_thickness"):
                value = getattr(self, key)
                if not (math.isfinite(value) and value > 0):
                    raise MaterialError(f"sampling stack: {key} must be > 0 mm, not {value!r}")

    @property
    def sampling(self) -> bool:
        return self.absorber is not None

    @property
    def period(self) -> float:
        """Thickness of one absorber + active layer pair, mm (0 for homogeneous)."""
        return self.absorber_thickness + self.active_thickness if self.sampling else 0.0

    def parameters(self, parity: str = "paper") -> StackParameters:
        parity = _parity(parity)
        if self.absorber is None:
            m = self.active
            return StackParameters(
                sampling=False,
                z=m.z,
                a=m.a,
                density=m.density,
                x0=m.x0_mm,
                moliere_radius=m.moliere_radius(parity, E_S_HOMOGENEOUS),
                critical_energy=m.critical_energy(parity),
                fs=math.inf,
                ehat=1.0,
            )
        m1, m2 = self.absorber, self.active
        d1, d2 = self.absorber_thickness, self.active_thickness
        denom = d1 * m1.density + d2 * m2.density
        w1, w2 = d1 * m1.density / denom, d2 * m2.density / denom
        rho = denom / (d1 + d2)
        x0 = 1.0 / (w1 * rho / (m1.x0_mm * m1.density) + w2 * rho / (m2.x0_mm * m2.density))
        ec1, ec2 = m1.critical_energy(parity), m2.critical_energy(parity)
        s = w1 * ec1 / m1.x0_mm + w2 * ec2 / m2.x0_mm
        return StackParameters(
            sampling=True,
            z=w1 * m1.z + w2 * m2.z,
            a=w1 * m1.a + w2 * m2.a,
            density=rho,
            x0=x0,
            moliere_radius=E_S_SAMPLING / s,
            critical_energy=x0 * s,
            fs=x0 / (d1 + d2),
            ehat=1.0 / (1.0 + 0.007 * (m1.z - m2.z)),
        )

    def describe(self) -> str:
        if self.absorber is None:
            return f"homogeneous {self.active.name}"
        return (
            f"{self.absorber_thickness:g} mm {self.absorber.name} + "
            f"{self.active_thickness:g} mm {self.active.name}"
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"active": {"material": self.active.to_dict()}}
        if self.absorber is not None:
            out["active"]["thickness_mm"] = self.active_thickness
            out["absorber"] = {
                "material": self.absorber.to_dict(),
                "thickness_mm": self.absorber_thickness,
            }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stack:
        """``{"active": {"material": "Si", "thickness_mm": 0.3},
        "absorber": {"material": "W", "thickness_mm": 1.4}}`` (absorber optional)."""
        if not isinstance(data, Mapping) or "active" not in data:
            raise MaterialError("stack needs an 'active' entry (and 'absorber' if sampling)")
        check_known(data, ("active", "absorber"), "stack", noun="key", error=MaterialError)

        def layer(key: str) -> tuple[Material, float]:
            entry = data[key]
            if isinstance(entry, (str, Material)):
                return get_material(entry), 0.0
            if not isinstance(entry, Mapping) or "material" not in entry:
                raise MaterialError(f"stack {key}: give 'material' (and 'thickness_mm')")
            return get_material(entry["material"]), float(entry.get("thickness_mm", 0.0))

        active, d_active = layer("active")
        if "absorber" not in data:
            return cls(active, d_active)
        absorber, d_abs = layer("absorber")
        return cls(active, d_active, absorber, d_abs)
