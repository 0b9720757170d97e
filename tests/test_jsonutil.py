"""Metadata becomes strict JSON: numpy types converted, NaN refused by JSON becomes null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from surrogate.jsonutil import to_json


def test_numpy_values_become_plain_json():
    value = {
        "a": np.float32(1.5),
        "b": np.arange(3),
        "c": (np.int64(2), Path("x/y")),
        "d": float("nan"),
        "e": np.array([np.inf]),
    }
    out = to_json(value)
    assert out == {"a": 1.5, "b": [0, 1, 2], "c": [2, "x/y"], "d": None, "e": [None]}
    json.dumps(out, allow_nan=False)  # strict JSON


def test_large_arrays_are_summarised():
    assert to_json({"w": np.zeros(100)}, max_array=16) == {"w": "<array of 100 values>"}
    assert to_json({"w": np.zeros(2)}, max_array=16) == {"w": [0.0, 0.0]}
