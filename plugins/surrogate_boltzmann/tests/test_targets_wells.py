"""The well targets against numbers computed independently of the grid helper: the notes'
ln Z and free energies (Noé 2019, FAB 2023), scipy quadrature, hand-computed energies,
and goodness-of-fit tests of the exact samplers that fail if a sample is off."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

import surrogate
from surrogate.errors import SpecError

ONE = np.array([1.0])


#: (a, b, c) of a x1 + b x1² + c x1⁴, written out from the papers
COEFFICIENTS = {"noe": (1.0, -6.0, 1.0), "fab": (-0.5, -6.0, 1.0), "bgflow": (0.0, -4.0, 1.0)}


def u1(x, convention):
    a, b, c = COEFFICIENTS[convention]
    return a * x + b * x**2 + c * x**4


def test_double_well_numbers_of_the_notes():
    noe = surrogate.simulator("boltzmann.double_well", convention="noe")
    states = noe.state_log_z(ONE)
    assert noe.log_z(ONE)[0] == pytest.approx(11.0205, abs=5e-5)
    assert (states["left"] - states["right"])[0] == pytest.approx(3.380, abs=5e-4)
    assert np.exp(states["left"] - noe.log_z(ONE))[0] == pytest.approx(0.9671, abs=5e-5)
    fab = surrogate.simulator("boltzmann.double_well", convention="fab")
    assert fab.log_z(ONE)[0] == pytest.approx(10.293480, abs=1e-6)
    assert np.exp(fab.state_log_z(ONE)["right"] - fab.log_z(ONE))[0] == pytest.approx(
        0.8443, abs=5e-5
    )


@pytest.mark.parametrize("convention", ["noe", "fab", "bgflow"])
def test_log_z_matches_scipy_quadrature_at_other_temperatures(convention):
    sim = surrogate.simulator("boltzmann.double_well", convention=convention, dim=3)
    for t in (0.5, 0.8, 2.0):
        z1, _ = integrate.quad(lambda x, t=t: math.exp(-u1(x, convention) / t), -8, 8)
        expected = math.log(z1) + math.log(2 * math.pi * t)  # two Gaussian coordinates
        assert sim.log_z(np.array([t]))[0] == pytest.approx(expected, abs=1e-9)


def test_energy_through_the_core_by_hand():
    x = np.array([[1.0, 2.0, -1.0]])
    # x1 = 1: a + b + c; the Gaussian part ½(4 + 1) = 2.5; at T = 2 halved
    hand = {"noe": 1 - 6 + 1 + 2.5, "fab": -0.5 - 6 + 1 + 2.5, "bgflow": -4 + 1 + 2.5}
    for convention, u in hand.items():
        sim = surrogate.simulator("boltzmann.double_well", convention=convention, dim=3)
        assert sim.energy({"x": x}, {"temperature": 2.0}) == pytest.approx([u / 2], abs=1e-12)
    noe = surrogate.simulator("boltzmann.double_well", dim=3)
    xt = torch.tensor(x, requires_grad=True)
    noe.energy({"x": xt}, {"temperature": 1.0}).sum().backward()
    # dU/dx1 = 1 - 12 x1 + 4 x1³ = -7; the Gaussian coordinates give x_i
    np.testing.assert_allclose(xt.grad.numpy(), [[-7.0, 2.0, -1.0]])
    force = noe.force({"x": x}, {"temperature": 1.0})["x"]
    np.testing.assert_allclose(force, [[7.0, -2.0, 1.0]])


def test_bad_options_are_one_line_errors():
    with pytest.raises(SpecError, match="noe, fab, bgflow") as err:
        surrogate.simulator("boltzmann.double_well", convention="Noe")
    assert "\n" not in str(err.value)
    with pytest.raises(SpecError, match="even dim"):
        surrogate.simulator("boltzmann.manywell", dim=5)
    with pytest.raises(SpecError, match="t_min <= t_max"):
        surrogate.simulator("boltzmann.double_well", t_min=2.0, t_max=1.0)


def test_exact_sampler_histogram_matches_the_density():
    sim = surrogate.simulator("boltzmann.double_well", convention="noe")
    x = sim.sample(40_000, {"temperature": 1.0}, seed=1)["x"].astype(np.float64)
    edges = np.linspace(-3.0, 3.0, 41)

    def dens(s):
        return math.exp(-u1(s, "noe"))

    mass = np.array([integrate.quad(dens, a, b)[0] for a, b in itertools.pairwise(edges)])
    expected = mass / integrate.quad(dens, -8, 8)[0] * len(x)
    counts = np.histogram(x[:, 0], edges)[0]
    keep = expected > 5  # the right well's far side is nearly empty
    assert abs(counts.sum() - len(x)) < 5
    chi2 = (((counts - expected) ** 2 / expected)[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3
    assert stats.kstest(x[:, 1], "norm").pvalue > 1e-3


def test_exact_sampler_at_per_event_temperatures():
    """Temperatures from the prior (all distinct: the ladder-and-rejection path): each x1
    through its own CDF at its own T (trapezoid rule on a fine grid) must be uniform."""
    sim = surrogate.simulator("boltzmann.double_well", convention="fab")
    events = sim.sample(4000, seed=2)
    t = events.conditions["temperature"]
    x = events["x"].astype(np.float64)
    assert len(np.unique(t)) == len(t) and t.min() >= 0.5 and t.max() <= 2.0
    grid = np.linspace(-6, 6, 3001)
    log_f = -u1(grid[None], "fab") / t[:, None]
    f = np.exp(log_f - log_f.max(1, keepdims=True))
    cdf = np.concatenate([np.zeros((len(t), 1)), np.cumsum(f[:, 1:] + f[:, :-1], 1)], 1)
    cdf /= cdf[:, -1:]
    at = (x[:, 0] - grid[0]) / (grid[1] - grid[0])
    i = np.floor(at).astype(int)[:, None]
    lo, hi = np.take_along_axis(cdf, i, 1)[:, 0], np.take_along_axis(cdf, i + 1, 1)[:, 0]
    pit = lo + (at - i[:, 0]) * (hi - lo)
    assert stats.kstest(pit, "uniform").pvalue > 1e-3
    assert stats.kstest(x[:, 1] / np.sqrt(t), "norm").pvalue > 1e-3


def test_states_mode_labels_and_the_public_sample():
    sim = surrogate.simulator("boltzmann.double_well")
    events = sim.sample(1000, {"temperature": 1.0}, seed=0)
    again = sim.sample(1000, {"temperature": 1.0}, seed=0)
    assert events["x"].shape == (1000, 2) and events["x"].dtype == np.float32
    np.testing.assert_array_equal(events["x"], again["x"])
    labels = sim.mode_labels(events)
    np.testing.assert_array_equal(labels == 1, sim.states(events["x"])["right"])
    assert sim.n_modes == 2 and abs(labels.mean() - 0.0329) < 0.02
    assert np.isfinite(sim.log_prob(events)).all()


def test_log_prob_is_normalised():
    sim = surrogate.simulator("boltzmann.double_well", convention="bgflow", dim=1)
    grid = np.linspace(-4, 4, 4001)[:, None]
    dens = np.exp(sim.log_prob({"x": grid}, {"temperature": 1.7}))
    assert dens.sum() * (grid[1, 0] - grid[0, 0]) == pytest.approx(1.0, abs=1e-9)


def test_manywell():
    sim = surrogate.simulator("boltzmann.manywell")
    assert sim.log_z(ONE)[0] == pytest.approx(164.6957, abs=1e-4)
    assert sim.n_modes == 2**16
    pair = surrogate.simulator("boltzmann.double_well", convention="fab")
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1.5, (5, 32))
    by_pair = pair.energy({"x": x.reshape(-1, 2)}, {"temperature": 0.7}).reshape(5, 16)
    np.testing.assert_allclose(sim.energy({"x": x}, {"temperature": 0.7}), by_pair.sum(1))
    events = sim.sample(4000, {"temperature": 1.0}, seed=4)
    bits = (sim.mode_labels(events)[:, None] >> np.arange(16)) & 1
    np.testing.assert_array_equal(bits == 1, events["x"][:, 0::2] > 0)
    # every well is right with P = 0.8443, independently: the 64,000 signs are binomial
    assert stats.binomtest(int(bits.sum()), bits.size, 0.8443).pvalue > 1e-3
    assert stats.kstest(events["x"][:, 1::2].ravel(), "norm").pvalue > 1e-3


@pytest.fixture(scope="module")
def gmm():
    """The target, and the nearest mean of each of its grid's cells."""
    sim = surrogate.simulator("boltzmann.gmm40")
    return sim, nearest_mean(sim, sim._grid.points)


