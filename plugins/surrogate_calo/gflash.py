"""``calo.gflash``: the Grindhammer-Peters shower parameterisation as a Monte Carlo.

Per shower (hep-ex/0001020; Geant4 ``source/parameterisations/gflash``):

1. **Longitudinal profile.** ``dE/dt = E f(t)``, ``f`` a gamma density
   ``(beta t)^(alpha-1) beta e^(-beta t) / Gamma(alpha)`` in units of X0, maximum at
   ``T = (alpha-1)/beta``.  ``ln T`` and ``ln alpha`` are drawn per shower as correlated
   Gaussians around ``<ln T> = ln(ln y - 0.812)``, ``<ln alpha> = ln(0.81 + (0.458 +
   2.26/Z) ln y)`` (``y = E/E_c``), with the sampling-calorimeter shifts
   ``T_sam = T_hom - 0.55/F_s - 0.69 (1 - e_hat)``, ``alpha_sam = alpha_hom - 0.476/F_s``
   and the sampling widths and correlation.
2. **Steps.** The shower is walked in steps of 0.1 X0; step ``k`` receives
   ``E [P(alpha, beta t_2) - P(alpha, beta t_1)]`` (regularised incomplete gamma) and
   ``max(1, floor(N_spot [P_s(t_2) - P_s(t_1)]))`` equal spots spread evenly in depth,
   ``P_s`` the spot profile (``T_s = T (0.813 + 0.0019 Z)``, ``alpha_s = alpha (0.844 +
   0.0026 Z)``, ``N_spot = 10.3/sigma (E/GeV)^0.959``).  Once less than ``e_kill`` (0.1 MeV)
   is left, the rest goes into the current step (Geant4's ``EnergyToKill``); what passes
   the back face of the last layer leaks out.
3. **Sampling fluctuations.** Each step's energy becomes ``Gamma(dE / (sigma^2 GeV),
   scale sigma^2 GeV)``: the same mean, and ``sigma/sqrt(E/GeV)`` relative resolution for
   the whole shower (``sigma`` = the geometry's stochastic term, 0.11 by default;
   ``stochastic=0`` switches the fluctuations off but keeps the spot count).
4. **Radial profile.** Each spot gets ``r = R_M R sqrt(u/(1-u))`` with ``R = R_C`` (core,
   probability ``p``) or ``R_T`` (tail), evaluated at the step's ``tau`` (depth over the
   shower's ``T``), with the sampling corrections; ``phi`` uniform.
5. **Photons** first convert: the profile starts at a depth drawn from an exponential of
   mean 9/7 X0 (Geant4's GFlash only parameterises e+-; its commented-out gamma code uses
   the same 9/7 X0).
6. **Readout.** Spots are binned into the geometry's (layer, alpha, r) voxels (or x, y
   cells); spots outside the grid or in dead material are lost.  Voxels below the
   readout threshold are set to 0.  Energies are in calibrated MeV (the challenge scales
   its ds2/3 deposits by 1/sampling fraction in the same way).

``parity="paper"`` (default) uses the published sampling parameterisation throughout.
``parity="geant4"`` reproduces Geant4 10/11's behaviour, quirks included:

(i) the spots use the *homogeneous* parameters: ``N_spot = 93/sigma (E/GeV)^0.876``,
    ``T_s = max(0.5, T_hom (0.698 + 0.00212 Z))``, ``alpha_s = alpha_hom (0.639 +
    0.00334 Z)``;
(ii) the energy integration uses the homogeneous ``alpha``, ``beta`` (with X0_eff);
(iii) the critical energy takes X0 in mm (E_c(W) = 3.88 MeV instead of 8.00 MeV), which
    shifts ``y`` and doubles R_M,eff for W/Si;
(iv) the sampling fluctuation has variance ``sigma^2 dE`` with dE in MeV (a stochastic
    term ``sigma/sqrt(E/MeV)``, ~30x smaller).

Homogeneous stacks (no absorber) use the homogeneous parameters and no sampling noise.
Vectorised in numpy over showers, steps and spots; showers are processed in chunks so
that memory stays bounded (``max_spots`` spots per chunk): the cost grows with energy like
the number of spots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammainc

from surrogate import Simulator
from surrogate.errors import SpecError
from surrogate.interfaces import Conditions, Seed, check_n, make_rng

from .geometry import CartesianLayer, Geometry, GeometryError, get_geometry
from .io import challenge_spec
from .materials import PARITIES, StackParameters
from .preprocessing import default_chain, stored_threshold

EM_PARTICLES = ("electron", "positron", "photon")
E_KILL = 0.1  # MeV: below this the remaining energy is deposited at once (Geant4)
CONVERSION_X0 = 9.0 / 7.0  # mean photon conversion depth, X0


@dataclass
class ShowerParameters:
    """Per-shower GFlash parameters (arrays of length n); depths in X0, E in MeV."""

    energy: np.ndarray
    t_start: np.ndarray  # shower start (photon conversion), X0
    alpha: np.ndarray  # the fluctuated profile actually used for the energy
    beta: np.ndarray
    alpha_spot: np.ndarray
    beta_spot: np.ndarray
    n_spot: np.ndarray
    t_max: np.ndarray  # T of the sampling (or homogeneous) profile, for tau
    alpha_tau: np.ndarray  # alpha used in tau
    mean_alpha: np.ndarray  # exp<ln alpha>, for tau
    mean_ln_t: np.ndarray  # <ln T> of the profile, for checks


def mean_parameters(
    energy: np.ndarray, p: StackParameters, parity: str = "paper"
) -> dict[str, np.ndarray]:
    """The averages, widths and correlations of ln T and ln alpha at ``energy`` (MeV).

    Keys ``ln_t_hom, ln_a_hom, s_t_hom, s_a_hom, rho_hom`` and, for sampling stacks, the
    sampling ones ``ln_t, ln_a, s_t, s_a, rho`` (equal to the homogeneous ones otherwise).
    """
    e = np.asarray(energy, dtype=np.float64)
    ly = np.log(e / p.critical_energy)
    out = {
        "ln_y": ly,
        "ln_t_hom": np.log(np.maximum(ly - 0.812, 0.1)),
        "ln_a_hom": np.log(np.maximum(0.81 + (0.458 + 2.26 / p.z) * ly, 0.1)),
        "s_t_hom": _width(-1.4 + 1.26 * ly),
        "s_a_hom": _width(-0.58 + 0.86 * ly),
        "rho_hom": 0.705 - 0.023 * ly,
    }
    if p.sampling:
        t_sam = np.exp(out["ln_t_hom"]) - 0.55 / p.fs - 0.69 * (1.0 - p.ehat)
        a_sam = np.exp(out["ln_a_hom"]) - 0.476 / p.fs
        out["ln_t"] = np.maximum(0.1, np.log(np.maximum(t_sam, 1e-3)))
        out["ln_a"] = np.maximum(0.1, np.log(np.maximum(a_sam, 1e-3)))
        out["s_t"] = _width(-2.5 + 1.25 * ly)
        out["s_a"] = _width(-0.82 + 0.79 * ly)
        out["rho"] = 0.784 - 0.023 * ly
    else:
        for k in ("ln_t", "ln_a", "s_t", "s_a", "rho"):
            out[k] = out[f"{k}_hom"]
    return out


def _width(denominator: np.ndarray) -> np.ndarray:
    """``min(0.5, 1/denominator)``; 0.5 where the fit's denominator is not positive."""
    d = np.asarray(denominator, dtype=np.float64)
    return np.where(d > 0, np.minimum(0.5, 1.0 / np.where(d > 0, d, 1.0)), 0.5)


