"""The field estimators against known answers: Gaussian random fields of known spectrum,
plane waves, Parseval, the Gaussian Minkowski functionals and peak densities, exact
triangles for the bispectrum."""

from __future__ import annotations

import time

import numpy as np
import pytest

from surrogate.errors import SpecError
from surrogate_cosmo import statistics as st
from surrogate_cosmo.fields import gaussian_field, lognormal_field

BOX = 256.0


def power_law(k: np.ndarray) -> np.ndarray:
    """A cosmology-like shape (peak near k ~ 0.05, cut-off at 1 h/Mpc), (Mpc/h)^3."""
    return 4e5 * k / (1 + (k / 0.05) ** 2.5) * np.exp(-((k / 1.0) ** 2))


def smooth(scale: float):
    """``P = exp(-k^2 R^2)``: <k^2> = d / (2 R^2), <k^4> = d (d + 2) / (4 R^4)."""
    return lambda k: np.exp(-((k * scale) ** 2))


@pytest.fixture(scope="module")
def cubes() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.stack([gaussian_field((64,) * 3, BOX, power_law, rng) for _ in range(6)])


def plane_wave(n: int, d: int, m: int, axis: int, amplitude: float) -> np.ndarray:
    x = np.indices((n,) * d)[axis]
    return amplitude * np.cos(2 * np.pi * m * x / n)


# -- power spectrum ------------------------------------------------------------------------------
def test_gaussian_field_power_matches_the_binned_input_within_the_mode_error(cubes):
    ps = st.power_spectrum(cubes, BOX, window=None)
    assert ps.power.shape == (6, 31) and ps.k.shape == (31,)
    theory = st.binned_theory(power_law, (64,) * 3, BOX)
    pull = (ps.power.mean(axis=0) / theory - 1) / np.sqrt(2 / (ps.n_modes * len(cubes)))
    assert np.abs(pull).max() < 4.0
    assert 0.5 < np.mean(pull**2) < 1.6  # chi^2 per bin ~ 1: the error bars are right
    np.testing.assert_allclose(ps.error, ps.power * np.sqrt(2 / ps.n_modes))
    assert ps.k_nyquist == pytest.approx(np.pi * 64 / BOX)
    # bins [i, i+1) k_F at the mean k of their modes
    k_f = 2 * np.pi / BOX
    assert np.all((ps.k >= np.arange(1, 32) * k_f) & (ps.k < np.arange(2, 33) * k_f))


def test_binned_theory_is_the_mode_average_not_p_at_the_mean_k():
    ps_k = st.power_spectrum(np.zeros((16, 16, 16)), BOX, window=None).k
    theory = st.binned_theory(lambda k: k**-2.0, (16,) * 3, BOX)
    # P convex in k: <P>_bin > P(<k>), most in the lowest bins
    assert np.all(theory > ps_k**-2.0)
    assert theory[0] / ps_k[0] ** -2.0 > 1.05


def test_fixed_amplitude_field_reads_the_binned_theory_exactly():
    field = gaussian_field((32,) * 3, BOX, power_law, np.random.default_rng(0), fixed=True)
    ps = st.power_spectrum(field, BOX, window=None)
    np.testing.assert_allclose(ps.power, st.binned_theory(power_law, (32,) * 3, BOX), rtol=1e-9)


@pytest.mark.parametrize(("d", "axis"), [(3, 2), (3, 0), (2, 1), (2, 0)])
def test_a_plane_wave_puts_all_its_power_in_one_bin(d, axis):
    n, m, amplitude, box = 32, 5, 0.7, 100.0
    ps = st.power_spectrum(plane_wave(n, d, m, axis, amplitude), box, window=None)
    total = ps.power * ps.n_modes  # sum of P over the bin's modes
    np.testing.assert_allclose(total[m - 1], amplitude**2 * box**d / 2)
    assert np.abs(np.delete(total, m - 1)).max() < 1e-20 * total[m - 1]
    assert 2 * np.pi * m / box <= ps.k[m - 1] < 2 * np.pi * (m + 1) / box  # the bin's mean k


def test_cic_deconvolution_divides_by_the_window_squared():
    n, m = 32, 6
    wave = plane_wave(n, 3, m, 0, 1.0)
    raw = st.power_spectrum(wave, BOX, window=None).power[m - 1]
    cic = st.power_spectrum(wave, BOX, window="cic").power[m - 1]
    assert cic / raw == pytest.approx(np.sinc(m / n) ** -4)


