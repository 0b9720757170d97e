"""calo.gflash against known physics (hep-ex/0001020, the notes' section 4) and the
toolkit's simulator contract.  Default tests use the 96-voxel ``test`` geometry and a few
hundred showers; ``-m slow`` repeats the statistical checks on dataset 2 over 1 GeV-1 TeV.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammainc

import surrogate
from surrogate.errors import SpecError
from surrogate.testing import simulator_checks
from surrogate_calo import GeometryError, Stack, geometry_from_dict, get_geometry, get_material
from surrogate_calo.geometry import DATA
from surrogate_calo.gflash import GFlash, Spots, mean_parameters


def gflash(**options):
    return surrogate.simulator("calo.gflash", **{"geometry": "test", **options})


@pytest.mark.parametrize("name,check", simulator_checks(lambda: gflash(), n=16))
def test_conformance(name, check):
    check()


@pytest.mark.parametrize("name,check", simulator_checks(lambda: gflash(geometry="calogan"), n=8))
def test_conformance_calogan(name, check):
    check()


def test_spec_is_the_challenge_layout():
    sim = gflash(geometry="1-photons")
    assert sim.spec.layout == "calochallenge"
    assert sim.spec.field("showers").shape == (368,) and sim.spec.field("showers").unit == "MeV"
    c = sim.spec.condition("incident_energies")
    assert (c.low, c.high, c.unit) == (256.0, 4194304.0, "MeV")


def test_check_values_homogeneous_tungsten():
    """The notes' check values: W, 10 GeV: T = 6.32, alpha = 4.30, beta = 0.52;
    100 GeV: 8.63, 5.42, 0.51."""
    p = Stack(get_material("W")).parameters()
    m = mean_parameters(np.array([1e4, 1e5]), p)
    t, a = np.exp(m["ln_t"]), np.exp(m["ln_a"])
    np.testing.assert_allclose(t, [6.32, 8.63], atol=0.015)
    np.testing.assert_allclose(a, [4.30, 5.42], atol=0.01)
    np.testing.assert_allclose((a - 1) / t, [0.52, 0.51], atol=0.006)


def test_sampling_shifts_the_maximum():
    p = get_geometry("2").parameters()
    m = mean_parameters(np.array([1e4]), p)
    shift = 0.55 / p.fs + 0.69 * (1 - p.ehat)
    assert np.exp(m["ln_t"])[0] == pytest.approx(np.exp(m["ln_t_hom"])[0] - shift)
    assert np.exp(m["ln_a"])[0] == pytest.approx(np.exp(m["ln_a_hom"])[0] - 0.476 / p.fs)


def _depth_profile(sim: GFlash, spots: Spots, n: int, energy: float, edges: np.ndarray):
    h = np.histogram(spots.depth / sim.stack.x0, edges, weights=spots.energy)[0]
    return h / (n * energy)


def test_mean_profile_matches_the_gamma_profile():
    sim = gflash(stochastic=0)
    n, energy = 300, 1e4
    spots = sim.spots(np.full(n, energy), np.random.default_rng(1))
    edges = np.arange(0.0, 37.0, 1.0)
    mean = _depth_profile(sim, spots, n, energy, edges)
    # exactly the average of the showers' own gamma profiles (up to the last 0.1 MeV)
    own = np.diff(gammainc(spots.params.alpha[:, None], spots.params.beta[:, None] * edges), 1)
    np.testing.assert_allclose(mean, own.mean(0), atol=1e-4 * mean.max())
    # and close to the gamma profile at the average parameters (fluctuations widen it)
    m = mean_parameters(np.array([energy]), sim.stack)
    t, a = np.exp(m["ln_t"][0]), np.exp(m["ln_a"][0])
    average = np.diff(gammainc(a, (a - 1) / t * edges))
    assert np.abs(mean - average).max() < 0.06 * average.max()
    assert abs(edges[np.argmax(mean)] + 0.5 - t) < 1.0


def test_shower_maximum_grows_like_ln_e():
    sim = gflash(stochastic=0)
    rng = np.random.default_rng(2)
    energies = np.array([2e3, 8e3, 3.2e4, 1e5])
    peaks = []
    for e in energies:
        spots = sim.spots(np.full(200, e), rng)
        profile = spots.step_energy.mean(0)
        mid = 0.5 * (spots.step_edges[1:] + spots.step_edges[:-1])
        peaks.append(mid[np.argmax(profile)])
    slope, intercept = np.polyfit(np.log(energies / sim.stack.critical_energy), peaks, 1)
    assert slope == pytest.approx(1.0, abs=0.07)
    # T_sam = ln y - 0.812 - 0.55/F_s - 0.69 (1 - e_hat) = ln y - 1.24 for W/Si
    assert intercept == pytest.approx(-1.24, abs=0.35)


def test_photons_start_about_one_radiation_length_later():
    rng = np.random.default_rng(3)
    e, n = np.full(600, 1e4), 600
    electrons = gflash(stochastic=0).spots(e, rng)
    photons = gflash(stochastic=0, particle="photon").spots(e, rng)
    x0 = get_geometry("test").parameters().x0
    de = np.average(electrons.depth, weights=electrons.energy) / x0
    dg = np.average(photons.depth, weights=photons.energy) / x0
    assert dg - de == pytest.approx(9 / 7, abs=0.25)  # the PDG's e/gamma difference is ~1 X0
    assert len(photons.params.t_start) == n


@pytest.mark.parametrize("energy", [1e4, 5e4])
def test_containment_in_moliere_radii(energy):
    """~90% of the energy within 1 R_M and ~99% within 3.5 R_M."""
    sim = gflash()
    spots = sim.spots(np.full(150, energy), np.random.default_rng(4))
    rm = sim.stack.moliere_radius
    inside1 = spots.energy[spots.r < rm].sum() / spots.energy.sum()
    inside35 = spots.energy[spots.r < 3.5 * rm].sum() / spots.energy.sum()
    assert 0.86 < inside1 < 0.94
    assert 0.975 < inside35 < 0.995


def test_containment_through_the_readout():
    """The test geometry's r bins end at 0.5, 1, 2, 3.5 R_M: the same fractions in voxels."""
    geo = get_geometry("test")
    ev = gflash().sample(150, {"incident_energies": 2e4}, seed=5)
    x = ev["showers"].astype(np.float64)
    r = geo.coordinates["r"]
    assert x[:, r < 9.48].sum() / 2e4 / 150 == pytest.approx(0.90, abs=0.04)
    assert x.sum() / 2e4 / 150 == pytest.approx(0.985, abs=0.01)


