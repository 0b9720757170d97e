"""Fixtures of the validation tests: a trained toy model and one full report."""

from __future__ import annotations

import pytest
from validation_helpers import QUICK

import surrogate


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory):
    from surrogate.generation import generate_to_file

    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    folder = tmp_path_factory.mktemp("model")
    data = generate_to_file(sim, 4000, folder / "train.h5", seed=1, progress=False)
    path = folder / "gauss"
    surrogate.surrogate("gaussian").fit(data, seed=1).save(path)
    return path


@pytest.fixture(scope="session")
def full_report(toy_model_dir, tmp_path_factory):
    from surrogate.validation import validate

    out = tmp_path_factory.mktemp("val") / "report"
    config = {
        **QUICK,
        "bounds": [
            {"metric": "classifier.auc", "max": 0.6, "note": "fails: a Gaussian is no ring"},
            {"metric": "fpd", "max_sigma": 50},
            {"metric": "separation_power", "observable": "x[0]", "max_ratio": 3},
        ],
    }
    return validate(
        toy_model_dir, simulator="toy.gmm2d", n=2000, out=out, config=config, batch_size=500
    )
