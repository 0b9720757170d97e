"""Linear theory of flat LCDM: transfer functions, sigma8 normalisation and growth.

Units: k in h/Mpc, lengths in Mpc/h, P(k) in (Mpc/h)^3, time in 1/H0 (so E(a) = H/H0).
The spectrum is ``P(k, a) = A k^n_s T(k)^2 D(a)^2`` with ``D(1) = 1`` and ``A`` fixed by
``sigma(8 Mpc/h) = sigma8`` at ``a = 1``.

Transfer functions:

- ``eh``: Eisenstein & Hu 1998 (ApJ 496, 605) with baryon acoustic oscillations, the fitting
  formulae of their section 3 (eqs. 2-24), as ``pmwd``'s ``transfer_fit`` follows them
  (``1/beta_c = 1 + b1 [(Omega_c/Omega_m)^b2 - 1]``, eq. 12; nbodykit's version of that
  term differs and is not used as a reference).  Good to ~3% against CAMB.
- ``bbks``: Bardeen et al. 1986 with Sugiyama's 1995 shape parameter (coefficient 5.46):
  no BAO, ~15% from CAMB.

Growth (no radiation): ``D(a) ∝ (5 Omega_m / 2) E(a) ∫_0^a da' / (a' E(a'))^3``, normalised
to ``D(1) = 1``; the 2LPT factors use the usual fits ``D2 = -(3/7) D^2`` and
``f2 = 2 Omega_m(a)^(6/11)`` (Bouchet et al. 1995).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import integrate, special

from surrogate.errors import SpecError

#: The CMB temperature of EH98's fits, in units of 2.7 K (their Theta_2.7 with T = 2.7255 K).
THETA_CMB = 2.7255 / 2.7

Array = np.ndarray


@dataclass(frozen=True)
class Cosmology:
    """Flat LCDM parameters; the defaults are the Quijote fiducial cosmology."""

    omega_m: float = 0.3175
    omega_b: float = 0.049
    h: float = 0.6711
    n_s: float = 0.9624
    sigma8: float = 0.834

    def __post_init__(self) -> None:
        if not 0 < self.omega_b < self.omega_m <= 1:
            raise SpecError(
                f"cosmology needs 0 < omega_b < omega_m <= 1 (got omega_b={self.omega_b}, "
                f"omega_m={self.omega_m})"
            )
        if self.h <= 0 or self.sigma8 <= 0:
            raise SpecError(
                f"cosmology needs h > 0 and sigma8 > 0 (h={self.h}, sigma8={self.sigma8})"
            )

    @property
    def omega_l(self) -> float:
        return 1.0 - self.omega_m


# -- transfer functions ---------------------------------------------------------------------
def transfer_bbks(k: Array, cosmo: Cosmology) -> Array:
    """BBKS transfer function with Sugiyama's shape ``Gamma``; ``k`` in h/Mpc."""
    om, ob, h = cosmo.omega_m, cosmo.omega_b, cosmo.h
    gamma = om * h * np.exp(-ob - np.sqrt(2 * h) * ob / om)
    q = np.maximum(np.asarray(k, float), 1e-12) / gamma
    poly = 1 + 3.89 * q + (16.1 * q) ** 2 + (5.46 * q) ** 3 + (6.71 * q) ** 4
    return np.log(1 + 2.34 * q) / (2.34 * q) * poly**-0.25


@dataclass(frozen=True)
class _EHScales:
    """The k-independent quantities of EH98 (their eqs. 2-6, 11-12, 14-15, 21-24)."""

    k_eq: float  # Mpc^-1
    s: float  # sound horizon at the drag epoch, Mpc
    k_silk: float
    alpha_c: float
    beta_c: float
    alpha_b: float
    beta_b: float
    beta_node: float
    f_b: float


