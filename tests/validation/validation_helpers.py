"""Shared settings of the validation tests."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

#: every generic metric, configured to run in seconds on a CPU
QUICK = {
    "metric_options": {
        "classifier": {"preset": "small", "hidden": 32, "epochs": 3, "batch_size": 256},
        "separation_power": {"bootstrap": 3},
        "wasserstein1": {"bootstrap": 3},
        "ks": {"bootstrap": 3},
        "kpd": {"batch_size": 1000, "num_batches": 5},
        "mmd": {"batch_size": 500, "num_batches": 5},
        "fpd": {"num_batches": 5},
    }
}
#: two cheap metrics, for the tests of the command and its errors
CHEAP = {"metrics": ["separation_power", "ks"]}


def write_config(path: Path, config: dict) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(config))
    else:
        path.write_text(yaml.safe_dump(config))
    return path
