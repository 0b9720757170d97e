"""Mode coverage on the toy mixture (``toy.gmm2d``: 8 modes on a ring of radius 2, width
0.1): each family, trained within a CPU-friendly budget, must put every mode within a
stated tolerance of its 1/8 share.

How it is measured.  ``N_SAMPLES`` = 20 000 generated events are assigned to the nearest
mode by ``GaussianRing.mode_of``; events farther than 3 sigma from every mode count as
off-mode (for the true mixture that is exp(-9/2) = 1.1 % of events).  The share of mode k
is its count over the on-mode events, so the check is about *coverage* (no mode dropped or
favoured); the off-mode fraction is bounded separately, per family.

Tolerance.  With N_on >= 10 000 on-mode events a share of 1/8 has a binomial standard
deviation sqrt(p (1 - p) / N_on) <= 0.0033; the 20 000 training events add their own
sampling error, sd 0.0023 per mode; together about 0.004, so 4 sd is 0.016.  On top comes
model error after a deliberately short training.  Measured with these budgets over 4-5
training seeds (other data seeds too): the flow's worst share deviation was 0.007-0.015
(off-mode 0.095-0.104), the VAE's 0.008-0.025 (off-mode 0.26-0.32).  The tolerances
leave about a factor 2 over the worst seen:

- flow: |share - 1/8| <= 0.03, off-mode <= 0.2;
- vae:  |share - 1/8| <= 0.04, off-mode <= 0.45 (a VAE decodes the prior's mass between
  the latent clusters into the gaps between modes, a known weakness the off-mode
  fraction exposes).

A dropped mode has share 0 and a doubled one 0.25, both far outside either tolerance.
The ``slow`` variants train longer and demand 0.02 / 0.03 and tighter off-mode fractions.
"""

from __future__ import annotations

import numpy as np
import pytest
from toy_coverage import toy_mode_coverage

import surrogate

N_TRAIN = 20_000
N_SAMPLES = 20_000

CASES = {
    # family: (hyper-parameters, training options, share tolerance, max off-mode fraction)
    "flow": (
        {"hidden": 32, "blocks": 1, "transforms": 4},
        {"epochs": 10, "batch_size": 256, "lr": 3e-3},
        0.03,
        0.2,
    ),
    "vae": (
        {"latent": 2, "hidden": 64, "blocks": 2},
        {"epochs": 60, "batch_size": 256, "lr": 2e-3},
        0.04,
        0.45,
    ),
}
SLOW_CASES = {
    "flow": (
        {"hidden": 64, "blocks": 2, "transforms": 6},
        {"epochs": 30, "batch_size": 256, "lr": 2e-3},
        0.02,
        0.08,
    ),
    "vae": (
        {"latent": 2, "hidden": 128, "blocks": 2},
        {"epochs": 100, "batch_size": 256, "lr": 1e-3, "patience": 20},
        0.03,
        0.35,
    ),
}


def _check(family, cases):
    hp, opts, tol, max_off = cases[family]
    model = surrogate.surrogate(family, **hp)
    shares, off = toy_mode_coverage(model, opts, n_train=N_TRAIN, n_samples=N_SAMPLES)
    worst = np.abs(shares - 1 / 8).max()
    assert worst <= tol, f"{family}: shares {np.round(shares, 3)} (off-mode {off:.3f})"
    assert off <= max_off, f"{family}: off-mode fraction {off:.3f} > {max_off}"


@pytest.mark.parametrize("family", sorted(CASES))
def test_every_mode_gets_its_share(family):
    _check(family, CASES)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(SLOW_CASES))
def test_every_mode_gets_its_share_longer_training(family):
    _check(family, SLOW_CASES)