def test_energy_resolution_is_the_stochastic_term():
    n, energy = 1200, 1e4
    for sigma in (0.11, 0.2):
        spots = gflash(stochastic=sigma).spots(np.full(n, energy), np.random.default_rng(6))
        total = spots.step_sampled.sum(1)
        expected = sigma / np.sqrt(energy / 1e3)
        assert total.std() / total.mean() == pytest.approx(expected, rel=0.09)
        assert total.mean() == pytest.approx(energy, rel=0.005)


def test_energy_is_conserved_before_sampling():
    sim = gflash(stochastic=0)
    e = np.array([1e3, 5e3, 2e4, 8e4])
    spots = sim.spots(e, np.random.default_rng(7))
    per_shower = np.bincount(spots.shower, weights=spots.energy, minlength=len(e))
    np.testing.assert_allclose(per_shower + spots.leaked, e, rtol=1e-10)
    np.testing.assert_allclose(per_shower, spots.deposited, rtol=1e-10)
    # with sampling, the spots carry the fluctuated step energies
    sampled = gflash().spots(e, np.random.default_rng(7))
    np.testing.assert_allclose(
        np.bincount(sampled.shower, weights=sampled.energy, minlength=4),
        sampled.step_sampled.sum(1),
        rtol=1e-10,
    )


def test_longitudinal_leakage_is_the_gamma_tail():
    shallow = geometry_from_dict(
        {
            "name": "shallow",
            "binning": "binning_test.xml",
            "stack": {
                "absorber": {"material": "W", "thickness_mm": 1.4},
                "active": {"material": "Si", "thickness_mm": 0.3},
            },
            "depth": {"unit": "X0", "thickness": 1.5},  # 6 layers: 9 X0 in all
            "energy_range_mev": [1000, 100000],
        },
        base=DATA,
    )
    sim = gflash(geometry=shallow, stochastic=0)
    e = np.full(50, 5e4)
    spots = sim.spots(e, np.random.default_rng(8))
    p = spots.params
    expected = e * (1 - gammainc(p.alpha, p.beta * 9.0))
    np.testing.assert_allclose(spots.leaked, expected, rtol=1e-9, atol=1e-6)
    assert spots.leaked.mean() > 0.001 * 5e4