def _correlated(ln_mean_t, ln_mean_a, s_t, s_a, rho, z1, z2):
    c1, c2 = np.sqrt((1 + rho) / 2), np.sqrt((1 - rho) / 2)
    t = np.exp(ln_mean_t + s_t * (c1 * z1 + c2 * z2))
    a = np.exp(ln_mean_a + s_a * (c1 * z1 - c2 * z2))
    return np.maximum(t, 1.0), np.maximum(a, 1.1)


def draw_parameters(
    energy: np.ndarray,
    p: StackParameters,
    rng: np.random.Generator,
    *,
    parity: str = "paper",
    photon: bool = False,
    stochastic: float = 0.11,
) -> ShowerParameters:
    """Draw the per-shower profile parameters (see the module docstring)."""
    e = np.asarray(energy, dtype=np.float64)
    n = len(e)
    m = mean_parameters(e, p, parity)
    z = rng.standard_normal((2, n))
    t_s, a_s = _correlated(m["ln_t"], m["ln_a"], m["s_t"], m["s_a"], m["rho"], z[0], z[1])
    t_h, a_h = _correlated(
        m["ln_t_hom"], m["ln_a_hom"], m["s_t_hom"], m["s_a_hom"], m["rho_hom"], z[0], z[1]
    )
    e_gev = e / 1000.0
    sigma = max(stochastic, 0.01)  # the spot count's sampling term (see GFlash.spot_sigma)
    if parity == "geant4" or not p.sampling:
        alpha, beta = (a_h, (a_h - 1.0) / t_h) if parity == "geant4" else (a_s, (a_s - 1) / t_s)
        t_spot = np.maximum(0.5, t_h * (0.698 + 0.00212 * p.z))
        a_spot = np.maximum(1.1, a_h * (0.639 + 0.00334 * p.z))
        if p.sampling:  # Geant4: ParSpotN1 / SamplingResolution, no ln Z
            n_spot = 93.0 / sigma * e_gev**0.876
        else:
            n_spot = 93.0 * math.log(p.z) * e_gev**0.876
    else:
        alpha, beta = a_s, (a_s - 1.0) / t_s
        t_spot = t_s * (0.813 + 0.0019 * p.z)
        a_spot = np.maximum(1.1, a_s * (0.844 + 0.0026 * p.z))
        n_spot = 10.3 / sigma * e_gev**0.959
    t_start = rng.exponential(CONVERSION_X0, n) if photon else np.zeros(n)
    return ShowerParameters(
        energy=e,
        t_start=t_start,
        alpha=alpha,
        beta=beta,
        alpha_spot=a_spot,
        beta_spot=(a_spot - 1.0) / t_spot,
        n_spot=n_spot,
        t_max=t_s,
        alpha_tau=a_s,
        mean_alpha=np.exp(m["ln_a"]),
        mean_ln_t=m["ln_t"] if parity == "paper" else m["ln_t_hom"],
    )


