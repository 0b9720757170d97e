"""The cosmology simulators through the toolkit: spec, runs, seeding, bad input, the
preprocessing they recommend."""

import numpy as np
import pytest

import surrogate
from surrogate.errors import PluginError, SpecError
from surrogate.preprocessing import Preprocessing
from surrogate_cosmo.preprocessing import STransform

SMALL = {"particles": 16, "box": 128.0, "steps": 3}


@pytest.mark.parametrize("name", ["cosmo.pm", "cosmo.lpt", "cosmo.lognormal"])
def test_one_spec_for_all_three(name):
    sim = surrogate.simulator(name, **SMALL)
    events = sim.sample(2, {"omega_m": 0.3, "sigma8": 0.8}, seed=1)
    assert events["delta"].shape == (2, 16, 16, 16)
    assert events["delta"].min() >= -1
    # particles conserve mass (mean delta is 0); a lognormal field only on average
    assert abs(float(events["delta"].mean())) < (0.1 if name == "cosmo.lognormal" else 1e-4)
    again = sim.sample(2, {"omega_m": 0.3, "sigma8": 0.8}, seed=1)
    np.testing.assert_array_equal(events["delta"], again["delta"])


def test_maps_of_one_run_share_cosmology_and_phases():
    sim = surrogate.simulator("cosmo.lpt", output="maps", maps_per_run=4, **SMALL)
    events = sim.sample(6, seed=3)  # two runs, the second cut at two maps
    assert events["delta"].shape == (6, 16, 16)
    om = events["omega_m"]
    assert len(set(om[:4])) == 1 and len(set(om[4:])) == 1 and om[0] != om[4]
    # the four slabs of a run average to the run's cube: the mean of 1 + delta is 1
    assert abs(float(events["delta"][:4].mean())) < 1e-4
    # per-event conditions: a new run wherever they change
    cut = sim.sample(4, {"omega_m": [0.3, 0.3, 0.4, 0.4], "sigma8": 0.8}, seed=3)
    assert abs(float(cut["delta"][:2].mean())) > 1e-3  # half a run: its mean is not 0
    whole = sim.sample(4, {"omega_m": [0.3] * 4, "sigma8": 0.8}, seed=3)
    assert abs(float(whole["delta"].mean())) < 1e-4  # one whole run
    half = sim.sample(2, {"omega_m": [0.3] * 2, "sigma8": 0.8}, seed=3)
    np.testing.assert_array_equal(cut["delta"][:2], half["delta"])


def test_larger_sigma8_means_more_power():
    sim = surrogate.simulator("cosmo.pm", **SMALL)
    low = sim.sample(1, {"omega_m": 0.3, "sigma8": 0.6}, seed=2)["delta"]
    high = sim.sample(1, {"omega_m": 0.3, "sigma8": 1.0}, seed=2)["delta"]
    assert high.var() > 1.5 * low.var()


def test_paired_runs_have_opposite_initial_phases():
    sim = surrogate.simulator("cosmo.lognormal", paired_fixed=True, **SMALL)
    pair = sim.sample(2, {"omega_m": 0.3, "sigma8": 0.8}, seed=0)["delta"]
    g = np.log1p(pair)  # the lognormal's Gaussian field, up to a constant
    np.testing.assert_allclose(g[0] - g[0].mean(), -(g[1] - g[1].mean()), atol=1e-4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mesh": 8}, "smaller than the particle grid"),
        ({"particles": 15}, "even integer"),
        ({"output": "slices"}, "output must be one of"),
        ({"output": "maps", "maps_per_run": 3}, "must divide the grid"),
        ({"z": 10.0}, "z_start > z"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(SpecError, match=message):
        surrogate.simulator("cosmo.pm", **{**SMALL, **options})


def test_unknown_option_and_out_of_range_conditions():
    with pytest.raises(PluginError, match="did you mean 'particles'"):
        surrogate.simulator("cosmo.pm", partcles=16)
    sim = surrogate.simulator("cosmo.pm", **SMALL)
    with pytest.raises(SpecError, match="omega_m"):
        sim.sample(1, {"omega_m": 0.7, "sigma8": 0.8})


def test_recommended_chain_and_s_transform_invert_with_exact_jacobians():
    sim = surrogate.simulator("cosmo.lognormal", output="maps", **SMALL)
    events = sim.sample(4, seed=1)
    for steps in (sim.preprocessing(), [{"type": "cosmo.s_transform", "a": 4.0}]):
        chain = Preprocessing(steps, sim.spec)
        chain.fit([events])
        y, logdet = chain.forward(events.fields, events.conditions)
        back = chain.inverse(y, events.conditions)
        np.testing.assert_allclose(back["delta"], events["delta"], rtol=1e-5, atol=1e-6)
        assert np.isfinite(logdet).all()


def test_s_transform_jacobian_is_the_derivative():
    sim = surrogate.simulator("cosmo.lognormal", output="maps", **SMALL)
    step = STransform({"type": "cosmo.s_transform"}, sim.spec, 0)
    x = np.array([[-0.9, 0.0, 3.0, 50.0]])
    s, logdet = step.forward_field("delta", x, {})
    h = 1e-6
    s2, _ = step.forward_field("delta", x + h, {})
    assert logdet[0] == pytest.approx(np.log((s2 - s) / h).sum(), rel=1e-4)
    assert ((s > -1) & (s < 1)).all()
    with pytest.raises(SpecError, match="not a density contrast"):
        step.forward_field("delta", np.array([[-2.0]]), {})


def test_2lpt_field_has_the_tree_level_equilateral_bispectrum():
    """Second-order LPT reproduces second-order perturbation theory, whose equilateral
    reduced bispectrum is Q = 2 F2 = 4/7 whatever the spectrum (the notes: PM 0.555 at
    k = 0.2); on large scales (k = 0.05 h/Mpc in a 1 Gpc/h box) the 2LPT field must
    read it."""
    from surrogate_cosmo.statistics import bispectrum_equilateral

    box = 1000.0
    sim = surrogate.simulator("cosmo.lpt", particles=32, box=box, paired_fixed=True)
    fields = sim.sample(64, {"omega_m": 0.3, "sigma8": 0.8}, seed=0)["delta"]
    b = bispectrum_equilateral(fields, box, 0.05, dk=3 * 2 * np.pi / box, ndim=3)
    q = b.bispectrum.mean() / (3 * (b.power**2).mean())
    per_field = (b.bispectrum / (3 * b.power**2)).ravel()
    error = per_field.std() / np.sqrt(len(per_field))  # measured: 0.03
    assert abs(q - 4 / 7) < 3 * error + 0.02
