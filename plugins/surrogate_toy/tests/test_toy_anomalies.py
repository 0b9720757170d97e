"""``toy.off_ring``: events moved radially by shift x sigma and nothing else, its options
and the simulators it cannot change refused, labelled files; the radial baseline gives the
closed form of a shifted unit Gaussian."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import surrogate
from surrogate.anomaly import anomalous, anomaly_label, roc_summary
from surrogate.errors import SpecError
from surrogate.io import open_events
from surrogate_toy.anomalies import radial_score

SEED = 3


def test_events_move_radially_by_shift_sigma_at_their_own_radius():
    sim = surrogate.simulator("toy.gmm2d", conditional=True, sigma=0.2)
    bad = anomalous(sim, "toy.off_ring", {"shift": -1.5}).sample(500, seed=SEED)
    ref = sim.sample(500, seed=np.random.SeedSequence(SEED).spawn(2)[0])
    np.testing.assert_array_equal(bad["radius"], ref["radius"])
    r_bad, r_ref = (np.linalg.norm(e["x"].astype(np.float64), axis=1) for e in (bad, ref))
    np.testing.assert_allclose(r_bad - r_ref, -1.5 * 0.2, atol=1e-5)
    angle = np.arctan2(bad["x"][:, 1], bad["x"][:, 0]) - np.arctan2(ref["x"][:, 1], ref["x"][:, 0])
    np.testing.assert_allclose(np.sin(angle), 0, atol=1e-5)  # the direction is kept


def test_the_radial_score_is_the_closed_form_of_a_shifted_gaussian():
    """Background |z| with z ~ N(0, 1), signal |z + 3|: AUC and the efficiency at 1e-2
    follow (curvature sigma/R <= 0.1 aside)."""
    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    bkg = radial_score(sim, sim.sample(20_000, seed=1))
    sig = radial_score(sim, anomalous(sim, "toy.off_ring").sample(5000, seed=2))
    summary = roc_summary(bkg, sig, bootstraps=20)
    threshold = norm.ppf(1 - 0.01 / 2)
    expected = 1 - norm.cdf(threshold - 3) + norm.cdf(-threshold - 3)
    assert summary.efficiency[0.01] == pytest.approx(expected, abs=0.03)
    assert np.median(bkg) == pytest.approx(norm.ppf(0.75), abs=0.03)


def test_options_and_simulators_are_checked(tmp_path):
    ring = surrogate.simulator("toy.gmm2d")
    for shift, message in ((0, "not 0"), ("far", "must be a number"), (float("inf"), "finite")):
        with pytest.raises(SpecError, match=message):
            anomalous(ring, "toy.off_ring", {"shift": shift})
    with pytest.raises(SpecError, match="needs the toy.gmm2d ring, not 'calo.gflash'"):
        anomalous(surrogate.simulator("calo.gflash"), "toy.off_ring")
    path = surrogate.simulate("toy.gmm2d", 20, tmp_path / "a.h5", seed=0, anomaly="toy.off_ring")
    with open_events(path) as f:
        assert anomaly_label(f.metadata, str(path)) == "toy.off_ring"
        assert f.metadata["options"]["anomaly_options"] == {"shift": 3.0}
        r = np.linalg.norm(f.read()["x"].astype(np.float64), axis=1)
    assert np.median(r) == pytest.approx(2.0 + 0.3, abs=0.05)  # radius 2, sigma 0.1