def test_parseval_sum_of_power_over_modes_is_the_variance():
    rng = np.random.default_rng(3)
    band = lambda k: np.where(k < 0.6 * np.pi * 32 / BOX, 1e3, 0.0)  # noqa: E731
    field = gaussian_field((32,) * 3, BOX, band, rng)
    ps = st.power_spectrum(field, BOX, window=None)
    assert (ps.power * ps.n_modes).sum() / BOX**3 == pytest.approx(field.var(), rel=1e-10)
    maps = np.stack([gaussian_field((64, 64), BOX, band, rng) for _ in range(2)])
    ps2 = st.power_spectrum(maps, BOX, window=None, ndim=2)
    np.testing.assert_allclose((ps2.power * ps2.n_modes).sum(axis=1) / BOX**2, maps.var((1, 2)))


def test_a_batch_is_the_stack_of_single_fields(cubes):
    batch = st.power_spectrum(cubes[:3], BOX).power
    np.testing.assert_allclose(batch[1], st.power_spectrum(cubes[1], BOX).power)
    grid = st.power_spectrum(cubes[:4].reshape(2, 2, 64, 64, 64), BOX).power
    assert grid.shape == (2, 2, 31)


def test_power_spectrum_of_64_cubed_is_fast(cubes):
    st.power_spectrum(cubes[0], BOX)  # geometry cached
    start = time.perf_counter()
    st.power_spectrum(cubes[0], BOX)
    assert time.perf_counter() - start < 0.5


def test_kmax_keeps_complete_bins_only():
    ps = st.power_spectrum(np.zeros((32,) * 3), BOX, kmax=0.3)
    assert len(ps.k) == int(0.3 / (2 * np.pi / BOX)) - 1


def test_cross_correlation_of_a_field_with_itself_and_with_noise(cubes):
    r = st.cross_correlation(cubes[0], 2.0 * cubes[0], BOX).r
    np.testing.assert_allclose(r, 1.0)
    r = st.cross_correlation(cubes[0], cubes[0] + cubes[1], BOX).r
    assert np.abs(r.mean() - 1 / np.sqrt(2)) < 0.05  # equal powers: r = 1/sqrt(2)
    assert np.abs(st.cross_correlation(cubes[0], cubes[1], BOX).r).mean() < 0.1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: st.power_spectrum(np.full((8, 8, 8), np.nan), BOX), "NaN"),
        (lambda: st.power_spectrum(np.zeros((8, 8, 6)), BOX, ndim=3), "not square"),
        (lambda: st.power_spectrum(np.zeros((9, 9)), BOX), "even"),
        (lambda: st.power_spectrum(np.zeros((8, 8)), 0.0), "box"),
        (lambda: st.power_spectrum(np.zeros((8, 8)), BOX, kmax=1.0), "Nyquist"),
        (lambda: st.power_spectrum(np.zeros((8, 8)), BOX, window="sph"), "window"),
        (lambda: st.binned_theory(np.ones_like, (8, 6), BOX), "square"),
        (lambda: st.cross_correlation(np.zeros((8, 8)), np.zeros((6, 6)), BOX), "differ"),
        (lambda: st.minkowski_2d(np.ones((8, 8)), [0.0]), "constant"),
        (lambda: st.peak_counts(np.zeros((8, 8)), 4), "edges"),
        (lambda: st.bispectrum_equilateral(np.zeros((8, 8)), BOX, 1.0), "k_Nyq"),
        (lambda: st.log_density_pdf(np.zeros((8, 8)), 10, floor=0.0), "floor"),
    ],
)
def test_bad_input_raises_a_spec_error_naming_it(call, message):
    with pytest.raises(SpecError, match=message):
        call()


# -- one-point PDF ---------------------------------------------------------------------------------
def test_log_density_pdf_is_normalised_and_reports_empty_cells():
    rng = np.random.default_rng(5)
    field = lognormal_field((32,) * 3, BOX, power_law, rng)
    pdf = st.log_density_pdf(field, 40)
    assert np.sum(pdf.density * np.diff(pdf.edges)) == pytest.approx(1.0)
    assert pdf.nonpositive == 0.0
    # a lognormal field: log10(1 + delta) is Gaussian with mean -var_g ln10 / 2 (in ln units)
    logs = np.log10(1 + field)
    assert np.sum(pdf.centres * pdf.density * np.diff(pdf.edges)) == pytest.approx(
        logs.mean(), abs=0.01
    )
    holes = field.copy()
    holes.flat[:100] = -1.0
    pdf = st.log_density_pdf(holes[None], pdf.edges)
    assert pdf.nonpositive[0] == pytest.approx(100 / 32**3)
    assert np.sum(pdf.density * np.diff(pdf.edges)) == pytest.approx(1 - 100 / 32**3, abs=1e-3)
    floored = st.log_density_pdf(holes, [-3.5, -2.5, 0.0, 1.0], floor=1e-3)
    assert floored.density[0] == pytest.approx(100 / 32**3)  # a bin of width 1


