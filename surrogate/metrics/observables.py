"""The core's generic observables: no physics, only the event spec.

Every field component is an observable (``x[0]``, ``x[1]``; ``img[2,3]`` for a 2-D
field) when the field has at most ``max_components`` of them; a larger field (a
calorimeter shower) is summarised per event by its sum, mean, standard deviation,
maximum and fraction of non-zero entries.  The ``default`` features are these
observables followed by the conditions.
"""

from __future__ import annotations

import math
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
        # the columns of the one flattening every model and metric uses (Events.flat):
        # x[j] here is column j of the field there
        flat = events.flat().astype(np.float64, copy=False)
        out: dict[str, Observable] = {}
        offset = 0
        for name, shape, unit in _fields(events):
            size = math.prod(shape)
            out |= self._field(name, shape, unit, flat[:, offset : offset + size])
            offset += size
        return out

    def _field(
        self, name: str, shape: tuple[int, ...], unit: str, flat: np.ndarray
    ) -> dict[str, Observable]:
        """One field's observables: itself, its components, or per-event summaries."""
        if flat.shape[1] == 1:
            return {name: Observable(flat[:, 0], name, unit)}
        if flat.shape[1] <= self.max_components:
            keys = [f"{name}[{_index(shape, j)}]" for j in range(flat.shape[1])]
            return {key: Observable(flat[:, j], key, unit) for j, key in enumerate(keys)}
        summaries = {
            "sum": flat.sum(axis=1),
            "mean": flat.mean(axis=1),
            "std": flat.std(axis=1),
            "max": flat.max(axis=1),
            "nonzero_fraction": (flat != 0).mean(axis=1),
        }
        return {
            f"{name}.{stat}": Observable(
                values, f"{stat} of {name}", "" if stat == "nonzero_fraction" else unit
            )
            for stat, values in summaries.items()
        }


def _fields(events: Events) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, per-event shape, unit) of each field, in the order of ``events.flat()``."""
    if events.spec is not None:
        return [(f.name, tuple(f.shape), f.unit) for f in events.spec.fields]
    return [(name, tuple(arr.shape[1:]), "") for name, arr in events.fields.items()]