def eh_scales(cosmo: Cosmology) -> _EHScales:
    """EH98's scales for ``cosmo`` (exposed so tests can pin ``beta_c``)."""
    om_h2 = cosmo.omega_m * cosmo.h**2
    ob_h2 = cosmo.omega_b * cosmo.h**2
    f_b = cosmo.omega_b / cosmo.omega_m
    f_c = 1 - f_b
    t4 = THETA_CMB**-4
    z_eq = 2.50e4 * om_h2 * t4
    k_eq = 7.46e-2 * om_h2 * THETA_CMB**-2
    b1 = 0.313 * om_h2**-0.419 * (1 + 0.607 * om_h2**0.674)
    b2 = 0.238 * om_h2**0.223
    z_d = 1291 * om_h2**0.251 / (1 + 0.659 * om_h2**0.828) * (1 + b1 * ob_h2**b2)
    r_d = 31.5 * ob_h2 * t4 * (1000 / z_d)
    r_eq = 31.5 * ob_h2 * t4 * (1000 / z_eq)
    s = (
        2
        / (3 * k_eq)
        * np.sqrt(6 / r_eq)
        * np.log((np.sqrt(1 + r_d) + np.sqrt(r_d + r_eq)) / (1 + np.sqrt(r_eq)))
    )
    k_silk = 1.6 * ob_h2**0.52 * om_h2**0.73 * (1 + (10.4 * om_h2) ** -0.95)
    a1 = (46.9 * om_h2) ** 0.670 * (1 + (32.1 * om_h2) ** -0.532)
    a2 = (12.0 * om_h2) ** 0.424 * (1 + (45.0 * om_h2) ** -0.582)
    alpha_c = a1**-f_b * a2 ** (-(f_b**3))
    bb1 = 0.944 / (1 + (458 * om_h2) ** -0.708)
    bb2 = (0.395 * om_h2) ** -0.0266
    beta_c = 1 / (1 + bb1 * (f_c**bb2 - 1))
    y = (1 + z_eq) / (1 + z_d)
    sq = np.sqrt(1 + y)
    g = y * (-6 * sq + (2 + 3 * y) * np.log((sq + 1) / (sq - 1)))
    alpha_b = 2.07 * k_eq * s * (1 + r_d) ** -0.75 * g
    beta_b = 0.5 + f_b + (3 - 2 * f_b) * np.sqrt((17.2 * om_h2) ** 2 + 1)
    beta_node = 8.41 * om_h2**0.435
    return _EHScales(k_eq, s, k_silk, alpha_c, beta_c, alpha_b, beta_b, beta_node, f_b)


def _t0_tilde(k: Array, q: Array, alpha: float, beta: float) -> Array:
    """EH98 eqs. 19-20: the pressureless transfer function with CDM suppression."""
    ln = np.log(np.e + 1.8 * beta * q)
    c = 14.2 / alpha + 386 / (1 + 69.9 * q**1.08)
    return ln / (ln + c * q**2)


def transfer_eh(k: Array, cosmo: Cosmology) -> Array:
    """Eisenstein-Hu 1998 transfer function with BAO; ``k`` in h/Mpc."""
    sc = eh_scales(cosmo)
    kk = np.maximum(np.asarray(k, float), 1e-12) * cosmo.h  # Mpc^-1
    q = kk / (13.41 * sc.k_eq)
    ks = kk * sc.s
    f = 1 / (1 + (ks / 5.4) ** 4)
    t_c = f * _t0_tilde(kk, q, 1.0, sc.beta_c) + (1 - f) * _t0_tilde(kk, q, sc.alpha_c, sc.beta_c)
    s_tilde = sc.s / (1 + (sc.beta_node / ks) ** 3) ** (1 / 3)
    t_b = (
        _t0_tilde(kk, q, 1.0, 1.0) / (1 + (ks / 5.2) ** 2)
        + sc.alpha_b / (1 + (sc.beta_b / ks) ** 3) * np.exp(-((kk / sc.k_silk) ** 1.4))
    ) * np.sinc(kk * s_tilde / np.pi)
    return sc.f_b * t_b + (1 - sc.f_b) * t_c


TRANSFERS: dict[str, Callable[[Array, Cosmology], Array]] = {
    "eh": transfer_eh,
    "bbks": transfer_bbks,
}


def tophat_window(x: Array) -> Array:
    """Fourier transform of a real-space top hat: ``3 (sin x - x cos x) / x^3``."""
    x = np.asarray(x, float)
    small = np.abs(x) < 1e-3
    xs = np.where(small, 1.0, x)
    w = 3 * (np.sin(xs) - xs * np.cos(xs)) / xs**3
    return np.where(small, 1 - x**2 / 10, w)


class LinearPower:
    """``P_lin(k, a)`` for a cosmology and transfer function, normalised to ``sigma8``.

    Calls interpolate a log-log table (``1e-5 <= k <= 1e3`` h/Mpc): evaluating EH on every
    Fourier mode of a 256^3 grid is ~10x slower than the table and no more accurate.
    """

    K_MIN, K_MAX, N_TABLE = 1e-5, 1e3, 2048

    def __init__(self, cosmo: Cosmology, transfer: str = "eh") -> None:
        if transfer not in TRANSFERS:
            raise SpecError(
                f"unknown transfer function {transfer!r} (known: {', '.join(TRANSFERS)})"
            )
        self.cosmo, self.transfer = cosmo, transfer
        self._log_k = np.linspace(np.log(self.K_MIN), np.log(self.K_MAX), self.N_TABLE)
        k = np.exp(self._log_k)
        shape = k**cosmo.n_s * TRANSFERS[transfer](k, cosmo) ** 2
        self.amplitude = cosmo.sigma8**2 / self._sigma2(k, shape, 8.0)
        self._log_p = np.log(self.amplitude * shape)

    @staticmethod
    def _sigma2(k: Array, p: Array, radius: float) -> float:
        """``sigma^2(R) = ∫ dln k k^3 P(k) W^2(kR) / (2 pi^2)`` on the table (trapezoid)."""
        integrand = k**3 * p * tophat_window(k * radius) ** 2 / (2 * np.pi**2)
        return float(integrate.trapezoid(integrand, np.log(k)))

    def __call__(self, k: Array, a: float = 1.0) -> Array:
        """The linear spectrum at scale factor ``a`` (zero at ``k = 0``)."""
        k = np.asarray(k, float)
        safe = np.clip(k, self.K_MIN, self.K_MAX)
        p = np.exp(np.interp(np.log(safe), self._log_k, self._log_p))
        return np.where(k > 0, p, 0.0) * growth(self.cosmo.omega_m).d(a) ** 2

    def sigma(self, radius: float, a: float = 1.0) -> float:
        """The rms linear overdensity in top-hat spheres of ``radius`` Mpc/h."""
        k = np.exp(self._log_k)
        return float(np.sqrt(self._sigma2(k, self(k, a), radius)))