# -- peaks ---------------------------------------------------------------------------------------
def test_peak_counts_do_not_change_when_the_field_is_scaled_or_shifted(cubes):
    edges = [-1.0, 0.0, 1.0, 2.0, 3.0, 5.0]
    counts = st.peak_counts(cubes[:2], edges)
    np.testing.assert_array_equal(counts, st.peak_counts(3.0 * cubes[:2] + 7.0, edges))
    assert counts.shape == (2, 5) and counts.sum() > 0


def test_peak_density_of_a_smooth_gaussian_field_is_the_continuum_one():
    """Total peak densities of a Gaussian field: ``sigma_2^2 / (8 sqrt3 pi sigma_1^2)`` in
    2-D (Longuet-Higgins 1957) and ``(29 - 6 sqrt6) / (5^1.5 2 (2 pi)^2 R*^3)`` with
    ``R* = sqrt3 sigma_1 / sigma_2`` in 3-D (Bardeen et al. 1986, eq. 4.11b)."""
    rng = np.random.default_rng(7)
    r = 3.0  # in cells (box = N)
    maps = np.stack([gaussian_field((256, 256), 256.0, smooth(r), rng) for _ in range(6)])
    s1, s2 = 2 / (2 * r**2), 2 * 4 / (4 * r**4)
    expected = s2 / (8 * np.sqrt(3) * np.pi * s1)
    measured = st.peak_counts(maps, [-np.inf, np.inf]).sum() / maps.size
    assert measured == pytest.approx(expected, rel=0.03)
    cubes = np.stack([gaussian_field((48,) * 3, 48.0, smooth(r), rng) for _ in range(3)])
    s1, s2 = 3 / (2 * r**2), 15 / (4 * r**4)
    r_star = np.sqrt(3 * s1 / s2)
    expected = (29 - 6 * np.sqrt(6)) / (5**1.5 * 2 * (2 * np.pi) ** 2 * r_star**3)
    measured = st.peak_counts(cubes, [-np.inf, np.inf]).sum() / cubes.size
    assert measured == pytest.approx(expected, rel=0.05)
    heights = st.peak_heights(cubes)
    assert sum(len(h) for h in heights) == measured * cubes.size


def test_plateaus_hold_no_peaks_and_smoothing_is_periodic():
    field = np.zeros((16, 16))
    field[3, 4] = 1.0
    assert st.peak_counts(field, [-10.0, 100.0]).sum() == 1
    smoothed = st.gaussian_smooth(field, 2.0)
    assert smoothed.sum() == pytest.approx(1.0)
    shifted = st.gaussian_smooth(np.roll(field, 10, axis=1), 2.0)
    np.testing.assert_allclose(np.roll(smoothed, 10, axis=1), shifted, atol=1e-15)


# -- Minkowski functionals -----------------------------------------------------------------------
def test_minkowski_functionals_of_a_gaussian_field_match_the_closed_forms():
    rng = np.random.default_rng(2)
    r = 2.5
    maps = np.stack([gaussian_field((256, 256), 256.0, smooth(r), rng) for _ in range(6)])
    nu = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    mf = st.minkowski_2d(maps, nu)
    assert mf.v0.shape == (6, 5)
    lam = st.derivative_variance(maps).mean()
    assert lam == pytest.approx(1 / (2 * r**2), rel=0.02)
    theory = st.minkowski_gaussian(nu, lam)
    np.testing.assert_allclose(mf.v0.mean(0), theory.v0, atol=0.01)
    np.testing.assert_allclose(mf.v1.mean(0), theory.v1, rtol=0.04)
    scale = theory.v2.max()
    np.testing.assert_allclose(mf.v2.mean(0), theory.v2, atol=0.06 * scale)


