"""Wolff cluster updates against the exact 4 x 4 periodic Ising model (all 2^16 states
enumerated): <U> and <|m|> within standard errors; the coupling read off the target;
seeded, split-independent chains; the reference pipeline on a lattice."""

from __future__ import annotations

import numpy as np
import pytest
from sampler_targets import Lattice, exact_ising
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from surrogate.errors import SpecError
from surrogate_boltzmann.autocorr import standard_error
from surrogate_boltzmann.reference import ReferenceSettings, run_chains, run_reference
from surrogate_boltzmann.wolff import cluster_labels, coupling_of, ising_energy

BETA_C = 0.4406867935


def test_enumeration_matches_kaufman() -> None:
    # ln Z of the 4 x 4 lattice from the reference notes (Kaufman 1949 at finite L)
    for beta, log_z in [(0.2, 11.7714703585), (BETA_C, 15.5219154588), (0.6, 20.0565328843)]:
        assert exact_ising(beta)[0] == pytest.approx(log_z, abs=1e-9)


def test_wolff_energy_and_magnetisation_within_errors() -> None:
    betas = np.array([0.3, BETA_C, 0.6])
    temperature = np.repeat(1 / betas, 16)
    chains = run_chains(
        Lattice(4), temperature, n_chains=48, n_steps=1200, rng=np.random.default_rng(0),
        burn_in=50,
    )  # fmt: skip
    assert chains.samples.dtype == np.int8 and chains.samples.shape == (1200, 48, 4, 4)
    potential = chains.energies * temperature
    magnetisation = np.abs(chains.samples.sum(axis=(2, 3))) / 16
    for i, beta in enumerate(betas):
        _, energy, abs_m = exact_ising(beta)
        columns = slice(16 * i, 16 * (i + 1))
        u, m = potential[:, columns], magnetisation[:, columns]
        assert abs(u.mean() - energy) < 4 * standard_error(u), (beta, u.mean(), energy)
        assert abs(m.mean() - abs_m) < 4 * standard_error(m), (beta, m.mean(), abs_m)
    np.testing.assert_allclose(potential, ising_energy(chains.samples.reshape(-1, 4, 4), 1.0)
                               .reshape(1200, 48))  # fmt: skip
    assert chains.flips > 0 and (chains.acceptance == 1).all()
    assert chains.gradient_evaluations == 0


@pytest.mark.parametrize("shape", [(5, 5), (2, 3), (4, 7)])
def test_cluster_labels_are_the_components_of_the_periodic_bond_graph(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    n = 6
    right, down = rng.random((2, n, *shape)) < 0.45
    labels = cluster_labels(right, down).reshape(-1)
    sites = np.arange(n * shape[0] * shape[1]).reshape(n, *shape)
    heads = np.concatenate([sites[right], sites[down]])
    tails = np.concatenate([np.roll(sites, -1, 2)[right], np.roll(sites, -1, 1)[down]])
    graph = coo_matrix((np.ones(len(heads)), (heads, tails)), shape=(sites.size,) * 2)
    expected = connected_components(graph, directed=False)[1]
    # the same partition: the label pairs are a bijection
    pairs = np.unique(np.stack([labels, expected]), axis=1)
    assert pairs.shape[1] == len(np.unique(labels)) == len(np.unique(expected))


def test_seeded_and_independent_of_the_number_of_chains() -> None:
    def run(n_chains: int, seed: int) -> np.ndarray:
        return run_chains(
            Lattice(6), 2.5, n_chains=n_chains, n_steps=40, rng=np.random.default_rng(seed),
            burn_in=5,
        ).samples  # fmt: skip

    a = run(3, 1)
    np.testing.assert_array_equal(a, run(3, 1))
    np.testing.assert_array_equal(run(7, 1)[:, :3], a)
    assert not np.array_equal(run(3, 2), a)


def test_coupling_is_read_off_the_target() -> None:
    assert coupling_of(Lattice(4, coupling=0.5), 1.0) == pytest.approx(0.5)
    assert coupling_of(Lattice(5, coupling=-1.0), 2.0) == pytest.approx(-1.0)
    with pytest.raises(SpecError, match="nearest-neighbour Ising"):
        coupling_of(Lattice(4, field=0.3), 1.0)
    with pytest.raises(SpecError, match="±1"):
        run_chains(Lattice(4), 2.0, n_chains=2, n_steps=2, rng=np.random.default_rng(),
                   initial=np.zeros((4, 4), np.int8))  # fmt: skip
    with pytest.raises(SpecError, match="not Wolff"):
        run_chains(Lattice(4), 2.0, n_chains=2, n_steps=2, rng=np.random.default_rng(), replicas=4)


def test_antiferromagnet_matches_the_ferromagnet_on_a_bipartite_lattice() -> None:
    # flipping one sublattice maps J -> -J on an even periodic lattice: same <U>
    chains = run_chains(
        Lattice(4, coupling=-1.0), 1 / 0.6, n_chains=16, n_steps=600,
        rng=np.random.default_rng(3), burn_in=50,
    )  # fmt: skip
    u = chains.energies / 0.6
    assert abs(u.mean() - exact_ising(0.6)[1]) < 4 * standard_error(u)


def test_reference_sample_on_a_lattice() -> None:
    target = Lattice(8)
    settings = ReferenceSettings(n_chains=16, burn_in=50, pilot_steps=400)
    x, diag = run_reference(
        target, 64, np.repeat([2.0, 3.0], 32), np.random.default_rng(4), settings
    )
    assert x.shape == (64, 8, 8) and x.dtype == np.int8
    assert set(np.unique(x)) <= {-1, 1}
    assert diag.method == "wolff" and diag.temperatures.tolist() == [2.0, 3.0]
    assert diag.thinning == int(np.ceil(2 * diag.tau.max()))
    assert diag.flips > 0 and np.isnan(diag.step_size).all()
    # from Target.sample, through the target's reference_method and settings
    target.reference_settings = settings
    events = target.sample(5, {"temperature": 2.0}, seed=1)
    assert events["x"].shape == (5, 8, 8)


@pytest.mark.slow
def test_wolff_speed_at_l32() -> None:
    chains = run_chains(
        Lattice(32), 1 / BETA_C, n_chains=16, n_steps=300, rng=np.random.default_rng(), burn_in=50
    )
    assert chains.seconds < 10.0
    assert chains.flips / (16 * 350 * 32**2) > 0.2  # clusters of a fifth of the lattice at T_c
