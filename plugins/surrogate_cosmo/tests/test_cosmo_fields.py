"""Initial fields: measured spectra against the input, binned as the measurement is."""

import numpy as np
import pytest

from surrogate.errors import SpecError
from surrogate_cosmo.fields import gaussian_field, gaussian_modes, lognormal_field
from surrogate_cosmo.linear import Cosmology, LinearPower
from surrogate_cosmo.statistics import binned_theory, power_spectrum

POWER = LinearPower(Cosmology())


@pytest.mark.parametrize(
    ("shape", "box", "count"), [((64, 64), 200.0, 8), ((32, 32, 32), 256.0, 4)]
)
def test_gaussian_field_has_the_input_spectrum(shape, box, count):
    """Pooled over ``count`` fields, each bin is within 3 sigma = 3 sqrt(2 / N_modes)."""
    rng = np.random.default_rng(0)
    fields = np.stack([gaussian_field(shape, box, POWER, rng) for _ in range(count)])
    ps = power_spectrum(fields, box, window=None, ndim=len(shape))
    theory = binned_theory(POWER, shape, box)
    measured = ps.power.mean(axis=0)
    sigma = np.sqrt(2 / (ps.n_modes * count))
    pulls = (measured / theory - 1) / sigma
    assert np.abs(pulls).max() < 4
    assert abs(pulls.mean()) < 3 / np.sqrt(len(pulls))  # no overall bias


def test_fixed_amplitudes_have_no_scatter_and_pairs_cancel():
    shape, box = (32, 32, 32), 128.0
    field = gaussian_field(shape, box, POWER, np.random.default_rng(5), fixed=True)
    ps = power_spectrum(field, box, window=None)
    np.testing.assert_allclose(ps.power, binned_theory(POWER, shape, box), rtol=1e-6)
    a = gaussian_modes(shape, box, POWER, np.random.default_rng(2), fixed=True)
    b = gaussian_modes(shape, box, POWER, np.random.default_rng(2), fixed=True, paired=True)
    np.testing.assert_allclose(a + b, 0.0)


def test_lognormal_field_is_a_density_with_the_target_spectrum():
    rng = np.random.default_rng(3)
    shape, box = (64, 64), 300.0

    def target(k):
        return POWER(k) / 35  # 2D: sigma_delta ~ 1, the lognormal's regime

    fields = np.stack([lognormal_field(shape, box, target, rng) for _ in range(128)])
    assert fields.min() > -1
    assert abs(fields.mean()) < 0.01
    ps = power_spectrum(fields, box, window=None, kmax=np.pi * 64 / box / 2, ndim=2)
    ratio = ps.power.mean(axis=0) / binned_theory(target, shape, box, kmax=np.pi * 64 / box / 2)
    sigma = np.sqrt(2 / (ps.n_modes * 128))
    # a lognormal field's spectrum scatters more than a Gaussian's: 5 sigma, no bias
    assert np.abs((ratio - 1) / sigma).max() < 5
    # bins of a lognormal field are correlated (its trispectrum), so the mean over bins
    # scatters more than sqrt(2/N) says; without the xi_G mapping it reads ~1.5
    assert abs(np.mean(ratio) - 1) < 0.05


def test_bad_fields():
    rng = np.random.default_rng(0)
    with pytest.raises(SpecError, match="square 2D or cubic 3D"):
        gaussian_field((32, 16), 100.0, POWER, rng)
    with pytest.raises(SpecError, match="even integer"):
        gaussian_field((31, 31), 100.0, POWER, rng)
    with pytest.raises(SpecError, match="box must be > 0"):
        gaussian_field((32, 32), -1.0, POWER, rng)
