"""Particle systems: DW-4 (4 particles in 2D) and LJ-13 (13 Lennard-Jones particles in 3D),
the equivariant benchmarks of Köhler et al. (2020), Klein et al. (2023, equivariant flow
matching), iDEM (Akhound-Sadegh et al. 2024) and ASBS (Liu et al. 2025).

The field ``x`` is ``(particles, dimension)``.  Both interaction energies depend only on
the distances, so ``exp(-U)`` is not normalisable over translations; the papers work in
the zero-centre-of-mass subspace.  Here the energy gets a harmonic restraint on the centre
of mass ``x̄`` instead, ``(N/2)·|x̄|²/com_scale²``, which keeps the configuration space and
the samplers plain Euclidean: since ``Σ_i |x_i|² = N|x̄|² + Σ_i |x_i - x̄|²`` the restraint
acts on ``x̄`` alone, so ``x̄ ~ N(0, T·com_scale²/N)`` per axis independently of the
relative coordinates, whose distribution is exactly the physical one.  Comparisons (energy
W2) use :meth:`ParticleTarget.physical_energy`, the energy without the restraint.

No exact sampler exists; the reference samples are Markov chains (``reference_method``)
started from :meth:`ParticleTarget.initial_state`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from surrogate.energy import is_tensor
from surrogate.errors import SpecError

from .target import Target

#: the two Lennard-Jones energy conventions: the factor ``f`` of ε Σ_{i<j} [...]
LJ_CONVENTIONS = {"klein": 2.0, "half": 1.0}


class ParticleTarget(Target):
    """``n_particles`` particles in ``spatial`` dimensions with a translation-invariant
    energy (:meth:`interaction`) and the centre-of-mass restraint (module docstring)."""

    n_particles: int
    spatial: int

    def _particle_spec(self, com_scale: float, t_min: float, t_max: float, what: str) -> None:
        self.com_scale = float(com_scale)
        if not self.com_scale > 0:
            raise SpecError(f"{type(self).__name__} needs com_scale > 0, not {com_scale}")
        self.spec = self._target_spec((self.n_particles, self.spatial), t_min, t_max, what)

    def interaction(self, x: Any) -> Any:
        """The physical energy of torch configurations ``(n, N, s) -> (n,)``."""
        raise NotImplementedError

    def physical_energy(self, x: Any) -> Any:
        """The energy without the centre-of-mass restraint, the one the papers report and
        energy-W2 compares: a tensor for a tensor, float64 numpy for numpy."""
        if is_tensor(x):
            return self.interaction(x)
        import torch

        with torch.no_grad():
            return self.interaction(torch.as_tensor(np.asarray(x, np.float64))).numpy()

    def com_restraint(self, x: Any) -> Any:
        """``(N/2)·|x̄|²/com_scale²``, torch ``(n, N, s) -> (n,)``."""
        return 0.5 * self.n_particles * (x.mean(1) ** 2).sum(-1) / self.com_scale**2

    def potential(self, x: Any) -> Any:
        return self.interaction(x) + self.com_restraint(x)

    def symmetry_copies(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``x`` with each configuration's relative coordinates turned by a random
        orthogonal matrix (Haar, reflections included) and its particles relabelled by a
        random permutation, the centre of mass kept.

        The energy is invariant under both, so the copies are samples of the same
        distribution: what a generator without built-in equivariance needs to see of the
        symmetry that Markov chains, which turn and relabel slowly, do not show it.
        """
        x = np.asarray(x, np.float64)
        n, d = len(x), self.spatial
        q, r = np.linalg.qr(rng.standard_normal((n, d, d)))
        q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]  # Haar (Mezzadri 2007)
        centre = x.mean(1, keepdims=True)
        turned = np.einsum("nij,npj->npi", q, x - centre) + centre
        order = np.argsort(rng.random((n, self.n_particles)), axis=1)
        return np.take_along_axis(turned, order[:, :, None], axis=1)

    def squared_distances(self, x: Any) -> Any:
        """``|x_i - x_j|²`` over the pairs ``i < j``, torch ``(n, N, s) -> (n, N(N-1)/2)``."""
        import torch

        i, j = torch.triu_indices(self.n_particles, self.n_particles, 1, device=x.device)
        return ((x[:, i] - x[:, j]) ** 2).sum(-1)


