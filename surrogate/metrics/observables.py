"""The core's generic observables: no physics, only the event spec.

Every field component is an observable (``x[0]``, ``x[1]``; ``img[2,3]`` for a 2-D
field) when the field has at most ``max_components`` of them; a larger field (a
calorimeter shower) is summarised per event by its sum, mean, standard deviation,
maximum and fraction of non-zero entries.  The ``default`` features are these
observables followed by the conditions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import Observable, ObservableSet

if TYPE_CHECKING:
    from ..events import Events

MAX_COMPONENTS = 16


def _index(shape: tuple[int, ...], flat: int) -> str:
    return ",".join(str(i) for i in np.unravel_index(flat, shape))


class GenericObservables(ObservableSet):
    name = "generic"
    replaces_generic = False
    description = "field components (or per-field summaries for large fields)"

    def __init__(self, max_components: int = MAX_COMPONENTS) -> None:
        self.max_components = int(max_components)

    def observables(self, events: Events) -> dict[str, Observable]:
        n = len(events)
        units = {}
        if events.spec is not None:
            units = {f.name: f.unit for f in events.spec.fields}
        out: dict[str, Observable] = {}
        for name, arr in events.fields.items():
            unit = units.get(name, "")
            flat = np.asarray(arr, dtype=np.float64).reshape(n, -1)
            shape = arr.shape[1:]
            if flat.shape[1] == 1:
                out[name] = Observable(flat[:, 0], name, unit)
            elif flat.shape[1] <= self.max_components:
                for j in range(flat.shape[1]):
                    key = f"{name}[{_index(shape, j)}]"
                    out[key] = Observable(flat[:, j], key, unit)
            else:
                summaries = {
                    "sum": flat.sum(axis=1),
                    "mean": flat.mean(axis=1),
                    "std": flat.std(axis=1),
                    "max": flat.max(axis=1),
                    "nonzero_fraction": (flat != 0).mean(axis=1),
                }
                for stat, values in summaries.items():
                    key = f"{name}.{stat}"
                    out[key] = Observable(
                        values, f"{stat} of {name}", "" if stat == "nonzero_fraction" else unit
                    )
        return out