def nearest_mean(sim, x):
    return ((x[:, None] - sim.means) ** 2).sum(-1).argmin(1)


def test_gmm40_is_fabs_mixture(gmm):
    sim, _ = gmm
    with torch.random.fork_rng():
        torch.manual_seed(0)
        fab_means = (torch.rand((40, 2)) - 0.5) * 2 * 40
    np.testing.assert_array_equal(sim.means, fab_means.double().numpy())
    assert sim.sigma == pytest.approx(1.3133, abs=1e-4) and sim.n_modes == 40
    # U = -ln p_gmm: at a mean far from the others, ln p = -ln 40 - ln(2π σ²)
    lonely = np.argmax(np.sort(((sim.means[:, None] - sim.means) ** 2).sum(-1), 1)[:, 1])
    u = sim.energy({"x": sim.means[lonely : lonely + 1]}, {"temperature": 1.0})
    assert u[0] == pytest.approx(math.log(40 * 2 * math.pi * sim.sigma**2), abs=1e-6)
    assert sim.log_z(ONE)[0] == 0 and abs(sim._grid.log_z(ONE)[0]) < 1e-9
    # the bound of the T < 1 sampler holds on the grid and is tight
    assert 0 < sim._log_p_max - (-sim._grid.u).max() < 0.15