class DW4(ParticleTarget):
    """DW-4 (Köhler, Klein & Noé 2020): ``U = Σ_{i<j} a(d-d0) + b(d-d0)² + c(d-d0)⁴`` with
    a = 0, b = -4, c = 0.9, d0 = 4 (as in the code of Klein et al. and iDEM; the ASBS
    appendix's d0 = 1 is a typo).  Each pair distance has two wells, at d0 ± √(-b/2c) =
    2.51 and 5.49, so the 4 particles have many metastable arrangements."""

    n_particles, spatial = 4, 2
    reference_method = "mala"

    def __init__(
        self,
        a: float = 0.0,
        b: float = -4.0,
        c: float = 0.9,
        d0: float = 4.0,
        com_scale: float = 1.0,
        t_min: float = 0.5,
        t_max: float = 2.0,
    ) -> None:
        super().__init__(a=a, b=b, c=c, d0=d0, com_scale=com_scale, t_min=t_min, t_max=t_max)
        self.a, self.b, self.c, self.d0 = float(a), float(b), float(c), float(d0)
        if not self.c > 0:
            raise SpecError(f"dw4 needs c > 0 (a confining quartic), not {c}")
        self._particle_spec(com_scale, t_min, t_max, "4 particles in the plane")

    def interaction(self, x: Any) -> Any:
        import torch

        d2 = self.squared_distances(x)
        # clamped at the smallest normal number, so the root's gradient at an exact overlap
        # is 0 rather than NaN; the value changes by < 1e-19
        d = d2.clamp_min(torch.finfo(d2.dtype).tiny).sqrt() - self.d0
        return (self.a * d + self.b * d**2 + self.c * d**4).sum(-1)

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform in a square of side 4 about the origin (the chains find the wells)."""
        return rng.uniform(-2.0, 2.0, (n, self.n_particles, self.spatial))


class LJ13(ParticleTarget):
    """LJ-13: ``U = ε·f·Σ_{i<j} [(r_m/d)¹² - 2(r_m/d)⁶] + (s/2) Σ_i |x_i - x̄|²`` with
    ε = r_m = 1 and the harmonic tether of bgflow's ``LennardJonesPotential``
    (``oscillator_scale`` s = 1, i.e. 0.5 Σ |x_i - x̄|²).

    ``convention="klein"`` (default) has f = 2: the sum over ordered pairs without the ½,
    which is what the MCMC data of Klein et al. (2023) used by iDEM and ASBS were generated
    with (DEM's ``energy_factor=1``; mean E = -43.1 ± 7.0 on its LJ-13 test split).
    ``"half"`` has f = 1, the physical pair sum, whose global minimum is the icosahedron
    at -44.326801 ε (Wales & Doye 1997).  The energy is +inf where two particles overlap.
    """

    n_particles, spatial = 13, 3
    reference_method = "hmc"

    def __init__(
        self,
        convention: str = "klein",
        epsilon: float = 1.0,
        r_m: float = 1.0,
        oscillator_scale: float = 1.0,
        com_scale: float = 1.0,
        t_min: float = 0.5,
        t_max: float = 2.0,
    ) -> None:
        if convention not in LJ_CONVENTIONS:
            raise SpecError(
                f"lj13: unknown convention {convention!r}; use one of {', '.join(LJ_CONVENTIONS)}"
            )
        super().__init__(
            convention=convention,
            epsilon=epsilon,
            r_m=r_m,
            oscillator_scale=oscillator_scale,
            com_scale=com_scale,
            t_min=t_min,
            t_max=t_max,
        )
        self.convention = convention
        self.factor = LJ_CONVENTIONS[convention]
        self.epsilon, self.r_m = float(epsilon), float(r_m)
        self.oscillator_scale = float(oscillator_scale)
        if not (self.epsilon > 0 and self.r_m > 0 and self.oscillator_scale >= 0):
            raise SpecError("lj13 needs epsilon > 0, r_m > 0 and oscillator_scale >= 0")
        self._particle_spec(com_scale, t_min, t_max, "13 particles in space")

    def interaction(self, x: Any) -> Any:
        # powers of r_m²/d² need no square root; at d = 0 the ratio is +inf and so is
        # inv6 (inv6 - 2), never NaN
        inv6 = (self.r_m**2 / self.squared_distances(x)) ** 3
        lj = self.epsilon * self.factor * (inv6 * (inv6 - 2)).sum(-1)
        tether = 0.5 * self.oscillator_scale * ((x - x.mean(1, keepdim=True)) ** 2).sum((1, 2))
        return lj + tether

    def initial_state(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The 13 sites of an fcc lattice nearest the origin (the cuboctahedron: a centre
        and its 12 neighbours at r_m, a compact cluster near the icosahedral minimum),
        jittered by 0.05 r_m and centred."""
        r = np.arange(-2, 3)
        sites = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
        sites = sites[sites.sum(1) % 2 == 0]
        nearest = sites[np.argsort((sites**2).sum(1), kind="stable")[: self.n_particles]]
        base = nearest * self.r_m / np.sqrt(2)
        x = base[None] + 0.05 * self.r_m * rng.standard_normal((n, self.n_particles, 3))
        return x - x.mean(1, keepdims=True)