# -- growth -------------------------------------------------------------------------------
class Growth:
    """Linear growth of flat LCDM in closed form (see the module docstring).

    ``g_d`` and ``g_k`` are FastPM's time-step factors (Feng et al. 2016,
    arXiv:1603.00476): ``G_D = a^3 E dD/da`` (momentum per unit displacement in linear
    theory) and ``G_K = 1.5 Omega_m D`` (force per unit displacement); drifting by
    ``ΔD / G_D`` and kicking by ``ΔG_D / G_K`` make Zel'dovich growth exact for any step.
    """

    def __init__(self, omega_m: float) -> None:
        if not 0 < omega_m <= 1:
            raise SpecError(f"omega_m must lie in (0, 1], not {omega_m}")
        self.omega_m = float(omega_m)
        self._norm = 1.0
        self._norm = float(self.d(1.0))

    def e(self, a: Array | float) -> Array:
        """``E(a) = H(a)/H0``."""
        a = np.asarray(a, float)
        return np.sqrt(self.omega_m * a**-3 + 1 - self.omega_m)

    def omega_m_at(self, a: Array | float) -> Array:
        a = np.asarray(a, float)
        return self.omega_m * a**-3 / self.e(a) ** 2

    def _i(self, a: Array | float) -> Array:
        """``∫_0^a da' / (a' E)^3`` in closed form: ``(2/5) a^(5/2) Om^(-3/2)
        2F1(3/2, 5/6; 11/6; -(OL/Om) a^3)`` (substituting ``u = a'^3``), exact where a
        tabulated integral's finite differences are not."""
        a = np.asarray(a, float)
        x = (1 - self.omega_m) / self.omega_m
        return 0.4 * a**2.5 * self.omega_m**-1.5 * special.hyp2f1(1.5, 5 / 6, 11 / 6, -x * a**3)

    def d(self, a: Array | float) -> Array:
        """Linear growth factor, ``D(1) = 1``."""
        a = np.asarray(a, float)
        return 2.5 * self.omega_m * self.e(a) * self._i(a) / self._norm

    def dd_da(self, a: Array | float) -> Array:
        """``dD/da`` in closed form from the integral: ``E' I + E / (a E)^3``."""
        a = np.asarray(a, float)
        e = self.e(a)
        de_da = -1.5 * self.omega_m * a**-4 / e
        return 2.5 * self.omega_m * (de_da * self._i(a) + e / (a * e) ** 3) / self._norm

    def f(self, a: Array | float) -> Array:
        """Growth rate ``d ln D / d ln a``."""
        return np.asarray(a, float) * self.dd_da(a) / self.d(a)

    def f2(self, a: Array | float) -> Array:
        """Second-order growth rate, ``2 Omega_m(a)^(6/11)``."""
        return 2 * self.omega_m_at(a) ** (6 / 11)

    def g_d(self, a: Array | float) -> Array:
        """FastPM's drift factor ``G_D = a^3 E dD/da``."""
        a = np.asarray(a, float)
        return a**3 * self.e(a) * self.dd_da(a)

    def g_d2(self, a: Array | float) -> Array:
        """The 2LPT analogue of ``G_D`` for the ``(3/7) D^2`` term: ``a^2 E f2 (3/7) D^2``
        (second-order growth is ``D2 = -(3/7) D^2``; the sign lives in ``psi2`` of
        :mod:`surrogate_cosmo.lpt`, so ``x = q + D psi1 + (3/7) D^2 psi2``)."""
        a = np.asarray(a, float)
        return a**2 * self.e(a) * self.f2(a) * 3 / 7 * self.d(a) ** 2

    def g_k(self, a: Array | float) -> Array:
        """FastPM's kick factor ``G_K = 1.5 Omega_m D``."""
        return 1.5 * self.omega_m * self.d(a)


@lru_cache(maxsize=64)
def growth(omega_m: float) -> Growth:
    """The growth of ``omega_m`` (memoised: every run of a sample asks for it)."""
    return Growth(omega_m)