@pytest.mark.parametrize("t", [1.0, 0.5, 2.0])
def test_gmm40_exact_sampler_weights_the_modes_as_the_density(gmm, t):
    """Mode occupations of exact samples against the grid's masses of the nearest-mean
    cells: at T != 1 overlapping components make them unequal (rejection must get it)."""
    sim, cell_mode = gmm
    x = sim.sample(20_000, {"temperature": t}, seed=5)["x"].astype(np.float64)
    counts = np.bincount(nearest_mean(sim, x), minlength=40)
    grid = sim._grid
    expected = np.bincount(cell_mode, np.exp(-(grid.u - grid.u_min) / t), minlength=40)
    expected *= len(x) / expected.sum()
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    labels = sim.mode_labels(sim.sample(2000, {"temperature": t}, seed=6))
    assert (labels >= 0).mean() > 0.99


MB_PARAMETERS = (
    [-200, -100, -170, 15],
    [-1, -1, -6.5, 0.7],
    [0, 0, 11, 0.6],
    [-10, -10, -6.5, 0.7],
    [1, 0, -0.5, -1],
    [0, 0.5, 1.5, 1],
)


def mueller_brown(x, y):
    """Müller & Brown (1979), written out independently of the target."""
    return sum(
        amp * np.exp(a * (x - x0) ** 2 + b * (x - x0) * (y - y0) + c * (y - y0) ** 2)
        for amp, a, b, c, x0, y0 in zip(*MB_PARAMETERS, strict=True)
    )


def test_mueller_brown_minima_energies_and_log_z():
    sim = surrogate.simulator("boltzmann.mueller_brown")
    minima = sim.minima
    u = sim.energy({"x": minima}, {"temperature": 1.0})
    np.testing.assert_allclose(u, [-14.670, -10.817, -8.077], atol=1e-3)
    assert np.abs(sim.force({"x": minima}, {"temperature": 1.0})["x"]).max() < 1e-3
    np.testing.assert_allclose(u, 0.1 * mueller_brown(minima[:, 0], minima[:, 1]))
    # an independent midpoint sum on another box and spacing
    h = 0.004
    xs, ys = np.arange(-3.2, 1.5, h) + h / 2, np.arange(-1.2, 3.3, h) + h / 2
    log_f = -0.1 * mueller_brown(xs[:, None], ys[None, :])
    expected = math.log(np.exp(log_f - log_f.max()).sum() * h * h) + log_f.max()
    assert sim.log_z(ONE)[0] == pytest.approx(expected, abs=1e-8)


def test_mueller_brown_sampler_and_states():
    sim = surrogate.simulator("boltzmann.mueller_brown")
    events = sim.sample(20_000, {"temperature": 1.0}, seed=7)
    x = events["x"].astype(np.float64)
    counts = np.array([m.sum() for m in sim.states(x).values()])
    np.testing.assert_array_equal(counts, np.bincount(sim.mode_labels(events), minlength=3))
    log_z = sim.state_log_z(ONE)
    expected = np.exp(np.array([v[0] for v in log_z.values()]) - sim.log_z(ONE)[0])
    assert expected.sum() == pytest.approx(1.0, abs=1e-9)
    assert stats.chisquare(counts, expected * len(x)).pvalue > 1e-3
    # the shape of the deep well A: a 2D histogram against the density integrated on cells
    edges_x, edges_y = np.linspace(-0.9, -0.2, 8), np.linspace(1.2, 1.7, 6)
    hist = np.histogram2d(x[:, 0], x[:, 1], [edges_x, edges_y])[0]
    fine = 40
    gx = np.linspace(-0.9, -0.2, 7 * fine + 1)[:-1] + 0.1 / fine / 2
    gy = np.linspace(1.2, 1.7, 5 * fine + 1)[:-1] + 0.1 / fine / 2
    dens = np.exp(-0.1 * mueller_brown(gx[:, None], gy[None, :]) - sim.log_z(ONE)[0])
    mass = dens.reshape(7, fine, 5, fine).sum((1, 3)) * (0.1 / fine) ** 2
    chi2 = ((hist - mass * len(x)) ** 2 / (mass * len(x))).sum()
    assert stats.chi2.sf(chi2, hist.size) > 1e-3
