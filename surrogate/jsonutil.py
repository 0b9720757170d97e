"""Plain JSON values from numpy-laden metadata (configs, file attributes, reports)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def to_json(obj: Any, *, max_array: int | None = None) -> Any:
    """numpy scalars and arrays become Python numbers and lists, paths strings, and
    non-finite floats ``None`` (JSON has no NaN).  Arrays larger than ``max_array`` are
    summarised as ``"<array of N values>"`` rather than copied into metadata."""
    if isinstance(obj, Mapping):
        return {str(k): to_json(v, max_array=max_array) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v, max_array=max_array) for v in obj]
    if isinstance(obj, np.ndarray):
        if max_array is not None and obj.size > max_array:
            return f"<array of {obj.size} values>"
        return to_json(obj.tolist())
    if isinstance(obj, np.generic):
        return to_json(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