def test_cost_grows_like_the_number_of_spots():
    sim = gflash()
    rng = np.random.default_rng(9)
    n10 = len(sim.spots(np.full(20, 1e4), rng).energy) / 20
    n100 = len(sim.spots(np.full(20, 1e5), rng).energy) / 20
    assert n100 / n10 == pytest.approx(10**0.959, rel=0.25)
    assert sim.expected_spots(np.array([1e5]))[0] > sim.expected_spots(np.array([1e4]))[0]


def test_geant4_parity_quirks():
    paper, g4 = gflash(), gflash(parity="geant4")
    assert g4.stack.critical_energy < 0.6 * paper.stack.critical_energy  # X0 in mm
    assert g4.stack.moliere_radius > 1.8 * paper.stack.moliere_radius
    rng = np.random.default_rng(10)
    n_paper = len(paper.spots(np.full(5, 1e4), rng).energy) / 5
    n_g4 = len(g4.spots(np.full(5, 1e4), rng).energy) / 5
    assert n_g4 / n_paper == pytest.approx(93 / 10.3 * 10 ** (0.876 - 0.959), rel=0.3)
    total = g4.spots(np.full(300, 1e4), rng).step_sampled.sum(1)
    assert total.std() / total.mean() < 0.01  # sigma^2 dE with dE in MeV


def test_readout_bins_spots_into_the_right_voxels():
    sim = gflash()
    x0 = sim.stack.x0
    spots = Spots(
        shower=np.array([0, 0, 0, 1]),
        depth=np.array([13.0 * x0, 13.0 * x0, 40.0 * x0, 0.5 * x0]),
        r=np.array([5.0, 40.0, 1.0, 0.0]),
        u_phi=np.array([0.3, 0.3, 0.0, 0.99]),
        energy=np.array([1.0, 2.0, 4.0, 8.0]),
        deposited=np.zeros(2),
        leaked=np.zeros(2),
        step_energy=np.zeros((2, 1)),
        step_sampled=np.zeros((2, 1)),
        step_edges=np.zeros(2),
        params=None,
    )
    out = sim._readout.deposit(spots, 2)
    # layer 2 (12-18 X0), r bin 1 (4.74-9.48 mm), alpha bin floor(0.3 * 4) = 1
    assert out[0, 32 + 1 * 4 + 1] == 1.0
    assert out[0].sum() == 1.0  # r beyond 3.5 R_M and depth beyond 36 X0 are lost
    assert out[1, 3 * 4 + 0] == 8.0  # layer 0, last alpha bin, first r bin


def test_calogan_readout_is_cartesian():
    sim = gflash(geometry="calogan")
    x0 = sim.stack.x0
    spots = Spots(
        shower=np.array([0, 0]),
        depth=np.array([10.0, 100.0]),
        r=np.array([12.0, 50.0]),
        u_phi=np.array([0.5, 0.75]),  # phi = 0 (along x) and pi/2 (along y)
        energy=np.array([1.0, 2.0]),
        deposited=np.zeros(1),
        leaked=np.zeros(1),
        step_energy=np.zeros((1, 1)),
        step_sampled=np.zeros((1, 1)),
        step_edges=np.zeros(2),
        params=None,
    )
    out = sim._readout.deposit(spots, 1)
    assert out[0, 1 * 96 + 50] == 1.0  # layer 0: y row 1 of 3, x cell (12 + 240) / 5 = 50
    assert out[0, 288 + 7 * 12 + 6] == 2.0  # layer 1: y = 50 -> row 7, x = 0 -> cell 6
    assert x0 > 0


