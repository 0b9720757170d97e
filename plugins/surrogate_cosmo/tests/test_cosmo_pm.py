"""The particle mesh against exact solutions: 1D Zel'dovich, linear growth, momentum."""

import numpy as np
import pytest

from surrogate.errors import SpecError
from surrogate_cosmo.fields import gaussian_modes
from surrogate_cosmo.linear import Cosmology, LinearPower, growth
from surrogate_cosmo.lpt import displacements, lpt_state
from surrogate_cosmo.mesh import cic_paint, cic_readout, density_contrast, lattice
from surrogate_cosmo.pm import PMConfig, run_pm

BOX, N = 128.0, 16


def plane_wave_modes(amplitude: float, n: int = N, box: float = BOX) -> np.ndarray:
    """``delta = A cos(2 pi x / L)`` along the first axis, at D = 1."""
    x = np.arange(n) * box / n
    field = amplitude * np.cos(2 * np.pi * x / box)[:, None, None] * np.ones((n, n, n))
    return np.fft.rfftn(field)


def test_plane_wave_follows_zeldovich_until_shell_crossing():
    """In 1D Zel'dovich is the exact solution before shell crossing (D A = 1 here): the
    PM must track it with any number of steps."""
    g = growth(0.3)
    modes = plane_wave_modes(1.0)  # shell crossing at D = 1; the run ends at D(0.6)
    for steps in (3, 12):
        cfg = PMConfig(BOX, N, 2 * N, steps, a_start=0.05, a_end=0.6)
        x, _ = run_pm(modes, g, cfg)
        disp = displacements(modes, N, BOX, order=1)
        exact, _ = lpt_state(disp, N, BOX, g, 0.6, cfg.lattice_offset)
        moved = np.abs(disp.psi1[:, 0]).max() * float(g.d(0.6))
        err = np.abs((x - exact + BOX / 2) % BOX - BOX / 2)[:, 0].max()
        assert moved > 5  # Mpc/h: a large displacement, not a trivial check
        assert err < 0.02 * moved
        start = lattice(N, BOX) + cfg.lattice_offset * BOX / N
        np.testing.assert_allclose(x[:, 1:], start[:, 1:], atol=1e-9)


def test_low_k_growth_matches_linear_theory():
    """The largest modes of an evolved field grow as D(a), mode by mode: measured against
    the Zel'dovich field of the same lattice (whose displacements grow exactly as D) with
    the same estimator, so the CIC window and the lattice offset cancel."""
    cosmo = Cosmology(omega_m=0.3, sigma8=0.8)
    n, box = 32, 1024.0
    modes = gaussian_modes((n,) * 3, box, LinearPower(cosmo), np.random.default_rng(3))
    g = growth(cosmo.omega_m)
    fundamental = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0)]
    for a_end in (0.5, 1.0):
        cfg = PMConfig(box, n, 2 * n, 8, a_start=0.1, a_end=a_end)
        x, _ = run_pm(modes, g, cfg)
        disp = displacements(modes, n, box, order=1)
        xz, _ = lpt_state(disp, n, box, g, a_end, cfg.lattice_offset)
        pm, za = (np.fft.rfftn(density_contrast(p, n, box)) for p in (x, xz))
        ratio = np.array([pm[i] / za[i] for i in fundamental])
        np.testing.assert_allclose(np.abs(ratio), 1.0, atol=0.02)
        np.testing.assert_allclose(np.angle(ratio), 0.0, atol=0.03)
        za_growth = np.abs(np.array([za[i] / modes[i] for i in fundamental]))
        np.testing.assert_allclose(za_growth, float(g.d(a_end)), rtol=0.02)


def test_total_momentum_is_conserved():
    cosmo = Cosmology(omega_m=0.3, sigma8=0.9)
    n = 16
    modes = gaussian_modes((n,) * 3, 64.0, LinearPower(cosmo), np.random.default_rng(0))
    _, p = run_pm(modes, growth(0.3), PMConfig(64.0, n, 2 * n, 6))
    assert np.abs(p.sum(axis=0)).max() < 1e-9 * np.abs(p).sum()


def test_cic_paint_conserves_mass_and_readout_is_its_transpose():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, 10.0, (500, 3))
    grid = cic_paint(pos, 8, 10.0)
    assert grid.sum() == pytest.approx(500)
    field = rng.standard_normal((8, 8, 8))
    weights = rng.standard_normal(500)
    # <paint(w), f> = <w, readout(f)>: the same weights both ways
    lhs = (cic_paint(pos, 8, 10.0, weights) * field).sum()
    assert lhs == pytest.approx((weights * cic_readout(field, pos, 10.0)).sum())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mesh": 8}, "smaller than the particle grid"),
        ({"particles": 15}, "even integer"),
        ({"steps": 0}, "steps"),
        ({"a_start": 1.0}, "start before it ends"),
    ],
)
def test_bad_configurations(kwargs, message):
    with pytest.raises(SpecError, match=message):
        PMConfig(**{"box": 64.0, "particles": 16, "mesh": 32, **kwargs})