def radial_parameters(
    tau: np.ndarray, e_gev: np.ndarray, p: StackParameters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(R_C, R_T, p)`` in units of R_M at ``tau`` (broadcast with ``e_gev``)."""
    ln_e = np.log(e_gev)
    z = p.z
    r_c = 0.0251 + 0.00319 * ln_e + (0.1162 - 0.000381 * z) * tau
    k1, k2, k3 = 0.659 - 0.00309 * z, 0.645, -2.59
    k4 = 0.3585 + 0.0412 * ln_e
    r_t = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2 = 2.632 - 0.00094 * z, 0.401 + 0.00187 * z
    p3 = 1.313 - 0.0686 * ln_e
    x = (p2 - tau) / p3
    w = p1 * np.exp(x - np.exp(x))
    if p.sampling:
        one_e = 1.0 - p.ehat
        r_c = r_c - 0.0203 * one_e + 0.0397 / p.fs * np.exp(-tau)
        r_t = r_t - 0.14 * one_e - 0.495 / p.fs * np.exp(-tau)
        w = w + one_e * (0.348 - 0.642 / p.fs * np.exp(-((tau - 1.0) ** 2)))
    return np.maximum(r_c, 1e-4), np.maximum(r_t, 1e-4), np.clip(w, 0.0, 1.0)


@dataclass
class Spots:
    """The energy spots of a batch of showers (one entry per spot), before readout."""

    shower: np.ndarray  # index of the shower in the batch
    depth: np.ndarray  # mm from the front face
    r: np.ndarray  # mm from the shower axis
    u_phi: np.ndarray  # phi = 2 pi u - pi, uniform in [0, 1)
    energy: np.ndarray  # MeV, after sampling fluctuations
    # per shower
    deposited: np.ndarray  # energy of the spots before sampling fluctuations
    leaked: np.ndarray  # energy behind the last layer
    step_energy: np.ndarray  # (n, K) energy per step before sampling (shower frame)
    step_sampled: np.ndarray  # (n, K) after sampling fluctuations
    step_edges: np.ndarray  # (K+1,) step edges in X0 (shower frame)
    params: ShowerParameters


class GFlash(Simulator):
    """Electromagnetic showers in a voxel geometry, GFlash-parameterised.

    Options: ``geometry`` (a name, a detector-file path or a :class:`Geometry`;
    ``test`` by default), ``particle`` (``electron``, ``positron`` or ``photon``; default the
    geometry's), ``parity`` (``paper`` or ``geant4``), ``stochastic`` (sampling term in
    GeV^1/2; default the geometry's), ``threshold`` (MeV; default the geometry's readout
    threshold), ``energies`` (``discrete``: draw the geometry's discrete energies when no
    conditions are given, as dataset 1; ``prior``: the continuous prior; default
    ``discrete`` where the geometry has them), ``step_x0`` (longitudinal step, 0.1) and
    ``max_spots`` (spots per chunk, bounding memory).
    """

    name = "calo.gflash"
    version = "1.0"

    def __init__(
        self,
        geometry: str | Geometry = "test",
        particle: str | None = None,
        parity: str = "paper",
        stochastic: float | None = None,
        threshold: float | None = None,
        energies: str | None = None,
        step_x0: float = 0.1,
        max_spots: int = 1_000_000,
    ) -> None:
        geo = get_geometry(geometry)
        particle = particle or geo.particle
        if particle not in EM_PARTICLES:
            raise GeometryError(
                f"calo.gflash parameterises electromagnetic showers ({', '.join(EM_PARTICLES)}); "
                f"geometry {geo.name!r} is binned for {particle!r}: pass particle='photon' "
                "or 'electron' to shower those into it"
            )
        if parity not in PARITIES:
            raise SpecError(f"calo.gflash: parity must be one of {PARITIES}, not {parity!r}")
        energies = energies or ("discrete" if geo.discrete_energies is not None else "prior")
        if energies not in ("discrete", "prior"):
            raise SpecError("calo.gflash: energies must be 'discrete' or 'prior'")
        if energies == "discrete" and geo.discrete_energies is None:
            raise SpecError(f"calo.gflash: geometry {geo.name!r} has no discrete energies")
        try:  # options may arrive as strings from the command line
            step_x0, max_spots = float(step_x0), int(float(max_spots))
            stochastic = None if stochastic is None else float(stochastic)
            threshold = None if threshold is None else float(threshold)
        except (TypeError, ValueError):
            raise SpecError(
                "calo.gflash: step_x0, max_spots, stochastic and threshold must be numbers"
            ) from None
        if not (0 < step_x0 <= 1.0) or max_spots < 1000:
            raise SpecError("calo.gflash: need 0 < step_x0 <= 1 and max_spots >= 1000")
        stochastic = geo.stochastic_term if stochastic is None else float(stochastic)
        threshold = geo.readout_threshold if threshold is None else float(threshold)
        if stochastic < 0 or threshold < 0:
            raise SpecError("calo.gflash: stochastic and threshold must be >= 0")
        super().__init__(
            geometry=geo.name if isinstance(geometry, Geometry) else str(geometry),
            particle=particle,
            parity=parity,
            stochastic=stochastic,
            threshold=threshold,
            energies=energies,
            step_x0=step_x0,
            max_spots=max_spots,
        )
        self.geometry = geo
        self.particle = particle
        self.parity = parity
        self.stochastic = stochastic
        self.threshold = threshold
        self.energies = energies
        self.step_x0 = step_x0
        self.max_spots = max_spots
        self.stack = geo.parameters(parity)
        # the sampling term sets the number of spots; with the sampling fluctuations
        # switched off (stochastic=0) the geometry's term still does
        self.spot_sigma = max(stochastic if stochastic > 0 else geo.stochastic_term or 0.11, 0.01)
        self.spec = challenge_spec(geo, particle)
        self._readout = _Readout(geo)

    # -- the Simulator interface ----------------------------------------------------------
    def sample(self, n: int, conditions: Conditions = None, *, seed: Seed = None):
        """``n`` showers at ``conditions`` (``{"incident_energies": MeV}``); without
        conditions, energies come from the geometry's discrete set (dataset 1) or prior."""
        n = check_n(n)
        rng = make_rng(seed)
        if conditions is None and self.energies == "discrete":
            conditions = {"incident_energies": self.draw_energies(n, rng)}
        elif conditions is not None:
            self._check_range(conditions)
        return super().sample(n, conditions, seed=rng)

    def draw_energies(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` incident energies (MeV) from the spectrum ``sample`` uses without
        conditions: the geometry's discrete set (dataset 1) or the condition's prior."""
        if self.energies == "discrete":
            values, weights = self.geometry.discrete_energies
            return rng.choice(values, size=n, p=weights)
        return self.spec.resolve_conditions(n, None, rng)["incident_energies"]

    def _check_range(self, conditions: Mapping[str, Any]) -> None:
        if "incident_energies" not in conditions:
            return  # the spec check names what is missing
        try:
            e = np.asarray(conditions["incident_energies"], dtype=np.float64)
        except (TypeError, ValueError):
            return
        low, high = self.geometry.energy_range
        if e.size and np.isfinite(e).all() and (e.min() < low or e.max() > high):
            bad = e.min() if e.min() < low else e.max()
            raise SpecError(
                f"calo.gflash: incident_energies {bad:g} MeV is outside the valid range of "
                f"geometry {self.geometry.name!r}: [{low:g}, {high:g}] MeV"
            )

    def _sample(self, n, conditions, rng):
        energy = conditions["incident_energies"]
        out = np.zeros((n, self.geometry.n_voxels), dtype=np.float32)
        for start, stop in self._chunks(energy):
            spots = self.spots(energy[start:stop], rng)
            out[start:stop] = self._readout.deposit(spots, stop - start)
        if self.threshold > 0:  # the readout: below the threshold is exactly 0
            out[out < stored_threshold(self.threshold, out.dtype)] = 0.0
        return {"showers": out}

    def preprocessing(self) -> list[dict[str, Any]] | None:
        """The default chain, whose inverse reads generated showers out at this
        simulator's threshold."""
        return default_chain(self.geometry, threshold=self.threshold)

    def split(self) -> dict[str, Any] | None:
        """CaloFlow's split (arXiv:2106.05285): the layer energies first, then the voxels
        normalised by them (:mod:`.split`), read out with this simulator's threshold."""
        return {
            "type": "calo.layers",
            "geometry": self.options["geometry"],
            "threshold": self.threshold,
        }

    # -- the Monte Carlo ------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return math.ceil(self.geometry.depth_x0() / self.step_x0 - 1e-9)

    def expected_spots(self, energy: np.ndarray) -> np.ndarray:
        """Rough number of spots per shower (for chunking and cost estimates)."""
        e_gev = np.asarray(energy, dtype=np.float64) / 1000.0
        sigma = self.spot_sigma
        if self.parity == "geant4" or not self.stack.sampling:
            n = (93.0 / sigma if self.stack.sampling else 93 * math.log(self.stack.z)) * (
                e_gev**0.876
            )
        else:
            n = 10.3 / sigma * e_gev**0.959
        return n + 0.5 * self.n_steps

    def _chunks(self, energy: np.ndarray):
        """Consecutive (start, stop) ranges bounded in spots, steps and voxels."""
        cost = self.expected_spots(energy) * 1.2
        per_shower_cap = max(1, min(4096, int(4e6 // max(self.n_steps, 1))))
        per_shower_cap = min(per_shower_cap, max(1, int(4e6 // self.geometry.n_voxels)))
        start, total = 0, 0.0
        for i, c in enumerate(cost):
            if i > start and (total + c > self.max_spots or i - start >= per_shower_cap):
                yield start, i
                start, total = i, 0.0
            total += c
        if start < len(energy):
            yield start, len(energy)

    def spots(self, energy: np.ndarray, rng: np.random.Generator) -> Spots:
        """Simulate the showers at ``energy`` (MeV) down to their energy spots."""
        e = np.asarray(energy, dtype=np.float64)
        n = len(e)
        p = self.stack
        par = draw_parameters(
            e,
            p,
            rng,
            parity=self.parity,
            photon=self.particle == "photon",
            stochastic=self.spot_sigma,
        )
        depth = self.geometry.z_end / p.x0  # X0
        k_steps = self.n_steps
        edges = np.arange(k_steps + 1) * self.step_x0
        limit = np.maximum(depth - par.t_start, 0.0)  # shower-frame depth of the back face
        lo = np.minimum(edges[None, :-1], limit[:, None])
        hi = np.minimum(edges[None, 1:], limit[:, None])
        inside = edges[None, :-1] < limit[:, None]
        cdf = gammainc(par.alpha[:, None], par.beta[:, None] * hi)
        cdf_lo = np.concatenate([np.zeros((n, 1)), cdf[:, :-1]], axis=1)
        step_e = e[:, None] * (cdf - cdf_lo)
        # Geant4's EnergyToKill: once less than E_KILL is left, deposit the rest at once
        remaining = e[:, None] * (1.0 - cdf)
        dump = (remaining < E_KILL) & inside
        has_dump = dump.any(axis=1)
        k_dump = np.where(has_dump, dump.argmax(axis=1), k_steps)
        active = inside & (np.arange(k_steps)[None, :] <= k_dump[:, None])
        rows = np.nonzero(has_dump)[0]
        step_e[rows, k_dump[rows]] += remaining[rows, k_dump[rows]]
        step_e = np.where(active, step_e, 0.0)
        deposited = step_e.sum(axis=1)
        leaked = e - deposited
        # spots per step
        scdf = gammainc(par.alpha_spot[:, None], par.beta_spot[:, None] * hi)
        scdf_lo = np.concatenate([np.zeros((n, 1)), scdf[:, :-1]], axis=1)
        n_sp = np.maximum(1.0, np.floor(par.n_spot[:, None] * (scdf - scdf_lo)))
        n_sp = np.where(active, n_sp, 0).astype(np.int64)
        # sampling fluctuations per step
        sampled = step_e
        if p.sampling and self.stochastic > 0:
            unit = 1000.0 if self.parity == "paper" else 1.0
            var = self.stochastic**2 * unit
            positive = step_e > 0
            sampled = np.zeros_like(step_e)
            sampled[positive] = rng.gamma(step_e[positive] / var, var)
        # the steps that hold spots, then one entry per spot
        si, sk = np.nonzero(n_sp)
        counts = n_sp[si, sk]
        s_lo, s_hi = lo[si, sk], hi[si, sk]
        tau = (
            0.5
            * (s_lo + s_hi)
            / par.t_max[si]
            * (par.alpha_tau[si] - 1.0)
            / par.alpha_tau[si]
            * par.mean_alpha[si]
            / (par.mean_alpha[si] - 1.0)
        )
        r_c, r_t, w_core = radial_parameters(tau, e[si] / 1000.0, p)
        e_spot = sampled[si, sk] / counts
        step_of = np.repeat(np.arange(len(counts)), counts)
        n_total = len(step_of)
        first = np.cumsum(counts) - counts
        j = np.arange(n_total) - first[step_of]
        frac = (j + 0.5) / counts[step_of]
        shower = si[step_of]
        depth_x0 = par.t_start[shower] + s_lo[step_of] + (s_hi - s_lo)[step_of] * frac
        u = rng.random((3, n_total))
        radius = np.where(u[0] < w_core[step_of], r_c[step_of], r_t[step_of])
        u1 = np.minimum(u[1], 1.0 - 1e-12)
        r = p.moliere_radius * radius * np.sqrt(u1 / (1.0 - u1))
        return Spots(
            shower=shower,
            depth=depth_x0 * p.x0,
            r=r,
            u_phi=u[2],
            energy=e_spot[step_of],
            deposited=deposited,
            leaked=leaked,
            step_energy=step_e,
            step_sampled=sampled,
            step_edges=edges,
            params=par,
        )


class _Readout:
    """Bins spots into a geometry's voxels (vectorised; polar layers in one pass)."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = g = geometry
        ids = list(g.depth)
        self.layer_ids = np.array(ids)
        bounds = np.array([g.depth[i] for i in ids], dtype=np.float64)
        order = np.argsort(bounds[:, 0], kind="stable")
        self.layer_ids = self.layer_ids[order]
        self.z_edges = bounds[order].reshape(-1)  # z0_start, z0_end, z1_start...
        layers = [g.layers[i] for i in self.layer_ids]
        self.offset = np.array([g.bin_edges[i] for i in self.layer_ids], dtype=np.int64)
        self.polar = all(not isinstance(layer, CartesianLayer) for layer in layers)
        if self.polar:
            self.n_alpha = np.array([layer.n_alpha for layer in layers], dtype=np.int64)
            self.n_r = np.array([layer.n_r for layer in layers], dtype=np.int64)
            self.r_max = np.array([layer.r_max for layer in layers])
            span = 2.0 * max(self.r_max) + 1.0
            self.span = span
            self.edges_flat = np.concatenate(
                [np.asarray(layer.r_edges) + k * span for k, layer in enumerate(layers)]
            )
            self.edge_start = np.concatenate([[0], np.cumsum([len(x.r_edges) for x in layers])])[
                :-1
            ]
        self.layers = layers

    def layer_of(self, depth: np.ndarray) -> np.ndarray:
        """Position (in depth order) of the layer holding each depth, or -1 (dead/outside)."""
        pos = np.searchsorted(self.z_edges, depth, side="right")
        return np.where(pos % 2 == 1, (pos - 1) // 2, -1)

    def voxel_of(self, spots: Spots) -> np.ndarray:
        """Global voxel index of each spot, or -1 where it is lost."""
        k = self.layer_of(spots.depth)
        inside = k >= 0
        kk = np.where(inside, k, 0)
        if self.polar:
            r = np.minimum(spots.r, self.r_max[kk])  # r == r_max -> past the last bin
            pos = np.searchsorted(self.edges_flat, r + kk * self.span, side="right")
            ir = pos - 1 - self.edge_start[kk]
            inside &= spots.r < self.r_max[kk]
            ia = np.minimum((spots.u_phi * self.n_alpha[kk]).astype(np.int64), self.n_alpha[kk] - 1)
            vox = self.offset[kk] + ia * self.n_r[kk] + ir
            return np.where(inside, vox, -1)
        vox = np.full(len(k), -1, dtype=np.int64)
        phi = 2.0 * np.pi * spots.u_phi - np.pi
        x, y = spots.r * np.cos(phi), spots.r * np.sin(phi)
        for pos_k, layer in enumerate(self.layers):
            sel = np.nonzero(k == pos_k)[0]
            if isinstance(layer, CartesianLayer):
                xe, ye = np.asarray(layer.x_edges), np.asarray(layer.y_edges)
                ix = np.searchsorted(xe, x[sel], side="right") - 1
                iy = np.searchsorted(ye, y[sel], side="right") - 1
                ok = (ix >= 0) & (ix < layer.n_x) & (iy >= 0) & (iy < layer.n_y)
                vox[sel[ok]] = self.offset[pos_k] + iy[ok] * layer.n_x + ix[ok]
            else:
                edges = np.asarray(layer.r_edges)
                ir = np.searchsorted(edges, spots.r[sel], side="right") - 1
                ok = spots.r[sel] < layer.r_max
                ia = np.minimum(
                    (spots.u_phi[sel] * layer.n_alpha).astype(np.int64), layer.n_alpha - 1
                )
                vox[sel[ok]] = self.offset[pos_k] + ia[ok] * layer.n_r + ir[ok]
        return vox

    def deposit(self, spots: Spots, n: int) -> np.ndarray:
        """``(n, V)`` voxel energies of the spots' showers."""
        v = self.geometry.n_voxels
        vox = self.voxel_of(spots)
        keep = vox >= 0
        flat = spots.shower[keep] * v + vox[keep]
        return np.bincount(flat, weights=spots.energy[keep], minlength=n * v).reshape(n, v)
