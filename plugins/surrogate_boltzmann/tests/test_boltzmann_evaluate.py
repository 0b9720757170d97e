"""``evaluate`` on closed-form targets: the target as its own model reads ideal (ESS
100 %, ln Z exact, the free-energy difference exact), a collapsed model is caught by the
forward estimators, NaN weights and models without a density are refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from boltzmann_toys import Exact, Harmonic, Mixture, OneMode, Spins

from surrogate.metrics import MetricError
from surrogate_boltzmann.evaluate import BoltzmannScores, evaluate


@pytest.fixture(scope="module")
def mixture():
    return Mixture()


def test_the_target_as_its_own_model_reads_ideal(mixture):
    ref = mixture.sample(4000, {"temperature": 1.0}, seed=2)
    s = evaluate(Exact(mixture), mixture, 4000, 1.0, seed=1, reference=ref)
    assert isinstance(s, BoltzmannScores) and s.n == 4000 and s.model == "exact"
    assert s.ess == pytest.approx(1.0) and s.ess_count == pytest.approx(4000)
    assert s.log_z == pytest.approx(s.log_z_exact) and s.log_z_error == pytest.approx(0, abs=1e-6)
    assert s.elbo == pytest.approx(s.log_z_exact) and s.eubo == pytest.approx(s.log_z_exact)
    assert s.forward_ess == pytest.approx(1.0) and s.reverse_kl == pytest.approx(0, abs=1e-9)
    assert s.top_weights[0] == pytest.approx(1 / 4000)
    df = s.free_energies["left->right"]
    assert df["exact"] == pytest.approx(-math.log(0.7 / 0.3), rel=1e-3)  # nearly the weights
    for key in ("raw", "reweighted", "reference"):
        assert abs(df[key] - df["exact"]) < 4 * df[f"{key}_error"]
    assert df["raw"] == pytest.approx(df["reweighted"])
    assert s.energy_w2 < 0.1 and s.energy_w1 <= s.energy_w2
    assert s.modes["covered"] == 2 and s.modes["total_variation"] < 0.03
    assert s.distance_w2 is None and s.lattice is None
    assert json.loads(json.dumps(s.to_dict()))["free_energies"]["left->right"]["exact"] < 0


def test_a_collapsed_model_is_caught_by_the_forward_estimators(mixture):
    ref = mixture.sample(4000, {"temperature": 1.0}, seed=2)
    s = evaluate(OneMode(mixture), mixture, 4000, 1.0, seed=1, reference=ref)
    assert s.ess > 0.6  # the reverse ESS sees one good mode...
    assert s.forward_ess < 0.01  # ... the forward ESS the missing one
    assert s.log_z < s.log_z_exact - 0.2 and s.elbo < s.log_z_exact < s.eubo
    assert s.forward_kl > 10 * s.reverse_kl > 0
    df = s.free_energies["left->right"]
    assert df["raw"] < -3  # hardly any sample on the left
    assert s.modes["covered"] == 1


def test_a_particle_system_gets_the_distance_and_symmetry_w2():
    target = Harmonic()
    ref = target.sample(300, {"temperature": 1.0}, seed=3)
    s = evaluate(Exact(target), target, 300, 1.0, seed=4, reference=ref, symmetry_samples=40)
    assert 0 <= s.distance_w2 < 0.2 and 0 < s.symmetry_w2 < 3
    assert s.energy_w2_reweighted == pytest.approx(s.energy_w2)
    assert s.free_energies == {} and s.modes is None
    hot = target.sample(300, {"temperature": 2.0}, seed=3)
    with pytest.raises(MetricError, match="reference is at temperatures 2..2, not at the eval"):
        evaluate(Exact(target), target, 300, 1.0, seed=4, reference=hot)


def test_a_lattice_gets_its_thermodynamics():
    target = Spins()
    ref = target.sample(3000, {"temperature": 2.5}, seed=5)
    s = evaluate(Exact(target), target, 3000, 2.5, seed=6, reference=ref)
    lat = s.lattice
    assert lat["free_energy_per_site"] == pytest.approx(lat["free_energy_per_site_exact"])
    assert lat["free_energy_relative_error"] < 1e-9
    for key in ("abs_magnetisation", "energy_per_site", "specific_heat", "binder"):
        assert lat["raw"][key] == pytest.approx(lat["reweighted"][key])
        assert lat["raw"][key] == pytest.approx(lat["reference"][key], rel=0.1, abs=0.02)
    assert s.distance_w2 is None  # spins are no particles


def test_nan_weights_and_models_without_a_density_are_refused(mixture):
    class NaNFlow(Exact):
        def sample_and_log_prob(self, n, conditions, *, seed):
            events, log_q = super().sample_and_log_prob(n, conditions, seed=seed)
            return events, np.where(np.arange(n) % 10 == 0, np.nan, log_q)

    with pytest.raises(MetricError, match="10 of 100 importance weights are NaN") as info:
        evaluate(NaNFlow(mixture), mixture, 100, 1.0, seed=0)
    assert "a flow that produces NaN weights" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(MetricError, match="has no sample_and_log_prob"):
        evaluate(object(), mixture, 100, 1.0, seed=0)


def test_without_a_reference_the_forward_terms_are_none(mixture):
    s = evaluate(OneMode(mixture), mixture, 500, 1.0, seed=0)
    assert s.eubo is None and s.forward_ess is None and s.energy_w2 is None
    assert "reference" not in s.free_energies["left->right"]
    assert s.modes["expected"] == (0.5, 0.5)