def test_showers_are_centred_and_thresholded():
    sim = gflash(geometry="2")
    ev = sim.sample(30, {"incident_energies": 2e4}, seed=11)
    x = ev["showers"]
    assert ((x == 0) | (x >= 0.5e-3 / 0.033)).all()  # the readout threshold
    from surrogate_calo.features import high_level_features

    f = high_level_features(x, ev["incident_energies"], "2")
    assert abs(np.mean(f.ec_eta[10])) < 1.0 and abs(np.mean(f.ec_phi[10])) < 1.0


def test_ds1_draws_the_challenge_energies():
    ev = gflash(geometry="1-photons").sample(40, seed=12)
    assert set(np.unique(ev["incident_energies"])) <= {2.0**k for k in range(8, 23)}
    ev = gflash(geometry="1-photons", energies="prior").sample(5, seed=12)
    assert not set(np.unique(ev["incident_energies"])) <= {2.0**k for k in range(8, 23)}
    # the spectrum on its own (for timing or generating at the dataset's energies)
    e = gflash(geometry="1-photons").draw_energies(20_000, np.random.default_rng(0))
    assert set(np.unique(e)) <= {2.0**k for k in range(8, 23)}
    assert np.mean(e == 2.0**8) == pytest.approx(10 / 121, abs=0.006)  # 10k of 121k showers
    e = gflash(geometry="calogan").draw_energies(1000, np.random.default_rng(0))
    assert e.min() >= 1e3 and e.max() <= 1e5 and len(np.unique(e)) == 1000


def test_chunking_keeps_memory_bounded_and_energy():
    sim = gflash(max_spots=5000, stochastic=0)
    chunks = list(sim._chunks(np.full(6, 1e5)))
    assert len(chunks) == 6  # ~7,000 spots per shower at 100 GeV
    ev = sim.sample(6, {"incident_energies": 1e5}, seed=13)
    assert ev["showers"].sum(1) == pytest.approx(np.full(6, 1e5 * 0.985), rel=0.02)


def test_out_of_range_energy_is_named():
    with pytest.raises(SpecError, match=r"incident_energies 2e\+06 MeV is outside .* '2'"):
        gflash(geometry="2").sample(2, {"incident_energies": 2e6})
    with pytest.raises(SpecError, match="incident_energies"):
        gflash().sample(2, {"incident_energies": [5e3, np.nan]})


def test_bad_options_are_named():
    with pytest.raises(GeometryError, match="electromagnetic.*'pion'"):
        gflash(geometry="1-pions")
    assert gflash(geometry="1-pions", particle="photon").spec.field("showers").shape == (533,)
    with pytest.raises(SpecError, match="parity"):
        gflash(parity="geant3")
    with pytest.raises(SpecError, match="no discrete energies"):
        gflash(energies="discrete")
    with pytest.raises(SpecError, match="must be numbers"):
        gflash(step_x0="thin")
    with pytest.raises(GeometryError, match="unknown calo.geometry 'atlas'"):
        gflash(geometry="atlas")
    sim = gflash(step_x0="0.2", stochastic="0.1", max_spots="1e5")  # strings from the CLI
    assert sim.step_x0 == 0.2 and sim.stochastic == 0.1 and sim.max_spots == 100_000


@pytest.mark.slow
@pytest.mark.parametrize("energy", [1e3, 1e4, 1e5, 1e6])
def test_slow_physics_over_the_ds2_range(energy):
    sim = gflash(geometry="2")
    n = 2000 if energy < 1e6 else 200
    spots = sim.spots(np.full(n, energy), np.random.default_rng(20))
    rm = sim.stack.moliere_radius
    inside1 = spots.energy[spots.r < rm].sum() / spots.energy.sum()
    inside35 = spots.energy[spots.r < 3.5 * rm].sum() / spots.energy.sum()
    assert 0.87 < inside1 < 0.93 and 0.98 < inside35 < 0.995
    total = spots.step_sampled.sum(1)
    assert total.std() / total.mean() == pytest.approx(0.11 / np.sqrt(energy / 1e3), rel=0.1)
    profile = spots.step_energy.mean(0)
    mid = 0.5 * (spots.step_edges[1:] + spots.step_edges[:-1])
    peak = mid[np.argmax(profile)]
    assert peak == pytest.approx(np.log(energy / sim.stack.critical_energy) - 1.24, abs=0.4)