def test_minkowski_functionals_of_a_disc_and_the_symmetry_of_v2():
    yy, xx = np.indices((128, 128))
    disc = np.hypot(xx - 60.3, yy - 70.1) < 30.0
    u = np.where(disc, 1.0, -1.0)
    mf = st.minkowski_2d(u, [0.0])
    area = 128**2
    std = u.std()
    assert mf.v0[0] * area == pytest.approx(np.pi * 30**2, rel=0.01)
    assert mf.v1[0] * 4 * area == pytest.approx(2 * np.pi * 30, rel=0.03)  # Crofton
    assert mf.v2[0] * area == 1.0  # one disc: Euler characteristic 1
    assert std > 0
    rng = np.random.default_rng(4)
    field = gaussian_field((64, 64), 64.0, smooth(2.0), rng)
    nu = np.array([-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(
        st.minkowski_2d(field, nu).v2, -st.minkowski_2d(-field, -nu).v2, atol=1e-12
    )


# -- bispectrum ----------------------------------------------------------------------------------
def test_bispectrum_of_exact_equilateral_triangles():
    """Three waves with ``k1 + k2 + k3 = 0``: ``sum delta_k1 delta_k2 delta_k3`` over the
    12 ordered triangles is ``12 (N^d A / 2)^3``, so ``B = 1.5 A^3 V^2 / N_triangles``."""
    n, box, amp, m = 32, 100.0, 0.3, 4
    x = np.indices((n,) * 3) * box / n
    k_f = 2 * np.pi / box
    vectors = [m * np.array(v) for v in ((1, -1, 0), (0, 1, -1), (-1, 0, 1))]
    delta = sum(amp * np.cos(k_f * np.tensordot(v, x, axes=(0, 0))) for v in vectors)
    k = m * np.sqrt(2) * k_f
    b = st.bispectrum_equilateral(delta, box, k, window=None)
    assert b.bispectrum[0] == pytest.approx(1.5 * amp**3 * box**6 / b.n_triangles[0])
    # the triangle count against a brute-force count of the shell's closed triangles
    freq = np.fft.fftfreq(n, 1 / n)
    modes = np.stack(np.meshgrid(freq, freq, freq, indexing="ij"), -1).reshape(-1, 3)
    shell = modes[np.abs(np.linalg.norm(modes, axis=1) * k_f - k) < k_f / 2]
    third = np.linalg.norm(shell[:, None] + shell[None, :], axis=2) * k_f
    assert b.n_triangles[0] == np.sum(np.abs(third - k) < k_f / 2)


def test_bispectrum_of_near_equilateral_triangles_in_2d():
    n, box, amp = 64, 64.0, 0.3
    x = np.indices((n, n)) * box / n
    k_f = 2 * np.pi / box
    vectors = [np.array(v) for v in ((8, 0), (-4, 7), (-4, -7))]  # |k| = 8, 8.06, 8.06
    delta = sum(amp * np.cos(k_f * np.tensordot(v, x, axes=(0, 0))) for v in vectors)
    b = st.bispectrum_equilateral(delta, box, 8 * k_f, window=None)
    assert b.bispectrum[0] == pytest.approx(1.5 * amp**3 * box**4 / b.n_triangles[0])
    assert b.q[0] == pytest.approx(b.bispectrum[0] / (3 * b.power[0] ** 2))


def test_reduced_bispectrum_of_a_gaussian_field_is_zero(cubes):
    b = st.bispectrum_equilateral(cubes, BOX, [0.1, 0.2, 0.4], window=None)
    assert b.q.shape == (6, 3)
    q, err = b.q.mean(axis=0), b.q.std(axis=0, ddof=1) / np.sqrt(len(cubes))
    assert np.all(np.abs(q) < 4 * err + 0.02)
    assert np.all(np.abs(q[1:]) < 0.15)  # the notes: -0.04 at k = 0.2 in one 256 Mpc/h box


def test_large_batches_are_transformed_in_chunks_with_the_same_result(cubes, monkeypatch):
    whole_p = st.power_spectrum(cubes[:3], BOX).power
    whole_b = st.bispectrum_equilateral(cubes[:3], BOX, 0.2).bispectrum
    whole_r = st.cross_correlation(cubes[:3], cubes[3:], BOX).r
    monkeypatch.setattr(st, "CHUNK_CELLS", 64**3)  # one field per chunk
    np.testing.assert_allclose(st.power_spectrum(cubes[:3], BOX).power, whole_p, rtol=1e-12)
    np.testing.assert_allclose(
        st.bispectrum_equilateral(cubes[:3], BOX, 0.2).bispectrum, whole_b, rtol=1e-10
    )
    np.testing.assert_allclose(st.cross_correlation(cubes[:3], cubes[3:], BOX).r, whole_r)
